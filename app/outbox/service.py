"""The outbox: write events and their deliveries; claim, record and replay deliveries.

``enqueue_event`` is called inside the transaction of the change that caused the event (it
flushes but never commits), so the change and its notifications are stored together or not
at all. The dispatcher (``app.outbox.dispatcher``) then claims due deliveries with a lease,
sends them and records each attempt with ``record_results``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from alerts.events import EventType, encode_event, format_event_time, make_event
from app.auth.service import STAFF_ROLES
from app.outbox.models import Delivery, DeliveryAttempt, OutboxEvent
from app.subscriptions.models import Subscription, SubscriptionSecret

# A test ping announces nothing: it goes to one endpoint only and carries nothing but the
# subscription's id and URL (docs/events.schema.json, ``endpoint.ping``).
PING_EVENT_TYPE = EventType.ENDPOINT_PING.value


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # the retry schedule is used up; replay can resend it
    DEAD = "dead"  # the endpoint was disabled (410, sustained failure, by hand)


class Audience(StrEnum):
    SUBSCRIBERS = "subscribers"  # every active subscription whose filters match
    STAFF = "staff"  # subscriptions of admins and duty officers (operational events)
    ONE = "one"  # only target_subscription_id (test pings)


class DisableReason(StrEnum):
    GONE = "gone"
    SUSTAINED_FAILURE = "sustained_failure"
    MANUAL = "manual"


def new_event_id(now: datetime) -> str:
    """``evt_`` + 12 hex digits of Unix milliseconds + 16 random hex digits (sorts by time)."""
    return f"evt_{int(now.timestamp() * 1000):012x}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class EventFacts:
    """What routing needs to know about an event."""

    type: str
    city_code: str | None
    level: str | None
    audience: str = Audience.SUBSCRIBERS
    target_subscription_id: int | None = None
    #: Regional events: the region and its member cities (one event for them all).
    region_code: str | None = None
    member_codes: tuple[str, ...] = ()


def subscription_matches(sub: Subscription, event: EventFacts) -> bool:
    """Whether ``event`` goes to ``sub`` (active or not; the caller checks that).

    Filters left empty match everything. An event without a city goes only to subscriptions
    without a city filter, so a city office never receives another city's data.
    """
    if event.audience == Audience.ONE:
        return sub.id == event.target_subscription_id
    if sub.event_types and event.type not in sub.event_types:
        return False
    if event.audience == Audience.STAFF:
        return sub.owner_role in STAFF_ROLES
    if event.region_code is not None:
        # A regional event goes to the region's subscribers and to those following any of
        # its member cities (a subscription without city or region filter gets all).
        if sub.region_codes and event.region_code in sub.region_codes:
            followed = True
        elif sub.city_codes:
            followed = bool(set(sub.city_codes) & set(event.member_codes))
        else:
            followed = not sub.region_codes
        if not followed:
            return False
        return not (event.level is not None and sub.levels and event.level not in sub.levels)
    if event.city_code is None:
        if sub.city_codes:
            return False
    elif sub.city_codes and event.city_code not in sub.city_codes:
        return False
    return not (event.level is not None and sub.levels and event.level not in sub.levels)


def _facts(event: OutboxEvent) -> EventFacts:
    return EventFacts(
        type=event.type,
        city_code=event.city_code,
        level=event.level,
        audience=event.audience,
        target_subscription_id=event.target_subscription_id,
        region_code=event.region_code,
        member_codes=tuple(event.member_codes or ()),
    )


def _delivery_row(event_id: str, subscription_id: int, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "subscription_id": subscription_id,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _store_event(
    session: Session,
    *,
    event_id: str,
    type: str,
    body: bytes,
    now: datetime,
    facts: EventFacts,
) -> OutboxEvent:
    row = OutboxEvent(
        id=event_id,
        type=type,
        payload=body.decode("utf-8"),
        created_at=now,
        city_code=facts.city_code,
        level=facts.level,
        audience=facts.audience,
        target_subscription_id=facts.target_subscription_id,
        region_code=facts.region_code,
        member_codes=list(facts.member_codes) if facts.region_code is not None else None,
    )
    session.add(row)
    session.flush()
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.disabled_at.is_(None)).order_by(Subscription.id)
    )
    rows = [
        _delivery_row(event_id, sub.id, now)
        for sub in subscriptions
        if subscription_matches(sub, facts)
    ]
    if rows:
        session.execute(insert(Delivery), rows)
    return row


def enqueue_event(
    session: Session,
    type: str | EventType,
    data: Mapping[str, Any],
    *,
    now: datetime,
    city_code: str | None = None,
    level: str | None = None,
    event_id: str | None = None,
    audience: Audience = Audience.SUBSCRIBERS,
    region_code: str | None = None,
    member_codes: Sequence[str] = (),
) -> OutboxEvent:
    """Write an event and a pending delivery for every active subscription it matches.

    Runs in the caller's transaction: it flushes, never commits, so the event is stored if
    and only if the change that caused it is. ``data`` is the event's ``data`` (see
    docs/publishing.md); ``city_code`` and ``level`` drive the subscription filters;
    ``event_id`` defaults to a new ``evt_...`` id; ``now`` is the event time (aware).
    ``endpoint.disabled`` events always go to staff subscriptions only.
    """
    type = EventType(type).value
    if type == EventType.ENDPOINT_DISABLED:
        audience = Audience.STAFF
    event_id = event_id or new_event_id(now)
    body = encode_event(make_event(type, data, event_id, now))
    facts = EventFacts(
        type=type,
        city_code=city_code,
        level=level,
        audience=audience,
        region_code=region_code,
        member_codes=tuple(member_codes),
    )
    return _store_event(session, event_id=event_id, type=type, body=body, now=now, facts=facts)


def enqueue_ping(session: Session, subscription: Subscription, now: datetime) -> OutboxEvent:
    """A test event for one subscription, sent through the outbox like any other."""
    event_id = new_event_id(now)
    data = {"endpoint_id": str(subscription.id), "url": subscription.url}
    body = encode_event(make_event(PING_EVENT_TYPE, data, event_id, now))
    facts = EventFacts(
        type=PING_EVENT_TYPE,
        city_code=None,
        level=None,
        audience=Audience.ONE,
        target_subscription_id=subscription.id,
    )
    return _store_event(
        session, event_id=event_id, type=PING_EVENT_TYPE, body=body, now=now, facts=facts
    )


def disable_subscription(
    session: Session,
    subscription: Subscription,
    *,
    reason: DisableReason,
    now: datetime,
    last_status_code: int | None = None,
    last_error: str | None = None,
) -> OutboxEvent | None:
    """Disable an endpoint and tell the duty officers (an ``endpoint.disabled`` event).

    Sets the dashboard flag (``disabled_at``, ``disabled_reason``), marks its pending
    deliveries dead (replay resends them once it is enabled again) and enqueues the event to
    admin and duty-officer subscriptions. Returns None if it was already disabled.
    """
    if subscription.disabled_at is not None:
        return None
    subscription.disabled_at = now
    subscription.disabled_reason = reason.value
    subscription.updated_at = now
    session.execute(
        update(Delivery)
        .where(
            Delivery.subscription_id == subscription.id,
            Delivery.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.DEAD.value, next_attempt_at=None)
    )
    session.flush()
    return enqueue_event(
        session,
        EventType.ENDPOINT_DISABLED,
        {
            "endpoint_id": str(subscription.id),
            "url": subscription.url,
            "reason": reason.value,
            "disabled_at": format_event_time(now),
            "failing_since": (
                format_event_time(subscription.failing_since)
                if subscription.failing_since
                else None
            ),
            "last_status_code": last_status_code,
            "last_error": last_error,
        },
        now=now,
    )


def enable_subscription(session: Session, subscription: Subscription, now: datetime) -> None:
    """Clear the disabled flag and the failure history; replay resends what was missed."""
    subscription.disabled_at = None
    subscription.disabled_reason = None
    subscription.failing_since = None
    subscription.throttled_until = None
    subscription.updated_at = now


def replay(
    session: Session, subscription: Subscription, since: datetime, now: datetime
) -> list[str]:
    """Send again every event since ``since`` that the subscription's filters match.

    Deliveries that exist are reset to pending with a fresh schedule (their attempt log is
    kept; the same event id goes out, so receivers dedupe); missing ones (events from
    while the endpoint was disabled) are created. A claim in flight is cancelled, so the
    replayed delivery is sent again even if that attempt succeeds. Returns the event ids.
    """
    query = select(OutboxEvent).where(
        OutboxEvent.created_at >= since, OutboxEvent.created_at <= now
    )
    if subscription.city_codes:
        query = query.where(
            or_(
                OutboxEvent.city_code.in_(subscription.city_codes),
                OutboxEvent.audience != Audience.SUBSCRIBERS.value,
            )
        )
    events = [
        e
        for e in session.scalars(query.order_by(OutboxEvent.created_at, OutboxEvent.id))
        if subscription_matches(subscription, _facts(e))
    ]
    if not events:
        return []
    ids = [e.id for e in events]
    existing: set[str] = set()
    for chunk in _chunks(ids, 500):
        existing.update(
            session.scalars(
                select(Delivery.event_id).where(
                    Delivery.subscription_id == subscription.id, Delivery.event_id.in_(chunk)
                )
            )
        )
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == subscription.id, Delivery.event_id.in_(chunk))
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                first_attempt_at=None,
                delivered_at=None,
                claimed_by=None,
                claimed_until=None,
            )
        )
    missing = [_delivery_row(i, subscription.id, now) for i in ids if i not in existing]
    if missing:
        session.execute(insert(Delivery), missing)
    session.flush()
    return ids


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- dispatcher side -------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    """One delivery a dispatcher holds a lease on, with everything needed to send it."""

    delivery_id: int
    event_id: str
    subscription_id: int
    url: str
    body: bytes
    secrets: tuple[str, ...]
    attempts: int  # attempts made before this one
    first_attempt_at: datetime | None
    claim: str


def claim_due(
    session: Session, *, claim: str, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedDelivery]:
    """Lease up to ``limit`` due deliveries of active, unthrottled endpoints and commit.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent dispatchers take
    disjoint rows. SQLite ignores the lock clause; there the guarded UPDATE (only rows
    still unclaimed or with an expired lease) is what keeps claims exclusive.
    """
    candidates = list(
        session.scalars(
            select(Delivery.id)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.next_attempt_at <= now,
                or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                Subscription.disabled_at.is_(None),
                or_(Subscription.throttled_until.is_(None), Subscription.throttled_until <= now),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Delivery)
        )
    )
    if not candidates:
        session.commit()
        return []
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(candidates),
            Delivery.status == DeliveryStatus.PENDING.value,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .values(claimed_by=claim, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.event_id,
            Delivery.subscription_id,
            Delivery.attempts,
            Delivery.first_attempt_at,
            Subscription.url,
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.claimed_by == claim)
    ).all()
    event_ids = {r.event_id for r in rows}
    bodies = {
        event_id: payload
        for event_id, payload in session.execute(
            select(OutboxEvent.id, OutboxEvent.payload).where(OutboxEvent.id.in_(event_ids))
        )
    }
    keys = active_secrets(session, {r.subscription_id for r in rows}, now)
    session.commit()
    encoded = {event_id: payload.encode("utf-8") for event_id, payload in bodies.items()}
    return [
        ClaimedDelivery(
            delivery_id=r.id,
            event_id=r.event_id,
            subscription_id=r.subscription_id,
            url=r.url,
            body=encoded[r.event_id],
            secrets=tuple(keys.get(r.subscription_id, ())),
            attempts=r.attempts,
            first_attempt_at=r.first_attempt_at,
            claim=claim,
        )
        for r in rows
    ]


def active_secrets(
    session: Session, subscription_ids: Iterable[int], now: datetime
) -> dict[int, list[str]]:
    """Every secret still signing for each subscription (newest first)."""
    ids = sorted(set(subscription_ids))
    found: dict[int, list[str]] = {}
    for chunk in range(0, len(ids), 500):
        rows = session.execute(
            select(SubscriptionSecret.subscription_id, SubscriptionSecret.secret)
            .where(
                SubscriptionSecret.subscription_id.in_(ids[chunk : chunk + 500]),
                or_(SubscriptionSecret.expires_at.is_(None), SubscriptionSecret.expires_at > now),
            )
            .order_by(SubscriptionSecret.subscription_id, SubscriptionSecret.id.desc())
        )
        for subscription_id, secret in rows:
            found.setdefault(subscription_id, []).append(secret)
    return found


@dataclass(frozen=True)
class AttemptResult:
    """One finished attempt and what the policy made of it."""

    delivery: ClaimedDelivery
    attempted_at: datetime
    finished_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: str  # alerts.delivery_policy.Outcome value
    next_attempt_at: datetime | None  # None: no more attempts (delivered, exhausted, gone)


@dataclass
class RecordSummary:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled_endpoints: list[int] = field(default_factory=list)


def record_results(
    session: Session,
    results: Sequence[AttemptResult],
    *,
    now: datetime,
    should_disable: Callable[..., bool],
) -> RecordSummary:
    """Log the attempts, settle the deliveries and the endpoints' health; commit.

    A delivery is updated only while this dispatcher still holds its claim (a replay or an
    expired lease taken over by another dispatcher wins). ``should_disable`` is
    ``alerts.delivery_policy.should_disable``, passed in to keep one source of the rule.
    """
    summary = RecordSummary()
    if not results:
        return summary
    # A subscription deleted meanwhile takes its deliveries with it: log only attempts whose
    # delivery still exists (and keep it from vanishing until we commit).
    live = set(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.id.in_(sorted({r.delivery.delivery_id for r in results})))
            .with_for_update(read=True)
        )
    )
    results = [r for r in results if r.delivery.delivery_id in live]
    if not results:
        session.commit()
        return summary
    session.execute(
        insert(DeliveryAttempt),
        [
            {
                "delivery_id": r.delivery.delivery_id,
                "subscription_id": r.delivery.subscription_id,
                "event_id": r.delivery.event_id,
                "attempt_number": r.delivery.attempts + 1,
                "attempted_at": r.attempted_at,
                "status_code": r.status_code,
                "latency_ms": round(r.latency_ms, 3),
                "error": r.error,
                "outcome": r.outcome,
            }
            for r in results
        ],
    )
    table = cast(Table, Delivery.__table__)
    updates = []
    for r in results:
        if r.outcome == "success":
            status = DeliveryStatus.DELIVERED
            summary.delivered += 1
        elif r.outcome == "disable_endpoint":
            status = DeliveryStatus.DEAD
        elif r.next_attempt_at is None:
            status = DeliveryStatus.FAILED
            summary.failed += 1
        else:
            status = DeliveryStatus.PENDING
            summary.retrying += 1
        updates.append(
            {
                "b_id": r.delivery.delivery_id,
                "b_claim": r.delivery.claim,
                "b_status": status.value,
                "b_attempts": r.delivery.attempts + 1,
                "b_next": r.next_attempt_at if status == DeliveryStatus.PENDING else None,
                "b_first": r.delivery.first_attempt_at or r.attempted_at,
                "b_last": r.attempted_at,
                "b_delivered": r.finished_at if status == DeliveryStatus.DELIVERED else None,
                "b_code": r.status_code,
                "b_error": r.error,
            }
        )
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.claimed_by == bindparam("b_claim"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            first_attempt_at=bindparam("b_first"),
            last_attempt_at=bindparam("b_last"),
            delivered_at=bindparam("b_delivered"),
            last_status=bindparam("b_code"),
            last_error=bindparam("b_error"),
            claimed_by=None,
            claimed_until=None,
        ),
        updates,
    )
    _settle_endpoints(session, results, now=now, should_disable=should_disable, summary=summary)
    session.commit()
    return summary


def _settle_endpoints(
    session: Session,
    results: Sequence[AttemptResult],
    *,
    now: datetime,
    should_disable: Callable[..., bool],
    summary: RecordSummary,
) -> None:
    """Endpoint health after a batch: failure streaks, throttling, disabling."""
    succeeded = sorted({r.delivery.subscription_id for r in results if r.outcome == "success"})
    failed: dict[int, AttemptResult] = {}
    for r in results:
        if r.outcome != "success" and r.delivery.subscription_id not in succeeded:
            first = failed.get(r.delivery.subscription_id)
            if first is None or r.attempted_at < first.attempted_at:
                failed[r.delivery.subscription_id] = r
    sub = cast(Table, Subscription.__table__)
    # Only rows whose state changes are written (and so locked): in steady state a batch
    # of successes touches no subscription row, and two dispatchers cannot deadlock on them.
    if succeeded:
        session.execute(
            update(sub)
            .where(sub.c.id.in_(succeeded), sub.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
    gone = {r.delivery.subscription_id: r for r in results if r.outcome == "disable_endpoint"}
    if not failed and not gone:
        return
    for subscription_id in sorted(failed):
        session.execute(
            update(sub)
            .where(sub.c.id == subscription_id, sub.c.failing_since.is_(None))
            .values(failing_since=failed[subscription_id].attempted_at)
        )
    throttled = {
        r.delivery.subscription_id: r.next_attempt_at
        for r in results
        if r.outcome == "throttle" and r.next_attempt_at is not None
    }
    for subscription_id, until in sorted(throttled.items()):
        session.execute(
            update(sub)
            .where(
                sub.c.id == subscription_id,
                or_(sub.c.throttled_until.is_(None), sub.c.throttled_until < until),
            )
            .values(throttled_until=until)
        )
    exhausted: dict[int, datetime] = {}
    for r in results:
        if r.outcome not in ("success", "disable_endpoint") and r.next_attempt_at is None:
            began = r.delivery.first_attempt_at or r.attempted_at
            exhausted[r.delivery.subscription_id] = min(
                began, exhausted.get(r.delivery.subscription_id, began)
            )
    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.id.in_(sorted(set(failed) | set(gone))),
            Subscription.disabled_at.is_(None),
        )
        .order_by(Subscription.id)
    ).all()
    for subscription in rows:
        reason: DisableReason | None = None
        if subscription.id in gone:
            reason = DisableReason.GONE
            last = gone[subscription.id]
        elif subscription.id not in failed:
            continue
        elif should_disable(
            failing_since=subscription.failing_since,
            now=now,
            exhausted_message_first_attempt_at=exhausted.get(subscription.id),
        ):
            reason = DisableReason.SUSTAINED_FAILURE
            last = failed[subscription.id]
        if reason is not None:
            disable_subscription(
                session,
                subscription,
                reason=reason,
                now=now,
                last_status_code=last.status_code,
                last_error=last.error,
            )
            summary.disabled_endpoints.append(subscription.id)


def pending_summary(session: Session, now: datetime) -> tuple[int, int, datetime | None]:
    """(deliveries due now, deliveries pending in total, earliest next attempt)."""
    due = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.next_attempt_at <= now,
            Subscription.disabled_at.is_(None),
        )
    )
    total, earliest = session.execute(
        select(func.count(), func.min(Delivery.next_attempt_at))
        .select_from(Delivery)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING.value,
            Subscription.disabled_at.is_(None),
        )
    ).one()
    return int(due or 0), int(total or 0), earliest


def status_counts(session: Session) -> dict[str, int]:
    """Deliveries per status."""
    return {
        status: int(count)
        for status, count in session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
    }


@dataclass(frozen=True)
class DeliveryHistory:
    delivery: Delivery
    event_type: str
    attempts: list[DeliveryAttempt]


def delivery_history(
    session: Session,
    subscription_id: int,
    *,
    limit: int,
    before: int | None = None,
    status: str | None = None,
) -> list[DeliveryHistory]:
    """The endpoint's deliveries, newest first, each with its full attempt log."""
    query = (
        select(Delivery, OutboxEvent.type)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .where(Delivery.subscription_id == subscription_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Delivery.id < before)
    if status is not None:
        query = query.where(Delivery.status == status)
    rows = [(d, event_type) for d, event_type in session.execute(query)]
    logs: dict[int, list[DeliveryAttempt]] = {}
    if rows:
        for attempt in session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d, _ in rows]))
            .order_by(DeliveryAttempt.id)
        ):
            logs.setdefault(attempt.delivery_id, []).append(attempt)
    return [DeliveryHistory(d, event_type, logs.get(d.id, [])) for d, event_type in rows]
