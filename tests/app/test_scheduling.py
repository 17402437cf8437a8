"""The scheduler process: cron on the service clock across a daylight-saving change, the
persistent job store, retries with backoff, the monthly ranking and the heartbeat."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from app import scheduler
from app.cli import cli
from app.config import get_settings
from app.scheduling import (
    JOB_FAILURES,
    JOB_RUNS,
    ServiceClockTrigger,
    call_with_retries,
)
from app.warnings.rankings import previous_month, write_monthly_ranking

BERLIN_DST_2027 = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST


def _fire_times(trigger: Any, start: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        times.append(fire.astimezone(UTC))
        previous = now = fire
    return times


def test_a_berlin_cron_keeps_its_local_time_across_the_spring_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")
    get_settings.cache_clear()
    trigger = ServiceClockTrigger(CronTrigger(hour=3, minute=0, timezone="Europe/Berlin"))
    times = _fire_times(trigger, datetime(2027, 3, 26, 12, tzinfo=UTC), 3)
    # 03:00 CET = 02:00 UTC on the 27th; 03:00 CEST = 01:00 UTC from the 28th.
    assert times == [
        datetime(2027, 3, 27, 2, tzinfo=UTC),
        datetime(2027, 3, 28, 1, tzinfo=UTC),
        datetime(2027, 3, 29, 1, tzinfo=UTC),
    ]
    get_settings.cache_clear()


def test_the_cron_reads_the_service_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the service clock ten days behind, 03:00 service time comes ten days later on
    the wall clock."""
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", str(-10 * 86400))
    get_settings.cache_clear()
    trigger = ServiceClockTrigger(CronTrigger(hour=3, minute=0, timezone="Europe/Berlin"))
    wall = _fire_times(trigger, datetime(2027, 4, 6, 12, tzinfo=UTC), 2)
    assert wall == [
        datetime(2027, 3, 28, 1, tzinfo=UTC) + timedelta(days=10),
        datetime(2027, 3, 29, 1, tzinfo=UTC) + timedelta(days=10),
    ]
    get_settings.cache_clear()


