"""Send time: the dispatcher re-checks the resolved address and connects to it (no DNS
rebinding), never follows a redirect, and survives receivers that hang or answer 10 MB.
Real uvicorn receivers on loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app.auth.service import Principal
from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig
from app.outbox.models import Delivery, DeliveryAttempt
from app.outbox.service import enqueue_event
from app.timestamps import utcnow

FAST = DispatcherConfig(
    concurrency=10, client_shards=1, request_timeout=2, backoff_scale=0.001, poll_interval=0.02
)
NAME = "hooks.example.test"  # never in DNS: only the tests' resolver knows it


@dataclass
class Hostile:
    """Receivers that misbehave; each records the Host header of what reached it."""

    port: int = 0
    hosts: dict[str, list[str]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)

    def seen(self, request: Request) -> None:
        self.hosts.setdefault(request.url.path, []).append(request.headers.get("host", ""))

    async def ok(self, request: Request) -> Response:
        self.seen(request)
        return Response(status_code=204)

    async def redirect(self, request: Request) -> Response:
        self.seen(request)
        return RedirectResponse(f"http://127.0.0.1:{self.port}/ok", status_code=307)

    async def hang(self, request: Request) -> Response:
        self.seen(request)
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return Response(status_code=200)

    async def huge(self, request: Request) -> Response:
        self.seen(request)

        async def chunks() -> Any:
            for _ in range(160):  # 10 MB in 64 KiB pieces
                yield b"x" * 65536

        return StreamingResponse(chunks(), status_code=200, headers={"content-length": "10485760"})


@pytest.fixture
def hostile(serve_in_thread: Callable[..., AbstractContextManager[int]]) -> Iterator[Hostile]:
    state = Hostile()
    routes = [
        Route("/ok", state.ok, methods=["POST"]),
        Route("/redirect", state.redirect, methods=["POST"]),
        Route("/hang", state.hang, methods=["POST"]),
        Route("/huge", state.huge, methods=["POST"]),
    ]
    with serve_in_thread(Starlette(routes=routes), lifespan="off") as port:
        state.port = port
        yield state
        state.release.set()


def publish() -> str:
    with session_scope() as session:
        body = {"warning": {"id": "1", "city_code": "110000", "level": "orange"}}
        event = enqueue_event(
            session, "warning.issued", body, now=utcnow(), city_code="110000", level="orange"
        )
        return event.id


def send(**options: Any) -> None:
    dispatcher = Dispatcher(FAST, **options)
    asyncio.run(dispatcher.run(once=True))


def attempts(db: Session, subscription_id: int) -> list[DeliveryAttempt]:
    db.expire_all()
    query = select(DeliveryAttempt).where(DeliveryAttempt.subscription_id == subscription_id)
    return list(db.scalars(query.order_by(DeliveryAttempt.id)))


def to_loopback(host: str, port: int) -> list[str]:
    assert host == NAME
    return ["127.0.0.1"]


def test_a_name_that_rebinds_to_loopback_is_refused_at_send_time(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    # Saved while the name looked public; now it answers 127.0.0.1.
    sub, _ = make_sub(principals["beijing"], f"http://{NAME}:{hostile.port}/ok")
    publish()
    send(allow_private=False, resolve=to_loopback)
    [attempt] = attempts(db, sub)
    assert attempt.status_code is None and attempt.outcome == "retry"
    assert "loopback address 127.0.0.1" in (attempt.error or "")
    assert hostile.hosts == {}  # nothing reached the internal address


def test_a_stored_private_literal_is_refused_at_send_time(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    sub, _ = make_sub(principals["beijing"], f"http://127.0.0.1:{hostile.port}/ok")
    publish()
    send(allow_private=False)
    [attempt] = attempts(db, sub)
    assert "loopback address 127.0.0.1" in (attempt.error or "")
    assert hostile.hosts == {}


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    sub, _ = make_sub(principals["beijing"], f"http://{NAME}:{hostile.port}/ok")
    publish()
    send(allow_private=True, resolve=to_loopback)
    [attempt] = attempts(db, sub)
    assert attempt.status_code == 204, attempt.error
    assert hostile.hosts == {"/ok": [f"{NAME}:{hostile.port}"]}


def test_redirects_are_never_followed(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    sub, _ = make_sub(principals["beijing"], f"http://127.0.0.1:{hostile.port}/redirect")
    publish()
    send(allow_private=True)
    [attempt] = attempts(db, sub)
    assert attempt.status_code == 307 and attempt.error == "HTTP 307"
    assert list(hostile.hosts) == ["/redirect"]  # /ok never saw the request


def test_a_receiver_that_hangs_times_out_and_is_retried_later(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    sub, _ = make_sub(principals["beijing"], f"http://127.0.0.1:{hostile.port}/hang")
    publish()
    send(allow_private=True)
    [attempt] = attempts(db, sub)
    assert attempt.status_code is None and attempt.outcome == "retry"
    assert (attempt.error or "").startswith("timeout after 2 s")
    delivery = db.scalars(select(Delivery).where(Delivery.subscription_id == sub)).one()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None


def test_a_ten_megabyte_answer_is_not_read_and_counts_by_its_status(
    db: Session, principals: dict[str, Principal], make_sub: Any, hostile: Hostile
) -> None:
    sub, _ = make_sub(principals["beijing"], f"http://127.0.0.1:{hostile.port}/huge")
    publish()
    send(allow_private=True)
    [attempt] = attempts(db, sub)
    assert attempt.status_code == 200 and attempt.outcome == "success"
    delivery = db.scalars(select(Delivery).where(Delivery.subscription_id == sub)).one()
    assert delivery.status == "delivered"
