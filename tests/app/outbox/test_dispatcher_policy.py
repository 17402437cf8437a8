"""The dispatcher against `httpx.MockTransport`: outcomes, backoff, Retry-After, 410,
timeouts, exhaustion and leases, on a settable clock (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.auth.service import Principal
from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig
from app.outbox.models import Delivery, DeliveryAttempt, OutboxEvent
from app.outbox.service import claim_due, enqueue_event, record_results
from app.subscriptions.models import Subscription

WARNING = {"warning": {"id": "7", "city_code": "110000", "level": "orange"}}
CONFIG = DispatcherConfig(concurrency=20, batch_size=50, client_shards=2, request_timeout=5)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A mock transport handler: answers from a per-URL script and keeps every request."""

    def __init__(self, answers: dict[str, list[Any]] | None = None) -> None:
        self.answers = answers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.answers.get(str(request.url), [])
        answer = script.pop(0) if script else 200
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer)


def dispatch(recorder: Recorder, clock: Any, config: DispatcherConfig = CONFIG) -> Any:
    dispatcher = Dispatcher(
        config, clock=clock, rng=random.Random(5), transport=httpx.MockTransport(recorder)
    )
    return asyncio.run(dispatcher.run(once=True))


def enqueue(
    clock: Any, city: str = "110000", level: str = "orange", type: str = "warning.issued"
) -> str:
    with session_scope() as session:
        return enqueue_event(session, type, WARNING, now=clock(), city_code=city, level=level).id


def deliveries(db: Session, subscription_id: int) -> list[Delivery]:
    db.expire_all()
    return list(
        db.scalars(
            select(Delivery)
            .where(Delivery.subscription_id == subscription_id)
            .order_by(Delivery.id)
        )
    )


def attempts(db: Session, subscription_id: int) -> list[DeliveryAttempt]:
    return list(
        db.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.subscription_id == subscription_id)
            .order_by(DeliveryAttempt.id)
        )
    )


URL = "https://hooks.example.org/bj"


def test_2xx_is_delivered_signed_and_logged(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, secret = make_sub(principals["beijing"], URL)
    event_id = enqueue(clock)
    recorder = Recorder({URL: [httpx.Response(204)]})
    stats = dispatch(recorder, clock)

    assert stats.attempts == 1 and stats.delivered == 1
    [request] = recorder.requests
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert body["id"] == event_id and body["type"] == "warning.issued"
    [delivery] = deliveries(db, sub_id)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 204)
    assert delivery.claimed_by is None and delivery.next_attempt_at is None
    [attempt] = attempts(db, sub_id)
    assert (attempt.status_code, attempt.outcome, attempt.attempt_number) == (204, "success", 1)
    assert attempt.latency_ms >= 0 and attempt.error is None


def test_500_is_retried_on_the_schedule_with_the_same_id(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    recorder = Recorder({URL: [500, 503]})
    start = clock()
    dispatch(recorder, clock)
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status == 500 and delivery.last_error == "HTTP 500"
    # Second step of the schedule: 5 s with ±20 % jitter.
    assert start + timedelta(seconds=4) <= delivery.next_attempt_at <= start + timedelta(seconds=6)

    clock.advance(1)  # not due yet: nothing is sent
    assert dispatch(recorder, clock).attempts == 0
    clock.advance(6)
    dispatch(recorder, clock)  # 503: third step, 5 min ± 20 %
    [delivery] = deliveries(db, sub_id)
    assert delivery.attempts == 2 and delivery.status == "pending"
    assert delivery.next_attempt_at - clock() >= timedelta(minutes=4)
    clock.advance(6 * 60 + 1)
    dispatch(recorder, clock)
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "delivered" and delivery.attempts == 3
    ids = {r.headers["webhook-id"] for r in recorder.requests}
    stamps = [int(r.headers["webhook-timestamp"]) for r in recorder.requests]
    assert len(recorder.requests) == 3 and len(ids) == 1
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]  # signed per attempt
    assert [a.status_code for a in attempts(db, sub_id)] == [500, 503, 200]
    assert db.get(Subscription, sub_id).failing_since is None  # reset by the success


