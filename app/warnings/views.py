"""Warning endpoints: lists and details (public), proposals and actions (duty officers),
acknowledgements (city offices), CAP 1.2 and the Atom index, and the monthly ranking.

Public callers see warnings that have been issued; proposals (and proposals rejected or
withdrawn before issue) are for staff (admins and duty officers) only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from alerts.cap import CAP_MIME_TYPE
from alerts.levels import Level
from app.auth.deps import CurrentUser, get_current_user, require
from app.auth.service import Principal, Role
from app.cities.models import City
from app.config import get_settings
from app.database import session_scope
from app.deps import DbSession
from app.errors import ProblemError
from app.plans.schemas import ActionRead
from app.regional import service as regional_service
from app.request_limits import INT32_MAX
from app.timestamps import utcnow
from app.warnings import (
    actors,
    errors,
    payloads,
    public_reads,
    publishing,
    queries,
    rankings,
    service,
)
from app.warnings.models import CityWarning, WarningEvent
from app.warnings.schemas import (
    AckRead,
    ApproveBody,
    ExtendBody,
    HistoryEntry,
    LevelBody,
    MonthlyRanking,
    RankedCity,
    ReasonBody,
    WarningDetail,
    WarningList,
    WarningRead,
)

router = APIRouter(tags=["warnings"])

WarningId = Annotated[int, Path(ge=1, le=INT32_MAX, description="warning id", examples=[42])]
STAFF = (Role.DUTY_OFFICER, Role.ADMIN)
JSON_MEDIA_TYPE = "application/json"
STATES = ("proposed", "issued", "upgraded", "downgraded", "lifted", "rejected", "cancelled")


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if moment is None else moment.astimezone(zone)


def warning_read(warning: CityWarning, city: City, now: datetime) -> dict[str, Any]:
    """The fields of `WarningRead` for a stored warning at ``now``.

    The actions are the stored payload's, JSON-ready dicts in the shape of
    `EventActionRead`: pydantic-core validates them with the rest of the response in one
    call (`warning_list`), instead of a Python model being built per action (a warning
    carries 20-30 of them)."""
    zone = ZoneInfo(city.timezone)
    payload = warning.payload or {}
    level = Level(warning.level)
    return {
        "id": str(warning.id),
        "episode_id": warning.episode_id,
        "city_code": city.code,
        "city_name_zh": city.name_zh,
        "city_name_en": city.name_en,
        "timezone": city.timezone,
        "level": level,
        "level_name_zh": level.warning_name_zh,
        "response_level": level.response_grade,
        "state": warning.state,
        "active": queries.is_active(warning, now),
        "pending_level": warning.pending_level,
        "pending_kind": warning.pending_kind,
        "pending_since": warning.pending_since,
        "issue_by": warning.issue_by,
        "issue_by_local": _local(warning.issue_by, zone),
        "drill": warning.drill,
        "effective": warning.effective,
        "effective_local": _local(warning.effective, zone),
        "expires": warning.expires,
        "expires_local": _local(warning.expires, zone),
        "proposed_at": warning.proposed_at,
        "issued_at": warning.issued_at,
        "issued_at_local": _local(warning.issued_at, zone),
        "level_since": warning.level_since,
        "lifted_at": warning.lifted_at,
        "lifted_at_local": _local(warning.lifted_at, zone),
        "aqi_forecast": warning.aqi_forecast,
        "primary_pollutant": payloads.PRIMARY_POLLUTANT,
        "required_cut_pct": payload.get("required_cut_pct"),
        "regional_warning_id": payload.get("regional_warning_id"),
        "forecast_run_id": warning.forecast_run_id,
        "plan_version": warning.plan_version,
        "lead_hours": warning.lead_hours,
        # A proposal still waiting past its approve-by time is late already: approving it
        # now would issue it under the lead time (`warning.late` is set at issue).
        "late": warning.late
        or (
            warning.state == "proposed" and warning.issue_by is not None and now > warning.issue_by
        ),
        "reason_zh": warning.reason_zh,
        "reason_en": warning.reason_en,
        "acknowledged_at": warning.acknowledged_at,
        "acknowledged_at_local": _local(warning.acknowledged_at, zone),
        "acknowledged_by": warning.acknowledged_by,
        "cap_identifier": warning.cap_identifier,
        "cap_msg_type": warning.cap_msg_type,
        "cap_sent": warning.cap_sent,
        "cap_url": payloads.cap_url(warning.id) if warning.cap_identifier else None,
        "actions": payload.get("actions", []),
    }


def warning_list(
    rows: Sequence[tuple[CityWarning, City]], now: datetime, total: int, limit: int, offset: int
) -> WarningList:
    """The list response at ``now``, validated in one pass."""
    return WarningList.model_validate(
        {
            "items": [warning_read(w, c, now) for w, c in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def _history(entry: WarningEvent, zone: ZoneInfo) -> HistoryEntry:
    return HistoryEntry(
        id=entry.id,
        at=entry.at,
        at_local=entry.at.astimezone(zone),
        actor=entry.actor,
        actor_role=entry.actor_role,
        kind=entry.kind,
        reason=entry.reason,
        reason_zh=entry.reason_zh,
        reason_en=entry.reason_en,
        before=entry.before,
        after=entry.after,
        run_id=entry.run_id,
        plan_version=entry.plan_version,
        public=entry.public,
        drill=entry.drill,
        lead_hours=entry.lead_hours,
        late=entry.late,
        outbox_event_id=entry.outbox_event_id,
    )


def _is_staff(user: Principal | None) -> bool:
    return user is not None and user.is_staff


def _visible(db: DbSession, warning_id: int, user: Principal | None) -> tuple[CityWarning, City]:
    """The warning and its city; 404 if missing or (for non-staff) never issued."""
    try:
        warning = service.get_warning(db, warning_id)
    except errors.WarningNotFoundError:
        raise ProblemError(
            404, "Not found", f"no warning {warning_id}", field="path.warning_id"
        ) from None
    if warning.issued_at is None and not _is_staff(user):
        raise ProblemError(404, "Not found", f"no warning {warning_id}", field="path.warning_id")
    city = db.get(City, warning.city_code)
    assert city is not None
    return warning, city


def _aware(moment: datetime | None, field: str) -> datetime | None:
    """Query times need an offset (``Z`` or ``+08:00``)."""
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ProblemError(
            422,
            "Invalid request",
            f"{field.split('.')[-1]} needs a UTC offset, e.g. 2016-12-16T00:00:00+08:00",
            field=field,
        )
    return moment


@router.get("/v1/warnings", response_model=WarningList)
async def warnings(
    request: Request,
    city: Annotated[str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code")] = None,
    region: Annotated[
        str | None, Query(max_length=64, description="only member cities of this region")
    ] = None,
    level: Annotated[Level | None, Query(description="blue, yellow, orange or red")] = None,
    active: Annotated[
        bool | None, Query(description="true: issued and not expired; false: the others")
    ] = None,
    state: Annotated[
        str | None, Query(pattern="^(" + "|".join(STATES) + ")$", description="warning state")
    ] = None,
    drill: Annotated[
        bool | None, Query(description="only exercises (true) or real (false)")
    ] = None,
    start: Annotated[
        datetime | None, Query(description="window ends after this (ISO 8601 with offset)")
    ] = None,
    end: Annotated[
        datetime | None, Query(description="window starts before this (ISO 8601 with offset)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Warnings, newest first, with filters and pages. Public: issued warnings only; staff
    also see proposals. Anonymous answers are served from memory while the warnings are
    unchanged (`app.warnings.public_reads`)."""
    start_at, end_at = _aware(start, "query.start"), _aware(end, "query.end")
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise ProblemError(422, "Invalid request", "end must be after start", field="query.end")
    filters = queries.WarningFilters(
        city=city,
        cities=_region_cities(region),
        level=level,
        state=state,
        active=active,
        drill=drill,
        start=start_at,
        end=end_at,
        published_only=True,
    )

    def render(db: Session, now: datetime) -> public_reads.Rendered:
        rows, total = queries.list_warnings(db, filters, now, limit, offset)
        body = warning_list(rows, now, total, limit, offset).model_dump_json().encode()
        return public_reads.Rendered(body, valid_until=None)

    if authorization is None and x_api_key is None:
        key = public_reads.request_key("list", request.scope["query_string"])
        return await _public_read(request, key, render, JSON_MEDIA_TYPE)

    def for_user() -> bytes:
        with session_scope() as db:
            user = get_current_user(db, authorization, x_api_key)
            staff_filters = replace(filters, published_only=not _is_staff(user))
            now = utcnow()
            rows, total = queries.list_warnings(db, staff_filters, now, limit, offset)
            return warning_list(rows, now, total, limit, offset).model_dump_json().encode()

    return Response(content=await run_in_threadpool(for_user), media_type=JSON_MEDIA_TYPE)


