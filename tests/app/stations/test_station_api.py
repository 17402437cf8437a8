"""`/v1/stations`."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.database import session_scope
from app.stations.service import import_station_list


@pytest.fixture
def loaded(client: TestClient, shared_data: Path) -> TestClient:
    with session_scope() as session:
        import_station_list(session, shared_data / "knowair_meta" / "station_info.csv")
    return client


def test_pages_of_all_stations(loaded: TestClient) -> None:
    first = loaded.get("/v1/stations", params={"limit": 50}).json()
    assert first["total"] == 1498 + 6
    assert (first["limit"], first["offset"], len(first["items"])) == (50, 0, 50)
    second = loaded.get("/v1/stations", params={"limit": 50, "offset": 50}).json()
    ids = [s["id"] for s in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 100
    last = loaded.get("/v1/stations", params={"limit": 50, "offset": 1500}).json()
    assert len(last["items"]) == 4


def test_stations_of_a_city(loaded: TestClient) -> None:
    body = loaded.get("/v1/stations", params={"city": "110000"}).json()
    assert body["total"] == 14
    ids = [s["id"] for s in body["items"]]
    assert ids[:12] == [f"{n:04d}A" for n in range(1001, 1013)]
    assert all(s["city_code"] == "110000" for s in body["items"])


def test_one_station(loaded: TestClient) -> None:
    body = loaded.get("/v1/stations/1010A").json()
    assert body == {
        "id": "1010A",
        "name_zh": "昌平镇",
        "name_en": "Changpingzhen",
        "city_code": "110000",
        "area_zh": "北京",
        "area_en": "Beijing",
        "lat": 40.1952,
        "lon": 116.23,
        "aliases": ["Changping"],
    }
    us = loaded.get("/v1/stations/US-SH").json()
    assert us["city_code"] == "310000" and "US Post" in us["aliases"]


def test_unknown_station_and_city_are_404_problems(loaded: TestClient) -> None:
    response = loaded.get("/v1/stations/9999Z")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "path.station_id"
    response = loaded.get("/v1/stations", params={"city": "999999"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "query.city"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"city": "1100"}, "query.city"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ],
)
def test_bad_query_is_a_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/v1/stations", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]
