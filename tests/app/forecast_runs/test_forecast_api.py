"""`/v1/forecasts/latest`, `/v1/cities/{code}/forecast`, `/v1/forecast-runs[/{id}]`."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from app.database import session_scope
from app.forecast_runs.service import LoadedModel, run_forecast

from .conftest import ISSUE, GridWriter

PROBLEM = "application/problem+json"


def _run(grid: GridWriter, model: LoadedModel, **options: object) -> int:
    with session_scope() as session:
        return run_forecast(session, [grid()], ISSUE, model, **options).id  # type: ignore[arg-type]


def test_no_run_yet_is_a_problem_404(seeded: str, client: TestClient) -> None:
    response = client.get("/v1/forecasts/latest")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "no forecast run" in response.json()["detail"]
    assert client.get("/v1/cities/110000/forecast").status_code == 404


def test_latest_gives_the_run_and_each_city_d1_to_d3(
    seeded: str, client: TestClient, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    run_id = _run(grid, tiny_model)
    body = client.get("/v1/forecasts/latest").json()
    assert body["run"]["id"] == run_id
    assert body["run"]["issued_at"] == "2017-01-10T04:00:00Z"
    assert body["run"]["model_version"] == tiny_model.version
    assert [c["city"]["code"] for c in body["cities"]] == ["110000", "120000"]
    beijing = body["cities"][0]
    assert beijing["city"]["timezone"] == "Asia/Shanghai"
    days = beijing["days"]
    assert [(d["local_date"], d["lead_day"]) for d in days] == [
        ("2017-01-11", 1),
        ("2017-01-12", 2),
        ("2017-01-13", 3),
    ]
    assert days[0]["starts_at"] == "2017-01-10T16:00:00Z"
    assert days[0]["starts_at_local"] == "2017-01-11T00:00:00+08:00"
    for day in days:
        assert day["p10"] <= day["p50"] <= day["p90"]
        assert 0 <= day["p_gt_250"] <= day["p_gt_150"] <= day["p_gt_115"] <= day["p_gt_75"] <= 1
        assert day["aqi_version"] == "HJ633-2012" and day["aqi_p50"] <= day["aqi_p90"]


def test_city_forecast_gives_every_time_in_utc_and_local_with_offset(
    seeded: str, client: TestClient, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    run_id = _run(grid, tiny_model)
    body = client.get("/v1/cities/110000/forecast", params={"run": run_id}).json()
    assert body["run"]["id"] == run_id
    assert body["city"] == {
        "code": "110000",
        "name_zh": "北京市",
        "name_en": "Beijing",
        "timezone": "Asia/Shanghai",
    }
    assert body["issued_at"] == "2017-01-10T04:00:00Z"
    assert body["issued_at_local"] == "2017-01-10T12:00:00+08:00"
    hourly = body["hourly"]
    assert len(hourly) == 72
    first = hourly[0]
    assert first["lead_h"] == 1
    assert first["valid_time"] == "2017-01-10T05:00:00Z"
    assert first["valid_time_local"] == "2017-01-10T13:00:00+08:00"
    for row in hourly:
        utc = datetime.fromisoformat(row["valid_time"])
        local = datetime.fromisoformat(row["valid_time_local"])
        assert utc == local and local.utcoffset() == timedelta(hours=8)
        assert row["p10"] <= row["p50"] <= row["p90"]
    assert hourly[-1]["valid_time"] == "2017-01-13T04:00:00Z"
    assert [d["lead_day"] for d in body["daily"]] == [1, 2, 3]
    # Without ?run the latest run is used.
    assert client.get("/v1/cities/110000/forecast").json()["run"]["id"] == run_id


def test_city_forecast_errors_name_the_field(
    seeded: str, client: TestClient, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    run_id = _run(grid, tiny_model)
    unknown_run = client.get("/v1/cities/110000/forecast", params={"run": run_id + 100})
    assert unknown_run.status_code == 404
    assert unknown_run.headers["content-type"].startswith(PROBLEM)
    assert unknown_run.json()["errors"][0]["field"] == "query.run"
    for bad in ("abc", "0"):
        response = client.get("/v1/cities/110000/forecast", params={"run": bad})
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["query.run"]
    unknown_city = client.get("/v1/cities/999999/forecast")
    assert unknown_city.status_code == 404
    assert unknown_city.json()["errors"][0]["field"] == "path.code"
    # A city in the registry that the run did not forecast (no stations).
    not_forecast = client.get("/v1/cities/310000/forecast")
    assert not_forecast.status_code == 404
    assert not_forecast.json()["errors"][0]["field"] == "path.code"
    malformed = client.get("/v1/cities/beijing/forecast")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "path.code"


def test_forecast_run_detail_and_list(
    seeded: str, client: TestClient, grid: GridWriter, tiny_model: LoadedModel
) -> None:
    run_id = _run(grid, tiny_model)
    drill_id = _run(grid, tiny_model, drill=True)
    detail = client.get(f"/v1/forecast-runs/{run_id}").json()
    assert detail["id"] == run_id and detail["status"] == "complete"
    assert detail["inputs"]["grids"][0]["sha256"]
    assert detail["inputs"]["grids"][0]["bytes"] > 0
    assert detail["inputs"]["observations"]["end"].startswith("2017-01-10T04:00:00")
    assert detail["city_counts"]["110000"]["hourly"] == 72
    listed = client.get("/v1/forecast-runs").json()
    assert listed["total"] == 2
    assert {r["id"]: r["drill"] for r in listed["items"]} == {run_id: False, drill_id: True}
    assert client.get("/v1/forecasts/latest").json()["run"]["id"] == run_id

    missing = client.get("/v1/forecast-runs/999")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "path.run_id"
    assert client.get("/v1/forecast-runs/x").json()["errors"][0]["field"] == "path.run_id"
