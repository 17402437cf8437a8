"""Subscriptions: create, read, change, delete, rotate secrets; who may manage which.

Filters left empty match everything; a city office's or coordinator's subscription always
has a city filter within its scope (an empty one is filled with the whole scope), so it
can never receive another city's events.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alerts.events import EVENT_TYPES, EventType
from alerts.levels import Level
from alerts.signing import new_secret
from app.auth.service import Principal, Role
from app.cities.registry import load_regions, load_registry
from app.subscriptions.models import Subscription, SubscriptionSecret

ALLOWED_SCHEMES = ("http", "https")
LEVELS: tuple[str, ...] = tuple(level.value for level in Level)


class SubscriptionInputError(ValueError):
    """A request value is refused; ``field`` names it (``body.url``, ``body.cities``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not receive webhooks (SSRF), or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for label, flag in (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local", address.is_link_local),
        ("reserved", address.is_reserved),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
    ):
        if flag:
            return label
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """The URL if it may receive webhooks; SubscriptionInputError('body.url', why) if not.

    http(s) only, a host, no credentials. Unless ``allow_private``, the host is resolved and
    every address must be public: loopback, private, link-local, reserved, multicast and
    unspecified ranges are refused so a subscription cannot aim our requests at internal
    services. (A DNS answer can change later; an egress proxy is the complete defence.)
    """
    field = "body.url"
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SubscriptionInputError(field, f"not a valid URL: {exc}") from None
    if parts.scheme not in ALLOWED_SCHEMES:
        raise SubscriptionInputError(field, "webhook URL must start with https:// or http://")
    if not parts.hostname:
        raise SubscriptionInputError(field, "webhook URL has no host")
    if parts.username or parts.password:
        raise SubscriptionInputError(field, "webhook URL must not carry credentials")
    if allow_private:
        return url
    host = parts.hostname
    try:
        addresses = resolve_host(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise SubscriptionInputError(field, f"host {host!r} does not resolve: {exc}") from None
    for text in addresses:
        why = _blocked(ipaddress.ip_address(text.split("%", 1)[0]))
        if why:
            raise SubscriptionInputError(
                field,
                f"host {host!r} resolves to {why} address {text}; "
                "webhooks go to public addresses only",
            )
    return url


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
