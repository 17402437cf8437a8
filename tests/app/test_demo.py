"""`hazewarn demo`: the whole setup from the shipped extract on a temporary SQLite file,
its reuse, its environment file, and its refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cities.registry import load_registry
from app.database import reset_caches
from app.demo import (
    DEMO_ISSUE_TIMES,
    DemoError,
    database_state,
    demo_inputs,
    fresh_sqlite_file,
    setup_demo,
)
from contingency_plans.loader import PLANS_DIR, plan_files


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo points the process at its database, clock and model; put them back after."""
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")
    monkeypatch.setenv("HAZEWARN_MODEL_PATH", "var/models/pm25.joblib")
    yield
    monkeypatch.undo()
    reset_caches()


@pytest.mark.slow
def test_demo_setup_builds_the_episode_from_the_extract_and_reuses_it(
    tmp_path: Path, demo_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No shared data: the demo reads only the extract shipped in the package.
    monkeypatch.setenv("HAZEWARN_SHARED_DATA", str(tmp_path / "nowhere"))
    from sqlalchemy import func, select

    from app.auth.service import authenticate
    from app.database import session_scope
    from app.forecast_runs.models import ForecastDaily, ForecastRun
    from app.outbox.models import Delivery, OutboxEvent
    from app.subscriptions.models import Subscription
    from app.timestamps import utcnow
    from app.warnings import evaluation
    from app.warnings.models import CityWarning

    evaluated: list[int] = []
    evaluate_run = evaluation.evaluate_run

    def counting(*args: Any, **kwargs: Any) -> Any:
        evaluated.append(args[1])
        return evaluate_run(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_run", counting)
    db = tmp_path / "demo.db"
    db.write_bytes(b"")  # an empty file (as after a crash) is replaced, not refused
    lines: list[str] = []
    env_file = tmp_path / "hazewarn-demo.env"
    result = setup_demo(db, port=8765, env_file=env_file, say=lines.append)

    assert result.database_path == db.resolve()
    assert not result.reused
    assert result.cities == len(load_registry())
    assert result.stations > 12  # the extract's Beijing stations plus the built-in extra ones
    assert result.observations == 3 * 12_408 + 6 * 2_880  # the extract's station-hours
    assert result.plans == len(plan_files(PLANS_DIR))
    assert len(result.run_ids) == 2
    assert result.met_grid_path.is_file() and result.model_path.is_file()
    assert result.warnings >= 1
    assert result.proposals >= 1
    # Each run is evaluated once, by the forecast runs' after-run hook; the demo reports
    # what that evaluation recorded. Beijing decides by probability: the eve's run stays
    # under the plan's cut-off, the second run proposes a warning for a duty officer.
    assert evaluated == list(result.run_ids)
    first, second = result.run_transitions
    assert first == ()
    assert any(text.startswith("110000 proposed ") for text in second)
    run_lines = [line for line in lines if "forecast run issued" in line]
    assert len(run_lines) == 2
    assert "0 transitions" in run_lines[0] and "0 transitions" not in run_lines[1]
    assert all(text in run_lines[1] for text in second)
    with session_scope() as session:
        runs = session.scalars(select(ForecastRun).order_by(ForecastRun.id)).all()
        assert [r.issued_at for r in runs] == [t.astimezone(UTC) for t in DEMO_ISSUE_TIMES]
        assert all(r.city_count == 1 for r in runs)  # Beijing: the only city with history
        days = session.scalars(
            select(ForecastDaily).where(ForecastDaily.run_id == runs[-1].id)
        ).all()
        assert [d.lead_day for d in days] == [1, 2, 3]
        assert all(d.city_code == "110000" for d in days)
        # The eve of the red alert: the forecast sees the heavy pollution coming.
        assert max(d.p90 for d in days) > 150
        beijing = session.scalars(select(CityWarning).where(CityWarning.city_code == "110000"))
        assert any(w.pending_level or w.state == "proposed" for w in beijing)
        principal = authenticate(session, result.api_key)
        assert principal is not None and principal.role.value == "duty_officer"
        # The duty desk's receiver is subscribed and the proposal is queued for it.
        subscription = session.get(Subscription, result.subscription_id)
        assert subscription is not None
        assert subscription.url == "http://127.0.0.1:8765/demo/receiver/hook/duty-desk"
        queued = session.scalars(
            select(OutboxEvent.type)
            .join(Delivery, Delivery.event_id == OutboxEvent.id)
            .where(Delivery.subscription_id == subscription.id)
        ).all()
        assert "warning.proposed" in queued
    # The service clock replays the episode: just after the last run.
    expected = DEMO_ISSUE_TIMES[-1].astimezone(UTC) + timedelta(minutes=30)
    assert abs(utcnow() - expected) < timedelta(minutes=5)
    # The environment every command of the demo's folder reads: same database, same clock,
    # the model the scheduler loads.
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert env["HAZEWARN_DATABASE_URL"] == result.database_url
    assert float(env["HAZEWARN_CLOCK_OFFSET_SECONDS"]) == result.clock_offset_seconds
    assert Path(env["HAZEWARN_MODEL_PATH"]) == result.model_path
    monkeypatch.delenv("HAZEWARN_CLOCK_OFFSET_SECONDS")
    monkeypatch.delenv("HAZEWARN_DATABASE_URL")
    monkeypatch.setenv("HAZEWARN_ENV_FILE", str(env_file))
    reset_caches()
    assert abs(utcnow() - expected) < timedelta(minutes=5)
    from app.config import get_settings

    assert get_settings().model_path == result.model_path

    # A second run reuses the database (no new runs, a new key, the same clock) on
    # another port: the receiver's subscription follows it.
    again = setup_demo(db, port=8766, env_file=env_file, say=lines.append)
    assert again.reused
    assert again.run_ids == result.run_ids
    assert again.observations == result.observations
    assert again.api_key != result.api_key
    assert again.subscription_id == result.subscription_id
    assert abs(utcnow() - expected) < timedelta(minutes=5)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 2
        subscription = session.get(Subscription, result.subscription_id)
        assert subscription is not None and ":8766/" in subscription.url


def test_a_file_that_is_not_sqlite_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "thesis.db"
    precious.write_text("not a database")
    with pytest.raises(DemoError, match="not a SQLite database"):
        fresh_sqlite_file(precious)
    assert precious.read_text() == "not a database"


def test_an_old_demo_database_and_its_wal_files_are_removed(tmp_path: Path) -> None:
    db = tmp_path / "hazewarn.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)
    (tmp_path / "hazewarn.db-wal").write_bytes(b"wal")
    fresh_sqlite_file(db)
    assert not db.exists()
    assert not (tmp_path / "hazewarn.db-wal").exists()


def test_the_extract_is_shipped_and_small() -> None:
    station_list, beijing = demo_inputs()
    assert station_list.name == "station_info.csv.gz"
    assert len(beijing) == 9
    total = station_list.stat().st_size + sum(p.stat().st_size for p in beijing)
    assert total < 4_000_000


def test_an_incomplete_extract_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="demo extract is incomplete"):
        demo_inputs(tmp_path)


def test_a_database_that_is_not_a_demo_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_env: None
) -> None:
    from app import migrate
    from app.cli import cli

    db = tmp_path / "other.db"
    migrate.upgrade(f"sqlite:///{db}")
    before = db.read_bytes()
    assert database_state(db) == "other"
    assert database_state(tmp_path / "absent.db") == "new"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAZEWARN_ENV_FILE")  # the default: .env, then hazewarn-demo.env
    reset_caches()
    result = CliRunner().invoke(cli, ["demo", "--db", str(db)])
    assert result.exit_code == 2
    assert "--reset" in result.output
    assert db.read_bytes() == before
    assert not (tmp_path / "hazewarn-demo.env").exists()


def test_a_foreign_env_file_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_env: None
) -> None:
    from app.cli import cli

    mine = tmp_path / "hazewarn-demo.env"
    mine.write_text("HAZEWARN_DATABASE_URL=postgresql://prod/db\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAZEWARN_ENV_FILE")
    reset_caches()
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 2
    assert "not written by the demo" in result.output
    assert mine.read_text() == "HAZEWARN_DATABASE_URL=postgresql://prod/db\n"
    assert not (tmp_path / "demo.db").exists()


def test_demo_issue_times_are_the_red_alert_eve_and_first_day() -> None:
    assert [t.isoformat() for t in DEMO_ISSUE_TIMES] == [
        "2016-12-15T12:00:00+08:00",
        "2016-12-16T12:00:00+08:00",
    ]
    assert DEMO_ISSUE_TIMES[0] < datetime(2016, 12, 16, 20, tzinfo=DEMO_ISSUE_TIMES[0].tzinfo)