async def _public_read(
    request: Request,
    key: Hashable,
    render: Callable[[Session, datetime], public_reads.Rendered],
    media_type: str,
) -> Response:
    """A public read the cache in front of the app (`public_reads.PublicReadMiddleware`)
    did not answer: check the database version on a worker thread and serve the cached answer
    if it still holds, else render (and cache) it; ETag and 304 either way."""
    cache = public_reads.public_cache

    def check() -> public_reads.PublicRead | public_reads.Rendered:
        with session_scope() as db:
            return cache.revalidate(key, db, utcnow(), render, media_type)

    entry = await run_in_threadpool(check)
    if isinstance(entry, public_reads.Rendered):
        return Response(content=entry.body, media_type=media_type)
    headers = {"ETag": entry.etag}
    if request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers=headers)
    return Response(content=entry.body, media_type=media_type, headers=headers)


@router.get("/v1/warnings/unacknowledged", response_model=WarningList)
def unacknowledged(db: DbSession, user: CurrentUser) -> WarningList:
    """Active warnings the city office has not acknowledged ``HAZEWARN_ACK_GRACE_MINUTES``
    after their last announced change (duty officers)."""
    require(user, *STAFF)
    grace = timedelta(minutes=get_settings().ack_grace_minutes)
    now = utcnow()
    rows = queries.list_unacknowledged(db, now, grace)
    return warning_list(rows, now, len(rows), len(rows), 0)


