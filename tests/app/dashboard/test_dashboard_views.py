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
    assert 'id="cities"' in response.text


def test_page_loads_nothing_from_another_host() -> None:
    """No CDN: every src/href of the page and every fetch of the script is local."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references, "the page references its assets"
    assert all(ref.startswith("/") for ref in references), references
    for asset in STATIC_DIR.iterdir():
        text = asset.read_text(encoding="utf-8")
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in text, asset.name


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
