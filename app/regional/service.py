"""Regional warnings in the database: store the pure moves, act for coordinators, read back.

The rules are the pure `alerts.regional` (proposal, lifecycle, floor, refusal, compliance);
this module stores what they decide. Every move is written by `record` in the caller's
transaction: the regional warning row (its whole `RegionalState` as JSON), one append-only
`regional_warning_events` line (who, when, what, why, before/after), the outbox event
(`regional.proposed|issued|updated|lifted`) and, for announced changes, the next CAP
message of the regional alert. The members' own warnings follow in the same transaction
(`app.regional.members`): approval raises them to the regional level from the regional
start, a lift releases them and re-evaluates each from its own latest forecast.

Audiences: a proposal (and a rejection, or a proposal the forecast refreshed) goes to the
region's subscribers only; issued, updated and lifted go to the region's subscribers and
to every subscriber following one of its member cities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import regional as rules
from alerts.cap import cap_identifier
from alerts.events import EventType
from alerts.levels import Level
from app.cities.models import City
from app.config import get_settings
from app.outbox.service import enqueue_event
from app.regional import members
from app.regional.models import RegionalWarning, RegionalWarningEvent
from app.warnings.actors import SYSTEM_ACTOR, Actor
from app.warnings.payloads import local_text, utc_text
from contingency_plans.loader import load_regions as load_region_files
from contingency_plans.schema import Region

__all__ = [
    "RegionNotFoundError",
    "RegionalConflictError",
    "RegionalNotFoundError",
    "active_warnings",
    "adjust",
    "approve",
    "declare",
    "extend",
    "get_warning",
    "history",
    "lift",
    "list_warnings",
    "read_object",
    "record",
    "region_of",
    "region_zone",
    "regions",
    "reject",
    "state_of",
]

#: The zone regional times are shown in when no member city is known (all shipped regions
#: are in China).
DEFAULT_ZONE: Final = "Asia/Shanghai"
#: The CAP identifier's ``XX`` code of regional alerts (city warnings use ``00``).
REGIONAL_CAP_EXTRA_CODE: Final = "01"

_EVENT_OF_KIND: Final[dict[str, EventType]] = {
    "proposed": EventType.REGIONAL_PROPOSED,
    "issued": EventType.REGIONAL_ISSUED,
    "updated": EventType.REGIONAL_UPDATED,
    "lifted": EventType.REGIONAL_LIFTED,
    "rejected": EventType.REGIONAL_UPDATED,
}


class RegionNotFoundError(LookupError):
    """No region with that id."""


class RegionalNotFoundError(LookupError):
    """No regional warning with that id."""


class RegionalConflictError(ValueError):
    """The move does not fit the regional warning's state (the API answers 409)."""


# --- regions ----------------------------------------------------------------------------


@cache
def regions() -> dict[str, Region]:
    """The shipped regions (contingency_plans/regions/*.yaml), by id, validated once."""
    return load_region_files()


def region_of(region_id: str) -> Region:
    region = regions().get(region_id)
    if region is None:
        raise RegionNotFoundError(f"no region {region_id!r}")
    return region


def region_zone(session: Session, region: Region) -> str:
    """The zone of the region's first member city in the registry (regional local times)."""
    for code in region.member_codes:
        city = session.get(City, code)
        if city is not None:
            return city.timezone
    return DEFAULT_ZONE


# --- state and recording ----------------------------------------------------------------


def state_of(row: RegionalWarning) -> rules.RegionalState:
    return rules.RegionalState.from_dict(row.state)


def _sync(row: RegionalWarning, state: rules.RegionalState, now: datetime) -> None:
    row.status = state.status
    row.level = state.level.value
    row.starts_at = state.starts_at
    row.ends_at = state.ends_at
    row.members = list(state.members)
    row.triggering = list(state.triggering)
    row.reason = state.reason
    row.drill = state.drill
    row.proposed_at = state.proposed_at
    row.issued_at = state.issued_at
    row.issued_by = state.approved_by
    row.lifted_at = state.lifted_at
    row.lifted_by = state.lifted_by
    row.state = state.to_dict()
    row.updated_at = now


def _announced(state: rules.RegionalState, kind: str) -> bool:
    """Whether a move is announced to the members (and gets a CAP message)."""
    return kind in ("issued", "lifted") or (kind == "updated" and state.status == "issued")


def _next_cap_message(row: RegionalWarning, now: datetime) -> None:
    """Alert on issue, Update on a change, Cancel on lift; each references the earlier ones."""
    settings = get_settings()
    if row.cap_identifier is not None and row.cap_sent is not None:
        row.cap_references = [
            *row.cap_references,
            {
                "sender": settings.cap_sender,
                "identifier": row.cap_identifier,
                "sent": row.cap_sent.isoformat(),
            },
        ]
    if row.status == "lifted":
        msg_type = "Cancel"
    elif row.cap_identifier is None:
        msg_type = "Alert"
    else:
        msg_type = "Update"
    digit = (row.cap_sequence + (5 if row.drill else 0)) % 10
    sent = now.replace(microsecond=0)
    # The first member's code stands for the region in the NEWRS-style identifier; the
    # extra code 01 tells a regional alert from that city's own (00).
    row.cap_identifier = cap_identifier(
        row.members[0], sent, digit, extra_code=REGIONAL_CAP_EXTRA_CODE
    )
    row.cap_sent = sent
    row.cap_msg_type = msg_type
    row.cap_sequence += 1


