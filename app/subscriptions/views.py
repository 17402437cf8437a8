"""`/v1/subscriptions`: webhook endpoints, their secrets, test pings, history and replay.

Every route needs an API key. Admins and duty officers manage every subscription; city
offices and coordinators manage their own, for cities within their scope (403 otherwise,
saying why, without showing anything of the other subscription).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from app.auth.deps import AuthenticatedUser, require
from app.auth.service import Principal, Role
from app.deps import DbSession, SettingsDep
from app.errors import ProblemError, problem_responses
from app.outbox.service import (
    PING_EVENT_TYPE,
    DisableReason,
    delivery_history,
    disable_subscription,
    enable_subscription,
    enqueue_ping,
    replay,
)
from app.request_limits import INT32_MAX
from app.subscriptions.models import Subscription
from app.subscriptions.schemas import (
    AttemptRead,
    DeliveryHealthRead,
    DeliveryPage,
    DeliveryRead,
    EndpointHealthRead,
    PingAccepted,
    ReplayAccepted,
    SecretRead,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionRead,
    SubscriptionUpdate,
)
from app.subscriptions.service import (
    RegionScopeError,
    SubscriptionInputError,
    check_filters,
    check_regions,
    check_webhook_url,
    cities_outside_scope,
    create_subscription,
    delivery_health,
    list_subscriptions,
    refusal,
    rotate_secret,
    signing_secrets,
)
from app.timestamps import utcnow

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

SubscriptionId = Annotated[int, Path(ge=1, le=INT32_MAX, description="subscription id")]
REPLAY_IDS_SHOWN = 1000


def _invalid(exc: SubscriptionInputError) -> ProblemError:
    return ProblemError(422, "Invalid request", str(exc), field=exc.field)


def _read(db: Session, row: Subscription, now: datetime) -> SubscriptionRead:
    return SubscriptionRead(
        id=row.id,
        url=row.url,
        description=row.description,
        owner_name=row.owner_name,
        owner_role=row.owner_role,
        cities=list(row.city_codes or []),
        regions=list(row.region_codes or []),
        levels=list(row.levels or []),
        event_types=list(row.event_types or []),
        active=row.disabled_at is None,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        throttled_until=row.throttled_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
        signing_secrets=[SecretRead.model_validate(s) for s in signing_secrets(db, row.id, now)],
    )


def _scope_check(user: Principal, cities: list[str]) -> None:
    outside = cities_outside_scope(user, cities)
    if outside:
        require(user, cities=outside)  # raises the 403 naming the scope


def _subscription(db: Session, user: Principal, subscription_id: int) -> Subscription:
    row = db.get(Subscription, subscription_id)
    if row is None:
        raise ProblemError(
            404, "Not found", f"no subscription {subscription_id}", field="path.subscription_id"
        )
    why = refusal(user, row)
    if why is not None:
        raise ProblemError(403, "Forbidden", why)
    return row


@router.post(
    "",
    response_model=SubscriptionCreated,
    status_code=201,
    responses=problem_responses(403),  # a city filter outside the key's scope
)
def create(
    db: DbSession, user: AuthenticatedUser, settings: SettingsDep, body: SubscriptionCreate
) -> SubscriptionCreated:
    """Register an endpoint. The `whsec_` signing secret is in this answer only."""
    if body.cities:
        _scope_check(user, body.cities)
    try:
        url = check_webhook_url(body.url, allow_private=settings.allow_private_webhooks)
        filters = check_filters(
            user, cities=body.cities, levels=body.levels, event_types=body.event_types
        )
        regions = check_regions(user, body.regions)
    except SubscriptionInputError as exc:
        raise _invalid(exc) from None
    except RegionScopeError as exc:
        raise ProblemError(403, "Forbidden", str(exc)) from None
    now = utcnow()
    created = create_subscription(
        db, user, url=url, description=body.description, filters=filters, now=now, regions=regions
    )
    read = _read(db, created.row, now)
    return SubscriptionCreated(**read.model_dump(), secret=created.secret)


@router.get("", response_model=SubscriptionList)
def list_(db: DbSession, user: AuthenticatedUser) -> SubscriptionList:
    """The subscriptions this key may see (all of them for admins and duty officers)."""
    now = utcnow()
    items = [_read(db, row, now) for row in list_subscriptions(db, user)]
    return SubscriptionList(items=items, total=len(items))


# Declared before "/{subscription_id}", which would otherwise take "health" for an id.
@router.get("/health", response_model=DeliveryHealthRead)
def health(db: DbSession, user: AuthenticatedUser) -> DeliveryHealthRead:
    """Delivery health (admin, duty officer): per endpoint the last success, consecutive
    failures, last error and disabled state; the outbox depth and its oldest delivery."""
    require(user, Role.ADMIN, Role.DUTY_OFFICER)
    now = utcnow()
    found = delivery_health(db)
    oldest = found.oldest_pending_at
    return DeliveryHealthRead(
        endpoints=[
            EndpointHealthRead(
                id=e.subscription.id,
                url=e.subscription.url,
                owner_name=e.subscription.owner_name,
                owner_role=e.subscription.owner_role,
                cities=list(e.subscription.city_codes or []),
                active=e.subscription.disabled_at is None,
                disabled_at=e.subscription.disabled_at,
                disabled_reason=e.subscription.disabled_reason,
                failing=e.last_error is not None,
                failing_since=e.subscription.failing_since,
                last_success_at=e.last_success_at,
                last_attempt_at=e.last_attempt_at,
                last_status_code=e.last_status_code,
                last_error=e.last_error,
                consecutive_failures=e.consecutive_failures,
                pending=e.pending,
            )
            for e in found.endpoints
        ],
        outbox_pending=found.outbox_pending,
        oldest_pending_at=oldest,
        oldest_pending_age_seconds=None if oldest is None else (now - oldest).total_seconds(),
        checked_at=now,
    )


@router.get("/{subscription_id}", response_model=SubscriptionRead)
def get(
    db: DbSession, user: AuthenticatedUser, subscription_id: SubscriptionId
) -> SubscriptionRead:
    return _read(db, _subscription(db, user, subscription_id), utcnow())


@router.patch("/{subscription_id}", response_model=SubscriptionRead)
def change(
    db: DbSession,
    user: AuthenticatedUser,
    settings: SettingsDep,
    subscription_id: SubscriptionId,
    body: SubscriptionUpdate,
) -> SubscriptionRead:
    """Change the URL, description or filters; `active` false/true disables/re-enables."""
    row = _subscription(db, user, subscription_id)
    now = utcnow()
    if body.cities:
        _scope_check(user, body.cities)
    try:
        if body.url is not None:
            row.url = check_webhook_url(body.url, allow_private=settings.allow_private_webhooks)
        if body.cities is not None or body.levels is not None or body.event_types is not None:
            filters = check_filters(
                user,
                cities=row.city_codes if body.cities is None else body.cities,
                levels=row.levels if body.levels is None else body.levels,
                event_types=row.event_types if body.event_types is None else body.event_types,
            )
            row.city_codes, row.levels, row.event_types = (
                filters.cities,
                filters.levels,
                filters.event_types,
            )
        if body.regions is not None:
            row.region_codes = check_regions(user, body.regions)
    except SubscriptionInputError as exc:
        raise _invalid(exc) from None
    except RegionScopeError as exc:
        raise ProblemError(403, "Forbidden", str(exc)) from None
    if body.description is not None:
        row.description = body.description
    if body.active is False and row.disabled_at is None:
        disable_subscription(db, row, reason=DisableReason.MANUAL, now=now)
    elif body.active is True and row.disabled_at is not None:
        enable_subscription(db, row, now)
    row.updated_at = now
    db.flush()
    return _read(db, row, now)


@router.delete("/{subscription_id}", status_code=204)
def delete(db: DbSession, user: AuthenticatedUser, subscription_id: SubscriptionId) -> Response:
    """Remove the endpoint with its secrets and delivery history."""
    db.delete(_subscription(db, user, subscription_id))
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", response_model=SecretRotated)
def rotate(
    db: DbSession, user: AuthenticatedUser, settings: SettingsDep, subscription_id: SubscriptionId
) -> SecretRotated:
    """A new signing secret (shown once). Old and new both sign until the overlap ends
    (`HAZEWARN_SECRET_OVERLAP_HOURS`, default 24), so the receiver can switch at leisure."""
    row = _subscription(db, user, subscription_id)
    secret, until = rotate_secret(
        db, row, now=utcnow(), overlap=timedelta(hours=settings.secret_overlap_hours)
    )
    return SecretRotated(secret=secret, previous_secrets_expire_at=until)


def _require_active(row: Subscription) -> None:
    if row.disabled_at is not None:
        raise ProblemError(
            409,
            "Conflict",
            f"subscription {row.id} is disabled ({row.disabled_reason}); "
            're-enable it first with PATCH {"active": true}',
        )


@router.post("/{subscription_id}/ping", response_model=PingAccepted, status_code=202)
def ping(db: DbSession, user: AuthenticatedUser, subscription_id: SubscriptionId) -> PingAccepted:
    """Send a signed test event (`endpoint.ping`) to this endpoint through the outbox."""
    row = _subscription(db, user, subscription_id)
    _require_active(row)
    event = enqueue_ping(db, row, utcnow())
    return PingAccepted(event_id=event.id, type=PING_EVENT_TYPE)


@router.get("/{subscription_id}/deliveries", response_model=DeliveryPage)
def deliveries(
    db: DbSession,
    user: AuthenticatedUser,
    subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="delivery id cursor")] = None,
    status: Annotated[Literal["pending", "delivered", "failed", "dead"] | None, Query()] = None,
) -> DeliveryPage:
    """This endpoint's deliveries, newest first, each with every attempt (status, latency,
    error)."""
    _subscription(db, user, subscription_id)
    history = delivery_history(db, subscription_id, limit=limit, before=before, status=status)
    items = [
        DeliveryRead(
            id=h.delivery.id,
            event_id=h.delivery.event_id,
            event_type=h.event_type,
            status=h.delivery.status,
            attempts=h.delivery.attempts,
            next_attempt_at=h.delivery.next_attempt_at,
            first_attempt_at=h.delivery.first_attempt_at,
            last_attempt_at=h.delivery.last_attempt_at,
            delivered_at=h.delivery.delivered_at,
            last_status=h.delivery.last_status,
            last_error=h.delivery.last_error,
            created_at=h.delivery.created_at,
            attempt_log=[AttemptRead.model_validate(a) for a in h.attempts],
        )
        for h in history
    ]
    next_before = items[-1].id if len(items) == limit else None
    return DeliveryPage(items=items, next_before=next_before)


@router.post("/{subscription_id}/replay", response_model=ReplayAccepted, status_code=202)
def replay_since(
    db: DbSession,
    user: AuthenticatedUser,
    subscription_id: SubscriptionId,
    since: Annotated[datetime, Query(description="ISO 8601; without an offset it is UTC")],
) -> ReplayAccepted:
    """Send again every matching event since `since`, with the same event ids."""
    row = _subscription(db, user, subscription_id)
    _require_active(row)
    now = utcnow()
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    if since > now:
        raise ProblemError(422, "Invalid request", "since is in the future", field="query.since")
    ids = replay(db, row, since.astimezone(UTC), now)
    return ReplayAccepted(since=since, replayed=len(ids), event_ids=ids[:REPLAY_IDS_SHOWN])
