"""Fixtures of the dashboard's browser tests: a seeded SQLite database served by uvicorn on
a free loopback port, Debian's Chromium driven by Playwright, and the seeding itself.

The seed goes through the service code: the city registry, four plans of the Beijing region,
a forecast run with heavy PM2.5 in Beijing and Tianjin (smooth hourly curves, daily rows
and exceedance probabilities that agree with them), the warnings evaluation that turns it
into proposals, observed hours for Beijing up to now, API keys of every role, and webhook
endpoints: one healthy, one answering 500, one on a closed port, each tried once by a real
dispatcher pass. No browser is ever downloaded; without Chromium the tests skip locally and
fail under CI=true.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
BEIJING = "110000"
TIANJIN = "120000"
SHIJIAZHUANG = "130100"
BAODING = "130600"
#: Daily-mean PM2.5 p50 (µg/m³) of D+1..D+3 per city; hours swing ±25 % around it.
SCENARIO: dict[str, tuple[float, float, float]] = {
    BEIJING: (280.0, 320.0, 180.0),
    TIANJIN: (190.0, 230.0, 120.0),
    SHIJIAZHUANG: (120.0, 160.0, 90.0),
    BAODING: (60.0, 80.0, 50.0),
    "130200": (200.0, 240.0, 150.0),  # Tangshan
    "130900": (170.0, 210.0, 130.0),  # Cangzhou
    "310000": (40.0, 45.0, 35.0),
    "610100": (90.0, 130.0, 80.0),
}
PLANS = (
    "110000-beijing",
    "120000-tianjin",
    "130100-shijiazhuang",
    "130200-tangshan",
    "130600-baoding",
    "130900-cangzhou",
)


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@dataclass
class Seeded:
    url: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # role name -> raw key
    proposals: dict[str, int] = field(default_factory=dict)  # city code -> proposal id
    endpoints: dict[str, int] = field(default_factory=dict)  # name -> subscription id
    run_id: int = 0


def _probability(mean: float, threshold: float) -> float:
    """P(daily mean > threshold) of a lognormal-ish spread around the p50 (agrees with it)."""
    z = (math.log(mean) - math.log(threshold)) / 0.25
    return round(0.5 * (1 + math.erf(z / math.sqrt(2))), 3)


def seed_forecast(now: datetime) -> int:
    """The forecast run and the warnings evaluation; returns the run id."""
    from app.cities.service import sync_registry
    from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
    from app.forecast_runs.service import pm25_aqi
    from app.plans.service import load_plan_files
    from app.warnings.evaluation import evaluate_run
    from contingency_plans.loader import PLANS_DIR

    issued = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    zone = ZoneInfo("Asia/Shanghai")
    first_day: date = (issued.astimezone(zone) + timedelta(days=1)).date()
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / f"{name}.yaml" for name in PLANS], now)
        run = ForecastRun(
            issued_at=issued,
            created_at=issued + timedelta(minutes=20),
            model_version="browser-test",
            model_path="/dev/null",
            model_sha256="0" * 64,
            # Degraded (issue 10): the dashboard must say so; raising a warning is allowed.
            inputs={"grid": {"degraded_variables": ["sp", "tp"]}},
            degraded=True,
            max_lead_h=96,
            city_count=len(SCENARIO),
            city_counts={},
        )
        session.add(run)
        session.flush()
        for code, means in SCENARIO.items():
            for lead in range(1, 97):
                valid = issued + timedelta(hours=lead)
                day_index = min(max((valid.astimezone(zone).date() - first_day).days, 0), 2)
                hour = valid.astimezone(zone).hour
                p50 = means[day_index] * (1 + 0.25 * math.sin((hour - 8) / 24 * 2 * math.pi))
                spread = 0.25 + 0.004 * lead  # wider further ahead
                session.add(
                    ForecastHourly(
                        run_id=run.id,
                        city_code=code,
                        valid_time=valid,
                        lead_h=lead,
                        p10=p50 * (1 - spread),
                        p50=p50,
                        p90=p50 * (1 + spread * 1.3),
                    )
                )
            for lead_day, mean in enumerate(means, start=1):
                day = first_day + timedelta(days=lead_day - 1)
                session.add(
                    ForecastDaily(
                        run_id=run.id,
                        city_code=code,
                        local_date=day,
                        lead_day=lead_day,
                        p10=mean * 0.7,
                        p50=mean,
                        p90=mean * 1.35,
                        **{f"p_gt_{t}": _probability(mean, t) for t in (75, 115, 150, 250)},
                        aqi_version="HJ633-2012",
                        aqi_p50=pm25_aqi(mean, day),
                        aqi_p90=pm25_aqi(mean * 1.35, day),
                    )
                )
        session.flush()
        evaluate_run(session, run.id, now)
        return int(run.id)


def seed_observations(now: datetime) -> None:
    """Two Beijing stations reporting hourly for the 60 hours up to now."""
    from app.observations.models import Observation
    from app.stations.models import Station

    with session_scope() as session:
        for sid in ("BT1", "BT2"):
            session.add(Station(id=sid, name_en=sid, city_code=BEIJING, lat=39.9, lon=116.4))
        session.flush()
        last = now.replace(minute=0, second=0, microsecond=0)
        for back in range(60):
            moment = last - timedelta(hours=back)
            hour = moment.astimezone(ZoneInfo("Asia/Shanghai")).hour
            base = 150 + 70 * math.sin((hour - 8) / 24 * 2 * math.pi) + back * 0.6
            for sid, bias in (("BT1", 1.05), ("BT2", 0.95)):
                session.add(
                    Observation(station_id=sid, time=moment, pm25=base * bias, source="test")
                )


def seed_keys() -> dict[str, str]:
    from app.auth.service import Role, create_key
    from app.timestamps import utcnow

    wanted = {
        "duty_officer": (Role.DUTY_OFFICER, "Duty officer Li", (), ()),
        "city_office": (Role.CITY_OFFICE, "Tianjin city office", (TIANJIN,), ()),
        "coordinator": (
            Role.COORDINATOR,
            "Jing-Jin-Ji and Fenwei coordinator",
            (),
            ("jjj-2+26", "fenwei"),
        ),
        "admin": (Role.ADMIN, "Operations", (), ()),
    }
    keys = {}
    with session_scope() as session:
        for name, (role, label, cities, regions) in wanted.items():
            created = create_key(
                session,
                name=label,
                role=role,
                now=utcnow(),
                city_codes=cities,
                region_codes=regions,
            )
            keys[name] = created.key
    return keys


def _seed_scores(run_id: int, city: str, now: datetime) -> None:
    """Verification scores of `city`: the run's own (window ``run:<id>``, RMSE 11.5 at
    D+1) and an older pooled window (``30d``, RMSE 99.0), as `hazewarn verify` stores them
    (p50 tiers as ``p50_csi_T``)."""
    from app.forecast_runs.models import VerificationScore

    with session_scope() as session:
        for window, rmse, computed in (
            ("30d", 99.0, now - timedelta(days=2)),
            (f"run:{run_id}", 11.5, now),
        ):
            for lead in (1, 2, 3):
                for metric, value in (
                    ("rmse", rmse + lead),
                    ("bias", -2.0),
                    ("p50_csi_150", 0.61),
                    ("brier_150", 0.082),
                ):
                    session.add(
                        VerificationScore(
                            city_code=city,
                            window=window,
                            kind="daily",
                            lead=lead,
                            metric=metric,
                            value=value,
                            n=24,
                            window_start=now - timedelta(days=30),
                            window_end=now - timedelta(days=1),
                            run_count=1 if window.startswith("run:") else 30,
                            computed_at=computed,
                        )
                    )


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def seed_endpoints(receiver_port: int) -> dict[str, int]:
    """A healthy endpoint, one answering 500 and one on a closed port; one event each, one
    real dispatcher pass (the failing two wait for their retries)."""
    from app.auth.service import Role, create_key, principal_of
    from app.outbox.dispatcher import Dispatcher, DispatcherConfig
    from app.outbox.service import enqueue_event
    from app.subscriptions.service import Filters, create_subscription
    from app.timestamps import utcnow

    urls = {
        "healthy": f"http://127.0.0.1:{receiver_port}/ok",
        "broken": f"http://127.0.0.1:{receiver_port}/broken",
        "closed": closed_port_url(),
    }
    ids = {}
    with session_scope() as session:
        owner = create_key(
            session,
            name="Tianjin office hooks",
            role=Role.CITY_OFFICE,
            now=utcnow(),
            city_codes=(TIANJIN,),
        )
        principal = principal_of(owner.row)
        for name, url in urls.items():
            created = create_subscription(
                session,
                principal,
                url=url,
                description=name,
                filters=Filters(cities=[TIANJIN], levels=[], event_types=[]),
                now=utcnow(),
            )
            ids[name] = created.row.id
    with session_scope() as session:
        enqueue_event(
            session,
            "warning.issued",
            {"warning": {"id": "0", "city_code": TIANJIN, "level": "orange"}},
            now=utcnow(),
            city_code=TIANJIN,
            level="orange",
        )
    # On its own thread: the test's thread may hold Playwright's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run,
            Dispatcher(DispatcherConfig(concurrency=5, request_timeout=30)).run(once=True),
        ).result(timeout=120)
    return ids


def proposal_ids() -> dict[str, int]:
    from app.warnings.models import CityWarning

    with session_scope() as session:
        rows = session.query(CityWarning).filter(CityWarning.state == "proposed").all()
        return {row.city_code: row.id for row in rows}


def _make_late(warning_id: int, now: datetime, hours: float) -> None:
    """The proposal's approve-by time is `hours` before `now` (it waited that long past it)."""
    from app.warnings.models import CityWarning

    with session_scope() as session:
        row = session.get(CityWarning, warning_id)
        assert row is not None
        row.issue_by = now - timedelta(hours=hours)


