"""The scheduler's job functions, each called with a chosen ``now``."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import scheduler
from app.config import Settings
from app.scheduler import (
    DONE_DIR,
    FAILED_DIR,
    inbox_candidates,
    issue_time_for_grid,
    process_grid_inbox,
)

NOW = datetime(2026, 1, 15, 4, 37, tzinfo=UTC)


def _touch(path: Path, modified: datetime, text: str = "x") -> Path:
    if path.suffix == ".zarr":
        path.mkdir(parents=True)
        (path / ".zgroup").write_text(text)
        os.utime(path / ".zgroup", (modified.timestamp(), modified.timestamp()))
    else:
        path.write_text(text)
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def test_inbox_takes_settled_grid_files_oldest_first(tmp_path: Path) -> None:
    old = _touch(tmp_path / "gfs-b.nc", NOW - timedelta(minutes=10))
    older = _touch(tmp_path / "era5-a.grib2", NOW - timedelta(minutes=20))
    store = _touch(tmp_path / "wrf.zarr", NOW - timedelta(minutes=5))
    _touch(tmp_path / "copying.nc", NOW - timedelta(seconds=5))  # still being written
    _touch(tmp_path / ".partial.nc", NOW - timedelta(hours=1))  # rsync temp name
    _touch(tmp_path / "notes.txt", NOW - timedelta(hours=1))  # not a grid
    (tmp_path / DONE_DIR).mkdir()
    _touch(tmp_path / DONE_DIR / "done.nc", NOW - timedelta(hours=1))
    assert inbox_candidates(tmp_path, NOW, settle_seconds=30) == [older, old, store]


def test_inbox_folder_that_does_not_exist_has_no_candidates(tmp_path: Path) -> None:
    assert inbox_candidates(tmp_path / "missing", NOW, settle_seconds=0) == []


def test_a_zarr_store_still_being_written_waits(tmp_path: Path) -> None:
    store = _touch(tmp_path / "run.zarr", NOW - timedelta(minutes=5))
    chunk = store / "t2m.0.0"
    chunk.write_text("new")
    os.utime(chunk, (NOW.timestamp() - 2, NOW.timestamp() - 2))
    assert inbox_candidates(tmp_path, NOW, settle_seconds=30) == []


def test_issue_time_is_the_current_hour_when_the_grid_reaches_far_enough() -> None:
    first = datetime(2026, 1, 15, 0, tzinfo=UTC)
    last = first + timedelta(hours=120)
    assert issue_time_for_grid(first, last, NOW, max_lead_h=72) == datetime(
        2026, 1, 15, 4, tzinfo=UTC
    )


def test_issue_time_of_an_old_or_short_grid_is_the_latest_it_covers() -> None:
    first = datetime(2016, 12, 15, 0, tzinfo=UTC)
    last = datetime(2016, 12, 18, 6, tzinfo=UTC)
    assert issue_time_for_grid(first, last, NOW, max_lead_h=72) == datetime(
        2016, 12, 15, 6, tzinfo=UTC
    )


def test_a_grid_shorter_than_the_lead_range_is_refused() -> None:
    first = datetime(2026, 1, 15, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="the model needs 72 h"):
        issue_time_for_grid(first, first + timedelta(hours=48), NOW, max_lead_h=72)


def test_without_a_model_the_inbox_waits_and_keeps_the_files(tmp_path: Path) -> None:
    grid = _touch(tmp_path / "gfs.nc", NOW - timedelta(hours=1))
    outcomes = process_grid_inbox(
        NOW, inbox=tmp_path, model_path=tmp_path / "no-model.joblib", settle_seconds=30
    )
    assert outcomes == []
    assert grid.exists()
    assert not (tmp_path / FAILED_DIR).exists()


def test_settings_of_the_scheduler_have_safe_defaults() -> None:
    settings = Settings()
    assert settings.scheduler_runs_dispatcher is True
    assert settings.scheduler_verify_time == "01:30"
    with pytest.raises(ValueError):
        Settings(scheduler_verify_time="25:00")


def test_build_scheduler_has_every_job_in_the_configured_zone(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        grid_inbox=tmp_path,
        scheduler_verify_time="02:15",
        scheduler_timezone="Europe/Berlin",
    )
    jobs = {job.id: job for job in scheduler.build_scheduler(settings).get_jobs()}
    assert set(jobs) == {
        "grid_inbox",
        "verify",
        "unacknowledged",
        "regional_lagging",
        "monthly_ranking",
        "heartbeat",
    }
    assert "hour='2'" in str(jobs["verify"].trigger)
    assert "minute='15'" in str(jobs["verify"].trigger)
    assert str(jobs["verify"].trigger.inner.timezone) == "Europe/Berlin"
    assert "day='1'" in str(jobs["monthly_ranking"].trigger)
    assert all(job.args[0] == job.id for job in jobs.values())


def _issued_beijing_warning(now: datetime) -> int:
    """Beijing's plan, a run forecasting four days of heavy pollution, the warnings
    evaluation, and a duty officer approving the proposal at ``now``: the warning's id."""
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.plans.service import load_plan_files
    from app.warnings.actors import Actor
    from app.warnings.evaluation import evaluate_run
    from app.warnings.models import CityWarning
    from app.warnings.service import approve
    from contingency_plans.loader import PLANS_DIR

    issued = now.replace(minute=0, second=0, microsecond=0)
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], now)
        # 96 hours at p90 = 360 µg/m³: four days of severe pollution.
        run_id = store_scenario_run(session, issued, {"110000": {}}, hours=96, default_pm25=360.0)
        evaluate_run(session, run_id, now)
        proposal = session.query(CityWarning).filter(CityWarning.state == "proposed").one()
        warning = approve(session, proposal.id, Actor("Officer", role="duty_officer"), now)
        return warning.id


