"""`GET /v1/subscriptions/health` after real attempts: a loopback receiver answering 200,
one answering 500, and a closed port (ConnectError), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from fastapi.testclient import TestClient

from app.auth.service import Principal, Role, create_key
from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig
from app.outbox.service import enqueue_event
from app.timestamps import utcnow

# The real retry schedule (first retry after ~5 s): one pass tries each delivery once,
# unless the machine is so slow that a retry falls due within the pass (counted below).
ONE_PASS = DispatcherConfig(concurrency=10, request_timeout=30)


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the port was just released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def raw_key(role: Role, name: str, cities: tuple[str, ...] = ()) -> str:
    with session_scope() as session:
        return create_key(session, name=name, role=role, now=utcnow(), city_codes=cities).key


def test_failing_endpoints_are_flagged_with_their_errors(
    client: TestClient,
    principals: dict[str, Principal],
    make_sub: Any,
    receiver: Any,
    allow_private: None,
) -> None:
    healthy = receiver.add("healthy", "")
    broken = receiver.add("broken", "", script=[500] * 10)
    healthy_id, healthy.secrets[0] = make_sub(principals["beijing"], receiver.url("healthy"))
    broken_id, broken.secrets[0] = make_sub(principals["beijing"], receiver.url("broken"))
    closed_id, _ = make_sub(principals["beijing"], closed_port_url())
    duty = {"Authorization": f"Bearer {raw_key(Role.DUTY_OFFICER, 'duty officer')}"}

    before = client.get("/v1/subscriptions/health", headers=duty)
    assert before.status_code == 200
    assert before.json()["outbox_pending"] == 0
    assert all(e["last_attempt_at"] is None for e in before.json()["endpoints"])

    with session_scope() as session:
        for _ in range(2):
            enqueue_event(
                session,
                "warning.issued",
                {"warning": {"id": "1", "city_code": "110000", "level": "orange"}},
                now=utcnow(),
                city_code="110000",
                level="orange",
            )
    waiting = client.get("/v1/subscriptions/health", headers=duty).json()
    assert waiting["outbox_pending"] == 6
    assert waiting["oldest_pending_age_seconds"] >= 0

    asyncio.run(Dispatcher(ONE_PASS).run(once=True))  # one attempt per delivery

    body = client.get("/v1/subscriptions/health", headers=duty).json()
    by_id = {e["id"]: e for e in body["endpoints"]}
    ok = by_id[healthy_id]
    assert ok["failing"] is False and ok["last_error"] is None
    assert ok["consecutive_failures"] == 0 and ok["last_success_at"] is not None
    assert ok["pending"] == 0
    server_error = by_id[broken_id]
    assert server_error["failing"] is True
    assert server_error["last_status_code"] == 500
    assert "500" in server_error["last_error"]
    # Every attempt the receiver answered 500 to, and nothing else, counts.
    assert server_error["consecutive_failures"] == len(broken.requests) >= 2
    assert server_error["last_success_at"] is None
    assert server_error["pending"] == 2
    refused = by_id[closed_id]
    assert refused["failing"] is True
    assert refused["last_status_code"] is None
    assert "Connect" in refused["last_error"]
    assert refused["consecutive_failures"] >= 2
    assert body["outbox_pending"] == 4  # the two failing endpoints wait for their retries
    assert all(e["active"] for e in body["endpoints"])


def test_delivery_health_is_for_staff_keys(client: TestClient, database_url: str) -> None:
    assert client.get("/v1/subscriptions/health").status_code == 401
    office = raw_key(Role.CITY_OFFICE, "Beijing office", ("110000",))
    refused = client.get("/v1/subscriptions/health", headers={"Authorization": f"Bearer {office}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    admin = raw_key(Role.ADMIN, "ops")
    assert (
        client.get("/v1/subscriptions/health", headers={"Authorization": f"Bearer {admin}"}).json()[
            "endpoints"
        ]
        == []
    )
