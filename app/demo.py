"""`hazewarn demo [--serve] [--port N] [--db PATH] [--reset]`: a real heavy-pollution
episode, end to end, from data shipped in the package.

The README's first command (`scripts/run.sh`) ends in `hazewarn demo --serve`. It needs
nothing beside the package: the observations and the station list come from the compact
extract in ``app/data/demo_extract/`` (made by ``scripts/make_demo_extract.py`` from the
public datasets; see docs/data.md), whether or not ``HAZEWARN_SHARED_DATA`` exists, so the
demo gives the same result on every machine. On a new SQLite file it:

1. migrates the schema and syncs the city registry (as `hazewarn db upgrade`);
2. imports the national station list and the Beijing multi-site observations of the
   extract (the three training stations from October 2015, the other six from November 2016);
3. loads the shipped contingency plans;
4. trains a small PM2.5 model on Beijing history before the episode (fewer trees and rows
   than `hazewarn model train`, so it takes seconds; the output says so);
5. creates a duty-officer API key and subscribes the demo's local webhook receiver
   (`app.demo_serve`) for the duty desk;
6. replays two daily forecast runs of the Beijing red-alert episode of 16–21 December
   2016, issued 2016-12-15 and 2016-12-16 at 12:00 Asia/Shanghai, with the stations'
   observed weather standing in for a perfect weather forecast (the perfect-prognosis
   set-up): the city-mean station weather is written as a small NetCDF grid around
   Beijing and read by the ordinary forecast run (`run_forecast`), whose after-run hook
   evaluates the warnings (once: the demo reports what that evaluation recorded, read
   back from the audit trail, `warning_events` of the run). Beijing's plan decides forecast
   days by probability: on the eve the demo model gives the coming days P(> 150 µg/m³)
   under the plan's 0.30, so the first run issues nothing; the second proposes a warning,
   which the plan makes wait for a duty officer (approve it on the dashboard);
7. writes the demo's environment (``hazewarn-demo.env`` in the working folder: database,
   clock, model,
   port; see `app.demo_serve`) so every hazewarn command run there agrees with it;
8. with ``--serve``, serves the API, the dashboard and the local receiver on
   ``HAZEWARN_HOST:--port`` with the scheduler's jobs and the outbox dispatcher running,
   so the subscribed receiver gets signed deliveries.

A second run on an existing demo database reuses it (migrates it, prints a new key, keeps
the clock); ``--reset`` deletes it and starts over. A database that is not a complete demo
is never deleted without ``--reset``.

The service clock is set back to the episode (``HAZEWARN_CLOCK_OFFSET_SECONDS``, read by
`app.timestamps.utcnow`): each run is stored half an hour after its issue time, and the
clock then runs on from half an hour after the last issue, so the proposal can still be
approved and the warning is in force on the dashboard.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer

from app.console import console, fail
from app.demo_inputs import (
    DEMO_TRAIN_STATIONS,
    DEMO_TREES,
    TRAIN_END,
    DemoError,
    demo_inputs,
    station_met_grid,
    train_demo_model,
)

__all__ = [
    "DEMO_CITY",
    "DEMO_ISSUE_TIMES",
    "DemoError",
    "DemoResult",
    "database_state",
    "demo_command",
    "demo_inputs",
    "fresh_sqlite_file",
    "setup_demo",
    "station_met_grid",
    "train_demo_model",
]

DEMO_CITY = "110000"
#: Issue times of the replayed runs: the eve and the first day of the red alert.
DEMO_ISSUE_TIMES: tuple[datetime, ...] = (
    datetime(2016, 12, 15, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(2016, 12, 16, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
)
#: A run is stored this long after its issue time (the service clock then).
RUN_DELAY = timedelta(minutes=30)
#: Station weather written to the grid before the first issue time (the run keeps 48 h)
#: and after the last one (the model reads met up to the end of D+3).
MET_HOURS_BEFORE = 48
MET_HOURS_AFTER = 120

DEMO_KEY_NAME = "Demo duty officer"


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
    #: True when an existing demo database was reused (no new runs).
    reused: bool = False
    subscription_id: int = 0


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


def database_state(path: Path) -> str:
    """``new`` (absent or empty: set up afresh), ``demo`` (a complete demo database: reuse
    it) or ``other`` (anything else: never touched without ``--reset``)."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return "new"
    if path.is_dir():
        return "other"
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            return "other"
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            runs = conn.execute("SELECT count(*) FROM forecast_runs").fetchone()[0]
            keys = conn.execute(
                "SELECT count(*) FROM api_keys WHERE name = ?", (DEMO_KEY_NAME,)
            ).fetchone()[0]
    except sqlite3.Error:
        return "other"
    return "demo" if runs >= len(DEMO_ISSUE_TIMES) and keys > 0 else "other"


@contextmanager
def _step(title: str, timings: list[tuple[str, float]]) -> Iterator[None]:
    started = time.perf_counter()
    with console.status(f"{title}…"):
        yield
    seconds = time.perf_counter() - started
    timings.append((title, seconds))


