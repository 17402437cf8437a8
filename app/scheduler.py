"""`hazewarn scheduler`: the one process that runs hazewarn's periodic work.

APScheduler 3.x `BlockingScheduler`, in its own process and never inside web workers (so
several uvicorn workers never run a job twice). Jobs:

- ``grid_inbox`` (every ``HAZEWARN_GRID_INBOX_POLL_SECONDS``): a forecast run for each new
  grid file in ``HAZEWARN_GRID_INBOX`` (the run's hooks then evaluate the warnings); the file
  moves to ``done/``, or to ``failed/`` with a ``.error.txt`` saying why.
- ``verify`` (daily at ``HAZEWARN_SCHEDULER_VERIFY_TIME``, UTC): scores the runs of the last
  90 days against the observations that have arrived since.
- ``unacknowledged`` (every ``HAZEWARN_SCHEDULER_UNACK_CHECK_MINUTES``): flags warnings the
  city office has not acknowledged in time.
- ``regional_lagging`` (same interval): flags member cities lagging behind an issued
  regional warning past its grace (``regional.lagging`` events to the coordinator).
- the outbox dispatcher loop, continuously in a thread, when
  ``HAZEWARN_SCHEDULER_RUNS_DISPATCHER`` is true (the one-machine set-up).

Every job function takes ``now`` (aware UTC) and plain arguments, opens its own session and
commits its own work, so tests call it directly with a chosen time. The wrappers the
scheduler calls only supply the clock and log the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session
from structlog.contextvars import bind_contextvars, unbind_contextvars

from app.config import Settings, get_settings
from app.database import session_scope
from app.scheduling import STOPPING, ServiceClockTrigger, call_with_retries
from app.timestamps import utcnow

log = logging.getLogger("hazewarn.scheduler")

#: Names of the inbox's own sub-folders (never read as grids).
DONE_DIR = "done"
FAILED_DIR = "failed"
#: Files and folders the inbox takes as grids, by suffix (a Zarr store is a folder).
GRID_SUFFIXES: frozenset[str] = frozenset(
    {".nc", ".nc4", ".netcdf", ".cdf", ".grib", ".grb", ".grib2", ".grb2", ".zarr"}
)
#: Grids larger than this are read lazily through dask (bytes).
LAZY_READ_BYTES = 256 << 20

SessionFactory = Callable[[], AbstractContextManager[Session]]


# --------------------------------------------------------------------------- grid inbox


@dataclass(frozen=True)
class InboxOutcome:
    """What the inbox job did with one grid file."""

    name: str
    status: str  # "forecast", "duplicate" or "failed"
    run_id: int | None = None
    issued_at: datetime | None = None
    detail: str = ""


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _mtime(path: Path) -> float:
    """Latest modification time of the file, or of anything inside a Zarr store."""
    if path.is_dir():
        return max([path.stat().st_mtime, *(p.stat().st_mtime for p in path.rglob("*"))])
    return path.stat().st_mtime


def inbox_candidates(inbox: Path, now: datetime, settle_seconds: float) -> list[Path]:
    """Grid files in ``inbox`` ready to read, oldest first.

    A file is ready when its suffix is a grid's, its name does not start with ``.`` (a copy
    in progress by rsync and friends) and nothing in it changed for ``settle_seconds``
    before ``now`` (a copy still being written is left for the next check).
    """
    if not inbox.is_dir():
        return []
    ready = []
    for path in inbox.iterdir():
        if path.name in (DONE_DIR, FAILED_DIR) or path.name.startswith("."):
            continue
        if path.suffix.lower() not in GRID_SUFFIXES:
            continue
        if path.is_file() or (path.is_dir() and path.suffix.lower() == ".zarr"):
            changed = _mtime(path)
            if now.timestamp() - changed >= settle_seconds:
                ready.append((changed, path.name, path))
    return [path for _changed, _name, path in sorted(ready)]


def issue_time_for_grid(
    first_valid: datetime, last_valid: datetime, now: datetime, max_lead_h: int
) -> datetime:
    """The issue time of a run on a grid whose valid times span ``first..last`` (UTC).

    The current hour, when the grid reaches ``max_lead_h`` hours past it; otherwise the
    latest hour the grid still covers in full (an old grid, a replay, or a short one).
    Raises `ValueError` when the grid is shorter than the model's lead range.
    """
    hour = timedelta(hours=1)
    now_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last_hour = last_valid.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    latest_supported = last_hour - timedelta(hours=max_lead_h)
    issue = min(now_hour, latest_supported)
    # The run needs a grid step at or before issue + 1 h (forecasting.runs).
    if issue + hour < first_valid.astimezone(UTC):
        span = (last_valid - first_valid) / hour
        raise ValueError(
            f"the grid spans {span:.0f} h ({first_valid:%Y-%m-%dT%H:%MZ}.."
            f"{last_valid:%Y-%m-%dT%H:%MZ}); the model needs {max_lead_h} h after the issue time"
        )
    return issue


def grid_valid_range(path: Path) -> tuple[datetime, datetime]:
    """First and last valid time (aware UTC) of a grid file, read lazily (no data loaded)."""
    import pandas as pd

    from forecasting.grids import open_grid

    ds = open_grid(path, chunks="auto")
    try:
        times = pd.DatetimeIndex(ds["time"].values)
        if len(times) == 0:
            raise ValueError(f"{path.name}: the grid has no time steps")
        first = times.min().tz_localize("UTC").to_pydatetime()
        last = times.max().tz_localize("UTC").to_pydatetime()
    finally:
        ds.close()
    return first, last


def _already_run(session: Session, sha256: str, limit: int = 200) -> int | None:
    """The id of a recent run that read a grid with this SHA-256, if any."""
    from sqlalchemy import select

    from app.forecast_runs.models import ForecastRun

    runs = session.scalars(select(ForecastRun).order_by(ForecastRun.id.desc()).limit(limit))
    for run in runs:
        for grid in (run.inputs or {}).get("grids", []):
            if isinstance(grid, dict) and grid.get("sha256") == sha256:
                return run.id
    return None


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` (created), never overwriting an earlier file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    shutil.move(str(path), str(target))
    return target


def process_grid_inbox(
    now: datetime,
    *,
    inbox: Path,
    model_path: Path,
    settle_seconds: float = 30.0,
    sessions: SessionFactory = session_scope,
    lazy_read_bytes: int = LAZY_READ_BYTES,
) -> list[InboxOutcome]:
    """Run a forecast for every ready grid file in ``inbox`` (see `inbox_candidates`).

    For each file, in its own transaction: pick the issue time (`issue_time_for_grid`),
    call `app.forecast_runs.service.run_forecast` (whose hooks evaluate the warnings), then
    move the file to ``done/``. A file whose forecast fails moves to ``failed/`` with a
    ``<name>.error.txt`` saying why, and the next file is still processed. A file whose
    SHA-256 a stored run already read is not run again (a restart after a crash between
    commit and move). A missing model skips the whole check (files stay for later).
    """
    from app.forecast_runs.service import (
        ForecastRunError,
        file_sha256,
        grid_file_info,
        load_model_file,
        run_forecast,
    )
    from app.warnings.evaluation import register_run_hook
    from forecasting.runs import model_max_lead

    # Every run this job stores is evaluated for warnings in the run's transaction.
    register_run_hook()
    candidates = inbox_candidates(inbox, now, settle_seconds)
    if not candidates:
        return []
    try:
        model = load_model_file(model_path)
    except ForecastRunError as exc:
        log.error(
            "grid inbox: %d file(s) wait, but the model cannot be loaded: %s", len(candidates), exc
        )
        return []
    max_lead = model_max_lead(model.model)
    outcomes: list[InboxOutcome] = []
    for path in candidates:
        try:
            sha = grid_file_info([path])[0]["sha256"] if path.is_dir() else file_sha256(path)
            with sessions() as session:
                earlier = _already_run(session, sha)
            if earlier is not None:
                _move(path, inbox / DONE_DIR)
                outcomes.append(
                    InboxOutcome(
                        path.name, "duplicate", earlier, detail=f"already read by run {earlier}"
                    )
                )
                log.info(
                    "grid inbox: %s was already read by run %d; moved to done/", path.name, earlier
                )
                continue
            first, last = grid_valid_range(path)
            issue = issue_time_for_grid(first, last, now, max_lead)
            chunks = "auto" if _size(path) > lazy_read_bytes else None
            with sessions() as session:
                run = run_forecast(session, [path], issue, model, chunks=chunks, now=now)
                run_id = run.id
            _move(path, inbox / DONE_DIR)
            outcomes.append(InboxOutcome(path.name, "forecast", run_id, issue))
            log.info(
                "grid inbox: %s -> forecast run %d issued %s", path.name, run_id, issue.isoformat()
            )
        except Exception as exc:  # one bad file must not stop the others
            detail = f"{type(exc).__name__}: {exc}"
            try:
                moved = _move(path, inbox / FAILED_DIR)
                moved.with_name(moved.name + ".error.txt").write_text(
                    f"{now.isoformat()}\n{detail}\n", encoding="utf-8"
                )
            except OSError as move_error:
                detail += f" (and it could not be moved to failed/: {move_error})"
            outcomes.append(InboxOutcome(path.name, "failed", detail=detail))
            log.error("grid inbox: %s failed: %s", path.name, detail)
    return outcomes


# --------------------------------------------------------------------------- verify


def verify_recent_runs(
    now: datetime, *, days: int = 90, sessions: SessionFactory = session_scope
) -> Any:
    """Score the runs issued in the ``days`` before ``now`` (the daily `verify` job).

    Returns the `VerifySummary`, or None when no run falls in the window (nothing to do
    is not an error for a scheduled job).
    """
    from app.forecast_runs.service import ForecastRunError, verify_runs

    try:
        with sessions() as session:
            summary = verify_runs(session, days=days, now=now)
    except ForecastRunError as exc:
        log.info("verify: %s", exc)
        return None
    log.info(
        "verify: window %s, %d runs, %d scores (%d daily and %d hourly pairs)",
        summary.window,
        len(summary.run_ids),
        summary.scores,
        summary.pairs_daily,
        summary.pairs_hourly,
    )
    return summary


# --------------------------------------------------------------------------- acknowledgements


def flag_unacknowledged(
    now: datetime,
    *,
    grace: timedelta | None = None,
    sessions: SessionFactory = session_scope,
) -> list[tuple[int, str, str]]:
    """Warnings in force whose city office has not acknowledged them ``grace`` after their
    last announced change (default ``HAZEWARN_ACK_GRACE_MINUTES``): ``(id, city, level)``.

    The list is the warnings service's (`app.warnings.queries.list_unacknowledged`), the
    same the dashboard flags through ``/v1/warnings/unacknowledged``; this job writes each
    one to the scheduler's log at WARNING level for operators who watch logs, not pages.
    """
    from app.warnings.queries import list_unacknowledged

    if grace is None:
        grace = timedelta(minutes=get_settings().ack_grace_minutes)
    with sessions() as session:
        overdue = [
            (warning.id, city.code, warning.level)
            for warning, city in list_unacknowledged(session, now, grace)
        ]
    for warning_id, city_code, level in overdue:
        log.warning(
            "unacknowledged: warning %d (%s, %s) has no acknowledgement after %s",
            warning_id,
            city_code,
            level,
            grace,
        )
    return overdue


def flag_regional_lagging(
    now: datetime, *, sessions: SessionFactory = session_scope
) -> dict[str, list[str]]:
    """Members lagging behind issued regional warnings, per regional warning id
    (`app.regional.evaluation.check_lagging`: new laggards get a ``regional.lagging`` event
    and an audit line, committed here; the gauge counts them per region)."""
    from app.regional.evaluation import check_lagging

    with sessions() as session:
        lagging = check_lagging(session, now)
    for warning_id, cities in lagging.items():
        if cities:
            log.warning(
                "regional warning %s: %d member(s) lagging: %s",
                warning_id,
                len(cities),
                ", ".join(cities),
            )
    return lagging


# --------------------------------------------------------------------------- dispatcher


class DispatcherThread(threading.Thread):
    """The outbox dispatcher loop on its own thread and event loop, stoppable from outside."""

    def __init__(self) -> None:
        super().__init__(name="outbox-dispatcher", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from app.outbox.dispatcher import Dispatcher

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._stop_event = asyncio.Event()
            self._ready.set()
            stats = await Dispatcher().run(stop=self._stop_event)
            log.info(
                "dispatcher stopped: %d attempts, %d delivered", stats.attempts, stats.delivered
            )

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # report, the scheduler decides what to do
            self.error = exc
            log.exception("dispatcher thread died")
        finally:
            self._ready.set()
            loop.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to finish in-flight requests and return; wait for it."""
        self._ready.wait(timeout)
        if self._loop is not None and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already finished and closed
                self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)