def record(
    session: Session,
    row: RegionalWarning,
    state: rules.RegionalState,
    transition: rules.RegionalTransition,
    *,
    actor: Actor,
    now: datetime,
) -> RegionalWarning:
    """Write one pure move: the row, its audit line, its outbox event, its CAP message."""
    _sync(row, state, now)
    announced = _announced(state, transition.kind)
    if announced:
        _next_cap_message(row, now)
    session.flush()
    type_ = _EVENT_OF_KIND[transition.kind]
    event = enqueue_event(
        session,
        type_,
        read_object(session, row, now),
        now=now,
        level=row.level,
        region_code=row.region_id,
        member_codes=row.members if announced else (),
    )
    session.add(
        RegionalWarningEvent(
            regional_warning_id=row.id,
            region_id=row.region_id,
            at=now,
            actor=transition.actor if actor == SYSTEM_ACTOR else actor.name,
            actor_key_id=actor.key_id,
            actor_role=actor.role,
            kind=transition.kind,
            reason=transition.reason,
            before=None if transition.before is None else dict(transition.before),
            after=dict(transition.after),
            drill=state.drill,
            outbox_event_id=event.id,
        )
    )
    session.flush()
    return row


def new_row(session: Session, region_id: str, now: datetime, run_id: int | None) -> RegionalWarning:
    """An empty row to hold a new regional warning (its id names the pure state)."""
    row = RegionalWarning(
        region_id=region_id,
        status="proposed",
        level="",
        starts_at=now,
        members=[],
        triggering=[],
        reason="",
        drill=False,
        forecast_run_id=run_id,
        lagging_notified=[],
        state={},
        cap_sequence=0,
        cap_references=[],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


# --- the coordinator's moves ------------------------------------------------------------


def get_warning(session: Session, warning_id: int, for_update: bool = False) -> RegionalWarning:
    query = select(RegionalWarning).where(RegionalWarning.id == warning_id)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise RegionalNotFoundError(f"no regional warning {warning_id}")
    return row


Move = Callable[[rules.RegionalState], tuple[rules.RegionalState, rules.RegionalTransition]]


def _act(
    session: Session, warning_id: int, actor: Actor, now: datetime, move: Move
) -> RegionalWarning:
    row = get_warning(session, warning_id, for_update=True)
    before = state_of(row)
    try:
        state, transition = move(before)
    except rules.RegionalError as exc:
        raise RegionalConflictError(str(exc)) from None
    record(session, row, state, transition, actor=actor, now=now)
    _follow(session, before, state, now)
    return row


def _follow(
    session: Session,
    before: rules.RegionalState | None,
    state: rules.RegionalState,
    now: datetime,
) -> None:
    """The members follow the move: raised to the floor, released, or re-linked."""
    if state.status == "issued":
        if before is not None and before.status == "issued":
            dropped = [code for code in before.members if code not in state.members]
            members.release(session, before, now, cities=dropped)
        members.apply_floor(session, state, now)
    elif state.status == "lifted":
        members.release(session, state, now)


def approve(
    session: Session, warning_id: int, actor: Actor, now: datetime, reason: str = ""
) -> RegionalWarning:
    return _act(
        session,
        warning_id,
        actor,
        now,
        lambda s: rules.approve(s, at=now, actor=actor.name, reason=reason or None),
    )


def reject(
    session: Session, warning_id: int, actor: Actor, now: datetime, reason: str
) -> RegionalWarning:
    return _act(
        session,
        warning_id,
        actor,
        now,
        lambda s: rules.reject(s, at=now, actor=actor.name, reason=reason),
    )


def adjust(
    session: Session,
    warning_id: int,
    actor: Actor,
    now: datetime,
    reason: str,
    level: Level | None = None,
    member_codes: Sequence[str] | None = None,
) -> RegionalWarning:
    row = get_warning(session, warning_id)
    region = region_of(row.region_id)
    return _act(
        session,
        warning_id,
        actor,
        now,
        lambda s: rules.adjust(
            s,
            level=level,
            members=member_codes,
            at=now,
            actor=actor.name,
            reason=reason,
            region=region,
        ),
    )


def extend(
    session: Session, warning_id: int, actor: Actor, now: datetime, ends_at: datetime, reason: str
) -> RegionalWarning:
    return _act(
        session,
        warning_id,
        actor,
        now,
        lambda s: rules.extend(s, ends_at=ends_at, at=now, actor=actor.name, reason=reason),
    )


def lift(
    session: Session, warning_id: int, actor: Actor, now: datetime, reason: str
) -> RegionalWarning:
    return _act(
        session,
        warning_id,
        actor,
        now,
        lambda s: rules.lift(s, at=now, actor=actor.name, reason=reason),
    )


def declare(
    session: Session,
    region_id: str,
    actor: Actor,
    now: datetime,
    *,
    level: Level,
    starts_at: datetime,
    ends_at: datetime | None,
    member_codes: Sequence[str] | None,
    reason: str,
    drill: bool | None = None,
) -> RegionalWarning:
    """A regional warning declared by hand: issued at once, members raised at once."""
    region = region_of(region_id)
    is_drill = bool(get_settings().drill or drill)
    row = new_row(session, region.id, now, None)
    try:
        state, transition = rules.declare(
            region,
            level,
            starts_at,
            ends_at,
            member_codes,
            at=now,
            actor=actor.name,
            reason=reason,
            drill=is_drill,
            id=str(row.id),
        )
    except rules.RegionalError as exc:
        raise RegionalConflictError(str(exc)) from None
    row.proposed_by = actor.name
    record(session, row, state, transition, actor=actor, now=now)
    _follow(session, None, state, now)
    return row


# --- reads ------------------------------------------------------------------------------


def active_warnings(
    session: Session, *, drill: bool | None = None, region_id: str | None = None
) -> list[RegionalWarning]:
    """Issued regional warnings (not lifted; possibly not started or already ended)."""
    query = select(RegionalWarning).where(RegionalWarning.status == "issued")
    if drill is not None:
        query = query.where(RegionalWarning.drill.is_(drill))
    if region_id is not None:
        query = query.where(RegionalWarning.region_id == region_id)
    return list(session.scalars(query.order_by(RegionalWarning.id)))


def list_warnings(
    session: Session,
    now: datetime,
    *,
    region_ids: Sequence[str] | None = None,
    status: str | None = None,
    statuses: Sequence[str] | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RegionalWarning], int]:
    """One page of regional warnings, newest first, and the total matching. ``active``:
    issued and not ended at ``now``."""
    query = select(RegionalWarning)
    if region_ids is not None:
        query = query.where(RegionalWarning.region_id.in_(list(region_ids)))
    if status is not None:
        query = query.where(RegionalWarning.status == status)
    if statuses is not None:
        query = query.where(RegionalWarning.status.in_(list(statuses)))
    if active is True:
        query = query.where(
            RegionalWarning.status == "issued",
            (RegionalWarning.ends_at.is_(None)) | (RegionalWarning.ends_at > now),
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(RegionalWarning.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def history(session: Session, warning_id: int) -> list[RegionalWarningEvent]:
    return list(
        session.scalars(
            select(RegionalWarningEvent)
            .where(RegionalWarningEvent.regional_warning_id == warning_id)
            .order_by(RegionalWarningEvent.id)
        )
    )


def approve_by(row: RegionalWarning) -> datetime | None:
    """When the proposal should be approved by (the region's ``approve_within_hours``)."""
    if row.proposed_at is None or row.forecast_run_id is None:
        return None
    hours = region_of(row.region_id).criteria.approve_within_hours
    return row.proposed_at + timedelta(hours=hours)


def cap_url(row: RegionalWarning) -> str | None:
    if row.cap_identifier is None:
        return None
    return f"{get_settings().public_base_url.rstrip('/')}/v1/cap/regional/{row.id}.xml"


def read_object(session: Session, row: RegionalWarning, now: datetime) -> dict[str, Any]:
    """The regional warning as the API and the events describe it (RegionalWarningRead)."""
    deadline = approve_by(row)
    decided = row.issued_at if row.issued_at is not None else now
    late = deadline is not None and row.status in ("proposed", "issued") and decided > deadline
    zone = region_zone(session, region_of(row.region_id))
    return {
        "id": str(row.id),
        "region_id": row.region_id,
        "status": row.status,
        "level": row.level,
        "starts_at": utc_text(row.starts_at),
        "ends_at": utc_text(row.ends_at),
        "starts_at_local": local_text(row.starts_at, zone),
        "ends_at_local": local_text(row.ends_at, zone),
        "members": list(row.members),
        "triggering": list(row.triggering),
        "proposed_at": utc_text(row.proposed_at),
        "issued_at": utc_text(row.issued_at),
        "issued_by": row.issued_by,
        "lifted_at": utc_text(row.lifted_at),
        "lifted_by": row.lifted_by,
        "reason": row.reason,
        "drill": row.drill,
        "approve_by": utc_text(deadline),
        "late": late,
        "cap_identifier": row.cap_identifier,
        "cap_url": cap_url(row),
        "forecast_run_id": None if row.forecast_run_id is None else str(row.forecast_run_id),
    }