@router.get("/v1/warnings/{warning_id}", response_model=WarningDetail)
def warning_detail(db: DbSession, user: CurrentUser, warning_id: WarningId) -> WarningDetail:
    """One warning with its plan's actions (effective times on the city clock) and its
    audit history."""
    warning, city = _visible(db, warning_id, user)
    zone = ZoneInfo(city.timezone)
    plan = queries.warning_plan(db, warning)
    actions = payloads.warning_actions(warning, plan) if plan is not None else []
    fields = warning_read(warning, city, utcnow())
    fields["actions"] = [ActionRead.of(action) for action in actions]
    fields["history"] = [_history(entry, zone) for entry in queries.history(db, warning.id)]
    return WarningDetail(**fields)


# --- proposals and actions (duty officers) ------------------------------------------------


@router.get("/v1/proposals", response_model=WarningList)
def proposals(
    db: DbSession,
    user: CurrentUser,
    drill: Annotated[
        bool | None, Query(description="only exercises (true) or real (false)")
    ] = None,
    region: Annotated[
        str | None, Query(max_length=64, description="only member cities of this region")
    ] = None,
) -> WarningList:
    """Everything waiting for a duty officer: new warnings and level changes, oldest first."""
    require(user, *STAFF)
    now = utcnow()
    rows = queries.list_proposals(db, drill=drill, now=now, cities=_region_cities(region))
    return warning_list(rows, now, len(rows), len(rows), 0)


