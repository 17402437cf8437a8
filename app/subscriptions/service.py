"""Subscriptions: create, read, change, delete, rotate secrets; who may manage which.

Filters left empty match everything; a city office's or coordinator's subscription always
has a city filter within its scope (an empty one is filled with the whole scope), so it
can never receive another city's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from alerts.events import EVENT_TYPES, EventType
from alerts.levels import Level
from alerts.signing import new_secret
from app.auth.service import Principal, Role
from app.cities.registry import load_regions, load_registry
from app.outbox.models import Delivery, DeliveryAttempt
from app.subscriptions import destinations
from app.subscriptions.models import Subscription, SubscriptionSecret

LEVELS: tuple[str, ...] = tuple(level.value for level in Level)


class SubscriptionInputError(ValueError):
    """A request value is refused; ``field`` names it (``body.url``, ``body.cities``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may receive webhooks; SubscriptionInputError('body.url', why) if not
    (the rules are ``app.subscriptions.destinations``)."""
    try:
        return destinations.check_webhook_url(url, allow_private=allow_private)
    except ValueError as exc:
        raise SubscriptionInputError("body.url", str(exc)) from None


@dataclass(frozen=True)
class Filters:
    cities: list[str]
    levels: list[str]
    event_types: list[str]


def check_filters(
    owner: Principal,
    *,
    cities: Sequence[str] | None,
    levels: Sequence[str] | None,
    event_types: Sequence[str] | None,
) -> Filters:
    """Validated, sorted filters for ``owner``; an empty city filter of a scoped principal
    becomes its whole scope. Cities outside the owner's scope are refused (403 by views)."""
    known = {c.code for c in load_registry()}
    wanted_cities = sorted(set(cities or ()))
    unknown = [c for c in wanted_cities if c not in known]
    if unknown:
        raise SubscriptionInputError("body.cities", f"unknown city code(s) {', '.join(unknown)}")
    scope = owner.scope_cities()
    if scope is not None and not wanted_cities:
        wanted_cities = sorted(scope)
    wanted_levels = sorted(set(levels or ()))
    bad_levels = [lv for lv in wanted_levels if lv not in LEVELS]
    if bad_levels:
        raise SubscriptionInputError(
            "body.levels",
            f"unknown level(s) {', '.join(bad_levels)}; one of {', '.join(LEVELS)}",
        )
    wanted_levels = sorted(wanted_levels, key=LEVELS.index)
    wanted_types = sorted(set(event_types or ()))
    bad_types = [t for t in wanted_types if t not in EVENT_TYPES]
    if bad_types:
        raise SubscriptionInputError(
            "body.event_types",
            f"unknown event type(s) {', '.join(bad_types)}; one of {', '.join(EVENT_TYPES)}",
        )
    if EventType.ENDPOINT_DISABLED.value in wanted_types and not owner.is_staff:
        raise SubscriptionInputError(
            "body.event_types", "endpoint.disabled goes to admin and duty-officer endpoints only"
        )
    return Filters(cities=wanted_cities, levels=wanted_levels, event_types=wanted_types)


def check_regions(owner: Principal, regions: Sequence[str] | None) -> list[str]:
    """The region filter of ``owner``'s subscription (regional events of these regions).

    Staff may follow any region; a coordinator its own regions (all of them when none are
    given); a city office none (its cities' regional events reach it through its city
    filter). An unknown region is a 422, a region outside the scope a 403 (`RegionScopeError`).
    """
    wanted = sorted(set(regions or ()))
    known = {r.code for r in load_regions()}
    unknown = [r for r in wanted if r not in known]
    if unknown:
        raise SubscriptionInputError("body.regions", f"unknown region(s) {', '.join(unknown)}")
    if owner.is_staff:
        return wanted
    if owner.role == Role.COORDINATOR:
        outside = [r for r in wanted if r not in owner.region_codes]
        if outside:
            raise RegionScopeError(
                f"this key (coordinator) is scoped to {owner.describe_scope()}; "
                f"it may not follow region {', '.join(outside)}"
            )
        return wanted or sorted(owner.region_codes)
    if wanted:
        raise RegionScopeError(
            "a city_office key follows its cities (their regional events come with them); "
            "drop regions"
        )
    return []


class RegionScopeError(PermissionError):
    """A region filter outside the key's scope (the API answers 403)."""


def cities_outside_scope(principal: Principal, cities: Sequence[str]) -> list[str]:
    return sorted(c for c in set(cities) if not principal.may_act_for_city(c))


def refusal(principal: Principal, subscription: Subscription) -> str | None:
    """Why ``principal`` may not see or manage ``subscription``, or None if it may.

    Staff manage every subscription; a key manages what it created; another key of the
    same role manages a subscription whose city filter lies entirely within its own scope
    (a city office that replaced its key keeps its endpoints).
    """
    if principal.is_staff or subscription.owner_key_id == principal.key_id:
        return None
    if (
        subscription.owner_role == principal.role.value
        and subscription.city_codes
        and not cities_outside_scope(principal, subscription.city_codes)
    ):
        return None
    return (
        f"subscription {subscription.id} belongs to another owner; this key "
        f"({principal.role.value}) is scoped to {principal.describe_scope()}"
    )


@dataclass(frozen=True)
class CreatedSubscription:
    row: Subscription
    secret: str  # shown once


def create_subscription(
    session: Session,
    owner: Principal,
    *,
    url: str,
    description: str,
    filters: Filters,
    now: datetime,
    regions: Sequence[str] | None = None,
) -> CreatedSubscription:
    """Store an endpoint and its first ``whsec_`` secret (returned once). ``regions``:
    the region filter, already checked (`check_regions`; default: the coordinator's own
    regions, none for other keys)."""
    row = Subscription(
        url=url,
        description=description,
        owner_key_id=owner.key_id,
        owner_role=owner.role.value,
        owner_name=owner.name,
        city_codes=filters.cities,
        # A coordinator's endpoint also follows its regions' own events (proposals).
        region_codes=sorted(regions) if regions is not None else sorted(owner.region_codes),
        levels=filters.levels,
        event_types=filters.event_types,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    secret = new_secret()
    session.add(SubscriptionSecret(subscription_id=row.id, secret=secret, created_at=now))
    session.flush()
    return CreatedSubscription(row=row, secret=secret)


def list_subscriptions(session: Session, principal: Principal) -> list[Subscription]:
    """The subscriptions ``principal`` may see, by id."""
    query = select(Subscription).order_by(Subscription.id)
    if principal.is_staff:
        return list(session.scalars(query))
    query = query.where(
        or_(
            Subscription.owner_key_id == principal.key_id,
            Subscription.owner_role == principal.role.value,
        )
    )
    return [s for s in session.scalars(query) if refusal(principal, s) is None]


def rotate_secret(
    session: Session, subscription: Subscription, *, now: datetime, overlap: timedelta
) -> tuple[str, datetime]:
    """A new current secret (returned once); secrets in use keep signing until
    ``now + overlap`` (or their earlier expiry). Returns (secret, end of overlap)."""
    until = now + overlap
    for old in session.scalars(
        select(SubscriptionSecret).where(
            SubscriptionSecret.subscription_id == subscription.id,
            or_(SubscriptionSecret.expires_at.is_(None), SubscriptionSecret.expires_at > until),
        )
    ):
        old.expires_at = until
    secret = new_secret()
    session.add(SubscriptionSecret(subscription_id=subscription.id, secret=secret, created_at=now))
    subscription.updated_at = now
    session.flush()
    return secret, until


def signing_secrets(
    session: Session, subscription_id: int, now: datetime
) -> list[SubscriptionSecret]:
    """The secrets that sign right now, newest first."""
    return list(
        session.scalars(
            select(SubscriptionSecret)
            .where(
                SubscriptionSecret.subscription_id == subscription_id,
                or_(SubscriptionSecret.expires_at.is_(None), SubscriptionSecret.expires_at > now),
            )
            .order_by(SubscriptionSecret.id.desc())
        )
    )


# --------------------------------------------------------------------------- delivery health

#: Attempt outcome of a 2xx answer (``alerts.delivery_policy.Outcome.SUCCESS``).
SUCCESS_OUTCOME = "success"
PENDING_STATUS = "pending"


@dataclass(frozen=True)
class EndpointHealth:
    """How one webhook endpoint is doing, from its attempt log."""

    subscription: Subscription
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None  # of the latest attempt when it failed; None when it succeeded
    consecutive_failures: int  # failed attempts since the last success (or ever)
    pending: int  # deliveries waiting for this endpoint


@dataclass(frozen=True)
class DeliveryHealth:
    endpoints: list[EndpointHealth]
    outbox_pending: int  # deliveries waiting, all endpoints (disabled ones included)
    oldest_pending_at: datetime | None  # creation time of the oldest waiting delivery


def delivery_health(session: Session) -> DeliveryHealth:
    """Every endpoint's last success, consecutive failures and last error, and the outbox
    depth. A handful of grouped queries, whatever the number of attempts."""
    subscriptions = list(session.scalars(select(Subscription).order_by(Subscription.id)))
    last_success = (
        select(
            DeliveryAttempt.subscription_id.label("sid"),
            func.max(DeliveryAttempt.attempted_at).label("at"),
        )
        .where(DeliveryAttempt.outcome == SUCCESS_OUTCOME)
        .group_by(DeliveryAttempt.subscription_id)
        .subquery()
    )
    successes = {
        sid: at for sid, at in session.execute(select(last_success.c.sid, last_success.c.at))
    }
    failures = dict(
        session.execute(
            select(DeliveryAttempt.subscription_id, func.count())
            .outerjoin(last_success, last_success.c.sid == DeliveryAttempt.subscription_id)
            .where(
                DeliveryAttempt.outcome != SUCCESS_OUTCOME,
                or_(last_success.c.at.is_(None), DeliveryAttempt.attempted_at > last_success.c.at),
            )
            .group_by(DeliveryAttempt.subscription_id)
        ).all()
    )
    latest_ids = select(func.max(DeliveryAttempt.id)).group_by(DeliveryAttempt.subscription_id)
    latest = {
        a.subscription_id: a
        for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.id.in_(latest_ids)))
    }
    pending = dict(
        session.execute(
            select(Delivery.subscription_id, func.count())
            .where(Delivery.status == PENDING_STATUS)
            .group_by(Delivery.subscription_id)
        ).all()
    )
    total, oldest = session.execute(
        select(func.count(), func.min(Delivery.created_at)).where(Delivery.status == PENDING_STATUS)
    ).one()
    endpoints = []
    for sub in subscriptions:
        last = latest.get(sub.id)
        failed = last is not None and last.outcome != SUCCESS_OUTCOME
        error = None
        if last is not None and failed:
            error = last.error or (f"HTTP {last.status_code}" if last.status_code else "failed")
        endpoints.append(
            EndpointHealth(
                subscription=sub,
                last_success_at=successes.get(sub.id),
                last_attempt_at=last.attempted_at if last else None,
                last_status_code=last.status_code if last else None,
                last_error=error,
                consecutive_failures=int(failures.get(sub.id, 0)),
                pending=int(pending.get(sub.id, 0)),
            )
        )
    return DeliveryHealth(
        endpoints=endpoints, outbox_pending=int(total or 0), oldest_pending_at=oldest
    )
