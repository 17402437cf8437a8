"""Response bodies of the forecast-run, city-forecast and skill endpoints.

Every instant is given twice: in UTC (``…Z``) and in the city's local time with its offset
(``…+08:00``), the second under the same name with ``_local``. PM2.5 in µg/m³,
probabilities 0..1.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class RunSummary(BaseModel):
    """A stored forecast run: when, with what model and inputs, and for how many cities."""

    id: int
    issued_at: dt.datetime = Field(description="issue time, UTC; inputs up to this hour")
    created_at: dt.datetime = Field(description="when the run was stored, UTC")
    model_version: str
    model_path: str
    model_sha256: str
    status: str = Field(examples=["complete"])
    drill: bool = Field(description="exercise run: never the latest, never warns")
    degraded: bool = Field(
        description="the grid lacked weather the model can do without (degraded_variables): "
        "the run never withdraws, downgrades or lifts a warning by itself"
    )
    degraded_variables: list[str] = Field(
        description="optional weather variables the grid lacked, e.g. ['sp', 'tp']"
    )
    max_lead_h: int
    city_count: int


class RunDetail(RunSummary):
    inputs: dict[str, Any] = Field(
        description="grid files (path, bytes, sha256), grid time range, observation window"
    )
    city_counts: dict[str, Any] = Field(
        description="per city code: stations, history_hours, hourly and daily rows"
    )


class RunList(BaseModel):
    items: list[RunSummary]
    total: int


class CityRef(BaseModel):
    code: str = Field(examples=["110000"])
    name_zh: str
    name_en: str
    timezone: str = Field(description="IANA zone of the *_local times", examples=["Asia/Shanghai"])


class HourlyRead(BaseModel):
    """PM2.5 quantiles (µg/m³) for the hour starting at ``valid_time``."""

    valid_time: dt.datetime = Field(description="start of the hour, UTC")
    valid_time_local: dt.datetime = Field(description="the same instant in the city's zone")
    lead_h: int = Field(description="hours after the issue time")
    p10: float
    p50: float
    p90: float


class DailyRead(BaseModel):
    """A local calendar day: daily-mean PM2.5 quantiles, exceedance probabilities, AQI."""

    local_date: dt.date = Field(description="the city's local calendar day")
    lead_day: int = Field(description="1 = the day after the issue day (local)")
    starts_at: dt.datetime = Field(description="local midnight starting the day, UTC")
    starts_at_local: dt.datetime = Field(description="the same instant in the city's zone")
    p10: float
    p50: float
    p90: float
    p_gt_75: float = Field(description="probability the daily mean exceeds 75 µg/m³")
    p_gt_115: float
    p_gt_150: float
    p_gt_250: float
    aqi_version: str = Field(description="HJ 633 version in force on local_date")
    aqi_p50: int | None = Field(description="PM2.5 daily AQI of p50")
    aqi_p90: int | None = Field(description="PM2.5 daily AQI of p90")


class CityDays(BaseModel):
    city: CityRef
    days: list[DailyRead]


class LatestForecasts(BaseModel):
    """The latest (non-drill) run and every city's D+1..D+3."""

    run: RunSummary
    cities: list[CityDays]


class CityForecast(BaseModel):
    """One city's forecast from one run: hourly quantiles and daily probabilities."""

    run: RunSummary
    city: CityRef
    issued_at: dt.datetime = Field(description="UTC")
    issued_at_local: dt.datetime = Field(description="in the city's zone")
    hourly: list[HourlyRead]
    daily: list[DailyRead]


class DailySkill(BaseModel):
    """Skill of the daily mean at lead ``lead`` days; null where undefined."""

    lead: int
    rmse: float | None = Field(description="µg/m³")
    mae: float | None = Field(description="µg/m³")
    bias: float | None = Field(description="mean forecast − observed, µg/m³")
    csi_75: float | None = Field(description="critical success index of p50 > 75")
    csi_150: float | None = Field(description="critical success index of p50 > 150")
    brier_150: float | None = Field(description="Brier score of P(> 150)")
    n: int = Field(description="forecast-observation pairs")


class HourlySkill(BaseModel):
    lead: int = Field(description="hours")
    rmse: float | None
    mae: float | None
    bias: float | None
    n: int


class CitySkill(BaseModel):
    """Scores of a city's forecasts against the observations that arrived since."""

    city: CityRef
    window: str | None = Field(
        description="runs pooled: '<n>d' (issued in the n days before verification) or "
        "'run:<id>'; null when nothing has been verified yet",
        examples=["90d"],
    )
    window_start: dt.datetime | None = Field(description="first issue time pooled, UTC")
    window_start_local: dt.datetime | None
    window_end: dt.datetime | None = Field(description="last issue time pooled, UTC")
    window_end_local: dt.datetime | None
    run_count: int
    computed_at: dt.datetime | None
    windows: list[str] = Field(description="every window scored for this city")
    daily: list[DailySkill]
    hourly: list[HourlySkill]
