"""Fixtures of the outbox tests: API keys, subscriptions, and real webhook receivers.

`receiver` serves `app.subscriptions.receiver` (the receiver the demo subscribes) under
uvicorn on a free loopback port (in a thread). Each endpoint path verifies every request
with `standardwebhooks.Webhook(secret).verify`, counts deliveries per event id and answers
from a script (e.g. 500, 500, then 200).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import pytest

from app.auth.service import Principal, Role, create_key, principal_of
from app.database import session_scope
from app.subscriptions.receiver import Receiver, receiver_app
from app.subscriptions.service import Filters, create_subscription
from app.timestamps import utcnow


@pytest.fixture
def receiver(serve_in_thread: Callable[..., AbstractContextManager[int]]) -> Iterator[Receiver]:
    state = Receiver()
    with serve_in_thread(receiver_app(state), lifespan="off") as port:
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
