"""The `plan_versions` table: every validated version of each city's contingency plan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime


class PlanVersion(Base):
    """One version of a city's plan; exactly one row per city has ``is_current``.

    A version is never changed or deleted once stored: loading a changed plan adds a row
    and moves ``is_current``; loading an earlier content again makes its row current.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("city_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(
        ForeignKey("cities.code", ondelete="CASCADE"), index=True, comment="GB/T 2260 code"
    )
    version: Mapped[str] = mapped_column(
        String(12), comment="first 12 hex of sha256 of the canonical JSON of the plan"
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the validated plan")
    source_file: Mapped[str] = mapped_column(String(255), comment="file name it was loaded from")
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="first loaded, UTC")
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
