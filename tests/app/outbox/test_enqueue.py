"""`enqueue_event`: in the caller's transaction, routed by the subscriptions' filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.database import get_sessionmaker, session_scope
from app.outbox.models import Delivery, OutboxEvent
from app.outbox.service import DisableReason, disable_subscription, enqueue_event, replay
from app.subscriptions.models import Subscription
from app.timestamps import utcnow

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "events.schema.json").read_text("utf-8")
)


def targets(db: Session, event_id: str) -> set[int]:
    return set(db.scalars(select(Delivery.subscription_id).where(Delivery.event_id == event_id)))


def test_events_reach_exactly_the_matching_subscriptions(
    db: Session, principals: dict[str, Principal], make_sub: Any
) -> None:
    admin_all, _ = make_sub(principals["admin"], "https://a.example.org/all")
    bj, _ = make_sub(principals["beijing"], "https://bj.example.org/h")
    bj_red, _ = make_sub(principals["beijing"], "https://bj.example.org/red", levels=["red"])
    bj_lifts, _ = make_sub(
        principals["beijing"], "https://bj.example.org/l", event_types=["warning.lifted"]
    )
    tj, _ = make_sub(principals["tianjin"], "https://tj.example.org/h")
    now = utcnow()
    with session_scope() as session:
        orange_bj = enqueue_event(
            session, "warning.issued", {"warning": {}}, now=now, city_code="110000", level="orange"
        ).id
        red_bj = enqueue_event(
            session, "warning.updated", {"warning": {}}, now=now, city_code="110000", level="red"
        ).id
        lifted_tj = enqueue_event(
            session, "warning.lifted", {"warning": {}}, now=now, city_code="120000", level="red"
        ).id
        no_city = enqueue_event(session, "forecast.published", {"cities": []}, now=now).id
    assert targets(db, orange_bj) == {admin_all, bj}
    assert targets(db, red_bj) == {admin_all, bj, bj_red}
    assert targets(db, lifted_tj) == {admin_all, tj}
    # An event without a city goes only to endpoints without a city filter.
    assert targets(db, no_city) == {admin_all}
    assert bj_lifts not in targets(db, orange_bj) | targets(db, red_bj)
    body = json.loads(db.get(OutboxEvent, red_bj).payload)
    assert body["id"] == red_bj and body["type"] == "warning.updated"
    assert (
        db.scalar(select(func.count()).select_from(Delivery).where(Delivery.status != "pending"))
        == 0
    )


def test_enqueue_writes_nothing_if_the_callers_transaction_rolls_back(
    db: Session, principals: dict[str, Principal], make_sub: Any
) -> None:
    make_sub(principals["beijing"], "https://bj.example.org/h")
    with pytest.raises(RuntimeError), session_scope() as session:
        enqueue_event(session, "warning.issued", {"warning": {}}, now=utcnow(), city_code="110000")
        raise RuntimeError("the warning change failed")
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    # And it does not commit by itself: a second session sees nothing before commit.
    session = get_sessionmaker()()
    enqueue_event(session, "warning.issued", {"warning": {}}, now=utcnow(), city_code="110000")
    with get_sessionmaker()() as other:
        assert other.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    session.rollback()
    session.close()


def test_disabling_notifies_staff_with_a_schema_valid_event(
    db: Session, principals: dict[str, Principal], make_sub: Any
) -> None:
    duty, _ = make_sub(principals["duty"], "https://ops.example.org/h")
    bj, _ = make_sub(principals["beijing"], "https://bj.example.org/h")
    tj, _ = make_sub(principals["tianjin"], "https://tj.example.org/h")
    now = utcnow()
    with session_scope() as session:
        pending = enqueue_event(
            session, "warning.issued", {"warning": {}}, now=now, city_code="110000"
        ).id
        sub = session.get(Subscription, bj)
        notice = disable_subscription(
            session, sub, reason=DisableReason.MANUAL, now=now, last_error="bye"
        )
        assert notice is not None
        again = disable_subscription(session, sub, reason=DisableReason.MANUAL, now=now)
        assert again is None  # already disabled: no second notice
    assert targets(db, notice.id) == {duty}  # not the city offices
    body = json.loads(notice.payload)
    jsonschema.validate(body, SCHEMA)
    assert body["data"]["reason"] == "manual" and body["data"]["endpoint_id"] == str(bj)
    status = db.scalar(
        select(Delivery.status).where(Delivery.event_id == pending, Delivery.subscription_id == bj)
    )
    assert status == "dead"
    assert tj not in targets(db, notice.id)


def test_replay_resends_the_same_event_ids_including_missed_ones(
    db: Session, principals: dict[str, Principal], make_sub: Any
) -> None:
    bj, _ = make_sub(principals["beijing"], "https://bj.example.org/h")
    start = utcnow()
    with session_scope() as session:
        first = enqueue_event(
            session, "warning.issued", {"warning": {}}, now=start, city_code="110000"
        ).id
        enqueue_event(session, "warning.issued", {"warning": {}}, now=start, city_code="120000")
        session.execute(
            Delivery.__table__.update().values(status="delivered", attempts=1, next_attempt_at=None)
        )
        session.get(Subscription, bj).disabled_at = start
        missed = enqueue_event(
            session, "warning.lifted", {"warning": {}}, now=start, city_code="110000"
        ).id
    assert targets(db, missed) == set()  # disabled at the time
    with session_scope() as session:
        sub = session.get(Subscription, bj)
        sub.disabled_at = None
        ids = replay(session, sub, start, utcnow())
    assert sorted(ids) == sorted([first, missed])
    rows = db.scalars(select(Delivery).where(Delivery.subscription_id == bj)).all()
    assert {(r.event_id, r.status, r.attempts) for r in rows} == {
        (first, "pending", 0),
        (missed, "pending", 0),
    }


def test_metrics_show_the_backlog(
    client: TestClient, principals: dict[str, Principal], make_sub: Any
) -> None:
    make_sub(principals["beijing"], "https://bj.example.org/h")
    make_sub(principals["admin"], "https://ops.example.org/h")
    with session_scope() as session:
        enqueue_event(session, "warning.issued", {"warning": {}}, now=utcnow(), city_code="110000")
    text = client.get("/metrics").text
    assert "hazewarn_outbox_backlog 2.0" in text
    assert 'hazewarn_deliveries{status="pending"} 2.0' in text
    assert "hazewarn_webhook_attempt_seconds_bucket" in text
