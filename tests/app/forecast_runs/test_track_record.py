"""The track record beside every forecast: runs verified by the scheduler as their
observations arrive, skill over a chosen window, and the forecast's own record."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import scheduler
from app.database import session_scope
from app.forecast_runs.models import ForecastDaily, ForecastRun, VerificationScore
from app.forecast_runs.service import (
    LoadedModel,
    file_sha256,
    run_forecast,
    run_horizon_end,
    verify_arrived,
)
from forecasting import verification as vf

from .conftest import ISSUE, GridWriter, add_observations


def _city_daily_means(frames: dict[str, pd.DataFrame], stations: list[str]) -> pd.Series:
    """Observed daily means of the city mean, by local date (≥ 18 hours), computed here."""
    joined = pd.concat([frames[s].set_index("time")["pm25"] for s in stations], axis=1)
    hourly = joined.mean(axis=1)
    local = hourly.index.tz_convert("Asia/Shanghai")
    frame = pd.DataFrame({"pm25": hourly.to_numpy(), "day": [t.date() for t in local]})
    grouped = frame.groupby("day")["pm25"].agg(["mean", "count"])
    return grouped[grouped["count"] >= 18]["mean"]


def test_the_scheduler_verifies_a_run_as_soon_as_its_observations_arrive(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    with session_scope() as session:
        run_id = run_forecast(session, [grid()], ISSUE, tiny_model).id
        drill_id = run_forecast(session, [grid("d.nc")], ISSUE, tiny_model, drill=True).id
        end = run_horizon_end(session, session.get(ForecastRun, run_id))  # type: ignore[arg-type]
    # D+3 of a 12:00 Beijing issue on the 10th is the 13th; it ends at 16:00Z on the 13th.
    assert end == pd.Timestamp("2017-01-13T16:00Z").to_pydatetime()

    # Before the last forecast day has ended, nothing is verified.
    assert scheduler.verify_arrived_runs(end - timedelta(hours=1)) == []
    # It has ended but no observation has arrived: the run waits.
    assert scheduler.verify_arrived_runs(end + timedelta(hours=1)) == []
    with session_scope() as session:
        assert session.get(ForecastRun, run_id).verified_at is None  # type: ignore[union-attr]

    # The observations arrive: the next pass verifies the run, on the service clock given.
    with session_scope() as session:
        frames = add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 84)
    when = end + timedelta(hours=2)
    (done,) = scheduler.verify_arrived_runs(when)
    assert done.run_id == run_id and done.complete
    assert done.pairs_daily == done.daily_rows == 6  # 2 cities x D+1..D+3
    with session_scope() as session:
        run = session.get(ForecastRun, run_id)
        assert run is not None and run.verified_at == when
        drill = session.get(ForecastRun, drill_id)
        assert drill is not None and drill.verified_at is None  # drills are never scored
        scores = {
            (s.window, s.kind, s.lead, s.metric): s.value
            for s in session.scalars(
                select(VerificationScore).where(VerificationScore.city_code == "110000")
            )
        }
        d1 = session.scalars(
            select(ForecastDaily).where(
                ForecastDaily.run_id == run_id,
                ForecastDaily.city_code == "110000",
                ForecastDaily.lead_day == 1,
            )
        ).one()
    observed = _city_daily_means(frames, ["T-BJ-1", "T-BJ-2"])
    expected_d1 = observed[pd.Timestamp("2017-01-11").date()]
    assert scores[(f"run:{run_id}", "daily", 1, "mae")] == pytest.approx(abs(d1.p50 - expected_d1))
    # The pooled window follows at once, and holds every tier's scores.
    assert scores[("90d", "daily", 1, "bias")] == pytest.approx(d1.p50 - expected_d1)
    assert ("90d", "daily", 3, "warn_csi_250") in scores
    assert ("90d", "daily", 2, "p50_pod_150") in scores
    # A second pass finds nothing new.
    assert scheduler.verify_arrived_runs(when + timedelta(hours=1)) == []


def test_a_run_whose_observations_never_complete_is_verified_after_the_wait(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    with session_scope() as session:
        run_id = run_forecast(session, [grid()], ISSUE, tiny_model).id
        end = run_horizon_end(session, session.get(ForecastRun, run_id))  # type: ignore[arg-type]
        add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 36)  # D+1 only
    with session_scope() as session:
        assert verify_arrived(session, end + timedelta(hours=47), wait_hours=48) == []
    with session_scope() as session:
        (done,) = verify_arrived(session, end + timedelta(hours=48), wait_hours=48)
    assert done.run_id == run_id and not done.complete
    assert (done.pairs_daily, done.daily_rows) == (2, 6)


def test_skill_over_a_chosen_window_gives_every_tier_brier_and_reliability(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, client: TestClient
) -> None:
    second = ISSUE + timedelta(hours=24)
    with session_scope() as session:
        first_id = run_forecast(session, [grid("a.nc")], ISSUE, tiny_model).id
        # the second run's history needs the day after the first issue
        frames = add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 24)
    with session_scope() as session:
        second_id = run_forecast(session, [grid("b.nc", start=second)], second, tiny_model).id
        later = add_observations(session, pd.Timestamp(second) + pd.Timedelta(hours=1), 84)
    frames = {k: pd.concat([frames[k], later[k]], ignore_index=True) for k in frames}
    observed = _city_daily_means(frames, ["T-BJ-1", "T-BJ-2"])

    body = client.get("/v1/cities/110000/skill", params={"from": "2017-01-10", "to": "2017-01-11"})
    assert body.status_code == 200, body.text
    skill = body.json()
    assert skill["window"] == "2017-01-10..2017-01-11" and skill["run_count"] == 2
    assert skill["window_start_local"] == "2017-01-10T12:00:00+08:00"
    d1 = next(d for d in skill["daily"] if d["lead"] == 1)
    assert d1["n"] == 2

    # Recompute D+1 independently from the stored forecasts and the generated observations.
    cutoffs = tiny_model.model.warn_cutoffs
    with session_scope() as session:
        rows = session.scalars(
            select(ForecastDaily)
            .where(ForecastDaily.city_code == "110000", ForecastDaily.lead_day == 1)
            .where(ForecastDaily.run_id.in_([first_id, second_id]))
            .order_by(ForecastDaily.local_date)
        ).all()
    obs = np.array([observed[r.local_date] for r in rows])
    p50 = np.array([r.p50 for r in rows])
    assert d1["rmse"] == pytest.approx(float(np.sqrt(np.mean((p50 - obs) ** 2))))
    assert d1["bias"] == pytest.approx(float(np.mean(p50 - obs)))
    assert [t["threshold"] for t in d1["p50"]] == [75.0, 150.0, 250.0]
    assert [t["threshold"] for t in d1["warnings"]] == [75.0, 150.0, 250.0]
    for tier in d1["p50"]:
        table = vf.contingency_from_events(p50 > tier["threshold"], obs > tier["threshold"])
        assert tier["observed_events"] == int(np.sum(obs > tier["threshold"]))
        assert tier["csi"] == (None if np.isnan(table.csi) else pytest.approx(table.csi))
    for tier in d1["warnings"]:
        t = tier["threshold"]
        probability = np.array([getattr(r, f"p_gt_{t:g}") for r in rows])
        table = vf.contingency_from_events(probability >= cutoffs[t], obs > t)
        assert tier["pod"] == (None if np.isnan(table.pod) else pytest.approx(table.pod))
        assert tier["far"] == (None if np.isnan(table.far) else pytest.approx(table.far))
    p150 = np.array([r.p_gt_150 for r in rows])
    assert d1["brier"]["150"] == pytest.approx(float(np.mean((p150 - (obs > 150)) ** 2)))
    assert d1["brier_150"] == d1["brier"]["150"]
    assert len(d1["reliability_150"]) == 10
    assert sum(b["n"] for b in d1["reliability_150"]) == 2

    # The same numbers over `days` (service clock: every run of the last ten years).
    by_days = client.get("/v1/cities/110000/skill", params={"days": 3660}).json()
    assert by_days["window"] == "3660d" and by_days["run_count"] == 2
    assert next(d for d in by_days["daily"] if d["lead"] == 1)["rmse"] == d1["rmse"]
    # A window with one run only.
    one = client.get("/v1/cities/110000/skill", params={"from": "2017-01-11", "to": "2017-01-11"})
    assert one.json()["run_count"] == 1

    for params, field in (
        ({"from": "2017-01-11", "to": "2017-01-10"}, "query.to"),
        ({"from": "2017-01-11"}, "query.to"),
        ({"days": 7, "window": "30d"}, "query.window"),
        ({"days": 7, "from": "2017-01-11", "to": "2017-01-12"}, "query.days"),
        ({"days": 0}, "query.days"),
        ({"from": "11/01/2017", "to": "2017-01-12"}, "query.from"),
    ):
        bad = client.get("/v1/cities/110000/skill", params=params)
        assert bad.status_code == 422, params
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == field, params


def test_the_forecast_carries_its_model_inputs_and_track_record(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, client: TestClient
) -> None:
    path = grid("a.nc")
    with session_scope() as session:
        run_forecast(session, [path], ISSUE, tiny_model)
    body = client.get("/v1/cities/110000/forecast").json()
    model = body["model"]
    assert model["version"] == tiny_model.version
    assert model["met_mode"] == "perfect"
    assert model["training"]["train_end"] == tiny_model.model.training["train_end"]
    assert model["shipped_skill"]["D+1"]["rmse"] == pytest.approx(
        tiny_model.model.skill["D+1"]["rmse"]
    )
    (grid_file,) = body["inputs"]["grids"]
    assert grid_file["sha256"] == file_sha256(path)
    assert "model" not in body["inputs"]
    # Nothing was verified before the first run.
    assert body["recent_skill"] == {"days": 30, "run_count": 0, "daily": []}

    # A day later, with the first run's D+1 observed, the next forecast shows that record.
    second = ISSUE + timedelta(hours=36)
    with session_scope() as session:
        add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 36)
    with session_scope() as session:
        run_forecast(session, [grid("b.nc", start=second)], second, tiny_model)
    record = client.get("/v1/cities/110000/forecast").json()["recent_skill"]
    assert record["run_count"] == 1
    (d1,) = record["daily"]
    assert d1["lead"] == 1 and d1["n"] == 1
    assert [t["threshold"] for t in d1["warnings"]] == [75.0, 150.0, 250.0]
