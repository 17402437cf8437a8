"""The `observations` table: one row per station-hour, pollutants and station weather.

Wide rather than long: a station-hour is the unit every source delivers and every consumer
(AQI, features, verification) reads, and it keeps bulk imports to one row per hour.
Units are canonical: µg/m³ for PM2.5, PM10, SO2, NO2 and O3; mg/m³ for CO; °C, %, hPa,
mm/h, m/s and degrees for weather.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base


class Observation(Base):
    __tablename__ = "observations"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), primary_key=True, comment="start of the hour, UTC"
    )
    pm25: Mapped[float | None] = mapped_column(Float)
    pm10: Mapped[float | None] = mapped_column(Float)
    so2: Mapped[float | None] = mapped_column(Float)
    no2: Mapped[float | None] = mapped_column(Float)
    co: Mapped[float | None] = mapped_column(Float, comment="mg/m³")
    o3: Mapped[float | None] = mapped_column(Float)
    temp: Mapped[float | None] = mapped_column(Float, comment="°C")
    dewp: Mapped[float | None] = mapped_column(Float, comment="°C")
    rh: Mapped[float | None] = mapped_column(Float, comment="%")
    pres: Mapped[float | None] = mapped_column(Float, comment="hPa")
    rain: Mapped[float | None] = mapped_column(Float, comment="mm/h")
    wspd: Mapped[float | None] = mapped_column(Float, comment="m/s")
    wdir: Mapped[float | None] = mapped_column(Float, comment="degrees, from")
    qc_flags: Mapped[str | None] = mapped_column(
        String(256), comment="comma-separated 'pollutant:flag' (negative, spike, stuck)"
    )
    source: Mapped[str] = mapped_column(String(64))
