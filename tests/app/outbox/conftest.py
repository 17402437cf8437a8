"""Fixtures of the outbox tests: API keys, subscriptions, and real webhook receivers.

`receiver` starts a Starlette app under uvicorn on a free loopback port (in a thread). Each
endpoint path verifies every request with `standardwebhooks.Webhook(secret).verify`, counts
deliveries per event id and answers from a script (e.g. 500, 500, then 200).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth.service import Principal, Role, create_key, principal_of
from app.database import session_scope
from app.subscriptions.service import Filters, create_subscription
from app.timestamps import utcnow


@dataclass
class Endpoint:
    """One receiver path: its secrets, its scripted answers and what it saw."""

    secrets: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    delay: float = 0.0
    received: Counter[str] = field(default_factory=Counter)  # verified, by event id
    accepted: Counter[str] = field(default_factory=Counter)  # answered 2xx, by event id
    invalid: int = 0
    requests: list[tuple[str, int]] = field(default_factory=list)  # (webhook-id, status)


class Receiver:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def add(self, name: str, secret: str, script: list[int] | None = None) -> Endpoint:
        endpoint = Endpoint(secrets=[secret], script=list(script or []))
        self.endpoints[name] = endpoint
        return endpoint

    async def handle(self, request: Request) -> Response:
        import asyncio

        name = request.path_params["name"]
        endpoint = self.endpoints[name]
        body = await request.body()
        headers = dict(request.headers)
        verified = False
        for secret in endpoint.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
                break
            except Exception:
                continue
        if endpoint.delay:
            await asyncio.sleep(endpoint.delay)
        event_id = headers.get("webhook-id", "")
        with self.lock:
            status = endpoint.script.pop(0) if endpoint.script else 200
            endpoint.requests.append((event_id, status))
            if not verified:
                endpoint.invalid += 1
                status = 400
            else:
                endpoint.received[event_id] += 1
                if 200 <= status < 300:
                    endpoint.accepted[event_id] += 1
        return Response(status_code=status)


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


def make_principal(role: Role, name: str, cities: tuple[str, ...] = ()) -> Principal:
    with session_scope() as session:
        created = create_key(session, name=name, role=role, now=utcnow(), city_codes=cities)
        return principal_of(created.row)


def make_subscription(
    owner: Principal,
    url: str,
    *,
    cities: list[str] | None = None,
    levels: list[str] | None = None,
    event_types: list[str] | None = None,
) -> tuple[int, str]:
    """(subscription id, its whsec_ secret)."""
    with session_scope() as session:
        created = create_subscription(
            session,
            owner,
            url=url,
            description="test",
            filters=Filters(
                cities=cities if cities is not None else sorted(owner.scope_cities() or []),
                levels=levels or [],
                event_types=event_types or [],
            ),
            now=utcnow(),
        )
        return created.row.id, created.secret


@pytest.fixture
def principals(database_url: str) -> dict[str, Principal]:
    """An admin, a duty officer and the Beijing and Tianjin city offices."""
    return {
        "admin": make_principal(Role.ADMIN, "ops"),
        "duty": make_principal(Role.DUTY_OFFICER, "duty"),
        "beijing": make_principal(Role.CITY_OFFICE, "Beijing office", ("110000",)),
        "tianjin": make_principal(Role.CITY_OFFICE, "Tianjin office", ("120000",)),
    }


@pytest.fixture
def make_sub() -> Callable[..., tuple[int, str]]:
    """``make_sub(owner, url, cities=..., levels=..., event_types=...) -> (id, secret)``."""
    return make_subscription


class Clock:
    """A settable clock for the dispatcher (aware UTC)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()