def test_unacknowledged_warnings_are_flagged_after_the_grace_time(database_url: str) -> None:
    issued_at = datetime(2026, 1, 15, 1, 10, tzinfo=UTC)
    warning_id = _issued_beijing_warning(issued_at)
    grace = timedelta(hours=1)
    assert scheduler.flag_unacknowledged(issued_at + timedelta(minutes=30), grace=grace) == []
    flagged = scheduler.flag_unacknowledged(issued_at + timedelta(hours=2), grace=grace)
    assert [(w, c) for w, c, _level in flagged] == [(warning_id, "110000")]
    assert flagged[0][2] in {"orange", "red"}


def test_acknowledged_warnings_are_not_flagged(database_url: str) -> None:
    from app.database import session_scope
    from app.warnings.models import CityWarning

    issued_at = datetime(2026, 1, 15, 1, 10, tzinfo=UTC)
    warning_id = _issued_beijing_warning(issued_at)
    with session_scope() as session:
        warning = session.get(CityWarning, warning_id)
        assert warning is not None
        warning.acknowledged_at = issued_at + timedelta(minutes=20)
        warning.acknowledged_by = "Beijing office"
    later = issued_at + timedelta(hours=5)
    assert scheduler.flag_unacknowledged(later, grace=timedelta(hours=1)) == []


def test_verify_with_no_run_in_the_window_does_nothing(database_url: str) -> None:
    assert scheduler.verify_recent_runs(datetime(2026, 1, 15, 1, 30, tzinfo=UTC)) is None


def test_the_dispatcher_thread_runs_and_stops_on_request(database_url: str) -> None:
    thread = scheduler.DispatcherThread()
    thread.start()
    # The loop is up (its stop event exists) and polling an empty outbox.
    assert thread._ready.wait(60)
    assert thread.is_alive()
    # Stopping is a request the loop honours: the thread ends (a generous bound, no timing).
    thread.stop(timeout=60)
    assert not thread.is_alive()
    assert thread.error is None


# --------------------------------------------------------------------------- the inbox, for real

DONGSI = "PRSA_Data_Dongsi_20130301-20170228.csv"
ISSUE = datetime(2016, 12, 16, 4, tzinfo=UTC)  # 12:00 Asia/Shanghai