def setup_demo(
    db_path: Path,
    *,
    reset: bool = False,
    port: int = 8000,
    env_file: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build the demo database at ``db_path`` (see the module docstring), or reuse the
    complete demo database already there (``reset`` deletes it first), and return what it
    holds. Points this process at it (settings, engine, replay clock) and, with
    ``env_file``, writes the demo's environment there (`app.demo_serve`)."""
    from app.demo_serve import check_env_file

    report = say or (lambda text: console.print(text, highlight=False))
    db_path = db_path.resolve()
    try:
        check_env_file(env_file)
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    state = database_state(db_path)
    if reset:
        fresh_sqlite_file(db_path)
    elif state == "other":
        raise DemoError(
            f"--db {db_path}: not a complete demo database; refusing to touch it "
            "(--reset deletes and recreates it)"
        )
    elif state == "new":
        fresh_sqlite_file(db_path)  # an empty file, as after a crash
    reuse = state == "demo" and not reset
    return _build(db_path, reuse=reuse, port=port, env_file=env_file, report=report)


def _build(
    db_path: Path,
    *,
    reuse: bool,
    port: int,
    env_file: Path | None,
    report: Callable[[str], None],
) -> DemoResult:
    from sqlalchemy import func, select

    from app import migrate
    from app.auth.service import create_key
    from app.cities.models import City
    from app.cities.service import sync_registry
    from app.config import get_settings
    from app.database import session_scope
    from app.demo_serve import (
        DemoEnvironment,
        ensure_receiver_subscription,
        read_env_offset,
        write_env_file,
    )
    from app.forecast_runs.models import ForecastRun
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
    timings: list[tuple[str, float]] = []

    def done(text: str) -> None:
        title, seconds = timings[-1]
        report(f"[green]✓[/] {title}: {text} [dim]({seconds:.1f} s)[/]")

    station_list, beijing_files = demo_inputs()
    artefacts = db_path.parent / "var" / "demo"
    model_path = artefacts / "pm25-demo.joblib"
    issues = [moment.astimezone(UTC) for moment in DEMO_ISSUE_TIMES]
    met_path = artefacts / f"beijing-station-met-{issues[0]:%Y%m%d}-{issues[-1]:%Y%m%d}.nc"
    url = f"sqlite:///{db_path}"
    run_ids: list[int] = []
    run_transitions: list[tuple[str, ...]] = []

    if reuse:
        # Keep the clock the earlier run left (time has run on since), so nothing stored
        # lies in the service's future.
        stored = read_env_offset(env_file)
        clock = issues[-1] + RUN_DELAY
        if stored is not None:
            clock = datetime.now(UTC) + timedelta(seconds=stored)
        with _step("existing demo database", timings):
            offset = use_database(url, clock)
            migrate.upgrade(url)
            with session_scope() as session:
                # As `hazewarn db upgrade` and `plans load`: what this version ships.
                sync_registry(session)
                sync_extra_stations(session)
                load_plan_files(session, plan_files(PLANS_DIR), utcnow())
            with session_scope() as session:
                runs = session.scalars(select(ForecastRun).order_by(ForecastRun.id)).all()
                run_ids = [r.id for r in runs][-len(issues) :]
                run_transitions = [run_transition_texts(session, i) for i in run_ids]
        done(f"{db_path} reused (--reset starts over)")
        if not model_path.is_file():
            with _step("small demo model (missing: trained again)", timings):
                train_demo_model(beijing_files, model_path)
            done(str(model_path))
        with _step("duty-officer API key", timings), session_scope() as session:
            created = create_key(session, name=DEMO_KEY_NAME, role="duty_officer", now=utcnow())
            api_key = created.key
            subscription_id = ensure_receiver_subscription(
                session, port=port, owner_key_id=created.row.id, now=utcnow()
            )
        done("created (printed below)")
    else:
        with _step("fresh database", timings):
            offset = use_database(url, issues[0] + RUN_DELAY)
            migrate.upgrade(url)
            with session_scope() as session:
                synced = sync_registry(session)
                sync_extra_stations(session)
        done(f"{db_path} at the latest schema, {synced.total} cities")

        with _step("stations", timings), session_scope() as session:
            stations = import_station_list(session, station_list)
        done(
            f"{stations.rows:,} stations from {station_list.name}, "
            f"{stations.linked:,} in our cities"
        )

        with _step("observations", timings), session_scope() as session:
            imported = import_observations(session, beijing_files)
        done(
            f"{imported.rows_read:,} station-hours from the demo extract's "
            f"{len(beijing_files)} Beijing multi-site files"
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

        # The duty desk's key and endpoint exist before the runs, so the proposals they
        # raise are delivered to it.
        with (
            _step("duty-officer API key and webhook receiver", timings),
            session_scope() as session,
        ):
            created = create_key(session, name=DEMO_KEY_NAME, role="duty_officer", now=utcnow())
            api_key = created.key
            subscription_id = ensure_receiver_subscription(
                session, port=port, owner_key_id=created.row.id, now=utcnow()
            )
        done("key printed below; the local receiver (it verifies every signature) subscribed")

        # The run's after-run hook evaluates the warnings (importing the warnings service
        # registers it; make sure of it here): no second evaluation, which would skip every
        # city the run already decided.
        register_run_hook()
        for issue, local in zip(issues, DEMO_ISSUE_TIMES, strict=True):
            with _step(f"forecast run issued {local:%Y-%m-%d %H:%M %z}", timings):
                offset = use_database(url, issue + RUN_DELAY)
                with session_scope() as session:
                    run = run_forecast(session, [met_path], issue, model, now=utcnow())
                    run_ids.append(run.id)
                    run_transitions.append(run_transition_texts(session, run.id))
                    outcome = _run_outcome(session, run.id, DEMO_CITY)
            done(f"run {run_ids[-1]}, {city_name}: {outcome}")

    if env_file is not None:
        environment = DemoEnvironment(
            database_url=url, clock_offset_seconds=offset, model_path=model_path, port=port
        )
        write_env_file(env_file, environment)
        report(f"[green]✓[/] environment: {env_file} (every command run here shares it)")
    # This process too: the health check and the scheduler load the demo model.
    os.environ["HAZEWARN_MODEL_PATH"] = str(model_path)
    get_settings.cache_clear()

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
            "plans": len({p.city_code for p in _plan_rows(session)}),
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
        plans=counts["plans"],
        warnings=counts["warnings"],
        proposals=counts["proposals"],
        api_key=api_key,
        clock_offset_seconds=offset,
        seconds=time.perf_counter() - started,
        reused=reuse,
        subscription_id=subscription_id,
    )


def _plan_rows(session: Any) -> list[Any]:
    from sqlalchemy import select

    from app.plans.models import PlanVersion

    return list(session.scalars(select(PlanVersion)))


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


# --------------------------------------------------------------------------- the command


def demo_command(
    serve: bool = typer.Option(
        False, "--serve", help="Then serve the API, dashboard, dispatcher and local receiver"
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to serve on (default HAZEWARN_PORT, 8000)"
    ),
    db: Path = typer.Option(
        Path("hazewarn.db"),
        "--db",
        help="SQLite file of the demo; an existing demo database is reused",
    ),
    reset: bool = typer.Option(
        False, "--reset", help="Delete the demo database first and set it up afresh"
    ),
) -> None:
    """Replay the Beijing red alert of December 2016 end to end from the shipped extract.

    Imports stations and observations from the demo extract in the package (no shared data
    needed), trains a small model, replays the forecast runs issued 2016-12-15 and -16 at
    12:00 +08:00 with station weather standing in for the weather forecast, evaluates
    warnings, subscribes a local receiver, writes hazewarn-demo.env (database, clock, model)
    in the working folder, prints a duty-officer API key and, with --serve, serves the
    dashboard with the scheduler and the dispatcher (delivering to the receiver). Reuses
    an existing demo database unless --reset.
    """
    from app.config import demo_env_file, get_settings

    settings = get_settings()
    port = port or settings.port
    console.rule("[bold]hazewarn demo[/]: the Beijing red alert of December 2016")
    try:
        with warnings.catch_warnings():
            # scikit-learn notes that the boosting models were fitted on a DataFrame and
            # predict from arrays (same columns, same order): noise on the demo's screen.
            warnings.filterwarnings("ignore", "X does not have valid feature names")
            result = setup_demo(db, reset=reset, port=port, env_file=demo_env_file())
    except DemoError as exc:
        fail(str(exc))
    settings = get_settings()  # now pointing at the demo database
    zone = ZoneInfo("Asia/Shanghai")
    base = f"http://{settings.host}:{port}/"
    console.print()
    runs = ", ".join(map(str, result.run_ids))
    how = "Reused" if result.reused else "Set up"
    console.print(
        f"{how} in {result.seconds:.0f} s: {result.cities} cities, {result.stations:,} "
        f"stations, {result.observations:,} observations, {result.plans} plans, forecast runs "
        f"{runs}, {result.warnings} warning(s), {result.proposals} waiting for a duty officer.",
        highlight=False,
    )
    clock = (datetime.now(UTC) + timedelta(seconds=result.clock_offset_seconds)).astimezone(zone)
    console.print(
        f"Replay clock: the service believes it is {clock:%Y-%m-%d %H:%M %z} "
        "(HAZEWARN_CLOCK_OFFSET_SECONDS, in hazewarn-demo.env for every command run here).",
        highlight=False,
    )
    console.print("Duty-officer API key (paste it into the dashboard's key field):")
    print(result.api_key, flush=True)
    if not serve:
        console.print(
            "Serve it with: hazewarn demo --serve (the local receiver runs there; "
            "hazewarn serve, scheduler and every other command run in this folder share "
            "the demo's database and clock)",
            highlight=False,
            soft_wrap=True,
        )
        return
    from app.demo_serve import serve_demo

    console.print(
        f"Dashboard: [bold]{base}[/]   API: {base}docs   Receiver: {base}demo/receiver/stats"
        "   (Ctrl-C stops)"
    )
    serve_demo(settings.host, port, result.subscription_id)
