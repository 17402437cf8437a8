"""Region and regional warning endpoints.

Reads: ``/v1/regions`` (public; the active warning shown is an issued one),
``/v1/regional-warnings`` (public callers see issued and lifted ones; staff and the
region's coordinators also see proposals and rejections). Writes: the region's
coordinators and admins only; every refusal is a 403 problem saying why, naming only the
caller's own scope. A city office never acts on a regional warning.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from alerts import regional as rules
from alerts.levels import Level
from app.auth.deps import CurrentUser, require
from app.auth.service import Principal, Role
from app.cities.models import City
from app.deps import DbSession
from app.errors import ProblemError, problem_responses
from app.regional import evaluation, members, publishing, service
from app.regional.models import RegionalWarning
from app.regional.schemas import (
    AdjustBody,
    ApproveBody,
    Compliance,
    DeclareBody,
    ExtendBody,
    MemberCompliance,
    MemberRow,
    ReasonBody,
    RegionalAuditRow,
    RegionalWarningDetail,
    RegionalWarningList,
    RegionalWarningRead,
    RegionDetail,
    RegionList,
    RegionRead,
)
from app.request_limits import INT32_MAX
from app.timestamps import utcnow
from app.warnings.actors import Actor
from app.warnings.payloads import utc_text
from contingency_plans.schema import Region

router = APIRouter(tags=["regional"])

RegionalId = Annotated[
    int, Path(ge=1, le=INT32_MAX, description="regional warning id", examples=[7])
]
WRITERS = (Role.COORDINATOR, Role.ADMIN)
PUBLIC_STATUSES = ("issued", "lifted")


def _sees_proposals(user: Principal | None, region_id: str) -> bool:
    if user is None:
        return False
    if user.is_staff:
        return True
    return user.role == Role.COORDINATOR and region_id in user.region_codes


def _coordinator(user: Principal | None, region_id: str) -> Principal:
    """The caller, if it may act for ``region_id`` (its coordinator, or an admin)."""
    principal = require(user, *WRITERS)
    if principal.role == Role.COORDINATOR and region_id not in principal.region_codes:
        raise ProblemError(
            403,
            "Forbidden",
            f"this key (coordinator) is scoped to {principal.describe_scope()}; "
            "it may not act for this regional warning",
        )
    return principal


def _actor(user: Principal) -> Actor:
    return Actor(name=user.name, key_id=user.key_id, role=user.role.value)


def _region(region_id: str, field: str) -> Region:
    try:
        return service.region_of(region_id)
    except service.RegionNotFoundError:
        raise ProblemError(404, "Not found", f"no region {region_id!r}", field=field) from None


def _read(db: DbSession, row: RegionalWarning) -> RegionalWarningRead:
    return RegionalWarningRead(**service.read_object(db, row, utcnow()))


def _visible(db: DbSession, warning_id: int, user: Principal | None) -> RegionalWarning:
    try:
        row = service.get_warning(db, warning_id)
    except service.RegionalNotFoundError:
        row = None
    if row is None or (
        row.status not in PUBLIC_STATUSES and not _sees_proposals(user, row.region_id)
    ):
        raise ProblemError(
            404, "Not found", f"no regional warning {warning_id}", field="path.warning_id"
        )
    return row


# --- regions ------------------------------------------------------------------------------


def _region_read(db: DbSession, region: Region) -> dict[str, Any]:
    now = utcnow()
    active = [
        row
        for row in service.active_warnings(db, region_id=region.id, drill=None)
        if row.ends_at is None or row.ends_at > now
    ]
    shown = max(active, key=lambda row: (Level(row.level), row.id), default=None)
    return {
        "id": region.id,
        "name_zh": region.region.name_zh,
        "name_en": region.region.name_en,
        "coordinator": {"zh": region.coordinator.zh, "en": region.coordinator.en},
        "members": list(region.member_codes),
        "criteria": region.criteria.model_dump(mode="json"),
        "active_warning": None if shown is None else _read(db, shown),
    }


@router.get("/v1/regions", response_model=RegionList)
def regions(db: DbSession) -> RegionList:
    """Every region with its members, criteria and the regional warning in force."""
    return RegionList(items=[RegionRead(**_region_read(db, r)) for r in service.regions().values()])


@router.get("/v1/regions/{region_id}", response_model=RegionDetail)
def region_detail(db: DbSession, region_id: str) -> RegionDetail:
    """One region and each member's own, regional and effective level and compliance."""
    region = _region(region_id, "path.region_id")
    fields = _region_read(db, region)
    active = fields["active_warning"]
    now = utcnow()
    compliance: dict[str, Compliance] = {}
    if active is not None:
        row = service.get_warning(db, int(active.id))
        for item in evaluation.compliance_of(db, row, now):
            data = evaluation.compliance_object(item)
            data.pop("city_code")
            compliance[item.city] = Compliance(**data)
    states = members.in_force_states(db)
    own = members.statuses(db, region.member_codes, False, now)
    rows = []
    for code in region.member_codes:
        city = db.get(City, code)
        mine = own.get(code)
        own_level = None if mine is None or mine.city_level is None else Level(mine.city_level)
        regional = rules.member_floor(code, now, states)
        effective = rules.effective_level(own_level, regional)
        named = next(m for m in region.members if m.code == code)
        rows.append(
            MemberRow(
                city_code=code,
                name_zh=city.name_zh if city is not None else named.name_zh,
                name_en=city.name_en if city is not None else named.name_en,
                lat=city.lat if city is not None else None,
                lon=city.lon if city is not None else None,
                own_level=None if own_level is None else own_level.value,
                regional_level=None if regional is None else regional.value,
                effective_level=None if effective is None else effective.value,
                compliance=compliance.get(code),
            )
        )
    return RegionDetail(**fields, member_status=rows)


