"""What the dashboard needs beyond the public API: a city's observed hourly PM2.5."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.observations.models import Observation
from app.observations.service import as_utc
from app.stations.models import Station

__all__ = ["ObservedHour", "city_observed_hours"]


@dataclass(frozen=True)
class ObservedHour:
    time: datetime  # start of the hour, UTC
    pm25: float  # mean of the city's stations reporting that hour, µg/m³
    stations: int  # how many reported


def city_observed_hours(
    session: Session, city_code: str, start: datetime, end: datetime
) -> list[ObservedHour]:
    """City-mean PM2.5 per hour in ``start <= time < end`` (aware): the plain mean of the
    stations reporting that hour, as HJ 663 averages a city's sites (and as the forecast's
    verification does). Hours with no report are left out."""
    rows = session.execute(
        select(Observation.time, func.avg(Observation.pm25), func.count(Observation.pm25))
        .join(Station, Station.id == Observation.station_id)
        .where(Station.city_code == city_code)
        .where(Observation.time >= start.astimezone(UTC))
        .where(Observation.time < end.astimezone(UTC))
        .where(Observation.pm25.is_not(None))
        .group_by(Observation.time)
        .order_by(Observation.time)
    ).all()
    return [ObservedHour(as_utc(t), float(v), int(n)) for t, v, n in rows]
