"""`/health/live`, `/health/ready` (and its alias `/health`): each failing check is named
in the body, 503 until it recovers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.timestamps import utcnow

MakeReady = Callable[[datetime], None]


def test_live_answers_without_consulting_anything(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "live"}


def test_a_fresh_database_is_not_ready_and_says_why(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == ["model", "forecast", "scheduler", "dispatcher"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["outbox"] == {
        "ok": True,
        "required": True,
        "detail": "0 pending",
        "pending": 0,
    }
    assert "no model file" in body["checks"]["model"]["detail"]


def test_checks_left_out_of_the_required_list_do_not_fail_readiness(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_HEALTH_REQUIRED", "database,outbox")
    get_settings.cache_clear()
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["failing"] == []
    assert body["checks"]["model"]["ok"] is False
    assert body["checks"]["model"]["required"] is False


def test_ready_when_everything_is_there_and_health_is_an_alias(
    client: TestClient, make_ready: MakeReady
) -> None:
    make_ready(utcnow())
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["model"]["age_seconds"] >= 0
    assert body["checks"]["model"]["version"]
    assert client.get("/health").json()["status"] == "ready"


def test_a_missing_model_file_fails_readiness_until_it_is_back(
    client: TestClient, make_ready: MakeReady
) -> None:
    from app.config import get_settings

    make_ready(utcnow())
    model = Path(get_settings().model_path)
    away = model.with_name("moved-away.joblib")
    model.rename(away)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["model"]
    assert str(model) in response.json()["checks"]["model"]["detail"]
    away.rename(model)
    assert client.get("/health/ready").status_code == 200


def test_a_model_file_that_is_not_a_model_fails(client: TestClient, make_ready: MakeReady) -> None:
    from app.config import get_settings

    make_ready(utcnow())
    model = Path(get_settings().model_path)
    good = model.read_bytes()
    model.write_bytes(b"not a model")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["model"]
    assert "not a hazewarn model" in response.json()["checks"]["model"]["detail"]
    model.write_bytes(good)
    assert client.get("/health/ready").status_code == 200


def test_a_stale_forecast_run_fails_until_a_fresh_one_is_stored(
    client: TestClient, make_ready: MakeReady
) -> None:
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.health.service import record_heartbeat

    now = utcnow()
    make_ready(now - timedelta(hours=31))  # default limit: 30 h
    with session_scope() as session:  # the processes are alive; only the run is old
        for role in ("scheduler", "dispatcher"):
            record_heartbeat(session, role, f"test-{role}-1", now, now)
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["forecast"]
    assert "stale" in body["checks"]["forecast"]["detail"]
    assert body["checks"]["forecast"]["age_seconds"] > 30 * 3600
    with session_scope() as session:
        store_scenario_run(session, utcnow(), {"110000": {}}, hours=24)
    assert client.get("/health/ready").status_code == 200


def test_silent_scheduler_and_dispatcher_fail_by_name(
    client: TestClient, make_ready: MakeReady
) -> None:
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run

    now = utcnow()
    make_ready(now - timedelta(minutes=5))  # heartbeats 5 min old; limit 90 s
    with session_scope() as session:
        store_scenario_run(session, now, {"110000": {}}, hours=24)
    body = client.get("/health/ready").json()
    assert body["failing"] == ["scheduler", "dispatcher"]
    assert "test-scheduler-1" in body["checks"]["scheduler"]["detail"]


def test_a_stopped_database_fails_until_it_is_back(
    client: TestClient, make_ready: MakeReady, database_url: str
) -> None:
    """SQLite: the file goes away (a volume not mounted); PostgreSQL: the database stops
    taking connections and drops ours."""
    make_ready(utcnow())
    assert client.get("/health/ready").status_code == 200
    with _stopped(database_url) as expected_detail:
        response = client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["database", "forecast", "outbox", "scheduler", "dispatcher"]
        assert expected_detail in body["checks"]["database"]["detail"]
        assert body["checks"]["model"]["ok"] is True
    assert client.get("/health/ready").status_code == 200


@contextmanager
def _stopped(database_url: str) -> Iterator[str]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        file = Path(url.database or "")
        away = file.with_name("moved-away.db")
        file.rename(away)
        try:
            yield "missing"
        finally:
            away.rename(file)
        return
    admin = create_engine(os.environ["HAZEWARN_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": url.database},
            )
        yield "unreachable"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_an_overdue_webhook_delivery_fails_the_outbox_check(
    client: TestClient, make_ready: MakeReady
) -> None:
    from app.database import session_scope
    from app.outbox.models import Delivery

    make_ready(utcnow())
    due_since = utcnow() - timedelta(minutes=20)  # default limit: 10 min
    with session_scope() as session:
        delivery_id = _pending_delivery(session, due_since)
    body = client.get("/health/ready").json()
    assert body["failing"] == ["outbox"]
    assert body["checks"]["outbox"]["pending"] == 1
    assert body["checks"]["outbox"]["oldest_pending_age_seconds"] >= 20 * 60
    with session_scope() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.status = "delivered"
    assert client.get("/health/ready").status_code == 200


def _pending_delivery(session: object, due_since: datetime) -> int:
    """One pending delivery due since ``due_since``, to a subscription made for it."""
    from sqlalchemy.orm import Session

    from app.outbox.models import Delivery, OutboxEvent
    from app.subscriptions.models import Subscription

    assert isinstance(session, Session)
    subscription = Subscription(
        url="https://receiver.example/hook",
        owner_role="admin",
        created_at=due_since,
        updated_at=due_since,
    )
    session.add(subscription)
    event = OutboxEvent(id="evt-health-1", type="test.ping", payload="{}", created_at=due_since)
    session.add(event)
    session.flush()
    delivery = Delivery(
        event_id=event.id,
        subscription_id=subscription.id,
        status="pending",
        attempts=0,
        next_attempt_at=due_since,
        created_at=due_since,
    )
    session.add(delivery)
    session.flush()
    return delivery.id


def test_unknown_path_is_a_problem_body(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404
