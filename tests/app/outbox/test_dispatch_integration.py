"""End to end over real HTTP: uvicorn receivers on loopback verify every signature with
`standardwebhooks` and count deliveries per event id (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig, DispatchStats
from app.outbox.models import Delivery, DeliveryAttempt
from app.outbox.service import enqueue_event
from app.timestamps import utcnow

# The real schedule is 5 s, 5 min, 30 min...; scaled down so retries come within ~0.3 s.
FAST = DispatcherConfig(
    concurrency=50, client_shards=4, request_timeout=5, backoff_scale=0.001, poll_interval=0.02
)


def run(config: DispatcherConfig = FAST, name: str | None = None) -> DispatchStats:
    return asyncio.run(Dispatcher(config, name=name).run(until_idle=True, max_seconds=30))


def publish(count: int, cities: list[str]) -> list[str]:
    ids = []
    with session_scope() as session:  # one transaction, as a warning change would be
        for n in range(count):
            city = cities[n % len(cities)]
            event = enqueue_event(
                session,
                "warning.issued",
                {"warning": {"id": str(n), "city_code": city, "level": "orange"}},
                now=utcnow(),
                city_code=city,
                level="orange",
            )
            ids.append(event.id)
    return ids


def test_every_event_is_delivered_verified_and_none_lost_after_an_outage(
    db: Session,
    principals: dict[str, Principal],
    make_sub: Any,
    receiver: Any,
    allow_private: None,
) -> None:
    healthy = receiver.add("healthy", "")
    flaky = receiver.add("flaky", "", script=[500, 503, 502])  # down, then recovers
    tianjin = receiver.add("tianjin", "")
    hb, healthy.secrets[0] = make_sub(principals["beijing"], receiver.url("healthy"))
    fb, flaky.secrets[0] = make_sub(principals["beijing"], receiver.url("flaky"))
    _, tianjin.secrets[0] = make_sub(principals["tianjin"], receiver.url("tianjin"))

    ids = publish(6, ["110000", "120000"])
    beijing_ids = ids[0::2]
    stats = run()

    for endpoint in (healthy, flaky):
        assert endpoint.invalid == 0
        assert set(endpoint.accepted) == set(beijing_ids)  # every event, verified
        assert all(n == 1 for n in endpoint.accepted.values())  # each accepted once
    assert set(tianjin.accepted) == set(ids[1::2])  # and no other city's events
    assert tianjin.invalid == 0
    # The flaky endpoint's failures were retried with the same webhook-id until a 2xx.
    statuses = [status for _, status in flaky.requests]
    assert statuses.count(200) == 3 and sorted(statuses)[-3:] == [500, 502, 503]
    failed_ids = [event_id for event_id, status in flaky.requests if status != 200]
    assert all(event_id in beijing_ids for event_id in failed_ids)
    assert stats.delivered == 9 and stats.attempts == 12
    statuses_in_db = db.scalars(select(Delivery.status).where(Delivery.subscription_id == fb))
    assert set(statuses_in_db) == {"delivered"}
    logged = db.scalar(
        select(func.count())
        .select_from(DeliveryAttempt)
        .where(DeliveryAttempt.subscription_id == hb)
    )
    assert logged == 3


def test_a_dispatcher_restarted_mid_outage_loses_nothing(
    db: Session,
    principals: dict[str, Principal],
    make_sub: Any,
    receiver: Any,
    allow_private: None,
) -> None:
    endpoint = receiver.add("down", "", script=[500] * 4)
    _, endpoint.secrets[0] = make_sub(principals["beijing"], receiver.url("down"))
    ids = publish(4, ["110000"])
    # First dispatcher: one pass; all four fail and wait for their retry.
    asyncio.run(Dispatcher(FAST).run(once=True))
    assert not endpoint.accepted and len(endpoint.requests) == 4
    # A new dispatcher (the old one is gone) picks them up when due.
    run()
    assert set(endpoint.accepted) == set(ids) and endpoint.invalid == 0


def test_two_dispatchers_never_send_twice(
    db: Session,
    principals: dict[str, Principal],
    make_sub: Any,
    receiver: Any,
    allow_private: None,
) -> None:
    """PostgreSQL claims with SKIP LOCKED; on SQLite the guarded claim UPDATE holds too."""
    endpoints = []
    for n in range(20):
        endpoint = receiver.add(f"e{n}", "")
        endpoint.delay = 0.005
        _, endpoint.secrets[0] = make_sub(principals["admin"], receiver.url(f"e{n}"))
        endpoints.append(endpoint)
    ids = publish(20, ["110000", "120000", "130100"])  # 400 deliveries
    small = DispatcherConfig(
        concurrency=8, batch_size=10, client_shards=2, request_timeout=5, poll_interval=0.01
    )
    results: dict[str, DispatchStats] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        barrier.wait()
        results[name] = run(small, name=name)

    threads = [threading.Thread(target=worker, args=(f"d{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    for endpoint in endpoints:
        assert endpoint.invalid == 0
        assert set(endpoint.received) == set(ids)
        assert max(endpoint.received.values()) == 1  # never sent twice
    assert results["d0"].attempts + results["d1"].attempts == 400
    assert results["d0"].attempts > 0 and results["d1"].attempts > 0  # both took a share
    assert db.scalar(select(func.count()).select_from(DeliveryAttempt)) == 400