@pytest.fixture
def make_late() -> Callable[[int, datetime, float], None]:
    return _make_late


@pytest.fixture
def page_database(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A migrated SQLite file made current for the app (SQLite is enough for the page)."""
    db_file = tmp_path / "dashboard.db"
    shutil.copy(sqlite_template, db_file)
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", f"sqlite:///{db_file}")
    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")
    monkeypatch.setenv("HAZEWARN_ALLOW_PRIVATE_WEBHOOKS", "true")
    reset_caches()
    yield db_file
    reset_caches()


async def _answer_ok(request: Request) -> Response:
    return Response(status_code=204)


async def _answer_500(request: Request) -> Response:
    return Response("receiver down", status_code=500)


@pytest.fixture
def webhook_receiver(serve_in_thread: Callable[..., AbstractContextManager[int]]) -> Iterator[int]:
    """A real loopback receiver: /ok answers 204, /broken answers 500."""
    app = Starlette(
        routes=[
            Route("/ok", _answer_ok, methods=["POST"]),
            Route("/broken", _answer_500, methods=["POST"]),
        ]
    )
    with serve_in_thread(app, lifespan="off") as port:
        yield port


@pytest.fixture
def seeded_server(
    page_database: Path,
    webhook_receiver: int,
    serve_in_thread: Callable[..., AbstractContextManager[int]],
) -> Iterator[Seeded]:
    """Everything of the module docstring, served."""
    from app.main import create_app

    now = datetime.now(UTC)
    run_id = seed_forecast(now)
    seed_observations(now)
    seeded = Seeded(keys=seed_keys(), proposals=proposal_ids(), run_id=run_id)
    seeded.endpoints = seed_endpoints(webhook_receiver)
    with serve_in_thread(create_app()) as port:
        seeded.url = f"http://127.0.0.1:{port}"
        yield seeded


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser). Per test:
    Playwright's sync API holds an event loop on this thread while it runs."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def seed_scores() -> Callable[[int, str, datetime], None]:
    return _seed_scores
