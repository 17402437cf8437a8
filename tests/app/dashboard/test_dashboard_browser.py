"""The dashboard in a real headless Chromium against a real uvicorn server.

Seeds a SQLite database through the service code (city registry, Beijing's plan, a forecast
run with heavy PM2.5, the warnings evaluation that turns it into a proposal, a duty-officer
key), serves it with uvicorn on a free loopback port, and drives the page with Playwright in
Debian's Chromium (`/usr/bin/chromium`; `scripts/test.sh` installs it). No browser is ever
downloaded. Without Chromium the test skips locally and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.cities.registry import load_registry
from app.database import reset_caches, session_scope

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BEIJING = "110000"
TIANJIN = "120000"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Seeded:
    url: str
    key: str
    proposal_id: int
    issued_at: datetime


def _seed(now: datetime) -> Seeded:
    """Cities, Beijing's plan, a heavy-pollution forecast run, its proposal, a key."""
    from app.auth.service import create_key
    from app.cities.service import sync_registry
    from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
    from app.plans.service import load_plan_files
    from app.warnings.evaluation import evaluate_run
    from app.warnings.models import CityWarning
    from contingency_plans.loader import PLANS_DIR

    issued = now.replace(minute=0, second=0, microsecond=0)
    zone = ZoneInfo("Asia/Shanghai")
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], now)
        run = ForecastRun(
            issued_at=issued,
            created_at=now,
            model_version="browser-test",
            model_path="/dev/null",
            model_sha256="0" * 64,
            # Degraded (issue 10): the dashboard must say so; raising a warning is allowed.
            inputs={"grid": {"degraded_variables": ["sp", "tp"]}},
            degraded=True,
            max_lead_h=96,
            city_count=2,
            city_counts={},
        )
        session.add(run)
        session.flush()
        # Beijing: four days of heavy pollution (daily AQI > 300); Tianjin: moderate.
        for lead in range(1, 97):
            session.add(
                ForecastHourly(
                    run_id=run.id,
                    city_code=BEIJING,
                    valid_time=issued + timedelta(hours=lead),
                    lead_h=lead,
                    p10=220.0,
                    p50=280.0,
                    p90=360.0,
                )
            )
        first_day: date = (issued.astimezone(zone) + timedelta(days=1)).date()
        # Probabilities agree with the values: Beijing's plan decides by probability.
        for code, p50, p90, aqi50, aqi90, chances in (
            (BEIJING, 280.0, 360.0, 330, 410, (0.99, 0.97, 0.95, 0.8)),
            (TIANJIN, 60.0, 95.0, 82, 125, (0.3, 0.05, 0.01, 0.0)),
        ):
            for lead_day in (1, 2, 3):
                session.add(
                    ForecastDaily(
                        run_id=run.id,
                        city_code=code,
                        local_date=first_day + timedelta(days=lead_day - 1),
                        lead_day=lead_day,
                        p10=p50 * 0.7,
                        p50=p50,
                        p90=p90,
                        p_gt_75=chances[0],
                        p_gt_115=chances[1],
                        p_gt_150=chances[2],
                        p_gt_250=chances[3],
                        aqi_version="HJ633-2012",
                        aqi_p50=aqi50,
                        aqi_p90=aqi90,
                    )
                )
        session.flush()
        evaluate_run(session, run.id, now)
        proposal = session.query(CityWarning).filter(CityWarning.state == "proposed").one()
        key = create_key(session, name="Browser test officer", role="duty_officer", now=now)
        return Seeded(url="", key=key.key, proposal_id=proposal.id, issued_at=issued)


