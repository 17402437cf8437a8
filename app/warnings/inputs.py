"""Inputs of a city's evaluation: its validated plan and the stored forecast and
observations of a run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.daily import ForecastHour
from app.forecast_runs.models import ForecastDaily, ForecastHourly
from app.observations.models import Observation
from app.observations.service import valid_value
from app.plans.models import PlanVersion
from app.stations.models import Station
from contingency_plans.schema import Plan

# --- plans and inputs ---------------------------------------------------------------------------


#: Validated plans by (city, version): a version is the hash of the content, so the pair
#: names one content for good and validating it once is enough.
PLAN_CACHE: dict[tuple[str, str], Plan] = {}


def plan_of(row: PlanVersion) -> Plan:
    """The validated plan of a stored version (cached per city and version)."""
    key = (row.city_code, row.version)
    plan = PLAN_CACHE.get(key)
    if plan is None:
        plan = PLAN_CACHE[key] = Plan.model_validate(row.content)
    return plan


def plan_version_row(session: Session, city_code: str, version: str) -> PlanVersion | None:
    """A stored plan version of a city (the current one when ``version`` is unknown)."""
    row = session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code == city_code, PlanVersion.version == version
        )
    ).first()
    if row is not None:
        return row
    return session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code == city_code, PlanVersion.is_current.is_(True)
        )
    ).first()


def observed_pm25(
    session: Session, city_code: str, start: datetime, end: datetime
) -> dict[datetime, float]:
    """The city's observed hourly PM2.5 (µg/m³): per hour, the mean over its stations
    reporting a valid value (QC-flagged ones left out), for hour starts in
    ``start <= time < end`` (aware), keyed by aware UTC."""
    pm25 = valid_value("pm25")
    rows = session.execute(
        select(Observation.time, func.avg(pm25))
        .join(Station, Station.id == Observation.station_id)
        .where(
            Station.city_code == city_code,
            Observation.time >= start.astimezone(UTC),
            Observation.time < end.astimezone(UTC),
            pm25.is_not(None),
        )
        .group_by(Observation.time)
    )
    hours: dict[datetime, float] = {}
    for moment, value in rows:
        if value is None:
            continue
        aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        hours[aware] = float(value)
    return hours


def forecast_hours(session: Session, run_id: int, city_code: str) -> list[ForecastHour]:
    """The run's hourly PM2.5 quantiles (µg/m³) for one city, in time order."""
    rows = session.execute(
        select(ForecastHourly.valid_time, ForecastHourly.p50, ForecastHourly.p90)
        .where(ForecastHourly.run_id == run_id, ForecastHourly.city_code == city_code)
        .order_by(ForecastHourly.valid_time)
    )
    return [ForecastHour(valid_time, p50, p90) for valid_time, p50, p90 in rows]


def forecast_probabilities(
    session: Session, run_id: int, city_code: str
) -> dict[date, dict[float, float]]:
    """The run's daily exceedance probabilities for one city: local date → {PM2.5
    threshold (µg/m³) → P(daily mean > it)}."""
    rows = session.execute(
        select(
            ForecastDaily.local_date,
            ForecastDaily.p_gt_75,
            ForecastDaily.p_gt_115,
            ForecastDaily.p_gt_150,
            ForecastDaily.p_gt_250,
        ).where(ForecastDaily.run_id == run_id, ForecastDaily.city_code == city_code)
    )
    return {
        day: {75.0: p75, 115.0: p115, 150.0: p150, 250.0: p250}
        for day, p75, p115, p150, p250 in rows
    }
