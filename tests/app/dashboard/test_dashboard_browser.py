"""The dashboard in Debian's headless Chromium (Playwright) against a real uvicorn server,
once per role: public, duty officer, city office, coordinator.

Each test reads the map and a city's chart, does what its role does (approve a proposal,
lift with a reason, acknowledge, see a failing endpoint, see a laggard member), checks there
is no sideways scroll at 1280×800 and 390×844, runs axe-core (no serious or critical
violations), records every request (all to the server itself) and writes its screenshots
to docs/screenshots/. Waits are on conditions and on the responses the clicks trigger,
with generous limits (the machine may be busy); never fixed sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
BEIJING = "110000"
TIANJIN = "120000"

WAIT_MS = 90_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@contextmanager
def opened(
    chromium: Any, url: str, *, key: str | None = None, viewport: dict[str, int] = DESKTOP
) -> Iterator[Any]:
    """A fresh page on the dashboard (signed in with `key` through the page's own form),
    recording script errors and every request."""
    # The helpers evaluate strings (wait_for_function) and inject axe-core inline, which the
    # page's CSP forbids; test_the_page_runs_under_its_csp checks the page with it enforced.
    context = chromium.new_context(viewport=viewport, bypass_csp=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.errors = []
    page.requests = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("request", lambda request: page.requests.append(request.url))
    try:
        page.goto(url + "/")
        loaded(page)
        if key is not None:
            page.fill("#api-key", key)
            with page.expect_response(lambda r: r.url.endswith("/v1/auth/me")):
                page.click("#key-save")
            expect(page.locator("#whoami.signed-in")).to_be_visible(timeout=WAIT_MS)
            loaded(page)
        yield page
    finally:
        if page.errors:
            print("script errors:", page.errors)  # shown when the test fails
        context.close()


def loaded(page: Any, at_least: int = 1) -> None:
    """Wait until the page has finished `at_least` loads since it was opened."""
    page.wait_for_function(
        f"Number(document.body.dataset.loaded || 0) >= {at_least}", timeout=WAIT_MS
    )


def reloads(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.loaded || 0)"))


def assert_fits(page: Any) -> None:
    """No sideways scroll: the document is no wider than the viewport."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    wide = page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > limit + 0.5)
        .slice(-5).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 30))""",
        viewport,
    )
    assert width <= viewport, f"the page is {width}px wide in a {viewport}px viewport: {wide}"


def assert_accessible(page: Any) -> None:
    """axe-core (bundled by the axe-playwright-python package): no serious or critical
    violation."""
    import axe_playwright_python

    source = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(
        encoding="utf-8"
    )
    page.evaluate(source)
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], bad


def assert_only_own_host(page: Any, url: str) -> None:
    own = urlsplit(url).netloc
    others = {urlsplit(u).netloc for u in page.requests if not u.startswith(("data:", "blob:"))} - {
        own
    }
    assert others == set(), others


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = "phone" if page.viewport_size["width"] < 600 else "desktop"
    path = SCREENSHOTS / f"{name}-{size}.png"
    page.evaluate("document.getElementById('toast').hidden = true")  # a passing message
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def open_city(page: Any, code: str) -> None:
    """Select a city on the map with the keyboard (Enter), and wait for its chart."""
    dot = page.locator(f'#map .city-dot[data-city="{code}"]')
    dot.focus()
    with page.expect_response(lambda r: f"/v1/cities/{code}/forecast" in r.url):
        page.keyboard.press("Enter")
    expect(page.locator(f'#detail[data-city="{code}"] svg.chart')).to_be_visible(timeout=WAIT_MS)


def assert_city_chart(page: Any) -> None:
    """The chart has a band, a median, observed hours, four threshold lines; the daily bars
    show D+1..D+3 with exceedance probabilities."""
    chart = page.locator("#detail svg.chart")
    assert chart.locator("path.band").count() == 1
    assert chart.locator("path.median").count() == 1
    assert chart.locator("path.observed").count() == 1
    thresholds = chart.locator("g.threshold")
    assert sorted(
        int(thresholds.nth(i).get_attribute("data-threshold")) for i in range(thresholds.count())
    ) == [75, 115, 150, 250]
    assert page.locator("#detail svg.bars g.day-bar").count() == 3
    probabilities = page.locator('#detail [data-testid="probabilities"]').inner_text()
    assert "P(>150)" in probabilities and "%" in probabilities


def api_post(
    seeded: Any, path: str, body: dict[str, Any], role: str = "duty_officer"
) -> dict[str, Any]:
    response = httpx.post(
        seeded.url + path,
        json=body,
        headers={"Authorization": f"Bearer {seeded.keys[role]}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --------------------------------------------------------------------------- public


def test_public_view_reads_the_map_and_a_city_chart(seeded_server: Any, chromium: Any) -> None:
    api_post(seeded_server, f"/v1/proposals/{seeded_server.proposals[TIANJIN]}/approve", {})
    for viewport in (DESKTOP, PHONE):
        with opened(chromium, seeded_server.url, viewport=viewport) as page:
            dots = page.locator("#map .city-dot")
            total = len(httpx.get(seeded_server.url + "/v1/cities").json()["items"])
            assert dots.count() == total  # every city of the registry
            tianjin = page.locator(f'#map .city-dot[data-city="{TIANJIN}"]')
            assert tianjin.get_attribute("data-level") in {"orange", "red"}
            assert (
                page.locator(f'#map .city-dot[data-city="{BEIJING}"]').get_attribute("data-level")
                == "none"
            )
            assert page.locator("#map .region").count() >= 3  # members grouped by region

            open_city(page, BEIJING)
            assert_city_chart(page)
            # Public: no write button, no staff-only part, no key-holder list requested.
            writes = "#main button[data-action]" + "".join(
                f":not([data-action='{a}'])" for a in ("show-city", "toggle-cities", "close-detail")
            )
            assert page.locator(writes).count() == 0
            assert page.locator("#desk-section").is_hidden()
            assert page.locator("#health-section").is_hidden()
            assert page.locator('[data-flag="no-key"]').count() == 1
            assert not any("/v1/proposals" in u for u in page.requests)
            assert "the grid lacks sp, tp" in page.locator("#run").inner_text()
            assert_fits(page)
            shoot(page, "public")
            assert_accessible(page)
            assert_only_own_host(page, seeded_server.url)
            assert page.errors == []


def test_the_track_record_is_the_latest_runs_once_verified(
    seeded_server: Any, chromium: Any, seed_scores: Callable[[int, str, datetime], None]
) -> None:
    """Scores of the latest run win over an older pooled window (which the API's default
    would give), in the city detail and in the skill summary."""
    seed_scores(seeded_server.run_id, BEIJING, datetime.now(UTC))
    with opened(chromium, seeded_server.url) as page:
        open_city(page, BEIJING)
        record = page.locator('#detail [data-testid="track-record"]')
        expect(record).to_be_visible(timeout=WAIT_MS)
        assert f"latest run #{seeded_server.run_id}" in page.locator("#detail").inner_text()
        rmse = record.locator('tr[data-metric="rmse"]').inner_text()
        assert "12.5" in rmse and "99" not in rmse  # D+1 of the run, not of the 30-day pool
        assert record.locator('tr[data-metric="brier_150"]').count() == 1
        assert record.locator('tr[data-metric="csi_150"]').count() == 1
        row = page.locator(f'#skill tr[data-skill="{BEIJING}"]')
        assert row.get_attribute("data-window") == f"run:{seeded_server.run_id}"
        assert page.errors == []


def test_language_switch_shows_chinese(seeded_server: Any, chromium: Any) -> None:
    with opened(chromium, seeded_server.url, viewport=PHONE) as page:
        before = reloads(page)
        page.click("#lang-switch")
        loaded(page, before + 1)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert "地图" in page.locator("#map-title").inner_text()
        assert "北京" in page.locator(f'#cities tbody tr[data-city="{BEIJING}"]').inner_text()
        open_city(page, BEIJING)
        assert_fits(page)
        shoot(page, "public-zh")
        # The choice is kept.
        page.reload()
        loaded(page)
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        page.click("#lang-switch")
        expect(page.locator("#map-title")).to_contain_text("Map", timeout=WAIT_MS)
        assert page.errors == []


# --------------------------------------------------------------------------- duty officer


def test_duty_officer_approves_lifts_and_sees_failing_endpoints(
    seeded_server: Any, chromium: Any, make_late: Callable[[int, datetime, float], None]
) -> None:
    beijing = seeded_server.proposals[BEIJING]
    make_late(beijing, datetime.now(UTC), 12)
    for viewport in (PHONE, DESKTOP):  # the desktop pass acts
        with opened(
            chromium, seeded_server.url, key=seeded_server.keys["duty_officer"], viewport=viewport
        ) as page:
            proposal = page.locator(f'[data-proposal="{beijing}"]')
            expect(proposal).to_be_visible(timeout=WAIT_MS)
            # 12 h past approve-by: flagged late.
            assert proposal.get_attribute("data-late") == "true"
            assert re.search(r"late: 1[12] h past approve-by", proposal.inner_text())
            # Delivery health: the endpoint answering 500 and the closed port are flagged.
            health = page.locator("#health")
            broken = health.locator(f'[data-endpoint="{seeded_server.endpoints["broken"]}"]')
            closed = health.locator(f'[data-endpoint="{seeded_server.endpoints["closed"]}"]')
            healthy = health.locator(f'[data-endpoint="{seeded_server.endpoints["healthy"]}"]')
            assert broken.get_attribute("data-health") == "failing"
            assert "500" in broken.locator('[data-field="last-error"]').inner_text()
            assert closed.get_attribute("data-health") == "failing"
            assert "Connect" in closed.locator('[data-field="last-error"]').inner_text()
            assert healthy.get_attribute("data-health") == "ok"
            assert page.locator('[data-flag="failing-endpoints"]').count() == 1
            assert "waiting" in page.locator('[data-testid="outbox"]').inner_text()
            open_city(page, BEIJING)
            assert_city_chart(page)
            assert_fits(page)
            if viewport is PHONE:
                shoot(page, "duty-officer")
                continue

            # Approve with a click; the warning appears, not yet acknowledged.
            with page.expect_response(
                lambda r: r.url.endswith(f"/v1/proposals/{beijing}/approve")
            ) as approved:
                proposal.locator('[data-action="approve"]').click()
            assert approved.value.status == 200
            warning = page.locator(f'#warnings [data-warning][data-city="{BEIJING}"]')
            expect(warning).to_be_visible(timeout=WAIT_MS)
            assert "not acknowledged" in warning.inner_text()
            assert "+08:00" in warning.inner_text()
            expect(page.locator(f'#acks tr[data-ack="{BEIJING}"]')).to_have_attribute(
                "data-acknowledged", "false", timeout=WAIT_MS
            )
            assert page.locator(f'#map .city-dot[data-city="{BEIJING}"]').get_attribute(
                "data-level"
            ) in {"orange", "red"}
            # Every officer action the level allows is there (upgrade below red only).
            level = warning.locator(".badge[data-level]").first.get_attribute("data-level")
            for action in ("downgrade", "extend", "lift"):
                assert warning.locator(f'[data-action="{action}"]').count() == 1, action
            assert warning.locator('[data-action="upgrade"]').count() == (
                0 if level == "red" else 1
            )
            assert warning.locator('[data-action="ack"]').count() == 0  # city offices acknowledge
            shoot(page, "duty-officer")
            assert_accessible(page)

            # Lift: without a reason nothing is sent; with one, the warning goes.
            warning.locator('[data-action="lift"]').click()
            form = warning.locator(".inline-form")
            expect(form).to_be_visible(timeout=WAIT_MS)
            sent_before = len([u for u in page.requests if u.endswith("/lift")])
            form.locator('[data-action="confirm"]').click()
            assert len([u for u in page.requests if u.endswith("/lift")]) == sent_before
            form.locator('[data-testid="reason"]').fill(
                "Observed PM2.5 fell below 75 µg/m³ overnight"
            )
            with page.expect_response(lambda r: r.url.endswith("/lift")) as lifted:
                form.locator('[data-action="confirm"]').click()
            assert lifted.value.status == 200
            expect(page.locator(f'#warnings [data-warning][data-city="{BEIJING}"]')).to_have_count(
                0, timeout=WAIT_MS
            )
            history = httpx.get(
                f"{seeded_server.url}/v1/warnings/{beijing}",
                headers={"Authorization": f"Bearer {seeded_server.keys['duty_officer']}"},
                timeout=60,
            ).json()["history"]
            assert history[-1]["kind"] == "lifted"
            assert history[-1]["reason"] == "Observed PM2.5 fell below 75 µg/m³ overnight"
            assert_only_own_host(page, seeded_server.url)
            assert page.errors == []


# --------------------------------------------------------------------------- city office


def test_city_office_acknowledges_its_warning(seeded_server: Any, chromium: Any) -> None:
    tianjin = seeded_server.proposals[TIANJIN]
    api_post(seeded_server, f"/v1/proposals/{tianjin}/approve", {})
    for viewport in (PHONE, DESKTOP):
        with opened(
            chromium, seeded_server.url, key=seeded_server.keys["city_office"], viewport=viewport
        ) as page:
            expect(page.locator("#office-section")).to_be_visible(timeout=WAIT_MS)
            assert "Tianjin" in page.locator("#office").inner_text()
            assert page.locator("#desk-section").is_hidden()
            assert page.locator("#health-section").is_hidden()
            warning = page.locator(f'#warnings [data-warning="{tianjin}"]')
            # Only the acknowledgement: no officer action.
            for action in ("approve", "upgrade", "downgrade", "extend", "lift"):
                assert page.locator(f'#main [data-action="{action}"]').count() == 0, action
            open_city(page, TIANJIN)
            assert page.locator("#detail svg.chart path.band").count() == 1
            assert_fits(page)
            if viewport is PHONE:
                shoot(page, "city-office")
                continue
            shoot(page, "city-office")
            assert_accessible(page)
            with page.expect_response(
                lambda r: r.url.endswith(f"/v1/warnings/{tianjin}/ack")
            ) as acked:
                warning.locator('[data-action="ack"]').click()
            assert acked.value.status == 200
            expect(warning.locator(".badge.ack")).to_be_visible(timeout=WAIT_MS)
            assert warning.locator('[data-action="ack"]').count() == 0
            assert_only_own_host(page, seeded_server.url)
            assert page.errors == []


# --------------------------------------------------------------------------- coordinator


def test_coordinator_approves_the_regional_warning_and_sees_laggards(
    seeded_server: Any, chromium: Any
) -> None:
    """The run made a Jing-Jin-Ji regional proposal; the coordinator approves it in the
    page. A Fenwei warning declared three hours ago (past the 2 h grace) shows its members,
    none of whom acknowledged, as laggards."""
    start = datetime.now(UTC) - timedelta(hours=3)
    declared = httpx.post(
        seeded_server.url + "/v1/regional-warnings",
        json={
            "region_id": "fenwei",
            "level": "orange",
            "starts_at": start.isoformat(),
            "reason": "Joint response across the Fenwei Plain",
        },
        headers={"Authorization": f"Bearer {seeded_server.keys['coordinator']}"},
        timeout=60,
    )
    assert declared.status_code == 201, declared.text
    for viewport in (PHONE, DESKTOP):
        with opened(
            chromium, seeded_server.url, key=seeded_server.keys["coordinator"], viewport=viewport
        ) as page:
            regions = page.locator("#regions")
            jjj = regions.locator('[data-region="jjj-2+26"]')
            expect(jjj).to_be_visible(timeout=WAIT_MS)
            fenwei = regions.locator('[data-region="fenwei"]')
            laggards = fenwei.locator('tr[data-lagging="true"]')
            expect(laggards.first).to_be_visible(timeout=WAIT_MS)
            assert "lagging" in laggards.first.inner_text()
            assert "lagging" in page.locator("#regions-count").inner_text()
            # Members of the declared warning are raised: effective level orange on the map.
            member = laggards.first.get_attribute("data-member")
            dot = page.locator(f'#map .city-dot[data-city="{member}"]')
            assert dot.get_attribute("data-level") in {"orange", "red"}
            # No duty-officer or city-office action for a coordinator.
            for action in ("approve", "upgrade", "lift", "ack"):
                assert page.locator(f'#warnings [data-action="{action}"]').count() == 0, action
            assert page.locator("#desk-section").is_hidden()
            assert_fits(page)
            if viewport is PHONE:
                shoot(page, "coordinator")
                continue

            proposal = jjj.locator('[data-regional-warning][data-status="proposed"]')
            expect(proposal).to_be_visible(timeout=WAIT_MS)
            with page.expect_response(lambda r: r.url.endswith("/approve")) as approved:
                jjj.locator('[data-action="regional-approve"]').click()
            assert approved.value.status == 200
            expect(jjj.locator('[data-regional-warning][data-status="issued"]')).to_be_visible(
                timeout=WAIT_MS
            )
            assert jjj.locator('[data-action="regional-adjust"]').count() == 1
            assert jjj.locator('[data-action="regional-lift"]').count() == 1
            expect(jjj.locator("tr[data-member]").first).to_be_visible(timeout=WAIT_MS)
            shoot(page, "coordinator")
            assert_accessible(page)
            assert_only_own_host(page, seeded_server.url)
            assert page.errors == []


# --------------------------------------------------------------------------- no other host


def test_the_page_asks_no_other_host(seeded_server: Any, chromium: Any) -> None:
    """Every request the page makes, through a full tour, goes to the server itself; any
    other would be blocked and recorded."""
    context = chromium.new_context(viewport=DESKTOP, bypass_csp=True)
    own = urlsplit(seeded_server.url).netloc
    seen: list[str] = []
    blocked: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        seen.append(url)
        if urlsplit(url).netloc != own and not url.startswith("data:"):
            blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    try:
        page = context.new_page()
        page.goto(seeded_server.url + "/")
        loaded(page)
        page.fill("#api-key", seeded_server.keys["admin"])
        page.click("#key-save")
        expect(page.locator("#whoami.signed-in")).to_be_visible(timeout=WAIT_MS)
        open_city(page, BEIJING)
        page.click("#lang-switch")
        expect(page.locator("#map-title")).to_contain_text("地图", timeout=WAIT_MS)
    finally:
        context.close()
    assert blocked == []
    assert any(u.endswith("/dashboard/static/dashboard.js") for u in seen)
    assert any("/observed.json" in u for u in seen)


def test_the_page_runs_under_its_csp(seeded_server: Any, chromium: Any) -> None:
    """With the Content-Security-Policy enforced, the page loads, signs in and opens a
    city without a single violation or script error."""
    context = chromium.new_context(viewport=DESKTOP)
    violations: list[str] = []
    try:
        page = context.new_page()
        page.on(
            "console", lambda m: violations.append(m.text) if "Security Policy" in m.text else None
        )
        page.on("pageerror", lambda exc: violations.append(str(exc)))
        page.goto(seeded_server.url + "/")
        expect(page.locator("body[data-loaded]")).to_be_attached(timeout=WAIT_MS)
        page.fill("#api-key", seeded_server.keys["admin"])
        page.click("#key-save")
        expect(page.locator("#whoami.signed-in")).to_be_visible(timeout=WAIT_MS)
    finally:
        context.close()
    assert violations == []


# --------------------------------------------------------------------------- empty service


def test_an_empty_service_says_what_is_missing(
    page_database: Path,
    serve_in_thread: Callable[..., AbstractContextManager[int]],
    chromium: Any,
) -> None:
    """No forecast run, no warning, no key: every part says so; nothing breaks."""
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.main import create_app

    with session_scope() as session:
        sync_registry(session)
    with (
        serve_in_thread(create_app()) as port,
        opened(chromium, f"http://127.0.0.1:{port}") as page,
    ):
        from app.cities.registry import load_registry

        # Nothing folded: every city of the registry is listed.
        assert page.locator("#cities tbody tr[data-city]").count() == len(load_registry())
        assert "No forecast run yet" in page.locator("#run").inner_text()
        assert page.locator('[data-flag="no-run"]').count() == 1
        assert page.locator('[data-flag="no-key"]').count() == 1
        assert "No warning is in force" in page.locator("#warnings").inner_text()
        assert "no forecast run yet" in page.locator("#skill").inner_text().lower()
        page.locator(f'#map .city-dot[data-city="{BEIJING}"]').focus()
        page.keyboard.press("Enter")
        expect(page.locator("#detail")).to_contain_text(
            "No forecast for this city", timeout=WAIT_MS
        )
        # A refused key says so instead of pretending to be signed in.
        page.fill("#api-key", "hw_not-a-real-key")
        page.click("#key-save")
        expect(page.locator("#whoami.bad")).to_be_visible(timeout=WAIT_MS)
        assert "No warning is in force" in page.locator("#warnings").inner_text()
        assert page.errors == []
