"""The monthly ranking of cities by average daily AQI, from observations.

A city's hourly concentration of each pollutant is the mean over its stations reporting
that hour (as HJ 663 averages a city's sites). Each local calendar day's indicators follow
`forecasting.aqi.daily_indicators` (24-h means need 20 valid hours; O3 8-h maximum over
the 17 windows inside the day, 6 hours per window, 14 windows), scored by
`forecasting.aqi.daily_aqi` under the HJ 633 version in force that day. A city's monthly
figure is the mean of its daily AQI over the days that have one; the best are the lowest.

The daily indicators are computed here for all city-days at once with numpy (the same
rules as `daily_indicators`, which a test checks), because the per-day pandas path takes
seconds for a month of every city.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.database import session_scope
from app.observations.models import Observation
from app.observations.service import valid_value
from app.stations.models import Station
from forecasting.aqi import (
    HJ633_2012,
    MIN_HOURS_24H,
    MIN_HOURS_O3_1H_MAX,
    MIN_HOURS_PER_8H_WINDOW,
    MIN_VALID_8H_WINDOWS,
    daily_aqi,
    version_for,
)

log = logging.getLogger("hazewarn.rankings")

TOP_N = 10
_MEAN_24H = ("so2", "no2", "pm10", "co", "pm25")
_POLLUTANTS = (*_MEAN_24H, "o3")


@dataclass(frozen=True)
class CityMonth:
    city_code: str
    name_zh: str
    name_en: str
    average_aqi: float
    days: int
    worst_day_aqi: int


def month_bounds(month: date) -> tuple[date, date]:
    """First day of the month and first day of the next one."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _city_hours(session: Session, start: datetime, end: datetime) -> dict[str, pd.DataFrame]:
    """Per city code: hourly city means of every pollutant (UTC index)."""
    columns = [valid_value(name) for name in _POLLUTANTS]  # QC-flagged values left out
    rows = session.execute(
        select(Station.city_code, Observation.time, *(func.avg(c) for c in columns))
        .join(Station, Station.id == Observation.station_id)
        .where(
            Station.city_code.is_not(None),
            Observation.time >= start.astimezone(UTC),
            Observation.time < end.astimezone(UTC),
        )
        .group_by(Station.city_code, Observation.time)
    ).all()
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["city", "time", *_POLLUTANTS])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for name in _POLLUTANTS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return {str(code): part.set_index("time") for code, part in frame.groupby("city")}


def _daily_aqi_values(hours: pd.DataFrame, first: date, following: date, zone: str) -> list[int]:
    """The daily AQI of every local day of the month that has one."""
    tz = ZoneInfo(zone)
    local = hours.tz_convert(tz)
    local.index = pd.DatetimeIndex(local.index).tz_localize(
        None
    )  # wall clock: one row per local hour
    local = local[~local.index.duplicated(keep="first")]
    n_days = (following - first).days
    grid = pd.date_range(datetime.combine(first, time(0)), periods=n_days * 24, freq="h")
    full = local.reindex(grid)
    cube = {name: full[name].to_numpy(dtype="float64").reshape(n_days, 24) for name in _POLLUTANTS}
    indicators: dict[str, np.ndarray] = {}
    for name in _MEAN_24H:
        values = cube[name]
        count = np.sum(~np.isnan(values), axis=1)
        with np.errstate(invalid="ignore"):
            means = np.nansum(values, axis=1) / np.where(count > 0, count, 1)
        indicators[f"{name}_24h"] = np.where(count >= MIN_HOURS_24H, means, np.nan)
    o3 = cube["o3"]
    o3_count = np.sum(~np.isnan(o3), axis=1)
    o3_max = np.fmax.reduce(o3, axis=1)  # fmax skips NaN; an all-NaN day stays NaN
    indicators["o3_1h"] = np.where(o3_count >= MIN_HOURS_O3_1H_MAX, o3_max, np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(o3, 8, axis=1)  # (days, 17, 8)
    w_count = np.sum(~np.isnan(windows), axis=2)
    w_sum = np.nansum(windows, axis=2)
    w_mean = np.where(
        w_count >= MIN_HOURS_PER_8H_WINDOW, w_sum / np.where(w_count > 0, w_count, 1), np.nan
    )
    valid_windows = np.sum(~np.isnan(w_mean), axis=1)
    best_window = np.max(np.where(np.isnan(w_mean), -np.inf, w_mean), axis=1)
    indicators["o3_8h"] = np.where(valid_windows >= MIN_VALID_8H_WINDOWS, best_window, np.nan)

    out: list[int] = []
    for index in range(n_days):
        day = first + timedelta(days=index)
        version = version_for(day)
        day_values = {key: float(array[index]) for key, array in indicators.items()}
        if version != HJ633_2012:
            day_values.pop("o3_1h")
        result = daily_aqi(
            {k: (None if np.isnan(v) else v) for k, v in day_values.items()}, version=version
        )
        if result.aqi is not None:
            out.append(result.aqi)
    return out


def monthly_ranking(session: Session, month: date) -> list[CityMonth]:
    """Every city with a daily AQI in ``month`` (any day of it), best (lowest) first."""
    first, following = month_bounds(month)
    # Pad by a day on each side in UTC so every zone's local month is inside the query.
    start = datetime.combine(first, time(0), tzinfo=UTC) - timedelta(days=1)
    end = datetime.combine(following, time(0), tzinfo=UTC) + timedelta(days=1)
    by_city = _city_hours(session, start, end)
    if not by_city:
        return []
    cities = {c.code: c for c in session.scalars(select(City).where(City.code.in_(list(by_city))))}
    ranked: list[CityMonth] = []
    for code, hours in by_city.items():
        city = cities.get(code)
        if city is None:
            continue
        values = _daily_aqi_values(hours, first, following, city.timezone)
        if not values:
            continue
        ranked.append(
            CityMonth(
                city_code=code,
                name_zh=city.name_zh,
                name_en=city.name_en,
                average_aqi=round(sum(values) / len(values), 1),
                days=len(values),
                worst_day_aqi=max(values),
            )
        )
    return sorted(ranked, key=lambda c: (c.average_aqi, c.city_code))


def previous_month(now: datetime, zone: str = "UTC") -> date:
    """The first day of the calendar month before ``now``'s month in ``zone``."""
    local = now.astimezone(ZoneInfo(zone)).date()
    return (local.replace(day=1) - timedelta(days=1)).replace(day=1)


def write_monthly_ranking(
    now: datetime,
    *,
    folder: Path,
    zone: str = "UTC",
    sessions: Callable[[], AbstractContextManager[Session]] = session_scope,
) -> Path:
    """Rank the cities by average daily AQI over the month before ``now`` (in ``zone``) and
    write ``folder/YYYY-MM.json`` (replaced whole, never half-written): the published
    figure `GET /v1/rankings/monthly` also computes on request."""
    month = previous_month(now, zone)
    with sessions() as session:
        ranked = monthly_ranking(session, month)
    body = {
        "month": f"{month:%Y-%m}",
        "computed_at": now.isoformat(),
        "cities": [{"rank": rank, **asdict(item)} for rank, item in enumerate(ranked, 1)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{month:%Y-%m}.json"
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    partial.replace(target)
    log.info("monthly ranking %s: %d cities ranked -> %s", body["month"], len(ranked), target)
    return target
