"""`/v1/cities`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.cities.registry import load_registry
from app.database import session_scope
from app.stations.service import import_station_list


def _load(shared_data: Path | None = None) -> None:
    from app.cities.service import sync_registry

    with session_scope() as session:
        if shared_data is None:
            sync_registry(session)
        else:
            import_station_list(session, shared_data / "knowair_meta" / "station_info.csv")


def test_list_cities_and_filter_by_region(client: TestClient) -> None:
    _load()
    body = client.get("/v1/cities").json()
    assert body["total"] == len(load_registry()) == len(body["items"])
    codes = [c["code"] for c in body["items"]]
    assert codes == sorted(codes)

    fenwei = client.get("/v1/cities", params={"region": "fenwei"}).json()
    by_code = {c["code"]: c for c in fenwei["items"]}
    assert fenwei["total"] == 12 == len(by_code)
    assert by_code["610100"]["name_en"] == "Xi'an"
    assert by_code["610403"]["name_zh"] == "杨凌示范区"
    jjj = client.get("/v1/cities", params={"region": "jjj-2+26"}).json()
    assert jjj["total"] == 28


def test_unknown_region_is_a_422_naming_the_query_field(client: TestClient) -> None:
    response = client.get("/v1/cities", params={"region": "atlantis"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "query.region"


def test_city_detail_has_facts_regions_and_stations(client: TestClient, shared_data: Path) -> None:
    _load(shared_data)
    response = client.get("/v1/cities/110000")
    assert response.status_code == 200
    body = response.json()
    assert body["name_zh"] == "北京市"
    assert body["province_en"] == "Beijing"
    assert body["timezone"] == "Asia/Shanghai"
    assert (body["lat"], body["lon"]) == (39.9042, 116.4074)
    assert body["regions"] == ["jjj-2+26"]
    assert body["region_details"][0]["code"] == "jjj-2+26"
    assert body["region_details"][0]["coordinator_en"]
    national = [f"{n:04d}A" for n in range(1001, 1013)]
    assert body["station_ids"] == [*national, "BJ-DONGSIHUAN", "US-BJ"]
    assert body["station_count"] == 14

    listed = client.get("/v1/cities").json()["items"]
    assert next(c for c in listed if c["code"] == "110000")["station_count"] == 14


def test_unknown_city_is_a_404_naming_path_code(client: TestClient) -> None:
    _load()
    response = client.get("/v1/cities/999999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["errors"] == [{"field": "path.code", "message": "no city with code 999999"}]


def test_malformed_city_code_is_a_422_naming_path_code(client: TestClient) -> None:
    for bad in ("11000", "1100000", "beijing"):
        response = client.get(f"/v1/cities/{bad}")
        assert response.status_code == 422, bad
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["path.code"]