@contextmanager
def _served(serve_in_thread: Callable[..., AbstractContextManager[int]]) -> Iterator[str]:
    """The app on the current database, served by uvicorn on a free loopback port."""
    from app.main import create_app

    with serve_in_thread(create_app()) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def page_database(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A migrated SQLite file made current for the app (SQLite is enough for the page)."""
    db_file = tmp_path / "dashboard.db"
    shutil.copy(sqlite_template, db_file)
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")
    reset_caches()
    yield db_file
    reset_caches()


@pytest.fixture
def dashboard_server(
    page_database: Path, serve_in_thread: Callable[..., AbstractContextManager[int]]
) -> Iterator[Seeded]:
    """The seeded database (see `_seed`), served."""
    seeded = _seed(datetime.now(UTC))
    with _served(serve_in_thread) as url:
        yield Seeded(
            url=url,
            key=seeded.key,
            proposal_id=seeded.proposal_id,
            issued_at=seeded.issued_at,
        )


def _csp_violation(text: str, errors: list[str]) -> None:
    """The page's Content-Security-Policy refused something (Chromium logs it)."""
    if "Content Security Policy" in text:
        errors.append(text)


@contextmanager
def _browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.browser
def test_duty_officer_approves_a_proposal_in_the_browser(
    dashboard_server: Seeded, tmp_path: Path
) -> None:
    errors: list[str] = []
    shot = tmp_path / "dashboard.png"
    with _browser() as browser:
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: _csp_violation(msg.text, errors))
        page.goto(dashboard_server.url)

        # The city table: the cities with a forecast, Beijing first; the others fold
        # away behind a button.
        page.wait_for_selector(f'#cities tbody tr[data-city="{BEIJING}"]', timeout=15_000)
        rows = page.locator("#cities tbody tr[data-city]")
        assert rows.count() == 2
        assert rows.first.get_attribute("data-city") == BEIJING
        page.click('[data-action="toggle-cities"]')
        # A locator wait, not wait_for_function: the page's CSP forbids eval.
        from playwright.sync_api import expect

        expect(page.locator("#cities tbody tr[data-city]")).to_have_count(len(load_registry()))
        beijing = page.locator(f'#cities tbody tr[data-city="{BEIJING}"]').inner_text()
        assert "Beijing" in beijing and "北京" in beijing
        assert "280" in beijing and "360" in beijing  # p50 and p90 of D+1
        tianjin = page.locator(f'#cities tbody tr[data-city="{TIANJIN}"]').inner_text()
        assert "60" in tianjin
        assert "browser-test" in page.locator("#run").inner_text()
        assert "the grid lacks sp, tp" in page.locator("#run").inner_text()

        # Read-only: the proposals need a key.
        assert "API key" in page.locator("#proposals").inner_text()

        # A duty officer types the key; the proposal appears and is approved by a click.
        page.fill("#api-key", dashboard_server.key)
        page.click("#key-save")
        page.wait_for_selector("#whoami.signed-in", timeout=10_000)
        assert "Browser test officer" in page.locator("#whoami").inner_text()
        proposal = page.locator(f'[data-proposal="{dashboard_server.proposal_id}"]')
        proposal.wait_for(timeout=10_000)
        assert "Beijing" in proposal.inner_text()
        proposal.locator('[data-action="approve"]').click()

        warning = page.locator(f'#warnings [data-warning][data-city="{BEIJING}"]')
        warning.wait_for(timeout=10_000)
        text = warning.inner_text()
        assert "issued" in text
        assert "not acknowledged" in text
        assert "actions from the city's contingency plan" in text
        assert "+08:00" in text  # times on the city clock, with the offset
        assert "No proposal waits" in page.locator("#proposals").inner_text()
        badge = page.locator(f'#cities tbody tr[data-city="{BEIJING}"] .badge')
        assert badge.get_attribute("data-level") in {"orange", "red"}

        # The key survives a reload (localStorage).
        page.reload()
        page.wait_for_selector("#whoami.signed-in", timeout=10_000)
        assert page.input_value("#api-key") == dashboard_server.key
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []


@pytest.mark.browser
def test_an_empty_service_says_what_is_missing(
    page_database: Path, serve_in_thread: Callable[..., AbstractContextManager[int]]
) -> None:
    """No forecast run, no warning, no key: every part says so; nothing breaks."""
    from app.cities.service import sync_registry

    with session_scope() as session:
        sync_registry(session)
    errors: list[str] = []
    with _served(serve_in_thread) as url, _browser() as browser:
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: _csp_violation(msg.text, errors))
        page.goto(url)
        page.wait_for_selector("#cities tbody tr[data-city]", timeout=15_000)
        # nothing folded
        assert page.locator("#cities tbody tr[data-city]").count() == len(load_registry())
        assert "No forecast run yet" in page.locator("#run").inner_text()
        assert page.locator('[data-flag="no-run"]').count() == 1
        assert page.locator('[data-flag="no-key"]').count() == 1
        assert "No warning is in force" in page.locator("#warnings").inner_text()
        assert "no forecast run yet" in page.locator("#skill").inner_text().lower()
        # A refused key says so instead of pretending to be signed in.
        page.fill("#api-key", "hw_not-a-real-key")
        page.click("#key-save")
        page.wait_for_selector("#whoami.bad", timeout=10_000)
        assert "No warning is in force" in page.locator("#warnings").inner_text()
    assert errors == []
