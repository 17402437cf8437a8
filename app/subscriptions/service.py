"""Subscriptions: create, read, change, delete, rotate secrets; who may manage which.

Filters left empty match everything; a city office's or coordinator's subscription always
has a city filter within its scope (an empty one is filled with the whole scope), so it
can never receive another city's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alerts.events import EVENT_TYPES, EventType
from alerts.levels import Level
from alerts.signing import new_secret
from app.auth.service import Principal
from app.cities.registry import load_registry
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
) -> CreatedSubscription:
    """Store an endpoint and its first ``whsec_`` secret (returned once)."""
    row = Subscription(
        url=url,
        description=description,
        owner_key_id=owner.key_id,
        owner_role=owner.role.value,
        owner_name=owner.name,
        city_codes=filters.cities,
        # A coordinator's endpoint also follows its regions' own events (proposals).
        region_codes=sorted(owner.region_codes),
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
