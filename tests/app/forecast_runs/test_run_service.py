"""`run_forecast`: one transaction holding the run, hourly quantiles and daily probabilities."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.database import session_scope
from app.forecast_runs import service
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.forecast_runs.service import LoadedModel, latest_run, run_forecast
from forecasting.aqi import daily_aqi
from forecasting.grids import GridError

from .conftest import ISSUE, GridWriter


def test_a_run_stores_hourly_quantiles_and_daily_probabilities(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    path = grid()
    with session_scope() as session:
        run = run_forecast(session, [path], ISSUE, tiny_model, now=ISSUE + timedelta(minutes=7))
        run_id = run.id
    with session_scope() as session:
        run = session.get(ForecastRun, run_id)
        assert run is not None
        assert run.issued_at == ISSUE
        assert run.created_at == ISSUE + timedelta(minutes=7)
        assert run.status == "complete" and run.drill is False
        assert run.model_version == tiny_model.version
        assert run.model_sha256 == tiny_model.sha256 and len(run.model_sha256) == 64
        assert run.max_lead_h == 72
        assert run.city_count == 2
        (grid_file,) = run.inputs["grids"]
        assert grid_file["path"] == str(path.resolve())
        assert grid_file["bytes"] == path.stat().st_size
        assert grid_file["sha256"] == service.file_sha256(path)
        assert run.inputs["observations"]["end"] == ISSUE.isoformat()
        assert run.city_counts["110000"] == {
            "stations": 2,
            "history_hours": 12 * 24,
            "hourly": 72,
            "daily": 3,
        }
        assert run.city_counts["120000"]["stations"] == 1

        hourly = session.scalars(
            select(ForecastHourly)
            .where(ForecastHourly.run_id == run_id)
            .order_by(ForecastHourly.city_code, ForecastHourly.valid_time)
        ).all()
        assert len(hourly) == 2 * 72
        beijing = [h for h in hourly if h.city_code == "110000"]
        assert [h.lead_h for h in beijing] == list(range(1, 73))
        assert [h.valid_time for h in beijing] == [ISSUE + timedelta(hours=k) for k in range(1, 73)]
        for row in hourly:
            assert 0 <= row.p10 <= row.p50 <= row.p90 < 2000

        daily = session.scalars(
            select(ForecastDaily)
            .where(ForecastDaily.run_id == run_id)
            .order_by(ForecastDaily.city_code, ForecastDaily.local_date)
        ).all()
        assert [(d.city_code, d.local_date.isoformat(), d.lead_day) for d in daily] == [
            (city, day, lead)
            for city in ("110000", "120000")
            for lead, day in ((1, "2017-01-11"), (2, "2017-01-12"), (3, "2017-01-13"))
        ]
        for day in daily:
            assert day.p10 <= day.p50 <= day.p90
            # Exceedance probabilities fall as the threshold rises.
            assert 1 >= day.p_gt_75 >= day.p_gt_115 >= day.p_gt_150 >= day.p_gt_250 >= 0
            assert day.aqi_version == "HJ633-2012"
            assert day.aqi_p50 == daily_aqi({"pm25_24h": day.p50}, day=day.local_date).aqi
            assert day.aqi_p90 == daily_aqi({"pm25_24h": day.p90}, day=day.local_date).aqi
            assert day.aqi_p50 is not None and day.aqi_p90 is not None
            assert day.aqi_p50 <= day.aqi_p90


def test_the_aqi_version_follows_the_local_date(tiny_model: LoadedModel) -> None:
    from datetime import date

    assert (
        service.pm25_aqi(160.0, date(2026, 2, 28))
        == daily_aqi({"pm25_24h": 160.0}, version="HJ633-2012").aqi
    )
    assert (
        service.pm25_aqi(160.0, date(2026, 3, 1))
        == daily_aqi({"pm25_24h": 160.0}, version="HJ633-2026").aqi
    )


def test_hooks_see_the_stored_run_in_the_same_transaction(
    seeded: str,
    grid: GridWriter,
    tiny_model: LoadedModel,
    no_foreign_hooks: list[object],
) -> None:
    seen: list[tuple[int, int]] = []

    def hook(session: object, run: ForecastRun) -> None:
        count = session.scalar(  # type: ignore[attr-defined]
            select(func.count()).select_from(ForecastDaily).where(ForecastDaily.run_id == run.id)
        )
        seen.append((run.id, count))

    no_foreign_hooks.append(hook)
    with session_scope() as session:
        run = run_forecast(session, [grid()], ISSUE, tiny_model)
        run_id = run.id
    assert seen == [(run_id, 6)]


def test_a_failing_hook_rolls_the_whole_run_back(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, no_foreign_hooks: list[object]
) -> None:
    def broken(session: object, run: ForecastRun) -> None:
        raise RuntimeError("warnings engine down")

    no_foreign_hooks.append(broken)
    with pytest.raises(RuntimeError), session_scope() as session:
        run_forecast(session, [grid()], ISSUE, tiny_model)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 0
        assert session.scalar(select(func.count()).select_from(ForecastHourly)) == 0


def test_a_grid_missing_a_city_stores_nothing_and_the_previous_run_stays_latest(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    with session_scope() as session:
        first = run_forecast(session, [grid("good.nc")], ISSUE, tiny_model).id
    later = ISSUE + timedelta(hours=1)
    # Tianjin (39.08 N, 117.20 E) is outside this grid.
    narrow = grid("narrow.nc", start=later, lon=(115.5, 117.0))
    with pytest.raises(GridError, match="does not cover 1 point"), session_scope() as session:
        run_forecast(session, [narrow], later, tiny_model)
    short = grid("short.nc", start=later, steps=48)
    with pytest.raises(GridError, match="do not cover the forecast hours"), session_scope() as s:
        run_forecast(s, [short], later, tiny_model)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 1
        latest = latest_run(session)
        assert latest is not None and latest.id == first


def test_drill_runs_are_stored_but_never_latest(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    with session_scope() as session:
        real = run_forecast(session, [grid("a.nc")], ISSUE, tiny_model).id
    later = ISSUE + timedelta(hours=6)
    with session_scope() as session:
        drill = run_forecast(session, [grid("b.nc", start=later)], later, tiny_model, drill=True).id
    with session_scope() as session:
        assert latest_run(session).id == real  # type: ignore[union-attr]
        assert latest_run(session, include_drill=True).id == drill  # type: ignore[union-attr]


def test_cities_without_recent_observations_are_listed_with_no_rows(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    from app.stations.models import Station

    with session_scope() as session:
        # Shijiazhuang gets a station but no observation, and lies outside the grid.
        session.add(Station(id="T-SJZ", name_en="x", city_code="130100", lat=38.0, lon=114.5))
    with session_scope() as session:
        run = run_forecast(session, [grid()], ISSUE, tiny_model)
        assert run.city_count == 2
        assert run.city_counts["130100"] == {
            "stations": 1,
            "history_hours": 0,
            "hourly": 0,
            "daily": 0,
        }


def test_history_is_the_station_mean_up_to_the_issue_hour(seeded: str) -> None:
    from app.observations.models import Observation

    with session_scope() as session:
        cities = [c for c in service.forecast_cities(session) if c.code == "110000"]
        assert cities[0].station_ids == ("T-BJ-1", "T-BJ-2")
        frame = service.city_history(session, cities, ISSUE - timedelta(hours=5), ISSUE)
        rows = session.scalars(
            select(Observation).where(
                Observation.station_id.in_(["T-BJ-1", "T-BJ-2"]), Observation.time == ISSUE
            )
        ).all()
    assert len(frame) == 6 and frame["time"].max() == ISSUE
    at_issue = frame[frame["time"] == ISSUE].iloc[0]
    assert at_issue["pm25"] == pytest.approx(sum(r.pm25 for r in rows) / 2)  # type: ignore[misc]


def test_an_unreadable_model_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.joblib"
    bad.write_text("not a model")
    with pytest.raises(service.ForecastRunError, match="not a hazewarn model artefact"):
        service.load_model_file(bad)
    with pytest.raises(service.ForecastRunError, match="no such model file"):
        service.load_model_file(tmp_path / "missing.joblib")
