"""The `stations` table: monitoring sites, linked to the city they report for."""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="e.g. 1001A")
    name_zh: Mapped[str | None] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    city_code: Mapped[str | None] = mapped_column(
        ForeignKey("cities.code", ondelete="SET NULL"), index=True
    )
    area_zh: Mapped[str | None] = mapped_column(String(64), comment="city as the source names it")
    area_en: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    aliases: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="names used by observation sources (e.g. 'Dongsi')"
    )
