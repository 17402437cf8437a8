"""The `api_keys` table: one row per issued key; the key itself is never stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), comment="who holds the key")
    role: Mapped[str] = mapped_column(
        String(32), comment="admin, duty_officer, city_office, coordinator or ingest"
    )
    prefix: Mapped[str] = mapped_column(
        String(16), index=True, comment="first characters of the key, shown to find it"
    )
    key_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="sha256 hex of the whole key"
    )
    city_codes: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="city_office scope (GB/T 2260 codes)"
    )
    region_codes: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="coordinator scope (registry region codes)"
    )
    station_ids: Mapped[list[str]] = mapped_column(
        JSON,
        default=list,
        server_default="[]",
        comment="ingest scope (station ids it may push observations for)",
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
