"""History-only runs: a model trained without forecast weather runs without a grid, from
the CLI and the scheduler; a model that reads forecast weather refuses to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from app import scheduler
from app.cli import cli
from app.database import session_scope
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.forecast_runs.service import latest_run

from .conftest import ISSUE

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _runs() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(ForecastRun)) or 0


def test_forecast_run_without_a_grid_uses_history_only(
    seeded: str, tiny_history_model_path: Path, tiny_model_path: Path
) -> None:
    result = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--at",
            "2017-01-10T12:00+08:00",
            "--model",
            str(tiny_history_model_path),
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "issued 2017-01-10T04:00Z: 2 cities, leads 1..72 h" in result.output
    with session_scope() as session:
        run = latest_run(session)
        assert run is not None and run.issued_at == ISSUE
        assert run.inputs["grids"] == []
        assert run.inputs["grid"]["source"] == "none"
        assert run.inputs["model"]["met_mode"] == "history"
        hourly = session.scalar(
            select(func.count()).select_from(ForecastHourly).where(ForecastHourly.run_id == run.id)
        )
        daily = session.scalars(select(ForecastDaily).where(ForecastDaily.run_id == run.id)).all()
    assert hourly == 2 * 72
    assert len(daily) == 6 and all(0 < d.p50 < 1000 for d in daily)

    # A model that reads forecast weather needs a grid: one line, exit 2, nothing stored.
    refused = runner.invoke(
        cli,
        ["forecast", "run", "--at", "2017-01-10T05:00Z", "--model", str(tiny_model_path)],
        env=WIDE,
    )
    assert refused.exit_code == 2
    assert "reads forecast weather (met_mode perfect): give a grid" in refused.output
    assert "nothing stored" in refused.output and len(refused.output.strip().splitlines()) == 1
    assert _runs() == 1


def test_the_scheduler_makes_one_history_run_per_issue_hour(
    seeded: str, tiny_history_model_path: Path, tiny_model_path: Path
) -> None:
    now = ISSUE + timedelta(minutes=7)
    run_id = scheduler.history_forecast_run(now, model_path=tiny_history_model_path)
    assert run_id is not None
    with session_scope() as session:
        run = session.get(ForecastRun, run_id)
        assert run is not None and run.issued_at == ISSUE and run.created_at == now
    # The same hour again (a retry, a restart): no second run.
    assert scheduler.history_forecast_run(now, model_path=tiny_history_model_path) is None
    # A model that reads forecast weather is refused, a missing one too; nothing stored.
    later = now + timedelta(hours=1)
    assert scheduler.history_forecast_run(later, model_path=tiny_model_path) is None
    assert scheduler.history_forecast_run(later, model_path=Path("missing.joblib")) is None
    assert _runs() == 1


def test_the_history_run_job_is_scheduled_only_when_configured(tmp_path: Path) -> None:
    from app.config import Settings

    base = {"database_url": f"sqlite:///{tmp_path / 'jobs.db'}", "grid_inbox": tmp_path}
    off = {job.id for job in scheduler.build_scheduler(Settings(**base)).get_jobs()}
    assert "history_run" not in off
    on = scheduler.build_scheduler(
        Settings(**base | {"scheduler_history_run_hours": "8,20"})  # type: ignore[arg-type]
    )
    job = on.get_job("history_run")
    assert job is not None and "hour='8,20'" in str(job.trigger)
