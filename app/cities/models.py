"""The `cities` table: one row per prefecture-level city we forecast and warn for."""

from __future__ import annotations

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base


class City(Base):
    __tablename__ = "cities"

    code: Mapped[str] = mapped_column(String(6), primary_key=True, comment="GB/T 2260 code")
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    province_zh: Mapped[str] = mapped_column(String(64))
    province_en: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), comment="IANA time zone")
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