def _region_cities(region: str | None) -> tuple[str, ...] | None:
    """The member cities of ``?region=`` (None when not given; 422 when unknown)."""
    if region is None:
        return None
    found = regional_service.regions().get(region)
    if found is None:
        raise ProblemError(
            422, "Invalid request", f"unknown region {region!r}", field="query.region"
        )
    return found.member_codes


def _actor(user: Principal) -> actors.Actor:
    return actors.Actor(name=user.name, key_id=user.key_id, role=user.role.value)


def _acted(db: DbSession, warning: CityWarning) -> WarningRead:
    city = db.get(City, warning.city_code)
    assert city is not None
    return WarningRead.model_validate(warning_read(warning, city, utcnow()))


def _run(db: DbSession, warning_id: int, action: Any) -> WarningRead:
    """Run a service action, mapping its errors to 404 / 409 problems."""
    try:
        warning = action()
    except errors.WarningNotFoundError:
        raise ProblemError(
            404, "Not found", f"no warning {warning_id}", field="path.warning_id"
        ) from None
    except errors.WarningConflictError as exc:
        raise ProblemError(409, "Conflict", str(exc)) from None
    return _acted(db, warning)


@router.post("/v1/proposals/{warning_id}/approve", response_model=WarningRead)
def approve(
    db: DbSession, user: CurrentUser, warning_id: WarningId, body: ApproveBody | None = None
) -> WarningRead:
    """Approve a proposal (optionally at another level): the warning is issued or its
    level changed, announced (webhook, CAP) and recorded in the audit trail."""
    officer = require(user, *STAFF)
    body = body or ApproveBody()
    return _run(
        db,
        warning_id,
        lambda: service.approve(
            db, warning_id, _actor(officer), utcnow(), reason=body.reason or "", level=body.level
        ),
    )


@router.post("/v1/proposals/{warning_id}/reject", response_model=WarningRead)
def reject(
    db: DbSession, user: CurrentUser, warning_id: WarningId, body: ReasonBody
) -> WarningRead:
    """Reject a proposal; a reason is required."""
    officer = require(user, *STAFF)
    return _run(
        db,
        warning_id,
        lambda: service.reject(db, warning_id, _actor(officer), utcnow(), body.reason),
    )


@router.post("/v1/warnings/{warning_id}/upgrade", response_model=WarningRead)
def upgrade(
    db: DbSession, user: CurrentUser, warning_id: WarningId, body: LevelBody
) -> WarningRead:
    """Raise an active warning by hand (held: the system does not downgrade below it)."""
    officer = require(user, *STAFF)
    return _run(
        db,
        warning_id,
        lambda: service.upgrade(db, warning_id, _actor(officer), utcnow(), body.level, body.reason),
    )


@router.post("/v1/warnings/{warning_id}/downgrade", response_model=WarningRead)
def downgrade(
    db: DbSession, user: CurrentUser, warning_id: WarningId, body: LevelBody
) -> WarningRead:
    """Lower an active warning by hand."""
    officer = require(user, *STAFF)
    return _run(
        db,
        warning_id,
        lambda: service.downgrade(
            db, warning_id, _actor(officer), utcnow(), body.level, body.reason
        ),
    )


@router.post("/v1/warnings/{warning_id}/extend", response_model=WarningRead)
def extend(
    db: DbSession, user: CurrentUser, warning_id: WarningId, body: ExtendBody
) -> WarningRead:
    """Extend an active warning's window to ``until``."""
    officer = require(user, *STAFF)
    return _run(
        db,
        warning_id,
        lambda: service.extend(db, warning_id, _actor(officer), utcnow(), body.until, body.reason),
    )


@router.post("/v1/warnings/{warning_id}/lift", response_model=WarningRead)
def lift(db: DbSession, user: CurrentUser, warning_id: WarningId, body: ReasonBody) -> WarningRead:
    """Lift an active warning by hand (a CAP Cancel and a ``warning.lifted`` event)."""
    officer = require(user, *STAFF)
    return _run(
        db, warning_id, lambda: service.lift(db, warning_id, _actor(officer), utcnow(), body.reason)
    )


