"""`hazewarn demo [--serve] [--db PATH]`: a real heavy-pollution episode, end to end.

The README's first command (`scripts/run.sh`) ends in `hazewarn demo --serve`. On a fresh
SQLite file (deleted and made again on every run, so the demo always starts from the same
state) it:

1. migrates the schema and syncs the city registry (as `hazewarn db upgrade`);
2. imports the national station list and the nine Beijing multi-site observation files
   from `HAZEWARN_SHARED_DATA` (read in place);
3. loads the shipped contingency plans;
4. trains a small PM2.5 model on Beijing history before the episode (fewer trees and rows
   than `hazewarn model train`, so it takes seconds; the output says so);
5. replays two daily forecast runs of the Beijing red-alert episode of 16–21 December
   2016, issued 2016-12-15 and 2016-12-16 at 12:00 Asia/Shanghai, with the stations'
   observed weather standing in for a perfect weather forecast (the perfect-prognosis
   set-up): the city-mean station weather is written as a small NetCDF grid around
   Beijing and read by the ordinary forecast run (`run_forecast`), whose after-run hook
   evaluates the warnings (once: the demo reports what that evaluation recorded, read
   back from the audit trail, `warning_events` of the run). Beijing's plan decides forecast
   days by probability: on the eve the demo model gives the coming days P(> 150 µg/m³)
   of about 0.2–0.3, under the plan's 0.30, so the first run issues nothing; the second
   sees them at about 0.8 and proposes a yellow warning, which the plan makes wait for a
   duty officer (approve it on the dashboard);
6. creates a duty-officer API key and prints it;
7. with ``--serve``, serves the API and the dashboard on ``HAZEWARN_HOST:HAZEWARN_PORT``
   (127.0.0.1:8000).

The service clock is set back to the episode (``HAZEWARN_CLOCK_OFFSET_SECONDS``, read by
`app.timestamps.utcnow`): each run is stored half an hour after its issue time, and the
clock then runs on from half an hour after the last issue, so the proposal can still be
approved and the warning is in force on the dashboard.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer

from app.console import console, fail

DEMO_CITY = "110000"
#: Issue times of the replayed runs: the eve and the first day of the red alert.
DEMO_ISSUE_TIMES: tuple[datetime, ...] = (
    datetime(2016, 12, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2016, 12, 16, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
)
#: A run is stored this long after its issue time (the service clock then).
RUN_DELAY = timedelta(minutes=30)
DEMO_TIMEZONE = "Asia/Shanghai"
#: Training history: everything of the Beijing files before the episode's month (local).
TRAIN_END = datetime(2016, 11, 30, 23, 0, tzinfo=ZoneInfo(DEMO_TIMEZONE))
#: The demo model learns from three central stations (the full set takes minutes).
DEMO_TRAIN_STATIONS: tuple[str, ...] = ("Dongsi", "Guanyuan", "Tiantan")
#: Boosting iterations per quantile model and training rows per lead group: fewer and
#: smaller than `hazewarn model train` (200 and 120,000), so training takes seconds.
DEMO_TREES = 40
DEMO_MAX_SAMPLES = 12_000
#: Half the side of the station-weather grid around the city point (degrees).
MET_GRID_HALF_WIDTH = 0.5
#: Station weather written to the grid before the first issue time (the run keeps 48 h)
#: and after the last one (the model reads met up to the end of D+3).
MET_HOURS_BEFORE = 48
MET_HOURS_AFTER = 120

BEIJING_DIR = "beijing_multisite"
STATION_LIST = Path("knowair_meta") / "station_info.csv"


@dataclass(frozen=True)
class DemoResult:
    """What the setup made, for the summary, the server and the tests."""

    database_url: str
    database_path: Path
    model_path: Path
    met_grid_path: Path
    run_ids: tuple[int, ...]
    #: Per run: the transitions its evaluation recorded ("issued blue", ...), in order.
    run_transitions: tuple[tuple[str, ...], ...]
    cities: int
    stations: int
    observations: int
    plans: int
    warnings: int
    proposals: int
    api_key: str
    clock_offset_seconds: float
    seconds: float


class DemoError(RuntimeError):
    """The demo cannot be set up; the message is one line for the user."""


# --------------------------------------------------------------------------- the database


def fresh_sqlite_file(path: Path) -> None:
    """Delete the SQLite file at ``path`` (and its WAL files) so the demo starts clean.

    Refuses a file that is not a SQLite database, so a mistyped ``--db`` never deletes
    anything else.
    """
    if path.exists():
        if path.is_dir():
            raise DemoError(f"--db {path}: is a folder, not a SQLite file")
        with path.open("rb") as handle:
            header = handle.read(16)
        if header and header != b"SQLite format 3\x00":
            raise DemoError(f"--db {path}: not a SQLite database; refusing to delete it")
        path.unlink()
    for suffix in ("-wal", "-shm", "-journal"):
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists():
            sidecar.unlink()


def use_database(url: str, clock: datetime) -> float:
    """Point this process's settings and engine at ``url``, with the service clock
    reading ``clock`` now (and running on from there); returns the clock offset (s)."""
    from app.database import reset_caches

    offset = round((clock - datetime.now(UTC)).total_seconds(), 3)
    os.environ["HAZEWARN_DATABASE_URL"] = url
    os.environ["HAZEWARN_CLOCK_OFFSET_SECONDS"] = repr(offset)
    reset_caches()
    return offset


# --------------------------------------------------------------------------- steps


def shared_inputs(shared_data: Path) -> tuple[Path, list[Path]]:
    """The station list and the Beijing observation files, or a `DemoError` naming the
    missing one."""
    station_list = shared_data / STATION_LIST
    beijing = sorted((shared_data / BEIJING_DIR).glob("PRSA_Data_*.csv"))
    if not shared_data.is_dir():
        raise DemoError(
            f"shared data folder {shared_data} not found; set HAZEWARN_SHARED_DATA to the "
            "folder holding beijing_multisite/ and knowair_meta/"
        )
    if not station_list.is_file():
        raise DemoError(f"{station_list} not found (HAZEWARN_SHARED_DATA={shared_data})")
    if not beijing:
        raise DemoError(
            f"no PRSA_Data_*.csv in {shared_data / BEIJING_DIR} "
            f"(HAZEWARN_SHARED_DATA={shared_data})"
        )
    return station_list, beijing


def station_met_grid(history: Any, lat: float, lon: float, path: Path) -> Path:
    """Write a city's hourly station weather as a small regular NetCDF grid around it.

    ``history``: the frame of `app.forecast_runs.service.city_history` for one city
    (``time`` UTC and the station weather columns). Every node of the 2 × 2 grid holds the
    same series, so bilinear sampling at the city point gives the station weather back.
    Units are the canonical ones of `forecasting.grids`.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    from forecasting.station_met import station_met_dataset

    frame = history.rename(columns={"point": "station"})
    points = station_met_dataset(frame)
    series = points.isel(point=0)
    lats = np.array([lat - MET_GRID_HALF_WIDTH, lat + MET_GRID_HALF_WIDTH])
    lons = np.array([lon - MET_GRID_HALF_WIDTH, lon + MET_GRID_HALF_WIDTH])
    data_vars = {}
    for name, values in series.data_vars.items():
        column = values.to_numpy()
        cube = np.broadcast_to(column[:, None, None], (len(column), 2, 2)).copy()
        data_vars[str(name)] = (("time", "lat", "lon"), cube, {"units": values.attrs["units"]})
    grid = xr.Dataset(
        data_vars,
        coords={
            "time": pd.DatetimeIndex(series["time"].to_numpy()).to_numpy(),
            "lat": ("lat", lats, {"units": "degrees_north"}),
            "lon": ("lon", lons, {"units": "degrees_east"}),
        },
        attrs={
            "title": "hazewarn demo: station weather as a perfect-prognosis forecast grid",
            "source": "city mean of the Beijing multi-site stations' observed weather",
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.to_netcdf(path)
    return path


@contextmanager
def _step(title: str, timings: list[tuple[str, float]]) -> Iterator[None]:
    started = time.perf_counter()
    with console.status(f"{title}…"):
        yield
    seconds = time.perf_counter() - started
    timings.append((title, seconds))


def setup_demo(
    db_path: Path,
    shared_data: Path,
    *,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build the demo database at ``db_path`` (see the module docstring) and return what
    it holds. Points this process at it (settings, engine, replay clock)."""
    from sqlalchemy import func, select

    from app import migrate
    from app.auth.service import create_key
    from app.cities.models import City
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.forecast_runs.service import (
        city_history,
        forecast_cities,
        load_model_file,
        run_forecast,
    )
    from app.observations.models import Observation
    from app.observations.service import import_observations
    from app.plans.service import load_plan_files
    from app.stations.models import Station
    from app.stations.service import import_station_list, sync_extra_stations
    from app.timestamps import utcnow
    from app.warnings.evaluation import register_run_hook
    from app.warnings.models import CityWarning
    from contingency_plans.loader import PLANS_DIR, plan_files

    started = time.perf_counter()
    report = say or (lambda text: console.print(text, highlight=False))
    timings: list[tuple[str, float]] = []

    def done(text: str) -> None:
        title, seconds = timings[-1]
        report(f"[green]✓[/] {title}: {text} [dim]({seconds:.1f} s)[/]")

    station_list, beijing_files = shared_inputs(shared_data)
    db_path = db_path.resolve()
    artefacts = db_path.parent / "var" / "demo"
    model_path = artefacts / "pm25-demo.joblib"
    issues = [moment.astimezone(UTC) for moment in DEMO_ISSUE_TIMES]
    met_path = artefacts / f"beijing-station-met-{issues[0]:%Y%m%d}-{issues[-1]:%Y%m%d}.nc"
    url = f"sqlite:///{db_path}"

    with _step("fresh database", timings):
        fresh_sqlite_file(db_path)
        offset = use_database(url, issues[0] + RUN_DELAY)
        migrate.upgrade(url)
        with session_scope() as session:
            synced = sync_registry(session)
            sync_extra_stations(session)
    done(f"{db_path} at the latest schema, {synced.total} cities")

    with _step("stations", timings), session_scope() as session:
        stations = import_station_list(session, station_list)
    done(f"{stations.rows:,} stations from {station_list.name}, {stations.linked:,} in our cities")

    with _step("observations", timings), session_scope() as session:
        imported = import_observations(session, beijing_files)
    done(
        f"{imported.rows_read:,} station-hours from {len(beijing_files)} Beijing multi-site "
        "files (2013-03 to 2017-02)"
    )

    with _step("contingency plans", timings), session_scope() as session:
        outcomes = load_plan_files(session, plan_files(PLANS_DIR), utcnow())
    loaded = [o for o in outcomes if o.status != "refused"]
    done(f"{len(loaded)} city plans loaded")

    small = f"small demo model ({DEMO_TREES} trees per quantile: seconds, not minutes)"
    with _step(small, timings):
        version = train_demo_model(beijing_files, model_path)
        model = load_model_file(model_path)
    done(
        f"{version}, from {', '.join(DEMO_TRAIN_STATIONS)} up to {TRAIN_END:%Y-%m-%d}; "
        "`hazewarn model train` builds the full-size one"
    )

    with _step("station weather as the forecast grid", timings), session_scope() as session:
        city = session.get(City, DEMO_CITY)
        assert city is not None
        cities = [c for c in forecast_cities(session) if c.code == DEMO_CITY]
        weather = city_history(
            session,
            cities,
            issues[0] - timedelta(hours=MET_HOURS_BEFORE),
            issues[-1] + timedelta(hours=MET_HOURS_AFTER),
        )
        station_met_grid(weather, city.lat, city.lon, met_path)
        city_name = f"{city.name_en} {city.name_zh}"
    done(f"{met_path.name}: observed weather standing in for a perfect forecast")

    # The run's after-run hook evaluates the warnings (importing the warnings service
    # registers it; make sure of it here): no second evaluation, which would skip every
    # city the run already decided.
    register_run_hook()
    run_ids: list[int] = []
    run_transitions: list[tuple[str, ...]] = []
    for issue, local in zip(issues, DEMO_ISSUE_TIMES, strict=True):
        with _step(f"forecast run issued {local:%Y-%m-%d %H:%M %z}", timings):
            offset = use_database(url, issue + RUN_DELAY)
            with session_scope() as session:
                run = run_forecast(session, [met_path], issue, model, now=utcnow())
                run_ids.append(run.id)
                run_transitions.append(run_transition_texts(session, run.id))
                outcome = _run_outcome(session, run.id, DEMO_CITY)
        done(f"run {run_ids[-1]}, {city_name}: {outcome}")

    with _step("duty-officer API key", timings), session_scope() as session:
        created = create_key(session, name="Demo duty officer", role="duty_officer", now=utcnow())
        api_key = created.key
    done("created (printed below)")

    with session_scope() as session:
        counts = {
            "cities": session.scalar(select(func.count()).select_from(City)) or 0,
            "stations": session.scalar(select(func.count()).select_from(Station)) or 0,
            "observations": session.scalar(select(func.count()).select_from(Observation)) or 0,
            "warnings": session.scalar(select(func.count()).select_from(CityWarning)) or 0,
            "proposals": session.scalar(
                select(func.count())
                .select_from(CityWarning)
                .where((CityWarning.state == "proposed") | CityWarning.pending_level.is_not(None))
            )
            or 0,
        }
    return DemoResult(
        database_url=url,
        database_path=db_path,
        model_path=model_path,
        met_grid_path=met_path,
        run_ids=tuple(run_ids),
        run_transitions=tuple(run_transitions),
        cities=counts["cities"],
        stations=counts["stations"],
        observations=counts["observations"],
        plans=len(loaded),
        warnings=counts["warnings"],
        proposals=counts["proposals"],
        api_key=api_key,
        clock_offset_seconds=offset,
        seconds=time.perf_counter() - started,
    )


def run_transition_texts(session: Any, run_id: int) -> tuple[str, ...]:
    """What the run's evaluation recorded, from the audit trail: one text per transition,
    in order, e.g. ``110000 issued blue`` or ``110000 proposed red``."""
    from sqlalchemy import select

    from app.warnings.models import WarningEvent

    texts = []
    for entry in session.scalars(
        select(WarningEvent).where(WarningEvent.run_id == str(run_id)).order_by(WarningEvent.id)
    ):
        after = entry.after or {}
        level = after.get("proposed_level") or after.get("level")
        texts.append(" ".join(t for t in (entry.city_code, entry.kind, level) if t))
    return tuple(texts)


def _run_outcome(session: Any, run_id: int, city_code: str) -> str:
    """ "daily PM2.5 … µg/m³; 1 transition (110000 proposed red) → orange in force, upgrade
    to red waits for a duty officer"."""
    from sqlalchemy import select

    from app.forecast_runs.service import run_daily
    from app.warnings.models import CityWarning

    days = run_daily(session, run_id, city_code, lead_days=(1, 2, 3))
    path = "/".join(f"{d.p50:.0f}" for d in days)
    high = "/".join(f"{d.p90:.0f}" for d in days)
    recorded = [t for t in run_transition_texts(session, run_id) if t.startswith(city_code)]
    count = f"{len(recorded)} transition{'' if len(recorded) == 1 else 's'}"
    forecast = f"daily PM2.5 p50 {path}, p90 {high} µg/m³; {count}"
    if recorded:
        forecast += f" ({', '.join(recorded)})"
    warning = session.scalars(
        select(CityWarning)
        .where(CityWarning.city_code == city_code, CityWarning.forecast_run_id == str(run_id))
        .order_by(CityWarning.id.desc())
        .limit(1)
    ).first()
    if warning is None:
        return f"{forecast}; no warning change"
    if warning.pending_level:
        change = f"{warning.pending_kind or 'change'} to {warning.pending_level}"
        return f"{forecast} → {warning.level} in force, {change} waits for a duty officer"
    if warning.state == "proposed":
        return f"{forecast} → {warning.level} warning proposed, waits for a duty officer"
    return f"{forecast} → {warning.level} warning {warning.state}"


def train_demo_model(observation_files: list[Path], path: Path) -> str:
    """Train the small demo model and save it at ``path``; returns its version.

    The three central stations of `DEMO_TRAIN_STATIONS`, their history up to
    `TRAIN_END` (local) with their own weather as met (perfect prognosis), and
    `DEMO_TREES` and `DEMO_MAX_SAMPLES` (fewer, smaller boosting runs than
    `hazewarn model train`). Runs with one native thread: on a busy two-core machine
    OpenMP's spinning threads make gradient boosting many times slower, not faster.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from forecasting.backtest import station_series, train_cutoff
    from forecasting.model import TrainingConfig, save_model, train_forecast_model
    from forecasting.observations import read_observations

    wanted = [f for f in observation_files if any(s in f.name for s in DEMO_TRAIN_STATIONS)]
    if not wanted:
        raise DemoError(f"none of the stations {DEMO_TRAIN_STATIONS} among the Beijing files")
    observations = pd.concat([read_observations(f) for f in wanted], ignore_index=True)
    train_end = TRAIN_END.date()
    series = station_series(observations, DEMO_TIMEZONE, end=train_cutoff(train_end, DEMO_TIMEZONE))
    with threadpool_limits(limits=1):
        config = TrainingConfig(max_iter=DEMO_TREES, max_samples=DEMO_MAX_SAMPLES)
        model = train_forecast_model(series, train_end=train_end, config=config)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    return model.version


# --------------------------------------------------------------------------- the command


def demo_command(
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the API and dashboard (HAZEWARN_HOST:HAZEWARN_PORT)"
    ),
    db: Path = typer.Option(
        Path("hazewarn.db"),
        "--db",
        help="SQLite file to (re)create; deleted and made afresh on every run",
    ),
) -> None:
    """Replay the Beijing red alert of December 2016 end to end on a fresh SQLite file.

    Imports stations and observations from HAZEWARN_SHARED_DATA, trains a small model,
    replays the forecast runs issued 2016-12-15 and -16 at 12:00 +08:00 with station
    weather standing in for the weather forecast, evaluates warnings, prints a
    duty-officer API key and, with --serve, serves the dashboard.
    """
    from app.config import get_settings

    settings = get_settings()
    console.rule("[bold]hazewarn demo[/]: the Beijing red alert of December 2016")
    try:
        with warnings.catch_warnings():
            # scikit-learn notes that the boosting models were fitted on a DataFrame and
            # predict from arrays (same columns, same order): noise on the demo's screen.
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            result = setup_demo(db, settings.shared_data)
    except DemoError as exc:
        fail(str(exc))
    settings = get_settings()  # now pointing at the demo database
    zone = ZoneInfo("Asia/Shanghai")
    base = f"http://{settings.host}:{settings.port}/"
    console.print()
    runs = ", ".join(map(str, result.run_ids))
    console.print(
        f"Set up in {result.seconds:.0f} s: {result.cities} cities, {result.stations:,} "
        f"stations, {result.observations:,} observations, {result.plans} plans, forecast runs "
        f"{runs}, {result.warnings} warning(s), {result.proposals} waiting for a duty officer.",
        highlight=False,
    )
    clock = (datetime.now(UTC) + timedelta(seconds=result.clock_offset_seconds)).astimezone(zone)
    console.print(
        f"Replay clock: the service believes it is {clock:%Y-%m-%d %H:%M %z} "
        "(HAZEWARN_CLOCK_OFFSET_SECONDS).",
        highlight=False,
    )
    console.print("Duty-officer API key (paste it into the dashboard's key field):")
    print(result.api_key)
    if not serve:
        console.print(
            f"Serve it with: HAZEWARN_DATABASE_URL={result.database_url} "
            f"HAZEWARN_CLOCK_OFFSET_SECONDS={result.clock_offset_seconds:.0f} hazewarn serve",
            highlight=False,
            soft_wrap=True,
        )
        return
    import uvicorn

    console.print(f"Dashboard: [bold]{base}[/]   API: {base}docs   (Ctrl-C stops)")
    uvicorn.run("app.main:create_app", factory=True, host=settings.host, port=settings.port)