def test_410_disables_the_endpoint_and_tells_the_duty_officers(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    staff_url = "https://ops.example.org/hook"
    staff_id, _ = make_sub(principals["duty"], staff_url, event_types=["endpoint.disabled"])
    first = enqueue(clock)
    recorder = Recorder({URL: [410]})
    dispatch(recorder, clock)

    sub = db.get(Subscription, sub_id)
    assert sub.disabled_at is not None and sub.disabled_reason == "gone"
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "dead" and delivery.event_id == first
    notice = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "endpoint.disabled")).one()
    assert notice.audience == "staff"
    data = json.loads(notice.payload)["data"]
    assert data["endpoint_id"] == str(sub_id) and data["reason"] == "gone"
    assert data["last_status_code"] == 410
    # Only the duty officer's endpoint gets the notice; the disabled one gets nothing more.
    assert [d.event_id for d in deliveries(db, staff_id)] == [notice.id]
    dispatch(recorder, clock)
    assert [r.url for r in recorder.requests][-1] == staff_url
    enqueue(clock)
    assert len(deliveries(db, sub_id)) == 1  # a disabled endpoint gets no new deliveries


def test_429_retry_after_is_honoured_and_holds_back_the_endpoint(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    start = clock()
    recorder = Recorder({URL: [httpx.Response(429, headers={"Retry-After": "120"})]})
    dispatch(recorder, clock)
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "pending" and delivery.last_status == 429
    assert delivery.next_attempt_at >= start + timedelta(seconds=120)
    assert db.get(Subscription, sub_id).throttled_until == delivery.next_attempt_at

    clock.advance(30)
    enqueue(clock)  # due at once, but the endpoint asked us to wait
    assert dispatch(recorder, clock).attempts == 0
    clock.advance(100)
    assert dispatch(recorder, clock).delivered == 2
    assert [d.status for d in deliveries(db, sub_id)] == ["delivered", "delivered"]


def test_timeouts_and_refused_connections_are_logged_and_retried(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    recorder = Recorder({URL: [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]})
    dispatch(recorder, clock)
    clock.advance(7)
    dispatch(recorder, clock)
    first, second = attempts(db, sub_id)
    assert first.status_code is None and first.outcome == "retry"
    assert first.error.startswith("timeout after 5 s")
    assert second.status_code is None and second.error == "ConnectError: refused"
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "pending" and delivery.attempts == 2
    assert db.get(Subscription, sub_id).failing_since == first.attempted_at


def test_used_up_schedule_fails_the_delivery_and_disables_a_dead_endpoint(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    admin_id, _ = make_sub(principals["admin"], "https://ops.example.org/all")
    enqueue(clock)
    long_ago = clock() - timedelta(hours=80)
    with session_scope() as session:  # nine failed attempts over ~3 days already
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == sub_id)
            .values(attempts=9, first_attempt_at=long_ago)
        )
        session.execute(
            update(Subscription).where(Subscription.id == sub_id).values(failing_since=long_ago)
        )
    recorder = Recorder({URL: [500]})
    stats = dispatch(recorder, clock)
    assert stats.failed == 1 and stats.disabled_endpoints == [sub_id]
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    sub = db.get(Subscription, sub_id)
    assert sub.disabled_reason == "sustained_failure"
    admin_events = [d.event_id for d in deliveries(db, admin_id)]
    notice = db.get(OutboxEvent, admin_events[-1])
    assert notice.type == "endpoint.disabled"
    assert json.loads(notice.payload)["data"]["reason"] == "sustained_failure"


def test_an_expired_lease_is_taken_over_and_the_stale_result_is_ignored(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    lease = timedelta(seconds=30)
    with session_scope() as session:
        [first] = claim_due(session, claim="killed:1", now=clock(), lease=lease, limit=10)
    with session_scope() as session:  # leased: nobody else gets it
        assert claim_due(session, claim="other:1", now=clock(), lease=lease, limit=10) == []
    clock.advance(31)
    with session_scope() as session:
        [again] = claim_due(session, claim="other:2", now=clock(), lease=lease, limit=10)
    assert again.delivery_id == first.delivery_id and again.body == first.body
    # The killed dispatcher comes back and reports a success under its old claim: ignored.
    from app.outbox.service import AttemptResult

    stale = AttemptResult(first, clock(), clock(), 200, 1.0, None, "success", None)
    with session_scope() as session:
        from alerts.delivery_policy import should_disable

        record_results(session, [stale], now=clock(), should_disable=should_disable)
    [delivery] = deliveries(db, sub_id)
    assert delivery.status == "pending" and delivery.claimed_by == "other:2"
    assert len(attempts(db, sub_id)) == 1  # the attempt itself is still logged


def test_claims_skip_disabled_endpoints(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    with session_scope() as session:
        session.execute(
            update(Subscription).where(Subscription.id == sub_id).values(disabled_at=clock())
        )
    recorder = Recorder()
    assert dispatch(recorder, clock).attempts == 0
    assert recorder.requests == []


@pytest.mark.parametrize("scale", [0.001])
def test_backoff_scale_shortens_the_schedule_but_not_retry_after(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any, scale: float
) -> None:
    sub_id, _ = make_sub(principals["beijing"], URL)
    enqueue(clock)
    config = DispatcherConfig(
        concurrency=5, client_shards=1, request_timeout=5, backoff_scale=scale
    )
    recorder = Recorder({URL: [500, httpx.Response(503, headers={"Retry-After": "60"})]})
    dispatch(recorder, clock, config)
    [delivery] = deliveries(db, sub_id)
    assert delivery.next_attempt_at - clock() <= timedelta(seconds=5 * 1.2 * scale)
    clock.advance(1)
    dispatch(recorder, clock, config)
    [delivery] = deliveries(db, sub_id)
    assert delivery.next_attempt_at - clock() >= timedelta(seconds=60)


def test_signatures_carry_real_time_when_the_service_clock_is_shifted(
    db: Session,
    principals: dict[str, Principal],
    make_sub: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.config import get_settings
    from app.timestamps import utcnow

    monkeypatch.setenv("HAZEWARN_CLOCK_OFFSET_SECONDS", str(-10 * 365 * 86400))  # the demo
    get_settings.cache_clear()
    sub_id, secret = make_sub(principals["beijing"], URL)
    with session_scope() as session:
        enqueue_event(session, "warning.issued", WARNING, now=utcnow(), city_code="110000")
    recorder = Recorder()
    dispatcher = Dispatcher(CONFIG, transport=httpx.MockTransport(recorder))
    assert asyncio.run(dispatcher.run(once=True)).delivered == 1
    [request] = recorder.requests
    Webhook(secret).verify(request.content, dict(request.headers))  # within ±5 min of now
    [delivery] = deliveries(db, sub_id)
    assert abs(delivery.delivered_at - utcnow()) < timedelta(minutes=1)  # service clock


def test_results_for_a_subscription_deleted_meanwhile_do_not_block_the_others(
    db: Session, principals: dict[str, Principal], make_sub: Any, clock: Any
) -> None:
    from alerts.delivery_policy import should_disable
    from app.outbox.service import AttemptResult

    gone_id, _ = make_sub(principals["beijing"], URL)
    kept_id, _ = make_sub(principals["admin"], "https://ops.example.org/all")
    enqueue(clock)
    with session_scope() as session:
        claimed = claim_due(
            session, claim="d:1", now=clock(), lease=timedelta(seconds=30), limit=10
        )
    with session_scope() as session:  # deleted while its request is in flight
        session.delete(session.get(Subscription, gone_id))
    results = [AttemptResult(c, clock(), clock(), 200, 3.0, None, "success", None) for c in claimed]
    with session_scope() as session:
        summary = record_results(session, results, now=clock(), should_disable=should_disable)
    assert summary.delivered == 1
    assert [d.status for d in deliveries(db, kept_id)] == ["delivered"]
    assert len(attempts(db, kept_id)) == 1 and deliveries(db, gone_id) == []