# --- regional warnings: reads ---------------------------------------------------------------


@router.get(
    "/v1/regional-warnings", response_model=RegionalWarningList, responses=problem_responses(404)
)
def regional_warnings(
    db: DbSession,
    user: CurrentUser,
    region: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(proposed|issued|lifted|rejected)$")] = None,
    active: Annotated[bool | None, Query(description="true: issued and not ended")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # Bounded so that limit + offset (one query per visibility) stays a 64-bit integer.
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> RegionalWarningList:
    """Regional warnings, newest first. Proposals and rejections only for staff and the
    region's coordinators."""
    if region is not None:
        _region(region, "query.region")
    wanted = [region] if region is not None else list(service.regions())
    visible = [r for r in wanted if _sees_proposals(user, r)]
    hidden = [r for r in wanted if r not in visible]
    now = utcnow()
    rows, total = [], 0
    # Two queries at most: regions where the caller sees everything, and the others.
    for ids, statuses in ((visible, None), (hidden, PUBLIC_STATUSES)):
        if not ids or (statuses is not None and status is not None and status not in statuses):
            continue
        page, count = service.list_warnings(
            db,
            now,
            region_ids=ids,
            status=status,
            statuses=statuses,
            active=active,
            limit=limit + offset,
            offset=0,
        )
        rows.extend(page)
        total += count
    rows.sort(key=lambda row: row.id, reverse=True)
    return RegionalWarningList(
        items=[_read(db, row) for row in rows[offset : offset + limit]], total=total
    )


def _audit(entry: Any) -> RegionalAuditRow:
    return RegionalAuditRow(
        id=entry.id,
        at=utc_text(entry.at) or "",
        actor=entry.actor,
        actor_role=entry.actor_role,
        kind=entry.kind,
        reason=entry.reason,
        before=entry.before,
        after=entry.after,
        outbox_event_id=entry.outbox_event_id,
    )


def _detail(db: DbSession, row: RegionalWarning) -> RegionalWarningDetail:
    now = utcnow()
    return RegionalWarningDetail(
        **service.read_object(db, row, now),
        history=[_audit(entry) for entry in service.history(db, row.id)],
        compliance=[
            MemberCompliance(**evaluation.compliance_object(item))
            for item in evaluation.compliance_of(db, row, now)
        ],
    )


@router.get("/v1/regional-warnings/{warning_id}", response_model=RegionalWarningDetail)
def regional_warning(
    db: DbSession, user: CurrentUser, warning_id: RegionalId
) -> RegionalWarningDetail:
    """One regional warning with its audit history and each member's compliance."""
    return _detail(db, _visible(db, warning_id, user))


@router.get(
    "/v1/cap/regional/{warning_id}.xml",
    response_class=Response,
    responses={200: {"content": {publishing.CAP_MIME_TYPE: {}}, "description": "CAP 1.2"}},
)
def regional_cap(db: DbSession, user: CurrentUser, warning_id: RegionalId) -> Response:
    """The regional warning's last CAP 1.2 message (Alert, Update or Cancel; Exercise in
    drill), one ``<area>`` per member city."""
    row = _visible(db, warning_id, user)
    if row.cap_identifier is None:
        raise ProblemError(
            404,
            "Not found",
            f"regional warning {warning_id} has no CAP message (never issued)",
            field="path.warning_id",
        )
    return Response(
        content=publishing.render_regional_cap(db, row), media_type=publishing.CAP_MIME_TYPE
    )


# --- regional warnings: the coordinator's moves ---------------------------------------------


def _move(
    db: DbSession,
    user: Principal | None,
    warning_id: int,
    action: Callable[[Actor, datetime], RegionalWarning],
) -> RegionalWarningDetail:
    try:
        row = service.get_warning(db, warning_id)
    except service.RegionalNotFoundError:
        require(user, *WRITERS)
        raise ProblemError(
            404, "Not found", f"no regional warning {warning_id}", field="path.warning_id"
        ) from None
    principal = _coordinator(user, row.region_id)
    try:
        row = action(_actor(principal), utcnow())
    except service.RegionalConflictError as exc:
        raise ProblemError(409, "Conflict", str(exc)) from None
    return _detail(db, row)


@router.post(
    "/v1/regional-warnings",
    response_model=RegionalWarningDetail,
    status_code=201,
    responses=problem_responses(404),  # an unknown region
)
def declare(db: DbSession, user: CurrentUser, body: DeclareBody) -> RegionalWarningDetail:
    """Declare a regional warning by hand: issued at once, members raised at once."""
    region = _region(body.region_id, "body.region_id")
    principal = _coordinator(user, region.id)
    try:
        row = service.declare(
            db,
            region.id,
            _actor(principal),
            utcnow(),
            level=body.level,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            member_codes=body.members,
            reason=body.reason,
        )
    except service.RegionalConflictError as exc:
        raise ProblemError(422, "Invalid request", str(exc), field="body") from None
    return _detail(db, row)


@router.post("/v1/regional-warnings/{warning_id}/approve", response_model=RegionalWarningDetail)
def approve(
    db: DbSession, user: CurrentUser, warning_id: RegionalId, body: ApproveBody | None = None
) -> RegionalWarningDetail:
    reason = body.reason if body is not None and body.reason else ""
    return _move(
        db, user, warning_id, lambda a, now: service.approve(db, warning_id, a, now, reason)
    )


@router.post("/v1/regional-warnings/{warning_id}/reject", response_model=RegionalWarningDetail)
def reject(
    db: DbSession, user: CurrentUser, warning_id: RegionalId, body: ReasonBody
) -> RegionalWarningDetail:
    return _move(
        db, user, warning_id, lambda a, now: service.reject(db, warning_id, a, now, body.reason)
    )


@router.post("/v1/regional-warnings/{warning_id}/adjust", response_model=RegionalWarningDetail)
def adjust(
    db: DbSession, user: CurrentUser, warning_id: RegionalId, body: AdjustBody
) -> RegionalWarningDetail:
    return _move(
        db,
        user,
        warning_id,
        lambda a, now: service.adjust(
            db, warning_id, a, now, body.reason, level=body.level, member_codes=body.members
        ),
    )


@router.post("/v1/regional-warnings/{warning_id}/extend", response_model=RegionalWarningDetail)
def extend(
    db: DbSession, user: CurrentUser, warning_id: RegionalId, body: ExtendBody
) -> RegionalWarningDetail:
    return _move(
        db,
        user,
        warning_id,
        lambda a, now: service.extend(db, warning_id, a, now, body.ends_at, body.reason),
    )


@router.post("/v1/regional-warnings/{warning_id}/lift", response_model=RegionalWarningDetail)
def lift(
    db: DbSession, user: CurrentUser, warning_id: RegionalId, body: ReasonBody
) -> RegionalWarningDetail:
    """Lift it; every member is released and re-evaluated from its own latest forecast."""
    return _move(
        db, user, warning_id, lambda a, now: service.lift(db, warning_id, a, now, body.reason)
    )
