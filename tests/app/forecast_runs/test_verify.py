"""`hazewarn verify`: scores of stored runs against the observations that arrived since."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.database import session_scope
from app.forecast_runs.models import ForecastDaily, ForecastHourly, VerificationScore
from app.forecast_runs.service import ForecastRunError, LoadedModel, run_forecast, verify_runs

from .conftest import ISSUE, GridWriter, add_observations

runner = CliRunner()


def _city_mean(frames: dict[str, pd.DataFrame], stations: list[str]) -> pd.Series:
    """Hourly mean PM2.5 over stations, indexed by UTC time."""
    joined = pd.concat([frames[s].set_index("time")["pm25"] for s in stations], axis=1)
    return joined.mean(axis=1)


def _forecast(run_id: int) -> tuple[dict[int, float], dict[int, tuple[float, float]]]:
    with session_scope() as session:
        hourly = session.scalars(
            select(ForecastHourly).where(
                ForecastHourly.run_id == run_id, ForecastHourly.city_code == "110000"
            )
        ).all()
        daily = session.scalars(
            select(ForecastDaily).where(
                ForecastDaily.run_id == run_id, ForecastDaily.city_code == "110000"
            )
        ).all()
    return (
        {h.lead_h: h.p50 for h in hourly},
        {d.lead_day: (d.p50, d.p_gt_150) for d in daily},
    )


def test_verify_scores_a_run_against_later_observations(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, client: TestClient
) -> None:
    with session_scope() as session:
        run_id = run_forecast(session, [grid()], ISSUE, tiny_model).id
    # Nothing has arrived after the issue yet: no pairs, no scores.
    with session_scope() as session:
        empty = verify_runs(session, run_id=run_id)
    assert (empty.pairs_hourly, empty.pairs_daily, empty.scores) == (0, 0, 0)

    # 36 hours arrive: D+1 (2017-01-11 local = 16:00Z on the 10th to 16:00Z on the 11th)
    # is complete, D+2 is not.
    with session_scope() as session:
        frames = add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 36)
    result = runner.invoke(cli, ["verify", "--run", str(run_id)])
    assert result.exit_code == 0, result.output
    assert f"window run:{run_id}" in result.output

    observed = _city_mean(frames, ["T-BJ-1", "T-BJ-2"])
    hourly, daily = _forecast(run_id)
    day1 = observed[
        (observed.index >= pd.Timestamp("2017-01-10T16:00Z"))
        & (observed.index < pd.Timestamp("2017-01-11T16:00Z"))
    ]
    assert len(day1) == 24
    with session_scope() as session:
        scores = {
            (s.kind, s.lead, s.metric): s
            for s in session.scalars(
                select(VerificationScore).where(VerificationScore.city_code == "110000")
            )
        }
    # One pair per lead: RMSE and MAE are the absolute error, bias the signed one.
    error_1h = hourly[1] - observed[pd.Timestamp(ISSUE) + pd.Timedelta(hours=1)]
    assert scores[("hourly", 1, "rmse")].value == pytest.approx(abs(error_1h))
    assert scores[("hourly", 1, "bias")].value == pytest.approx(error_1h)
    assert scores[("hourly", 1, "rmse")].n == 1
    assert ("hourly", 48, "rmse") not in scores  # not observed yet
    error_d1 = daily[1][0] - day1.mean()
    assert scores[("daily", 1, "mae")].value == pytest.approx(abs(error_d1))
    assert scores[("daily", 1, "bias")].value == pytest.approx(error_d1)
    outcome = float(day1.mean() > 150)
    assert scores[("daily", 1, "brier_150")].value == pytest.approx((daily[1][1] - outcome) ** 2)
    assert scores[("daily", 1, "rmse")].window == f"run:{run_id}"
    assert ("daily", 2, "rmse") not in scores  # D+2 has fewer than 18 observed hours

    skill = client.get("/v1/cities/110000/skill").json()
    assert skill["window"] == f"run:{run_id}"
    assert skill["run_count"] == 1
    assert skill["window_start"] == "2017-01-10T04:00:00Z"
    assert skill["window_start_local"] == "2017-01-10T12:00:00+08:00"
    (d1,) = skill["daily"]
    assert d1["lead"] == 1 and d1["n"] == 1
    assert d1["mae"] == pytest.approx(abs(error_d1))
    assert set(d1) >= {"rmse", "mae", "bias", "csi_75", "csi_150", "brier_150", "n"}
    assert [h["lead"] for h in skill["hourly"]] == [1, 6, 12, 24]


def test_pooled_verification_over_days_of_runs(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, client: TestClient
) -> None:
    second = ISSUE + timedelta(hours=24)
    with session_scope() as session:
        add_observations(session, pd.Timestamp(ISSUE) + pd.Timedelta(hours=1), 24)
    with session_scope() as session:
        run_forecast(session, [grid("a.nc")], ISSUE, tiny_model)
        run_forecast(session, [grid("b.nc", start=second)], second, tiny_model)
        run_forecast(session, [grid("c.nc", start=second)], second, tiny_model, drill=True)
    with session_scope() as session:
        add_observations(session, pd.Timestamp(second) + pd.Timedelta(hours=1), 72, level=160)
    with session_scope() as session:
        summary = verify_runs(session, days=30, now=second + timedelta(days=4))
    assert summary.window == "30d"
    assert len(summary.run_ids) == 2  # the drill run is not scored
    with session_scope() as session:
        rows = session.scalars(
            select(VerificationScore).where(
                VerificationScore.city_code == "120000",
                VerificationScore.kind == "hourly",
                VerificationScore.lead == 1,
                VerificationScore.metric == "rmse",
            )
        ).all()
    assert len(rows) == 1 and rows[0].n == 2 and rows[0].run_count == 2
    assert np.isfinite(rows[0].value)  # type: ignore[arg-type]

    # Verifying again replaces the window's scores rather than adding to them.
    with session_scope() as session:
        again = verify_runs(session, days=30, now=second + timedelta(days=4))
    assert again.scores == summary.scores
    skill = client.get("/v1/cities/120000/skill", params={"window": "30d"}).json()
    assert skill["window"] == "30d" and skill["run_count"] == 2
    assert client.get("/v1/cities/120000/skill", params={"window": "7d"}).status_code == 404
    bad = client.get("/v1/cities/120000/skill", params={"window": "weekly"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.window"


def test_verify_without_runs_fails_with_one_line(seeded: str) -> None:
    result = runner.invoke(cli, ["verify"])
    assert result.exit_code == 2 and "no forecast run issued" in result.output
    missing = runner.invoke(cli, ["verify", "--run", "41"])
    assert missing.exit_code == 2 and "no forecast run with id 41" in missing.output
    with pytest.raises(ForecastRunError), session_scope() as session:
        verify_runs(session, run_id=41)


def test_skill_before_any_verification_is_empty(seeded: str, client: TestClient) -> None:
    body = client.get("/v1/cities/110000/skill").json()
    assert body["window"] is None and body["daily"] == [] and body["hourly"] == []
    assert client.get("/v1/cities/999999/skill").json()["errors"][0]["field"] == "path.code"
