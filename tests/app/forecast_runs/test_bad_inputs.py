"""Bad inputs never move a forecast run (issue 10): flagged observations, implausible or
incomplete grids, issue times from the future, runs older than the current one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xarray as xr
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.database import session_scope
from app.forecast_runs.models import ForecastRun
from app.forecast_runs.service import LoadedModel, latest_run, run_daily, run_forecast
from app.observations.models import Observation
from app.observations.service import import_observations
from forecasting.grids import GridError

from .conftest import ISSUE, GridWriter

runner = CliRunner()


def _daily(run_id: int) -> list[tuple[str, int, float, float]]:
    with session_scope() as session:
        return [
            (row.city_code, row.lead_day, row.p50, row.p_gt_150)
            for row in run_daily(session, run_id)
        ]


def test_a_flagged_million_at_a_station_does_not_move_the_forecast(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, tmp_path: Path
) -> None:
    """Issue 10 case: one PM2.5 reading of 1,000,000 µg/m³ (flagged by the import's QC) at
    a Beijing station led the next forecast run to propose red; the run must forecast
    exactly what it forecasts with that hour missing (so no proposal can change)."""
    path = grid()
    with session_scope() as session:
        stored = session.get_one(Observation, ("T-BJ-1", ISSUE))
        stored.pm25 = None  # the reference: the station reported no PM2.5 that hour
    with session_scope() as session:
        clean = run_forecast(session, [path], ISSUE, tiny_model, now=ISSUE).id
    spike = tmp_path / "spike.csv"
    spike.write_text(
        "station,city,time,pollutant,value,unit\n"
        f"T-BJ-1,Beijing,{ISSUE.isoformat()},pm25,1000000,ug/m3\n",
        encoding="utf-8",
    )
    with session_scope() as session:
        import_observations(session, [spike])
    with session_scope() as session:
        assert session.get_one(Observation, ("T-BJ-1", ISSUE)).pm25 == 1_000_000
        spiked = run_forecast(session, [path], ISSUE, tiny_model, now=ISSUE).id
    assert _daily(spiked) == _daily(clean)
    assert max(p50 for _, _, p50, _ in _daily(spiked)) < 500


def _relabel(path: Path, out: Path, **units: str) -> Path:
    """A copy of a grid with some variables' units attribute changed (values unchanged)."""
    with xr.open_dataset(path) as ds:
        copy = ds.load()
    for name, unit in units.items():
        copy[name].attrs["units"] = unit
    copy.to_netcdf(out)
    return out


def test_kelvin_labelled_degc_is_refused_and_the_previous_run_stays_latest(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, tmp_path: Path
) -> None:
    """Issue 10 case: a grid whose temperatures are in kelvin but labelled `degC` was
    accepted, stored as the latest run and lowered D+1..D+3 by about 15 %."""
    good = grid()
    with session_scope() as session:
        previous = run_forecast(session, [good], ISSUE, tiny_model, now=ISSUE).id
    bad = _relabel(grid("k.nc"), tmp_path / "labelled-degc.nc", t2m="degC")
    with pytest.raises(GridError) as caught, session_scope() as session:
        run_forecast(
            session, [bad], ISSUE + timedelta(hours=6), tiny_model, now=ISSUE + timedelta(hours=6)
        )
    assert "t2m (2 m temperature) outside its plausible range -90..60 degC: found 2" in str(
        caught.value
    )
    with session_scope() as session:
        latest = latest_run(session)
        assert latest is not None and latest.id == previous
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 1


def test_an_issue_time_after_the_service_clock_is_refused(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, tiny_model_path: Path
) -> None:
    """Issue 10 case: a forecast `--at` two days after the service clock was accepted and
    became the latest run; it is refused (beyond a small clock-skew tolerance)."""
    path = grid()
    with pytest.raises(ValueError, match="later than the service clock"), session_scope() as s:
        run_forecast(s, [path], ISSUE, tiny_model, now=ISSUE - timedelta(days=2))
    # Within the tolerance (15 min by default) it is accepted.
    with session_scope() as session:
        run_forecast(session, [path], ISSUE, tiny_model, now=ISSUE - timedelta(minutes=10))
    # Through the CLI, against the real service clock: exit 2, nothing more stored.
    model = str(tiny_model_path)
    future = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    refused = runner.invoke(
        cli,
        ["forecast", "run", "--grid", str(path), "--at", future.isoformat(), "--model", model],
        env={"COLUMNS": "300"},
    )
    assert refused.exit_code == 2, refused.output
    assert "is later than the service clock" in refused.output
    assert "(nothing stored)" in refused.output
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 1


def test_a_run_older_than_the_current_one_never_becomes_the_latest(
    seeded: str, grid: GridWriter, tiny_model_path: Path
) -> None:
    """Issue 10 (time sanity): a run issued before the current latest one is stored but
    never becomes the latest, and the CLI says so."""
    path = grid(start=ISSUE - timedelta(hours=6), steps=110)
    model = str(tiny_model_path)
    first = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--grid",
            str(path),
            "--at",
            ISSUE.isoformat(),
            "--model",
            str(tiny_model_path),
        ],
        env={"COLUMNS": "300"},
    )
    assert first.exit_code == 0, first.output
    assert "not the latest" not in first.output
    older = (ISSUE - timedelta(hours=6)).isoformat()
    second = runner.invoke(
        cli,
        ["forecast", "run", "--grid", str(path), "--at", older, "--model", model],
        env={"COLUMNS": "300"},
    )
    assert second.exit_code == 0, second.output
    assert "older than the latest run 1 issued 2017-01-10T04:00Z: stored, not the latest" in (
        second.output
    )
    with session_scope() as session:
        latest = latest_run(session)
        assert latest is not None and latest.issued_at == ISSUE
        assert latest.id == 1