@router.post("/v1/warnings/{warning_id}/ack", response_model=AckRead)
def acknowledge(db: DbSession, user: CurrentUser, warning_id: WarningId) -> AckRead:
    """The city office of the warning's city acknowledges its last announced change."""
    office = require(user, Role.CITY_OFFICE)
    warning, city = _visible(db, warning_id, office)
    require(office, Role.CITY_OFFICE, city=warning.city_code)
    try:
        warning, recorded = service.acknowledge(db, warning.id, _actor(office), utcnow())
    except errors.WarningConflictError as exc:
        raise ProblemError(409, "Conflict", str(exc)) from None
    assert warning.acknowledged_at is not None and warning.acknowledged_by is not None
    return AckRead(
        warning_id=str(warning.id),
        city_code=city.code,
        acknowledged_at=warning.acknowledged_at,
        acknowledged_at_local=warning.acknowledged_at.astimezone(ZoneInfo(city.timezone)),
        acknowledged_by=warning.acknowledged_by,
        recorded=recorded,
    )


# --- publishing reads -------------------------------------------------------------------------


@router.get(
    "/v1/cap/{warning_id}.xml",
    response_class=Response,
    responses={200: {"content": {CAP_MIME_TYPE: {}}, "description": "CAP 1.2 alert"}},
)
def cap(db: DbSession, user: CurrentUser, warning_id: WarningId) -> Response:
    """The warning's last CAP 1.2 message: Alert (first issue), Update (level change or
    extension; references the earlier messages) or Cancel (lift); Exercise in drill."""
    warning, city = _visible(db, warning_id, user)
    try:
        body = publishing.render_warning_cap(db, warning, city)
    except publishing.NoCapMessageError as exc:
        raise ProblemError(404, "Not found", str(exc), field="path.warning_id") from None
    return Response(content=body, media_type=CAP_MIME_TYPE)


@router.get(
    "/v1/feeds/cap.atom",
    response_class=Response,
    responses={200: {"content": {publishing.ATOM_MEDIA_TYPE: {}}, "description": "Atom"}},
)
async def cap_feed(request: Request) -> Response:
    """Atom index of the active CAP alerts (one entry per warning, newest first); served
    from memory while the warnings are unchanged (`app.warnings.public_reads`)."""

    def render(db: Session, now: datetime) -> public_reads.Rendered:
        body, entries = publishing.render_feed_counted(db, now)
        # An empty index is dated now: render it each time (it costs nothing).
        return public_reads.Rendered(body, valid_until=None, cacheable=entries > 0)

    key = public_reads.request_key("atom", request.scope["query_string"])
    return await _public_read(request, key, render, publishing.ATOM_MEDIA_TYPE)


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@router.get("/v1/rankings/monthly", response_model=MonthlyRanking)
def monthly_ranking(
    db: DbSession,
    month: Annotated[str, Query(description="YYYY-MM", examples=["2016-12"])],
) -> MonthlyRanking:
    """The 10 best and 10 worst cities by average daily AQI (observed) in the month."""
    match = _MONTH.match(month)
    if match is None:
        raise ProblemError(
            422, "Invalid request", f"month {month!r} must be YYYY-MM", field="query.month"
        )
    first = date(int(match.group(1)), int(match.group(2)), 1)
    ranked = rankings.monthly_ranking(db, first)

    def entry(rank: int, item: rankings.CityMonth) -> RankedCity:
        return RankedCity(
            rank=rank,
            city_code=item.city_code,
            name_zh=item.name_zh,
            name_en=item.name_en,
            average_aqi=item.average_aqi,
            days=item.days,
            worst_day_aqi=item.worst_day_aqi,
        )

    best = [entry(i + 1, item) for i, item in enumerate(ranked[: rankings.TOP_N])]
    worst_first = list(reversed(ranked))[: rankings.TOP_N]
    worst = [entry(len(ranked) - i, item) for i, item in enumerate(worst_first)]
    return MonthlyRanking(month=month, cities_ranked=len(ranked), best=best, worst=worst)
