"""Fixtures of the regional tests: JJJ member plans, scenario forecast runs, API keys, and
real webhook receivers (uvicorn on loopback) that verify every signature."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth.service import create_key, principal_of
from app.cities.service import sync_registry
from app.database import session_scope
from app.forecast_runs.service import store_scenario_run
from app.plans.service import load_plan_files
from app.regional.service import region_of
from app.timestamps import utcnow
from contingency_plans.loader import PLANS_DIR

ZONE = ZoneInfo("Asia/Shanghai")
JJJ = "jjj-2+26"
CLEAN = 30.0  # µg/m³: AQI 43
HEAVY = 200.0  # µg/m³: AQI 250
SEVERE = 300.0  # µg/m³: AQI 350
ORANGE_PATH = (HEAVY, SEVERE, HEAVY)  # three heavy days, one severe: orange


def plan_path(code: str) -> Any:
    found = sorted(PLANS_DIR.glob(f"{code}-*.yaml"))
    return found[0] if found else None


def jjj_with_plans() -> list[str]:
    """The JJJ members that have a shipped plan (in region order)."""
    return [code for code in region_of(JJJ).member_codes if plan_path(code) is not None]


def run_time() -> datetime:
    """An issue time on the hour, an hour before now (API actions come after it)."""
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def heavy_days(
    issued_at: datetime, values: tuple[float, ...], first_offset: int = 2
) -> dict[date, float]:
    first = issued_at.astimezone(ZONE).date() + timedelta(days=first_offset)
    return {first + timedelta(days=i): v for i, v in enumerate(values)}


def make_run(session: Any, issued_at: datetime, days: Mapping[str, Mapping[date, float]]) -> int:
    return store_scenario_run(
        session, issued_at, days, hours=144, default_pm25=CLEAN, model_version="test"
    )


@pytest.fixture
def members(database_url: str) -> list[str]:
    """Cities synced and every JJJ member plan loaded; the members with a plan."""
    codes = jjj_with_plans()
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [plan_path(code) for code in codes], utcnow())
    return codes


@dataclass
class Keys:
    raw: dict[str, str]
    principals: dict[str, Any]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.raw[name]}"}


@pytest.fixture
def keys(members: list[str]) -> Keys:
    raw: dict[str, str] = {}
    principals: dict[str, Any] = {}
    with session_scope() as s:
        now = utcnow()
        for name, role, cities, regions in (
            ("admin", "admin", [], []),
            ("duty", "duty_officer", [], []),
            ("beijing", "city_office", ["110000"], []),
            ("tianjin", "city_office", ["120000"], []),
            ("jjj", "coordinator", [], [JJJ]),
            ("fenwei", "coordinator", [], ["fenwei"]),
        ):
            created = create_key(
                s, name=f"{name} key", role=role, now=now, city_codes=cities, region_codes=regions
            )
            raw[name] = created.key
            principals[name] = principal_of(created.row)
    return Keys(raw, principals)


@dataclass
class Endpoint:
    secret: str = ""
    types: list[str] = field(default_factory=list)  # verified events, by type, in order
    bodies: list[dict[str, Any]] = field(default_factory=list)
    invalid: int = 0


class Receiver:
    """Webhook endpoints under /hook/{name}; every request's signature is verified."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = defaultdict(Endpoint)
        self.lock = threading.Lock()
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    async def handle(self, request: Request) -> Response:
        import json

        endpoint = self.endpoints[request.path_params["name"]]
        body = await request.body()
        try:
            Webhook(endpoint.secret).verify(body, dict(request.headers))
        except Exception:
            with self.lock:
                endpoint.invalid += 1
            return Response(status_code=400)
        event = json.loads(body)
        with self.lock:
            endpoint.types.append(event["type"])
            endpoint.bodies.append(event)
        return Response(status_code=204)


@pytest.fixture
def receiver(serve_in_thread: Callable[..., AbstractContextManager[int]]) -> Iterator[Receiver]:
    state = Receiver()
    app = Starlette(routes=[Route("/hook/{name}", state.handle, methods=["POST"])])
    with serve_in_thread(app, lifespan="off") as port:
        state.port = port
        yield state


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_ALLOW_PRIVATE_WEBHOOKS", "true")
    get_settings.cache_clear()
