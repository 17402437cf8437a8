"""Heartbeats: each scheduler and dispatcher process records that it is alive, so
`/health/ready` and `hazewarn health check` see them from any process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime

__all__ = ["Heartbeat"]


class Heartbeat(Base):
    """The latest beat of one process run (``instance`` is unique per run)."""

    __tablename__ = "heartbeats"

    role: Mapped[str] = mapped_column(String(16), primary_key=True, comment="scheduler|dispatcher")
    instance: Mapped[str] = mapped_column(String(64), primary_key=True, comment="host-pid-random")
    host: Mapped[str] = mapped_column(String(64))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
