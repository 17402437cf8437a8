"""`hazewarn demo`: the whole setup on a temporary SQLite file, and its refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cities.registry import load_registry
from app.database import reset_caches
from app.demo import DEMO_ISSUE_TIMES, DemoError, fresh_sqlite_file, setup_demo, shared_inputs
from contingency_plans.loader import PLANS_DIR, plan_files


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo points the process at its database and clock; put them back after."""
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")
    yield
    reset_caches()


@pytest.mark.slow
def test_demo_setup_builds_the_episode(
    shared_data: Path, tmp_path: Path, demo_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from app.auth.service import authenticate
    from app.database import session_scope
    from app.forecast_runs.models import ForecastDaily, ForecastRun
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
    result = setup_demo(db, shared_data, say=lines.append)

    assert result.database_path == db.resolve()
    assert result.cities == len(load_registry())
    assert result.observations == 315_576
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
    # The service clock replays the episode: just after the last run.
    expected = DEMO_ISSUE_TIMES[-1].astimezone(UTC) + timedelta(minutes=30)
    assert abs(utcnow() - expected) < timedelta(minutes=5)


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


def test_missing_shared_data_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="HAZEWARN_SHARED_DATA"):
        shared_inputs(tmp_path / "nowhere")


def test_demo_command_without_shared_data_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_env: None
) -> None:
    from app.cli import cli

    monkeypatch.setenv("HAZEWARN_SHARED_DATA", str(tmp_path / "nowhere"))
    reset_caches()
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 2
    assert "shared data folder" in result.output
    assert not (tmp_path / "demo.db").exists()


def test_demo_issue_times_are_the_red_alert_eve_and_first_day() -> None:
    assert [t.isoformat() for t in DEMO_ISSUE_TIMES] == [
        "2016-12-15T12:00:00+08:00",
        "2016-12-16T12:00:00+08:00",
    ]
    assert DEMO_ISSUE_TIMES[0] < datetime(2016, 12, 16, 20, tzinfo=DEMO_ISSUE_TIMES[0].tzinfo)
