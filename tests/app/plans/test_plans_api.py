"""`/v1/plans`, `/v1/plans/{city}`, `/v1/plans/{city}/actions`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from app.database import session_scope
from app.plans import service
from contingency_plans.loader import PLANS_DIR, plan_version

FILES = ["110000-beijing.yaml", "310000-shanghai.yaml"]


@pytest.fixture
def loaded(client: TestClient, tmp_path: Path, add_cities: Callable[[list[str]], None]) -> Path:
    """Beijing and Shanghai loaded; Beijing twice, so it has an earlier version."""
    folder = tmp_path / "plans"
    folder.mkdir()
    for name in FILES:
        shutil.copy(PLANS_DIR / name, folder / name)
    add_cities(["110000", "310000"])
    beijing = folder / FILES[0]
    data = yaml.safe_load(beijing.read_text(encoding="utf-8"))
    data["lead_time_hours"] = 48
    beijing.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with session_scope() as session:
        service.load_plan_files(
            session, sorted(folder.glob("*.yaml")), datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
        )
    shutil.copy(PLANS_DIR / FILES[0], beijing)
    with session_scope() as session:
        service.load_plan_files(session, [beijing], datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    return folder


def test_list_plans(client: TestClient, loaded: Path) -> None:
    body = client.get("/v1/plans").json()
    assert body["total"] == 2
    beijing, shanghai = body["items"]
    assert beijing["city_code"] == "110000"
    assert beijing["version"] == plan_version(PLANS_DIR / FILES[0])
    assert beijing["criteria_set"] == "beijing-2016"
    assert beijing["levels"] == ["blue", "yellow", "orange", "red"]
    assert beijing["loaded_at_local"] == "2026-11-26T00:00:00+08:00"
    assert shanghai["criteria_set"] == "mee-2024"
    assert shanghai["levels"] == ["yellow", "orange", "red"]


def test_plan_detail_with_earlier_versions(client: TestClient, loaded: Path) -> None:
    body = client.get("/v1/plans/110000").json()
    assert body["version"] == plan_version(PLANS_DIR / FILES[0])
    assert body["content"]["lead_time_hours"] == 24
    assert body["content"]["levels"]["red"]["emission_cut_pct"] == 30
    [earlier] = body["earlier_versions"]
    assert earlier["version"] != body["version"]
    assert earlier["loaded_at_local"] == "2026-11-25T00:00:00+08:00"
    assert client.get("/v1/plans/310000").json()["earlier_versions"] == []


def test_unknown_city_is_a_404_problem(client: TestClient, loaded: Path) -> None:
    for path in ("/v1/plans/999999", "/v1/plans/120000/actions?level=red"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == "path.city"


def test_actions_with_local_times(client: TestClient, loaded: Path) -> None:
    response = client.get(
        "/v1/plans/110000/actions",
        params={"level": "red", "issued_at": "2016-12-16T20:00:00+08:00"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_at"] == "2016-12-16T20:00:00+08:00"
    assert body["issued_at_utc"].startswith("2016-12-16T12:00:00")
    assert body["emission_cut_pct"] == 30
    assert body["total"] == len(body["items"]) > 10
    classes = next(a for a in body["items"] if a["measure_id"] == "schools-classes")
    assert classes["effective_at"] == "2016-12-17T00:00:00+08:00"
    assert classes["effective_at_utc"].startswith("2016-12-16T16:00:00")
    assert classes["department_en"] == "Beijing Municipal Education Commission"
    assert [a["order"] for a in body["items"]] == list(range(1, body["total"] + 1))
    firms = [a for a in body["items"] if a["enterprise"]]
    assert firms and all(a["enterprise"]["example"] for a in firms)


def test_actions_accept_utc_and_an_unencoded_plus(client: TestClient, loaded: Path) -> None:
    utc = client.get("/v1/plans/110000/actions?level=orange&issued_at=2016-12-16T12:00:00Z")
    # An unencoded '+' arrives as a space; the time still means +08:00.
    plus = client.get("/v1/plans/110000/actions?level=orange&issued_at=2016-12-16T20:00:00+08:00")
    assert utc.status_code == plus.status_code == 200
    assert utc.json()["issued_at"] == plus.json()["issued_at"] == "2016-12-16T20:00:00+08:00"


def test_bad_level_is_a_422_naming_query_level(client: TestClient, loaded: Path) -> None:
    response = client.get("/v1/plans/110000/actions", params={"level": "purple"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.level"]
    # A real level the plan does not define (Shanghai has three levels).
    response = client.get("/v1/plans/310000/actions", params={"level": "blue"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.level"
    assert "no blue level" in response.json()["detail"]


def test_issued_at_without_offset_is_a_422(client: TestClient, loaded: Path) -> None:
    response = client.get(
        "/v1/plans/110000/actions", params={"level": "red", "issued_at": "2016-12-16T20:00:00"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.issued_at"
    assert "needs a UTC offset" in response.json()["detail"]
