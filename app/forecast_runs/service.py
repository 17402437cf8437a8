"""Forecast runs: make one (`run_forecast`), read them back, and verify them (`verify_runs`).

`run_forecast` is the one entry point the CLI, the scheduler and tests use. It

1. takes every city that has stations, at the city's point (registry lat/lon);
2. builds each city's history: per hour, the mean of its stations' observations, over the
   `HISTORY_HOURS` up to and including the issue hour;
3. calls the pure `forecasting.runs.forecast_points` (open grid, sample, features, predict);
4. writes the run, its hourly quantiles and its daily probabilities (with the PM2.5 AQI of
   p50 and p90 under the HJ 633 version in force on each local day) in the caller's
   transaction, then calls every hook in `after_run_hooks` with the session and the run.

A bad grid raises `forecasting.grids.GridError` before anything is written; the caller's
rollback leaves the database as it was and the previous run stays the latest.
Functions take a `Session` and plain values and never commit.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.config import get_settings
from app.forecast_runs.models import (
    STATUS_COMPLETE,
    ForecastDaily,
    ForecastHourly,
    ForecastRun,
    VerificationScore,
)
from app.metrics import FORECAST_RUN_SECONDS
from app.observations.models import Observation
from app.stations.models import Station
from app.timestamps import utcnow
from forecasting import verification
from forecasting.aqi import daily_aqi, version_for
from forecasting.observations import POLLUTANTS, WEATHER
from forecasting.qc import mask_flagged
from forecasting.runs import ProgressCallback, forecast_points, utc_hour

log = logging.getLogger("hazewarn.forecast_runs")

#: Hours of observations up to and including the issue hour handed to the model: the
#: longest feature window is the 30-day weather anomaly (PM windows reach a week).
HISTORY_HOURS = 30 * 24

#: Called after a run is stored (same session and transaction), e.g. by the warnings
#: engine to evaluate every city. A hook that raises aborts the whole run.
RunHook = Callable[[Session, ForecastRun], None]
after_run_hooks: list[RunHook] = []

HISTORY_COLUMNS: tuple[str, ...] = POLLUTANTS + WEATHER


class ForecastRunError(Exception):
    """A run cannot be made (no cities with stations, a model that cannot be loaded...)."""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class LoadedModel:
    """A model artefact and where it came from (recorded with every run)."""

    model: Any
    path: str
    sha256: str
    version: str


def file_sha256(path: Path, block: int = 8 << 20) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def load_model_file(path: str | Path) -> LoadedModel:
    """Load a model artefact saved by `hazewarn model train`.

    Raises `ForecastRunError` naming the file when it is missing or not a model.
    """
    from forecasting.runs import load_model, model_version

    file = Path(path)
    if not file.is_file():
        raise ForecastRunError(
            f"{file}: no such model file (train one with `hazewarn model train`)"
        )
    try:
        model = load_model(file)
    except Exception as exc:  # any unpickling failure is one clear line
        raise ForecastRunError(f"{file}: not a hazewarn model artefact: {exc}") from exc
    return LoadedModel(
        model=model,
        path=str(file.resolve()),
        sha256=file_sha256(file),
        version=model_version(model),
    )


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ForecastCity:
    code: str
    lat: float
    lon: float
    timezone: str
    station_ids: tuple[str, ...]


def forecast_cities(session: Session) -> list[ForecastCity]:
    """Every city with at least one station, ordered by code."""
    rows = session.execute(
        select(City.code, City.lat, City.lon, City.timezone, Station.id)
        .join(Station, Station.city_code == City.code)
        .order_by(City.code, Station.id)
    ).all()
    cities: dict[str, ForecastCity] = {}
    for code, lat, lon, tz, station_id in rows:
        found = cities.get(code)
        ids = (*found.station_ids, station_id) if found else (station_id,)
        cities[code] = ForecastCity(code, float(lat), float(lon), tz, ids)
    return list(cities.values())


def city_history(
    session: Session, cities: Sequence[ForecastCity], start: datetime, end: datetime
) -> pd.DataFrame:
    """Per city and hour in ``start <= time <= end`` (aware), the mean of its stations'
    observations: columns ``point`` (city code), ``time`` (UTC) and `HISTORY_COLUMNS`.
    QC-flagged values are left out (`forecasting.qc.mask_flagged`), so a broken sensor
    moves neither the features of a run nor its verification.

    Concentrations and scalar weather are plain means over the stations reporting that
    hour (as HJ 663 averages a city's sites); wind direction is the direction of the mean
    wind vector.
    """
    station_city = {sid: c.code for c in cities for sid in c.station_ids}
    columns = [getattr(Observation, name) for name in HISTORY_COLUMNS]
    frames = []
    ids = sorted(station_city)
    # Chunked IN lists keep every database (and its parameter limit) happy.
    for first in range(0, len(ids), 500):
        rows = session.execute(
            select(Observation.station_id, Observation.time, *columns, Observation.qc_flags)
            .where(Observation.station_id.in_(ids[first : first + 500]))
            .where(Observation.time >= start.astimezone(UTC))
            .where(Observation.time <= end.astimezone(UTC))
        ).all()
        frame = pd.DataFrame(rows, columns=["station_id", "time", *HISTORY_COLUMNS, "qc_flags"])
        frames.append(mask_flagged(frame).drop(columns=["qc_flags"]))
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if raw.empty:
        return pd.DataFrame(
            {"point": pd.Series(dtype=object), "time": pd.Series(dtype="datetime64[ns, UTC]")}
            | {name: pd.Series(dtype=float) for name in HISTORY_COLUMNS}
        )
    raw["time"] = pd.to_datetime(raw["time"], utc=True)
    raw["point"] = raw["station_id"].map(station_city)
    values = raw[list(HISTORY_COLUMNS)].astype("float64")
    direction = np.radians(values["wdir"])
    raw = raw.assign(
        **{name: values[name] for name in HISTORY_COLUMNS},
        _east=values["wspd"] * np.sin(direction),
        _north=values["wspd"] * np.cos(direction),
    )
    grouped = raw.groupby(["point", "time"], sort=True)
    means = grouped[[*HISTORY_COLUMNS, "_east", "_north"]].mean()
    means["wdir"] = np.where(
        means["_east"].notna() & means["_north"].notna(),
        np.degrees(np.arctan2(means["_east"], means["_north"])) % 360.0,
        np.nan,
    )
    return means.drop(columns=["_east", "_north"]).reset_index()


def grid_file_info(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Path, size (bytes) and SHA-256 of each grid file (every file of a Zarr store)."""
    out = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            digest = hashlib.sha256()
            size = 0
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(str(file.relative_to(path)).encode())
                digest.update(file_sha256(file).encode())
                size += file.stat().st_size
            out.append({"path": str(path.resolve()), "bytes": size, "sha256": digest.hexdigest()})
        else:
            out.append(
                {
                    "path": str(path.resolve()),
                    "bytes": path.stat().st_size,
                    "sha256": file_sha256(path),
                }
            )
    return out


# --------------------------------------------------------------------------- the run


def check_issue_time(issued_at: datetime, clock: datetime, tolerance_minutes: float) -> None:
    """Refuse an issue time later than the service clock plus the tolerance (ValueError)."""
    limit = clock + timedelta(minutes=tolerance_minutes)
    if issued_at > limit:
        raise ValueError(
            f"issue time {issued_at.astimezone(UTC):%Y-%m-%dT%H:%MZ} is later than the service "
            f"clock {clock.astimezone(UTC):%Y-%m-%dT%H:%MZ} (tolerance {tolerance_minutes:g} "
            "min, HAZEWARN_FORECAST_ISSUE_TOLERANCE_MINUTES): a forecast cannot be issued in "
            "the future"
        )


def run_forecast(
    session: Session,
    grid_paths: Sequence[str | Path],
    issued_at: datetime,
    model: LoadedModel,
    *,
    drill: bool = False,
    chunks: Any = None,
    progress: ProgressCallback | None = None,
    run_hooks: bool = True,
    now: datetime | None = None,
) -> ForecastRun:
    """Forecast every city with stations and store the run (see the module docstring).

    ``issued_at``: aware, on the hour, not later than the service clock (``now``, default
    `app.timestamps.utcnow`) plus the `forecast_issue_tolerance_minutes` setting: a
    forecast cannot be issued in the future. ``grid_paths``: the met grid file(s) (globs
    are expanded by `forecasting.grids.open_grid`). ``drill``: an exercise run, stored but
    never the latest. A run issued before the latest one is stored but does not become the
    latest (`latest_run` orders by issue time). Flushes, does not commit. Raises
    `GridError` (bad grid), `ForecastRunError` (nothing to forecast) or `ValueError`
    (issue time).
    """
    started = time.perf_counter()
    issue = utc_hour(issued_at)
    issue_dt = issue.to_pydatetime()
    clock = now or utcnow()
    check_issue_time(issue_dt, clock, get_settings().forecast_issue_tolerance_minutes)
    cities = forecast_cities(session)
    if not cities:
        raise ForecastRunError("no city has stations: import them with `hazewarn stations import`")
    history_start = issue_dt - timedelta(hours=HISTORY_HOURS - 1)
    history = city_history(session, cities, history_start, issue_dt)
    # A city whose stations reported nothing in the window is not forecast (the model
    # needs history; `forecasting.runs._predict` skips it), so the grid need not cover it
    # either: it must not block the others. `city_counts` still lists it, with 0 rows.
    reporting = set(history["point"])
    forecast = [c for c in cities if c.code in reporting]
    if not forecast:
        raise ForecastRunError(
            f"no city has observations in the {HISTORY_HOURS} h up to the issue time "
            f"{issue_dt:%Y-%m-%dT%H:%MZ}: import them with `hazewarn obs import`"
        )
    points = pd.DataFrame(
        {
            "id": [c.code for c in forecast],
            "lat": [c.lat for c in forecast],
            "lon": [c.lon for c in forecast],
            "tz": [c.timezone for c in forecast],
        }
    )
    result = forecast_points(
        grid_paths, points, history, model.model, issue, chunks=chunks, progress=progress
    )
    files = result.grid.get("files") or [str(p) for p in grid_paths]

    hourly = result.hourly.dropna(subset=["p10", "p50", "p90"])
    daily = result.daily.dropna(subset=["p10", "p50", "p90"])
    history_hours = history.dropna(subset=["pm25"]).groupby("point").size()
    hourly_counts = hourly.groupby("point").size()
    daily_counts = daily.groupby("point").size()
    city_counts = {
        c.code: {
            "stations": len(c.station_ids),
            "history_hours": int(history_hours.get(c.code, 0)),
            "hourly": int(hourly_counts.get(c.code, 0)),
            "daily": int(daily_counts.get(c.code, 0)),
        }
        for c in cities
    }
    run = ForecastRun(
        issued_at=issue_dt,
        created_at=clock,
        model_version=model.version,
        model_path=model.path,
        model_sha256=model.sha256,
        inputs={
            "grids": grid_file_info(files),
            "grid": {k: v for k, v in result.grid.items() if k != "files"},
            "observations": {
                "start": history_start.isoformat(),
                "end": issue_dt.isoformat(),
                "hours": HISTORY_HOURS,
                "rows": len(history),
            },
            "duration_seconds": round(time.perf_counter() - started, 3),
        },
        status=STATUS_COMPLETE,
        drill=drill,
        degraded=bool(result.grid.get("degraded_variables")),
        max_lead_h=int(result.hourly["lead"].max()) if len(result.hourly) else 0,
        city_count=sum(1 for counts in city_counts.values() if counts["hourly"] > 0),
        city_counts=city_counts,
    )
    session.add(run)
    session.flush()
    _insert_rows(session, run.id, hourly, daily)
    session.flush()
    FORECAST_RUN_SECONDS.observe(time.perf_counter() - started)
    log.info(
        "forecast run %d issued %s: %d cities",
        run.id,
        issue_dt.isoformat(),
        run.city_count,
        extra={"run_id": run.id},
    )
    if run_hooks:
        for hook in list(after_run_hooks):
            hook(session, run)
    return run


DAILY_VALUE_COLUMNS: tuple[str, ...] = (
    "p10",
    "p50",
    "p90",
    "p_gt_75",
    "p_gt_115",
    "p_gt_150",
    "p_gt_250",
)


def _insert_rows(session: Session, run_id: int, hourly: pd.DataFrame, daily: pd.DataFrame) -> None:
    valid_times = pd.to_datetime(hourly["valid_time"], utc=True)
    hourly_rows = [
        {
            "run_id": run_id,
            "city_code": str(point),
            "valid_time": when.to_pydatetime(),
            "lead_h": int(lead),
            "p10": float(p10),
            "p50": float(p50),
            "p90": float(p90),
        }
        for point, when, lead, p10, p50, p90 in zip(
            hourly["point"],
            valid_times,
            hourly["lead"],
            hourly["p10"],
            hourly["p50"],
            hourly["p90"],
            strict=True,
        )
    ]
    daily_rows = []
    numbers = {name: daily[name].to_numpy(dtype=float) for name in DAILY_VALUE_COLUMNS}
    for i, (point, local_date, lead_day) in enumerate(
        zip(daily["point"], daily["local_date"], daily["lead_day"], strict=True)
    ):
        day = pd.Timestamp(local_date).date()
        daily_rows.append(
            {
                "run_id": run_id,
                "city_code": str(point),
                "local_date": day,
                "lead_day": int(lead_day),
                **{name: float(values[i]) for name, values in numbers.items()},
                "aqi_version": version_for(day),
                "aqi_p50": pm25_aqi(float(numbers["p50"][i]), day),
                "aqi_p90": pm25_aqi(float(numbers["p90"][i]), day),
            }
        )
    if hourly_rows:
        session.execute(insert(ForecastHourly), hourly_rows)
    if daily_rows:
        session.execute(insert(ForecastDaily), daily_rows)


def store_scenario_run(
    session: Session,
    issued_at: datetime,
    days: Mapping[str, Mapping[date, float]],
    *,
    hours: int = 144,
    timezone: str = "Asia/Shanghai",
    default_pm25: float = 30.0,
    drill: bool = False,
    model_version: str = "scenario",
) -> int:
    """Store a complete forecast run written from a scenario rather than a model.

    Per city in ``days``, the hourly p90 for the ``hours`` after ``issued_at`` is the PM2.5
    (µg/m³) given for that local day (``default_pm25`` on days not given), p50 = 0.7 × p90
    and p10 = 0.5 × p90. Each local day after the issue day that the hours cover whole gets a
    daily row with the same quantiles and the scenario's exceedance probabilities: a
    scenario states what will happen, so P(daily mean > T) is `SCENARIO_LIKELY` when the
    day's value is above T and `SCENARIO_UNLIKELY` otherwise (plans deciding by
    probability then see the days the scenario makes heavy as heavy). For drills,
    benchmarks and tests of the warning chain. Flushed, not committed; returns the run id.
    """
    zone = ZoneInfo(timezone)
    run = ForecastRun(
        issued_at=issued_at,
        created_at=issued_at,
        model_version=model_version,
        model_path=f"{model_version}.joblib",
        model_sha256="0" * 64,
        inputs={"scenario": True},
        status="complete",
        drill=drill,
        max_lead_h=hours,
        city_count=len(days),
        city_counts={},
    )
    session.add(run)
    session.flush()
    rows = []
    for city, by_day in days.items():
        for lead in range(1, hours + 1):
            valid = issued_at + timedelta(hours=lead)
            value = by_day.get(valid.astimezone(zone).date(), default_pm25)
            rows.append(
                {
                    "run_id": run.id,
                    "city_code": city,
                    "valid_time": valid,
                    "lead_h": lead,
                    "p10": value * 0.5,
                    "p50": value * 0.7,
                    "p90": value,
                }
            )
    session.execute(insert(ForecastHourly), rows)
    daily_rows = []
    for city, by_day in days.items():
        issue_day = issued_at.astimezone(zone).date()
        last = (issued_at + timedelta(hours=hours)).astimezone(zone)
        # A day ending at local midnight after the last hour still counts whole.
        day, lead_day = issue_day + timedelta(days=1), 1
        while datetime.combine(day + timedelta(days=1), datetime.min.time(), zone) <= last:
            value = by_day.get(day, default_pm25)
            daily_rows.append(
                {
                    "run_id": run.id,
                    "city_code": city,
                    "local_date": day,
                    "lead_day": lead_day,
                    "p10": value * 0.5,
                    "p50": value * 0.7,
                    "p90": value,
                    **{
                        f"p_gt_{t}": SCENARIO_LIKELY if value > t else SCENARIO_UNLIKELY
                        for t in (75, 115, 150, 250)
                    },
                    "aqi_version": version_for(day),
                    "aqi_p50": pm25_aqi(value * 0.7, day),
                    "aqi_p90": pm25_aqi(value, day),
                }
            )
            day, lead_day = day + timedelta(days=1), lead_day + 1
    if daily_rows:
        session.execute(insert(ForecastDaily), daily_rows)
    session.flush()
    return int(run.id)


#: Exceedance probabilities of a scenario day above / not above a threshold.
SCENARIO_LIKELY = 0.9
SCENARIO_UNLIKELY = 0.05


def pm25_aqi(pm25_daily_mean: float, day: date) -> int | None:
    """The PM2.5 daily AQI (IAQI of the 24 h mean) under the version in force on ``day``."""
    return daily_aqi({"pm25_24h": pm25_daily_mean}, day=day).aqi


# --------------------------------------------------------------------------- reading


def latest_run(session: Session, include_drill: bool = False) -> ForecastRun | None:
    """The run with the latest issue time (the later stored one on a tie); drills only
    when asked."""
    query = select(ForecastRun).where(ForecastRun.status == STATUS_COMPLETE)
    if not include_drill:
        query = query.where(ForecastRun.drill.is_(False))
    return session.scalars(
        query.order_by(ForecastRun.issued_at.desc(), ForecastRun.id.desc()).limit(1)
    ).first()


def get_run(session: Session, run_id: int) -> ForecastRun | None:
    return session.get(ForecastRun, run_id)


def list_runs(session: Session, limit: int = 50, offset: int = 0) -> tuple[list[ForecastRun], int]:
    """Runs newest issue first, and how many there are."""
    total = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
    runs = session.scalars(
        select(ForecastRun)
        .order_by(ForecastRun.issued_at.desc(), ForecastRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(runs), total


def run_hourly(session: Session, run_id: int, city_code: str) -> list[ForecastHourly]:
    return list(
        session.scalars(
            select(ForecastHourly)
            .where(ForecastHourly.run_id == run_id, ForecastHourly.city_code == city_code)
            .order_by(ForecastHourly.valid_time)
        )
    )


def run_daily(
    session: Session,
    run_id: int,
    city_code: str | None = None,
    lead_days: Sequence[int] | None = None,
) -> list[ForecastDaily]:
    """Daily rows of a run, by city then day; optionally one city and some lead days."""
    query = select(ForecastDaily).where(ForecastDaily.run_id == run_id)
    if city_code is not None:
        query = query.where(ForecastDaily.city_code == city_code)
    if lead_days is not None:
        query = query.where(ForecastDaily.lead_day.in_(list(lead_days)))
    return list(session.scalars(query.order_by(ForecastDaily.city_code, ForecastDaily.local_date)))


def local_midnight_utc(day: date, timezone: str) -> datetime:
    """The UTC instant of local midnight starting ``day`` in ``timezone``."""
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


# --------------------------------------------------------------------------- verification

VERIFY_DAYS_DEFAULT = 90
#: Hourly leads scored (as in the backtest's metrics.json).
SKILL_HOURLY_LEADS: tuple[int, ...] = (1, 6, 12, 24, 48, 72)
DAILY_METRICS: tuple[str, ...] = ("rmse", "mae", "bias", "csi_75", "csi_150", "brier_150")
HOURLY_METRICS: tuple[str, ...] = ("rmse", "mae", "bias")


@dataclass(frozen=True)
class VerifySummary:
    window: str
    run_ids: tuple[int, ...]
    cities: int
    scores: int
    pairs_daily: int
    pairs_hourly: int


def _observed_city_hours(
    session: Session, cities: Sequence[ForecastCity], start: datetime, end: datetime
) -> pd.DataFrame:
    """City-mean PM2.5 per hour in ``start <= time <= end``: columns point, time, pm25."""
    history = city_history(session, cities, start, end)
    return history[["point", "time", "pm25"]].dropna(subset=["pm25"])


def verification_pairs(
    session: Session, runs: Sequence[ForecastRun]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast-observation pairs of the runs, from the observations stored now.

    Hourly: city_code, lead, forecast (p50), observed (city-mean PM2.5 of that hour).
    Daily: city_code, lead, p50, p_gt_150, observed (city-mean daily mean over the local
    day, with at least 18 of its hours), as in the backtest.
    """
    from forecasting.features import MIN_HOURS_PER_DAY

    cities = {c.code: c for c in forecast_cities(session)}
    hourly_pairs: list[pd.DataFrame] = []
    daily_pairs: list[pd.DataFrame] = []
    for run in runs:
        hourly = pd.DataFrame(
            session.execute(
                select(
                    ForecastHourly.city_code,
                    ForecastHourly.valid_time,
                    ForecastHourly.lead_h,
                    ForecastHourly.p50,
                ).where(ForecastHourly.run_id == run.id)
            ).all(),
            columns=["city_code", "valid_time", "lead", "forecast"],
        )
        daily = pd.DataFrame(
            session.execute(
                select(
                    ForecastDaily.city_code,
                    ForecastDaily.local_date,
                    ForecastDaily.lead_day,
                    ForecastDaily.p50,
                    ForecastDaily.p_gt_150,
                ).where(ForecastDaily.run_id == run.id)
            ).all(),
            columns=["city_code", "local_date", "lead", "forecast", "p_gt_150"],
        )
        involved = [
            cities[c] for c in set(hourly["city_code"]) | set(daily["city_code"]) if c in cities
        ]
        if not involved:
            continue
        start = run.issued_at
        end = run.issued_at + timedelta(hours=run.max_lead_h + 48)
        observed = _observed_city_hours(session, involved, start, end)
        if observed.empty:
            continue
        obs_hourly = observed.rename(columns={"point": "city_code", "time": "valid_time"})
        hourly["valid_time"] = pd.to_datetime(hourly["valid_time"], utc=True)
        matched = hourly.merge(obs_hourly, on=["city_code", "valid_time"], how="inner")
        hourly_pairs.append(
            matched.rename(columns={"pm25": "observed"})[
                ["city_code", "lead", "forecast", "observed"]
            ]
        )
        # Daily means over each city's local calendar day.
        tz = {c.code: c.timezone for c in involved}
        local_dates = [
            t.tz_convert(tz[code]).date()
            for code, t in zip(observed["point"], observed["time"], strict=True)
        ]
        per_day = (
            observed.assign(local_date=local_dates)
            .groupby(["point", "local_date"])["pm25"]
            .agg(["mean", "count"])
            .reset_index()
        )
        per_day = per_day[per_day["count"] >= MIN_HOURS_PER_DAY]
        per_day = per_day.rename(columns={"point": "city_code", "mean": "observed"})
        daily_matched = daily.merge(
            per_day[["city_code", "local_date", "observed"]], on=["city_code", "local_date"]
        )
        daily_pairs.append(daily_matched[["city_code", "lead", "forecast", "p_gt_150", "observed"]])
    hourly_all = (
        pd.concat(hourly_pairs, ignore_index=True)
        if hourly_pairs
        else pd.DataFrame(columns=["city_code", "lead", "forecast", "observed"])
    )
    daily_all = (
        pd.concat(daily_pairs, ignore_index=True)
        if daily_pairs
        else pd.DataFrame(columns=["city_code", "lead", "forecast", "p_gt_150", "observed"])
    )
    return hourly_all, daily_all


def verify_runs(
    session: Session,
    *,
    run_id: int | None = None,
    days: int = VERIFY_DAYS_DEFAULT,
    now: datetime | None = None,
) -> VerifySummary:
    """Score stored runs against the observations that have arrived since, and store the
    scores (replacing earlier ones of the same window).

    ``run_id``: that run alone, window ``run:<id>``. Otherwise every non-drill run issued
    in the ``days`` days before ``now``, pooled, window ``<days>d``. Raises
    `ForecastRunError` when the run does not exist or there is no run to score.
    """
    moment = now or utcnow()
    if run_id is not None:
        run = get_run(session, run_id)
        if run is None:
            raise ForecastRunError(f"no forecast run with id {run_id}")
        runs = [run]
        window = f"run:{run_id}"
    else:
        runs = list(
            session.scalars(
                select(ForecastRun)
                .where(ForecastRun.drill.is_(False))
                .where(ForecastRun.status == STATUS_COMPLETE)
                .where(ForecastRun.issued_at >= moment - timedelta(days=days))
                .where(ForecastRun.issued_at <= moment)
                .order_by(ForecastRun.issued_at)
            )
        )
        if not runs:
            raise ForecastRunError(f"no forecast run issued in the last {days} days to verify")
        window = f"{days}d"
    hourly, daily = verification_pairs(session, runs)
    rows = score_rows(hourly, daily, SKILL_HOURLY_LEADS)
    session.execute(delete(VerificationScore).where(VerificationScore.window == window))
    first = min(r.issued_at for r in runs)
    last = max(r.issued_at for r in runs)
    records = [
        {
            **row,
            "window": window,
            "window_start": first,
            "window_end": last,
            "run_count": len(runs),
            "computed_at": moment,
        }
        for row in rows
    ]
    if records:
        session.execute(insert(VerificationScore), records)
    session.flush()
    return VerifySummary(
        window=window,
        run_ids=tuple(r.id for r in runs),
        cities=len({r["city_code"] for r in records}),
        scores=len(records),
        pairs_daily=len(daily),
        pairs_hourly=len(hourly),
    )


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def score_rows(
    hourly: pd.DataFrame, daily: pd.DataFrame, hourly_leads: Sequence[int]
) -> list[dict[str, Any]]:
    """Scores per city and lead from verification pairs (`verification_pairs`), as rows
    of `verification_scores` (city_code, kind, lead, metric, value, n); undefined values
    (e.g. CSI with no event either way) are None."""
    rows: list[dict[str, Any]] = []
    for key, group in daily.groupby(["city_code", "lead"], sort=True):
        city_code, lead = cast(tuple[str, int], key)
        f = group["forecast"].to_numpy(dtype=float)
        o = group["observed"].to_numpy(dtype=float)
        values = {
            "rmse": verification.rmse(f, o),
            "mae": verification.mae(f, o),
            "bias": verification.bias(f, o),
            "csi_75": verification.contingency(f, o, 75.0).csi,
            "csi_150": verification.contingency(f, o, 150.0).csi,
            "brier_150": verification.brier_score(
                group["p_gt_150"].to_numpy(dtype=float), (o > 150.0).astype(float)
            ),
        }
        rows.extend(
            {
                "city_code": str(city_code),
                "kind": "daily",
                "lead": int(lead),
                "metric": metric,
                "value": _finite(value),
                "n": len(group),
            }
            for metric, value in values.items()
        )
    wanted = hourly[hourly["lead"].isin(list(hourly_leads))]
    for key, group in wanted.groupby(["city_code", "lead"], sort=True):
        city_code, lead = cast(tuple[str, int], key)
        f = group["forecast"].to_numpy(dtype=float)
        o = group["observed"].to_numpy(dtype=float)
        values = {
            "rmse": verification.rmse(f, o),
            "mae": verification.mae(f, o),
            "bias": verification.bias(f, o),
        }
        rows.extend(
            {
                "city_code": str(city_code),
                "kind": "hourly",
                "lead": int(lead),
                "metric": metric,
                "value": _finite(value),
                "n": len(group),
            }
            for metric, value in values.items()
        )
    return rows


def city_scores(
    session: Session, city_code: str, window: str | None = None
) -> tuple[str | None, list[VerificationScore], list[str]]:
    """The scores of a city for ``window`` (default: the pooled window computed last,
    else the last computed of any), and every window the city has scores for."""
    windows_rows = session.execute(
        select(VerificationScore.window, func.max(VerificationScore.computed_at))
        .where(VerificationScore.city_code == city_code)
        .group_by(VerificationScore.window)
    ).all()
    windows = sorted(w for w, _ in windows_rows)
    if window is None and windows_rows:
        pooled = [(t, w) for w, t in windows_rows if not w.startswith("run:")]
        pick = max(pooled or [(t, w) for w, t in windows_rows])
        window = pick[1]
    if window is None:
        return None, [], windows
    scores = list(
        session.scalars(
            select(VerificationScore)
            .where(VerificationScore.city_code == city_code, VerificationScore.window == window)
            .order_by(VerificationScore.kind, VerificationScore.lead, VerificationScore.metric)
        )
    )
    return window, scores, windows