def _scheduler_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    monkeypatch.setenv("HAZEWARN_GRID_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("HAZEWARN_RANKINGS_DIR", str(tmp_path / "rankings"))
    monkeypatch.setenv("HAZEWARN_MODEL_PATH", str(tmp_path / "no-model.joblib"))
    for name, value in env.items():
        monkeypatch.setenv(f"HAZEWARN_{name.upper()}", value)
    get_settings.cache_clear()


def test_the_nightly_verify_fires_at_the_berlin_time_on_the_service_clock_across_dst(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real scheduler, its service clock set to 3 s before 03:00 CEST on the night
    Berlin's clocks go forward: the verify job runs at 01:00 UTC (not 02:00, where a cron
    blind to the change would put 03:00)."""
    offset = (BERLIN_DST_2027 - timedelta(seconds=3) - datetime.now(UTC)).total_seconds()
    _scheduler_settings(
        monkeypatch,
        tmp_path,
        clock_offset_seconds=repr(offset),
        scheduler_timezone="Europe/Berlin",
        scheduler_verify_time="03:00",
    )
    ran = threading.Event()
    seen: dict[str, Any] = {}

    def listen(event: Any) -> None:
        if event.job_id == "verify":
            seen["scheduled"] = event.scheduled_run_time
            seen["error"] = getattr(event, "exception", None)
            ran.set()

    sched = scheduler.build_scheduler(background=True)
    sched.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    sched.start()
    try:
        assert ran.wait(60), "the verify job did not fire"
    finally:
        sched.shutdown(wait=True)
    assert seen["error"] is None
    service_time = seen["scheduled"] + timedelta(seconds=offset)
    assert abs(service_time - BERLIN_DST_2027) < timedelta(seconds=1)


def test_jobs_persist_in_the_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scheduler_settings(monkeypatch, tmp_path)
    first = scheduler.build_scheduler(background=True)
    first.start(paused=True)
    verify_next = first.get_job("verify").next_run_time
    first.shutdown()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    engine.dispose()
    assert stored == {
        "grid_inbox",
        "verify",
        "unacknowledged",
        "monthly_ranking",
        "heartbeat",
        "regional_lagging",
    }
    # A restarted scheduler finds them (and the same next verify time).
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(url=database_url)
    store.start(None, "default")  # type: ignore[arg-type]
    try:
        assert store.lookup_job("verify").next_run_time == verify_next
    finally:
        store.shutdown()


def _count(metric: Any, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


def test_a_failing_job_is_retried_with_backoff_and_succeeds() -> None:
    calls: list[float] = []

    def flaky() -> str:
        calls.append(0.0)
        if len(calls) < 3:
            raise RuntimeError("database busy")
        return "done"

    errors, oks = _count(JOB_RUNS, "flaky", "error"), _count(JOB_RUNS, "flaky", "ok")
    failures = _count(JOB_FAILURES, "flaky")
    stop = threading.Event()
    assert call_with_retries("flaky", flaky, retries=3, first_delay=0.001, stop=stop) == "done"
    assert len(calls) == 3
    assert _count(JOB_RUNS, "flaky", "error") == errors + 2
    assert _count(JOB_RUNS, "flaky", "ok") == oks + 1
    assert _count(JOB_FAILURES, "flaky") == failures


def test_a_job_failing_every_retry_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ValueError("no grid")

    failures = _count(JOB_FAILURES, "broken")
    stop = threading.Event()
    with caplog.at_level(logging.WARNING, logger="hazewarn.scheduler"):
        assert call_with_retries("broken", broken, retries=2, first_delay=0.001, stop=stop) is None
    assert _count(JOB_FAILURES, "broken") == failures + 1
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    final = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(retries) == 2
    assert "retrying in" in retries[1].getMessage()
    assert len(final) == 1
    assert "failed after 3 attempt(s): ValueError: no grid" in final[0].getMessage()


def test_stopping_the_scheduler_abandons_a_retry_wait() -> None:
    stop = threading.Event()
    stop.set()
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("down")

    assert call_with_retries("stopping", broken, retries=5, first_delay=3600, stop=stop) is None
    assert calls == [1]


def test_previous_month_is_read_in_the_scheduler_zone() -> None:
    now = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 1 December 00:30 in Shanghai
    assert previous_month(now, "Asia/Shanghai").isoformat() == "2026-11-01"
    assert previous_month(now, "UTC").isoformat() == "2026-10-01"


def test_the_monthly_ranking_job_writes_the_month_before(database_url: str, tmp_path: Path) -> None:
    from app.cities.service import sync_registry
    from app.database import session_scope

    with session_scope() as session:
        sync_registry(session)
    now = datetime(2017, 1, 1, 2, 30, tzinfo=UTC)
    path = write_monthly_ranking(now, folder=tmp_path / "rankings")
    assert path == tmp_path / "rankings" / "2016-12.json"
    body = json.loads(path.read_text(encoding="utf-8"))
    assert body["month"] == "2016-12"
    assert body["computed_at"] == now.isoformat()
    assert body["cities"] == []  # no observations stored: nobody ranked
    assert not list((tmp_path / "rankings").glob(".*partial"))


def test_the_heartbeat_job_makes_the_scheduler_check_pass(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scheduler_settings(monkeypatch, tmp_path)
    runner = CliRunner()
    before = runner.invoke(cli, ["health", "check", "--role", "scheduler"])
    assert before.exit_code == 2
    assert "no scheduler heartbeat recorded" in before.output
    scheduler.run_job("heartbeat")
    after = runner.invoke(cli, ["health", "check", "--role", "scheduler"])
    assert after.exit_code == 0, after.output
    assert "1 alive" in after.output
    wrong = runner.invoke(cli, ["health", "check", "--role", "api"])
    assert wrong.exit_code == 2
    assert "--role" in wrong.output