def _drop(path: Path, out: Path, keep: tuple[str, ...]) -> Path:
    with xr.open_dataset(path) as ds:
        copy = ds[list(keep)].load()
    copy.to_netcdf(out)
    return out


def test_a_temperature_only_grid_is_refused_with_the_missing_list(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, tmp_path: Path
) -> None:
    """Issue 10 case: a grid that carries only temperature gave a run that exited 0,
    became the latest and forecast D+1 PM2.5 of 100 instead of 172; it is refused listing
    the weather the model needs, and the previous run stays the latest."""
    good = grid()
    with session_scope() as session:
        previous = run_forecast(session, [good], ISSUE, tiny_model, now=ISSUE).id
    only_t2m = _drop(grid("all.nc"), tmp_path / "t2m-only.nc", ("t2m",))
    later = ISSUE + timedelta(hours=1)
    with pytest.raises(GridError) as caught, session_scope() as session:
        run_forecast(session, [only_t2m], later, tiny_model, now=later)
    assert "the grid lacks weather the model needs: d2m, rh, u10, v10, wspd" in str(caught.value)
    with session_scope() as session:
        latest = latest_run(session)
        assert latest is not None and latest.id == previous


def test_a_grid_without_optional_weather_gives_a_degraded_run_shown_everywhere(
    seeded: str, grid: GridWriter, tiny_model_path: Path, tmp_path: Path
) -> None:
    """Issue 10: a run missing weather the model can do without is marked degraded: stored
    on the run, in the CLI output, `forecast show` and the API."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    partial = _drop(grid("all.nc"), tmp_path / "no-sp-tp.nc", ("t2m", "d2m", "u10", "v10", "blh"))
    model = str(tiny_model_path)
    ran = runner.invoke(
        cli,
        ["forecast", "run", "--grid", str(partial), "--at", ISSUE.isoformat(), "--model", model],
        env={"COLUMNS": "300"},
    )
    assert ran.exit_code == 0, ran.output
    assert "DEGRADED: the grid lacks sp, tp (the model can do without them)" in ran.output
    shown = runner.invoke(cli, ["forecast", "show"], env={"COLUMNS": "300"})
    assert "DEGRADED: the grid lacks sp, tp" in shown.output
    with session_scope() as session:
        run = latest_run(session)
        assert run is not None and run.degraded is True
        assert run.degraded_variables == ["sp", "tp"]
        run_id = run.id
    with TestClient(create_app()) as client:
        body = client.get(f"/v1/forecast-runs/{run_id}").json()
        assert body["degraded"] is True and body["degraded_variables"] == ["sp", "tp"]
        latest = client.get("/v1/forecasts/latest").json()
        assert latest["run"]["degraded"] is True