@pytest.fixture(scope="module")
def tiny_model(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A very small model (10 trees, one station): enough to run the inbox job for real."""
    from datetime import date

    from threadpoolctl import threadpool_limits

    from forecasting.backtest import station_series, train_cutoff
    from forecasting.model import TrainingConfig, save_model, train_forecast_model
    from forecasting.observations import read_observations

    observations = read_observations(shared_data / "beijing_multisite" / DONGSI)
    end = date(2016, 11, 30)
    series = station_series(observations, "Asia/Shanghai", end=train_cutoff(end, "Asia/Shanghai"))
    config = TrainingConfig(max_iter=10, max_samples=3000, holdout_days=120)
    with threadpool_limits(limits=1):
        model = train_forecast_model(
            series, train_end=end, train_start=date(2015, 6, 1), config=config
        )
    path = tmp_path_factory.mktemp("model") / "tiny.joblib"
    save_model(model, path)
    return path


def _beijing_with_history_and_a_grid(shared_data: Path, grid: Path) -> None:
    """Stations, Dongsi's observations, Beijing's plan, and a grid of Beijing's station
    weather around the issue time written at ``grid``."""
    from app.database import session_scope
    from app.demo import station_met_grid
    from app.forecast_runs.service import city_history, forecast_cities
    from app.observations.service import import_observations
    from app.plans.service import load_plan_files
    from app.stations.service import import_station_list
    from contingency_plans.loader import PLANS_DIR

    with session_scope() as session:
        import_station_list(session, shared_data / "knowair_meta" / "station_info.csv")
    with session_scope() as session:
        import_observations(session, [shared_data / "beijing_multisite" / DONGSI])
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], ISSUE)
    with session_scope() as session:
        beijing = [c for c in forecast_cities(session) if c.code == "110000"]
        weather = city_history(
            session, beijing, ISSUE - timedelta(hours=48), ISSUE + timedelta(hours=110)
        )
        station_met_grid(weather, 39.9042, 116.4074, grid)


def test_inbox_runs_a_forecast_for_a_new_grid_then_moves_it(
    database_url: str,
    shared_data: Path,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy import func, select

    from app.database import session_scope
    from app.forecast_runs import service as forecast_runs
    from app.forecast_runs.models import ForecastRun

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    grid = inbox / "beijing-20161216.nc"
    _beijing_with_history_and_a_grid(shared_data, grid)
    broken = _touch(inbox / "truncated.grib2", ISSUE, text="GRIB but not really")
    settled = datetime.now(UTC) + timedelta(minutes=5)  # both files unchanged long enough
    hooked: list[int] = []
    monkeypatch.setattr(forecast_runs, "after_run_hooks", [lambda _s, run: hooked.append(run.id)])

    outcomes = process_grid_inbox(settled, inbox=inbox, model_path=tiny_model, settle_seconds=30)

    by_name = {o.name: o for o in outcomes}
    assert by_name["beijing-20161216.nc"].status == "forecast"
    # An old grid: the run is issued at the latest hour the grid covers in full.
    issued = by_name["beijing-20161216.nc"].issued_at
    assert issued is not None and ISSUE <= issued <= ISSUE + timedelta(hours=40)
    assert by_name["truncated.grib2"].status == "failed"
    assert (inbox / DONE_DIR / grid.name).is_file()
    assert not grid.exists() and not broken.exists()
    assert (inbox / FAILED_DIR / broken.name).is_file()
    reason = (inbox / FAILED_DIR / "truncated.grib2.error.txt").read_text()
    assert "Error" in reason
    with session_scope() as session:
        run = session.get(ForecastRun, by_name["beijing-20161216.nc"].run_id)
        assert run is not None and run.city_count == 1
        assert run.issued_at == issued
    # The run's hooks ran (the warnings service registers its evaluation there).
    assert hooked == [run.id]

    # The same grid dropped again (a restart after a crash before the move) is not rerun.
    (inbox / DONE_DIR / grid.name).rename(grid)
    again = process_grid_inbox(settled, inbox=inbox, model_path=tiny_model, settle_seconds=30)
    assert [(o.status, o.run_id) for o in again] == [("duplicate", run.id)]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 1


def test_the_inbox_job_registers_the_warnings_hook(tmp_path: Path) -> None:
    """The scheduler process evaluates warnings after each run: the inbox job puts the
    warnings evaluation into the forecast runs' hooks explicitly."""
    from app.forecast_runs import service as forecast_runs

    process_grid_inbox(NOW, inbox=tmp_path, model_path=tmp_path / "none.joblib")
    from app.warnings.evaluation import evaluate_after_run

    assert evaluate_after_run in forecast_runs.after_run_hooks
