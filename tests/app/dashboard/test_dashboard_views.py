"""The dashboard's own routes: the page, its assets, its display facts."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.dashboard.views import STATIC_DIR


def test_root_serves_the_dashboard_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "duty officers' dashboard" in response.text
    assert 'id="cities"' in response.text and 'id="map"' in response.text


def test_the_page_has_no_inline_script_or_handler() -> None:
    """A Content-Security-Policy without 'unsafe-inline' can serve it."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []
    for module in ("i18n.js", "common.js", "svg.js", "detail.js", "regions.js"):
        assert (STATIC_DIR / module).is_file(), module


def test_page_loads_nothing_from_another_host() -> None:
    """No CDN: every src/href of the page and every fetch of the script is local."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, "the page references its assets"
    assert all(ref.startswith(("/", "#")) for ref in references), references
    for asset in STATIC_DIR.iterdir():
        # The SVG namespace is a name, never fetched.
        text = asset.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text, asset.name
        assert "https://" not in text, asset.name
    # Scripts are modules of this folder only.
    script = (STATIC_DIR / "dashboard.js").read_text(encoding="utf-8")
    imports = re.findall(r'from "([^"]+)"', script)
    assert imports and all(i.startswith("./") for i in imports), imports


def test_assets_are_served_with_their_media_types(client: TestClient) -> None:
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    script = client.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "Authorization" in script.text  # writes send the key as a Bearer token
    icon = client.get("/dashboard/static/favicon.svg")
    assert icon.headers["content-type"].startswith("image/svg+xml")


def test_unknown_or_sneaky_asset_names_are_404_problems(client: TestClient) -> None:
    missing = client.get("/dashboard/static/nope.js")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "path.name"
    # A path outside the folder never matches the route's pattern.
    assert client.get("/dashboard/static/..%2Fviews.py").status_code in (404, 422)


def test_meta_gives_aqi_and_level_colours(client: TestClient) -> None:
    meta = client.get("/dashboard/meta.json").json()
    categories = meta["aqi_categories"]
    assert [c["level"] for c in categories] == [1, 2, 3, 4, 5, 6]
    assert categories[4]["colour_hex"] == "#99004C"  # heavily polluted: purple
    assert categories[-1]["aqi_max"] is None
    levels = {level["code"]: level for level in meta["levels"]}
    assert list(levels) == ["blue", "yellow", "orange", "red"]
    assert levels["red"]["colour_hex"] == "#E60000"
    assert levels["red"]["response_grade"] == "Ⅰ"


def test_health_and_api_still_answer_next_to_the_dashboard(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    assert "database" in client.get("/health").json()["checks"]  # readiness, not the dashboard
    assert client.get("/v1/cities").status_code == 200


def test_observed_hours_are_the_station_mean_per_hour(client: TestClient) -> None:
    """Two Beijing stations: the chart's observed line is their mean, hour by hour; a
    Tianjin station does not leak in; hours outside the window are left out."""
    from datetime import UTC, datetime, timedelta

    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.observations.models import Observation
    from app.stations.models import Station

    t0 = datetime(2016, 12, 16, 0, tzinfo=UTC)
    with session_scope() as session:
        sync_registry(session)
        for sid, city in (("A1", "110000"), ("A2", "110000"), ("T1", "120000")):
            session.add(Station(id=sid, name_en=sid, city_code=city, lat=39.9, lon=116.4))
        session.flush()
        for hour, a1, a2, t1 in (
            (0, 100.0, 200.0, 999.0),
            (1, 50.0, None, 999.0),
            (5, 10.0, 20.0, 1.0),
        ):
            moment = t0 + timedelta(hours=hour)
            session.add(Observation(station_id="A1", time=moment, pm25=a1, source="test"))
            session.add(Observation(station_id="A2", time=moment, pm25=a2, source="test"))
            session.add(Observation(station_id="T1", time=moment, pm25=t1, source="test"))
    response = client.get(
        "/dashboard/cities/110000/observed.json",
        params={"start": "2016-12-16T08:00:00+08:00", "end": "2016-12-16T05:00:00Z"},
    )
    assert response.status_code == 200
    hours = response.json()["hours"]
    assert [(h["pm25"], h["stations"]) for h in hours] == [(150.0, 2), (50.0, 1)]
    assert hours[0]["time"].startswith("2016-12-16T00:00:00")


def test_observed_hours_refuse_bad_windows(client: TestClient) -> None:
    from app.cities.service import sync_registry
    from app.database import session_scope

    with session_scope() as session:
        sync_registry(session)
    naive = client.get(
        "/dashboard/cities/110000/observed.json", params={"start": "2016-12-16T00:00:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "query.start"
    long = client.get(
        "/dashboard/cities/110000/observed.json",
        params={"start": "2016-11-01T00:00:00Z", "end": "2016-12-16T00:00:00Z"},
    )
    assert long.status_code == 422
    unknown = client.get(
        "/dashboard/cities/999999/observed.json", params={"start": "2016-12-16T00:00:00Z"}
    )
    assert unknown.status_code == 404