# --------------------------------------------------------------------------- heartbeat

#: This process's heartbeat identity and start time.
_INSTANCE: dict[str, Any] = {}


def record_scheduler_heartbeat(now: datetime, *, sessions: SessionFactory = session_scope) -> None:
    """Record that this scheduler process is alive (see `app.health`)."""
    from app.health.service import instance_name, record_heartbeat

    if not _INSTANCE:
        _INSTANCE.update(name=instance_name(), started=now)
    with sessions() as session:
        record_heartbeat(session, "scheduler", _INSTANCE["name"], now, _INSTANCE["started"])


# --------------------------------------------------------------------------- the jobs


def _grid_inbox() -> None:
    settings = get_settings()
    process_grid_inbox(
        utcnow(),
        inbox=settings.grid_inbox,
        model_path=settings.model_path,
        settle_seconds=settings.grid_settle_seconds,
        # With a dask cluster every grid is read lazily, so the cluster does the reading.
        lazy_read_bytes=0 if settings.dask_scheduler_address else LAZY_READ_BYTES,
    )


def _monthly_ranking() -> None:
    from app.warnings.rankings import write_monthly_ranking

    settings = get_settings()
    write_monthly_ranking(utcnow(), folder=settings.rankings_dir, zone=settings.scheduler_timezone)


