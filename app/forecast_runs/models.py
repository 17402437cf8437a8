"""Forecast runs and what they produced: hourly quantiles, daily probabilities, skill.

A run is written whole in one transaction (`app.forecast_runs.service.run_forecast`), so a
row in `forecast_runs` always comes with all its hourly and daily rows. Times are UTC
(`UtcDateTime`); `forecast_daily.local_date` is the city's local calendar day.
Concentrations are PM2.5 in µg/m³; probabilities are 0..1.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import Base
from app.timestamps import UtcDateTime

#: `forecast_runs.status` values. A stored run is complete: a failed run stores nothing.
STATUS_COMPLETE = "complete"


class ForecastRun(Base):
    __tablename__ = "forecast_runs"
    __table_args__ = (Index("ix_forecast_runs_latest", "drill", "issued_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issued_at: Mapped[datetime] = mapped_column(
        UtcDateTime, comment="issue time (UTC): inputs up to and including this hour"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when the run was stored")
    model_version: Mapped[str] = mapped_column(String(64))
    model_path: Mapped[str] = mapped_column(String(1024))
    model_sha256: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(
        JSON,
        default=dict,
        comment="grid files (path, bytes, sha256), grid time range, observation window",
    )
    status: Mapped[str] = mapped_column(String(16), default=STATUS_COMPLETE)
    drill: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="exercise run: never the latest, never warns"
    )
    degraded: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        comment="the grid lacked weather the model can do without: never withdraws, "
        "downgrades or lifts a warning by itself",
    )
    max_lead_h: Mapped[int] = mapped_column(Integer)
    city_count: Mapped[int] = mapped_column(Integer)
    city_counts: Mapped[dict[str, Any]] = mapped_column(
        JSON,
        default=dict,
        comment="per city code: stations, history hours, hourly rows, daily rows",
    )

    @property
    def degraded_variables(self) -> list[str]:
        """The optional weather variables the run's grid lacked (empty when not degraded)."""
        grid = (self.inputs or {}).get("grid") or {}
        return [str(name) for name in grid.get("degraded_variables", [])]

    hourly: Mapped[list[ForecastHourly]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    daily: Mapped[list[ForecastDaily]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class ForecastHourly(Base):
    __tablename__ = "forecast_hourly"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    city_code: Mapped[str] = mapped_column(
        ForeignKey("cities.code", ondelete="CASCADE"), primary_key=True, index=True
    )
    valid_time: Mapped[datetime] = mapped_column(
        UtcDateTime, primary_key=True, comment="start of the hour, UTC"
    )
    lead_h: Mapped[int] = mapped_column(Integer, comment="hours after the issue time")
    p10: Mapped[float] = mapped_column(Float, comment="µg/m³")
    p50: Mapped[float] = mapped_column(Float, comment="µg/m³")
    p90: Mapped[float] = mapped_column(Float, comment="µg/m³")

    run: Mapped[ForecastRun] = relationship(back_populates="hourly")


class ForecastDaily(Base):
    __tablename__ = "forecast_daily"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), primary_key=True
    )
    city_code: Mapped[str] = mapped_column(
        ForeignKey("cities.code", ondelete="CASCADE"), primary_key=True, index=True
    )
    local_date: Mapped[date] = mapped_column(Date, primary_key=True, comment="city's local day")
    lead_day: Mapped[int] = mapped_column(Integer, comment="1 = the day after the issue day")
    p10: Mapped[float] = mapped_column(Float, comment="daily mean PM2.5, µg/m³")
    p50: Mapped[float] = mapped_column(Float, comment="daily mean PM2.5, µg/m³")
    p90: Mapped[float] = mapped_column(Float, comment="daily mean PM2.5, µg/m³")
    p_gt_75: Mapped[float] = mapped_column(Float, comment="P(daily mean > 75 µg/m³)")
    p_gt_115: Mapped[float] = mapped_column(Float, comment="P(daily mean > 115 µg/m³)")
    p_gt_150: Mapped[float] = mapped_column(Float, comment="P(daily mean > 150 µg/m³)")
    p_gt_250: Mapped[float] = mapped_column(Float, comment="P(daily mean > 250 µg/m³)")
    aqi_version: Mapped[str] = mapped_column(String(32), comment="HJ 633 version for local_date")
    aqi_p50: Mapped[int | None] = mapped_column(Integer, comment="PM2.5 daily AQI of p50")
    aqi_p90: Mapped[int | None] = mapped_column(Integer, comment="PM2.5 daily AQI of p90")

    run: Mapped[ForecastRun] = relationship(back_populates="daily")


class VerificationScore(Base):
    """One skill figure: a metric of one city at one lead over a window of runs.

    ``window`` names the runs pooled: ``run:<id>`` for one run, ``<n>d`` for the runs issued
    in the n days before the verification. ``kind`` is ``hourly`` (lead in hours) or
    ``daily`` (lead in days). ``value`` is NULL where the metric is undefined (e.g. CSI
    with no event forecast or observed).
    """

    __tablename__ = "verification_scores"
    __table_args__ = (
        UniqueConstraint("city_code", "window", "kind", "lead", "metric"),
        Index("ix_verification_scores_city_window", "city_code", "window"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code", ondelete="CASCADE"))
    window: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    lead: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer, comment="forecast-observation pairs scored")
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, comment="first issue time")
    window_end: Mapped[datetime] = mapped_column(UtcDateTime, comment="last issue time")
    run_count: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