#: The scheduled jobs by id: each reads the service clock and its settings when it runs.
JOBS: dict[str, Callable[[], Any]] = {
    "grid_inbox": _grid_inbox,
    "verify": lambda: verify_recent_runs(utcnow()),
    "unacknowledged": lambda: flag_unacknowledged(utcnow()),
    "regional_lagging": lambda: flag_regional_lagging(utcnow()),
    "monthly_ranking": _monthly_ranking,
    "heartbeat": lambda: record_scheduler_heartbeat(utcnow()),
}


def run_job(job_id: str) -> None:
    """What the scheduler calls (stored by reference in the job store): the job with
    retries and backoff (`app.scheduling.call_with_retries`); the heartbeat is not retried,
    its next beat is seconds away."""
    settings = get_settings()
    retries = 0 if job_id == "heartbeat" else settings.scheduler_job_retries
    bind_contextvars(job=job_id)
    try:
        call_with_retries(
            job_id,
            JOBS[job_id],
            retries=retries,
            first_delay=settings.scheduler_retry_seconds,
        )
    finally:
        unbind_contextvars("job")


# --------------------------------------------------------------------------- the process


def _hour_minute(value: str) -> tuple[int, int]:
    hour, minute = value.split(":")
    return int(hour), int(minute)


def build_scheduler(settings: Settings | None = None, *, background: bool = False) -> Any:
    """A scheduler with the jobs above, not started.

    Jobs are kept in the database (APScheduler's ``SQLAlchemyJobStore``, table
    ``apscheduler_jobs``): a restart resumes their next run times, and a run missed while
    the process was down runs once on start (``coalesce``) if it is under an hour late.
    Clock times (verify, monthly ranking) are in ``HAZEWARN_SCHEDULER_TIMEZONE`` on the
    service clock. ``background``: a `BackgroundScheduler` (tests), else blocking.
    """
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    settings = settings or get_settings()
    zone = ZoneInfo(settings.scheduler_timezone)
    engine_options = (
        {"connect_args": {"check_same_thread": False}}
        if settings.database_url.startswith("sqlite")
        else {"pool_pre_ping": True}
    )
    store = SQLAlchemyJobStore(url=settings.database_url, engine_options=engine_options)
    kind = BackgroundScheduler if background else BlockingScheduler
    scheduler = kind(
        timezone=zone,
        jobstores={"default": store},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    now = datetime.now(zone)

    def add(job_id: str, name: str, trigger: Any, **options: Any) -> None:
        scheduler.add_job(
            "app.scheduler:run_job",
            trigger,
            args=[job_id],
            id=job_id,
            name=name,
            replace_existing=True,
            **options,
        )

    add(
        "grid_inbox",
        "forecast runs for new grid files",
        IntervalTrigger(seconds=settings.grid_inbox_poll_seconds, timezone=zone),
        next_run_time=now,  # look at the inbox at once on start
    )
    hour, minute = _hour_minute(settings.scheduler_verify_time)
    add(
        "verify",
        "verify forecast runs",
        ServiceClockTrigger(CronTrigger(hour=hour, minute=minute, timezone=zone)),
    )
    add(
        "unacknowledged",
        "flag unacknowledged warnings",
        IntervalTrigger(minutes=settings.scheduler_unack_check_minutes, timezone=zone),
        next_run_time=now,
    )
    hour, minute = _hour_minute(settings.scheduler_ranking_time)
    add(
        "monthly_ranking",
        "rank the cities for the month before",
        ServiceClockTrigger(CronTrigger(day=1, hour=hour, minute=minute, timezone=zone)),
    )
    add(
        "heartbeat",
        "record the scheduler's heartbeat",
        IntervalTrigger(seconds=settings.heartbeat_seconds, timezone=zone),
        next_run_time=now,
        misfire_grace_time=None,
    )
    add(
        "regional_lagging",
        "flag members lagging behind regional warnings",
        IntervalTrigger(minutes=settings.scheduler_unack_check_minutes, timezone=zone),
        next_run_time=now,
    )
    return scheduler


def run_scheduler(settings: Settings | None = None, scheduler: Any = None) -> None:
    """Run the scheduler (and, if configured, the dispatcher thread) until SIGTERM/SIGINT.

    ``scheduler``: one made by `build_scheduler` (default: a new one from ``settings``).
    """
    settings = settings or get_settings()
    settings.grid_inbox.mkdir(parents=True, exist_ok=True)
    scheduler = scheduler or build_scheduler(settings)
    dispatcher: DispatcherThread | None = None
    if settings.scheduler_runs_dispatcher:
        dispatcher = DispatcherThread()
        dispatcher.start()
    STOPPING.clear()

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the scheduler", signum)
        STOPPING.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()  # blocks until shutdown
    finally:
        if dispatcher is not None:
            dispatcher.stop()


# --------------------------------------------------------------------------- the command


def scheduler_command(
    once: bool = typer.Option(
        False, "--once", help="Run every job once now (no dispatcher) and exit"
    ),
    metrics_port: int = typer.Option(
        None,
        help="Serve this process's Prometheus metrics on PORT (default "
        "HAZEWARN_SCHEDULER_METRICS_PORT; unset: not served)",
    ),
) -> None:
    """Run the periodic jobs: grid inbox → forecast runs, daily verify, unacknowledged
    warnings, monthly ranking, heartbeat, and (HAZEWARN_SCHEDULER_RUNS_DISPATCHER, default
    true) the webhook dispatcher. Jobs persist in the database; failed jobs are retried.

    Run exactly one scheduler per database; never inside the web workers.
    """
    from rich.markup import escape

    from app.console import console

    settings = get_settings()
    if once:
        settings.grid_inbox.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        outcomes = process_grid_inbox(
            now,
            inbox=settings.grid_inbox,
            model_path=settings.model_path,
            settle_seconds=settings.grid_settle_seconds,
        )
        for outcome in outcomes:
            console.print(
                f"grid {outcome.name}: {outcome.status} {outcome.run_id or ''} {outcome.detail}"
            )
        console.print(f"grid inbox {settings.grid_inbox}: {len(outcomes)} file(s) processed")
        verify_recent_runs(now)
        overdue = flag_unacknowledged(now)
        console.print(f"unacknowledged warnings: {len(overdue)}")
        lagging = flag_regional_lagging(now)
        console.print(
            f"members lagging behind regional warnings: {sum(map(len, lagging.values()))}"
        )
        record_scheduler_heartbeat(now)
        return
    # APScheduler logs every job start and end at INFO; the jobs log what they did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    port = metrics_port or settings.scheduler_metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr="0.0.0.0")  # scraped from other hosts
    from app.forecast_runs.cluster import connect

    connect(settings)  # forecast runs on a dask cluster, when one is configured
    scheduler = build_scheduler(settings)
    console.print(f"[bold]hazewarn scheduler[/] watching {settings.grid_inbox.resolve()}")
    for job in scheduler.get_jobs():
        console.print(f"  {job.id:<15} {job.name} ({escape(str(job.trigger))})", highlight=False)
    dispatcher = "runs here" if settings.scheduler_runs_dispatcher else "not run here"
    console.print(f"  dispatcher      webhook outbox loop: {dispatcher}")
    run_scheduler(settings, scheduler)
