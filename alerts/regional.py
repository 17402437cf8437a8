"""Regional joint response (issue 9, standards §4): the pure rules. No I/O; time is a parameter.

- **Floor** (`effective_level`, the one floor rule): a member city applies the higher of its
  own level and the level of the regional warning in force over it (`member_floor`). While a
  regional warning is in force a member cannot lift or downgrade below it
  (`refuse_member_change` says why).
- **Proposal** (`propose`): from each member's own decided level per local day, the highest
  level of the region's ``criteria.levels`` that at least ``required_count`` members reach on
  the same local day within the window; members start ``lead_hours`` after the issue, not
  before local midnight of the first such day.
- **Lifecycle** (`RegionalState`, JSON-able): ``open_proposal``/``declare`` →
  ``approve``/``reject`` → ``adjust``/``extend`` → ``lift``; ``reconsider`` refreshes a still
  proposed warning after a new forecast run. Each returns ``(new_state, RegionalTransition)``
  with before/after snapshots, actor, reason and time; an illegal move raises
  :class:`RegionalError` with a reason a person can read. Only the coordinator lifts.
- **Compliance** (`compliance`): per member, the required level and start against the city's
  own warning and acknowledgement: ``not_required``, ``pending``, ``complied`` or ``lagging``
  (the grace is the region's ``compliance_grace_hours``).
- **Members' episodes** (`join`, `release`, re-exported from `alerts.regional_link`): how a
  member's own `EpisodeState` follows a regional warning (`RegionalState.as_notice` gives the
  notice): ``join`` starts it at the regional level from the regional start time (or upgrades
  or links it); while linked the city's own rules never lift it nor go below the regional
  level; ``release`` at the regional lift lifts a regionally triggered warning and hands an own
  warning back to the city's rules, so the next evaluation of its own forecast decides it.

Against the API agreed for issue 9 nothing is renamed and no signature changes; additions:
``open_proposal``/``declare`` take an optional ``id`` and ``adjust`` an optional ``region``
(to check new members); `RegionalState` carries more fields (triggering, reason, proposed_at,
issued_at, updated_at, lifted_at, lifted_by); ``compliance``'s ``grace`` is a timedelta or
hours; `MemberCompliance.to_dict` gives the JSON row of the API and events.
`join`/`release`/`RegionalNotice` live in `alerts.regional_link` and
`propose`/`RegionalProposal` in `alerts.regional_proposal` (keeping each module under ~600
lines); both are re-exported here, so callers import `alerts.regional`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from alerts.levels import Level, max_level
from alerts.regional_link import REGIONAL_RUN_PREFIX, RegionalNotice, join, release
from alerts.regional_proposal import RegionalProposal, propose
from contingency_plans.schema import Region

__all__ = [
    "REGIONAL_RUN_PREFIX",
    "SYSTEM_ACTOR",
    "ComplianceStatus",
    "MemberCompliance",
    "MemberStatus",
    "RegionalError",
    "RegionalNotice",
    "RegionalProposal",
    "RegionalState",
    "RegionalStatus",
    "RegionalTransition",
    "TransitionKind",
    "adjust",
    "approve",
    "compliance",
    "declare",
    "effective_level",
    "extend",
    "join",
    "lift",
    "member_floor",
    "open_proposal",
    "propose",
    "reconsider",
    "refuse_member_change",
    "reject",
    "release",
]

#: The actor of transitions made by the forecast evaluation itself.
SYSTEM_ACTOR: Final = "system"

RegionalStatus = Literal["proposed", "issued", "lifted", "rejected"]
TransitionKind = Literal["proposed", "issued", "updated", "lifted", "rejected"]
ComplianceStatus = Literal["complied", "lagging", "pending", "not_required"]


class RegionalError(ValueError):
    """A regional move that is not allowed; the message says why."""


def effective_level(own: Level | None, regional: Level | None) -> Level | None:
    """The level a member city applies: the higher of its own and the regional one."""
    return max_level(own, regional)


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise RegionalError(f"{name} must be a timezone-aware datetime")


def _level(value: Level | str | None) -> Level | None:
    return None if value is None else Level(value)


def _needs(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise RegionalError(f"{what} must not be empty")
    return text.strip()


# --- the regional warning and its transitions ----------------------------------------------


@dataclass(frozen=True)
class RegionalState:
    """One regional warning as it stands (its history is in the transitions).

    ``starts_at``: members start then; ``ends_at``: it runs until then (None: until lifted).
    ``approved_by`` is the coordinator who issued it (approval or declaration).
    """

    id: str
    region_id: str
    status: RegionalStatus
    level: Level
    starts_at: datetime
    ends_at: datetime | None
    members: tuple[str, ...]
    drill: bool = False
    approved_by: str | None = None
    triggering: tuple[str, ...] = ()
    reason: str = ""
    proposed_at: datetime | None = None
    issued_at: datetime | None = None
    updated_at: datetime | None = None
    lifted_at: datetime | None = None
    lifted_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", Level(self.level))
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "triggering", tuple(self.triggering))
        for name in _TIMES:
            _aware(name, getattr(self, name))
        if self.status not in _STATUSES:
            raise RegionalError(f"unknown status {self.status!r}")
        if not self.members:
            raise RegionalError("a regional warning names at least one member city")
        if len(set(self.members)) != len(self.members):
            raise RegionalError("a member city is listed twice")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise RegionalError("ends_at must be after starts_at")

    def in_force(self, at: datetime) -> bool:
        """Issued, started and neither lifted nor ended at ``at``."""
        return (
            self.status == "issued"
            and self.starts_at <= at
            and (self.ends_at is None or at < self.ends_at)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot (times ISO 8601, level as its code)."""
        out: dict[str, Any] = dataclasses.asdict(self)
        out["level"] = self.level.value
        out["members"] = list(self.members)
        out["triggering"] = list(self.triggering)
        for name in _TIMES:
            value = getattr(self, name)
            out[name] = None if value is None else value.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegionalState:
        """The state a `to_dict` snapshot describes."""
        values = dict(data)
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        values["members"] = tuple(values["members"])
        values["triggering"] = tuple(values.get("triggering", ()))
        return cls(**values)

    def as_notice(self, issuer: str | None = None) -> RegionalNotice:
        """The notice `join`/`release` apply to a member's episode."""
        return RegionalNotice(
            notice_id=self.id,
            region=self.region_id,
            level=self.level,
            start=self.starts_at,
            members=frozenset(self.members),
            issuer=issuer or self.approved_by or SYSTEM_ACTOR,
            issued_at=self.issued_at or self.starts_at,
            until=self.ends_at,
            lifted_at=self.lifted_at,
            drill=self.drill,
        )


_TIMES: Final = (
    "starts_at",
    "ends_at",
    "proposed_at",
    "issued_at",
    "updated_at",
    "lifted_at",
)
_STATUSES: Final = ("proposed", "issued", "lifted", "rejected")


@dataclass(frozen=True)
class RegionalTransition:
    """One change of a regional warning, for the append-only audit and the events."""

    warning_id: str
    kind: TransitionKind
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]
    actor: str
    reason: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning_id": self.warning_id,
            "kind": self.kind,
            "before": None if self.before is None else dict(self.before),
            "after": dict(self.after),
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


def _move(
    before: RegionalState | None,
    after: RegionalState,
    kind: TransitionKind,
    *,
    at: datetime,
    actor: str,
    reason: str,
) -> tuple[RegionalState, RegionalTransition]:
    snapshot = None if before is None else before.to_dict()
    transition = RegionalTransition(after.id, kind, snapshot, after.to_dict(), actor, reason, at)
    return after, transition


def _name(state: RegionalState) -> str:
    return f"regional warning {state.id} ({state.region_id}, {state.level.value})"


def _require(state: RegionalState, allowed: tuple[str, ...], action: str) -> None:
    if state.status not in allowed:
        hint = {
            "proposed": "it is only proposed (approve or reject it)",
            "issued": "it is already issued",
            "lifted": f"it was lifted at {state.lifted_at.isoformat() if state.lifted_at else '?'}",
            "rejected": "it was rejected",
        }[state.status]
        raise RegionalError(f"cannot {action} {_name(state)}: {hint}")


def _default_id(region_id: str, at: datetime) -> str:
    return f"{region_id}:{at.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}"


def open_proposal(
    proposal: RegionalProposal, *, at: datetime, drill: bool, id: str | None = None
) -> tuple[RegionalState, RegionalTransition]:
    """A new proposed regional warning from ``proposal`` (the evaluation's move).

    ``id`` defaults to ``<region>:<at in UTC>``; the caller may give its own."""
    _aware("at", at)
    state = RegionalState(
        id=id or _default_id(proposal.region_id, at),
        region_id=proposal.region_id,
        status="proposed",
        level=proposal.level,
        starts_at=proposal.starts_at,
        ends_at=proposal.ends_at,
        members=proposal.members,
        drill=drill,
        triggering=proposal.triggering,
        reason=proposal.reason,
        proposed_at=at,
        updated_at=at,
    )
    return _move(None, state, "proposed", at=at, actor=SYSTEM_ACTOR, reason=proposal.reason)


def declare(
    region: Region,
    level: Level,
    starts_at: datetime,
    ends_at: datetime | None,
    members: Iterable[str] | None,
    *,
    at: datetime,
    actor: str,
    reason: str,
    drill: bool,
    id: str | None = None,
) -> tuple[RegionalState, RegionalTransition]:
    """A regional warning declared by hand by the coordinator: issued at once.

    ``members`` defaults to every member of the region; each given one must be a member."""
    for name, value in (("at", at), ("starts_at", starts_at), ("ends_at", ends_at)):
        _aware(name, value)
    actor, reason = _needs(actor, "actor"), _needs(reason, "reason")
    chosen = _members(region, members)
    if ends_at is not None and ends_at <= max(starts_at, at):
        raise RegionalError("ends_at must be after starts_at and after now")
    state = RegionalState(
        id=id or _default_id(region.id, at),
        region_id=region.id,
        status="issued",
        level=Level(level),
        starts_at=starts_at,
        ends_at=ends_at,
        members=chosen,
        drill=drill,
        approved_by=actor,
        reason=reason,
        proposed_at=at,
        issued_at=at,
        updated_at=at,
    )
    return _move(None, state, "issued", at=at, actor=actor, reason=reason)


def _members(region: Region, members: Iterable[str] | None) -> tuple[str, ...]:
    if members is None:
        return region.member_codes
    chosen = tuple(dict.fromkeys(members))  # keep order, drop repeats
    outside = [city for city in chosen if city not in region.member_codes]
    if outside:
        raise RegionalError(f"not members of region {region.id}: {', '.join(outside)}")
    if not chosen:
        raise RegionalError("a regional warning names at least one member city")
    return chosen


def approve(
    state: RegionalState, *, at: datetime, actor: str, reason: str | None = None
) -> tuple[RegionalState, RegionalTransition]:
    """Issue a proposed regional warning; members start at ``max(starts_at, at)``."""
    _aware("at", at)
    actor = _needs(actor, "actor")
    _require(state, ("proposed",), "approve")
    if state.ends_at is not None and state.ends_at <= at:
        raise RegionalError(
            f"cannot approve {_name(state)}: it would have ended at {state.ends_at.isoformat()}"
        )
    issued = dataclasses.replace(
        state,
        status="issued",
        starts_at=max(state.starts_at, at),
        approved_by=actor,
        issued_at=at,
        updated_at=at,
    )
    text = reason.strip() if reason and reason.strip() else f"approved by {actor}"
    return _move(state, issued, "issued", at=at, actor=actor, reason=text)


def reject(
    state: RegionalState, *, at: datetime, actor: str, reason: str
) -> tuple[RegionalState, RegionalTransition]:
    """Turn down a proposed regional warning (a reason is required)."""
    _aware("at", at)
    actor, reason = _needs(actor, "actor"), _needs(reason, "reason")
    _require(state, ("proposed",), "reject")
    rejected = dataclasses.replace(state, status="rejected", updated_at=at)
    return _move(state, rejected, "rejected", at=at, actor=actor, reason=reason)


def adjust(
    state: RegionalState,
    *,
    level: Level | None = None,
    members: Iterable[str] | None = None,
    at: datetime,
    actor: str,
    reason: str,
    region: Region | None = None,
) -> tuple[RegionalState, RegionalTransition]:
    """Change the level and/or member list of a proposed or issued regional warning.

    Given ``region``, every new member must belong to it."""
    _aware("at", at)
    actor, reason = _needs(actor, "actor"), _needs(reason, "reason")
    _require(state, ("proposed", "issued"), "adjust")
    new_level = state.level if level is None else Level(level)
    if region is not None and region.id != state.region_id:
        raise RegionalError(f"{_name(state)} is not of region {region.id}")
    new_members = state.members
    if members is not None:
        new_members = (
            _members(region, members) if region is not None else tuple(dict.fromkeys(members))
        )
        if not new_members:
            raise RegionalError("a regional warning names at least one member city")
    if new_level == state.level and new_members == state.members:
        raise RegionalError(f"cannot adjust {_name(state)}: nothing changes")
    adjusted = dataclasses.replace(state, level=new_level, members=new_members, updated_at=at)
    return _move(state, adjusted, "updated", at=at, actor=actor, reason=reason)


def extend(
    state: RegionalState, *, ends_at: datetime, at: datetime, actor: str, reason: str
) -> tuple[RegionalState, RegionalTransition]:
    """Move the end of a proposed or issued regional warning later."""
    _aware("at", at)
    _aware("ends_at", ends_at)
    actor, reason = _needs(actor, "actor"), _needs(reason, "reason")
    _require(state, ("proposed", "issued"), "extend")
    if state.ends_at is None:
        raise RegionalError(f"cannot extend {_name(state)}: it already runs until lifted")
    if state.ends_at <= at:
        raise RegionalError(
            f"cannot extend {_name(state)}: it ended at {state.ends_at.isoformat()}"
        )
    if ends_at <= state.ends_at:
        raise RegionalError(
            f"cannot extend {_name(state)}: {ends_at.isoformat()} is not after its end "
            f"{state.ends_at.isoformat()}"
        )
    extended = dataclasses.replace(state, ends_at=ends_at, updated_at=at)
    return _move(state, extended, "updated", at=at, actor=actor, reason=reason)


def lift(
    state: RegionalState, *, at: datetime, actor: str, reason: str
) -> tuple[RegionalState, RegionalTransition]:
    """End an issued regional warning (the coordinator's move; members are then re-evaluated
    from their own forecasts, see `release`)."""
    _aware("at", at)
    actor, reason = _needs(actor, "actor"), _needs(reason, "reason")
    _require(state, ("issued",), "lift")
    lifted = dataclasses.replace(
        state, status="lifted", lifted_at=at, lifted_by=actor, updated_at=at
    )
    return _move(state, lifted, "lifted", at=at, actor=actor, reason=reason)


def reconsider(
    state: RegionalState, proposal: RegionalProposal | None, *, at: datetime
) -> tuple[RegionalState, RegionalTransition] | None:
    """Refresh a still proposed regional warning from the latest ``proposal``.

    Returns the updated proposal when level, window, members or triggering cities changed,
    else None. An issued, lifted or rejected warning is never changed here (only the
    coordinator adjusts or lifts), nor does a vanished trigger withdraw a proposal (the
    coordinator rejects it)."""
    _aware("at", at)
    if state.status != "proposed" or proposal is None:
        return None
    if proposal.region_id != state.region_id:
        raise RegionalError(f"proposal for {proposal.region_id} cannot update {_name(state)}")
    updated = dataclasses.replace(
        state,
        level=proposal.level,
        starts_at=proposal.starts_at,
        ends_at=proposal.ends_at,
        members=proposal.members,
        triggering=proposal.triggering,
        reason=proposal.reason,
        updated_at=at,
    )
    unchanged = dataclasses.replace(updated, reason=state.reason, updated_at=state.updated_at)
    if unchanged == state:
        return None
    return _move(state, updated, "updated", at=at, actor=SYSTEM_ACTOR, reason=proposal.reason)


# --- members: floor, refusal, compliance ---------------------------------------------------


def _holding(city: str, at: datetime, active: Iterable[RegionalState]) -> RegionalState | None:
    """The highest regional warning in force over ``city`` at ``at``."""
    holding = [state for state in active if city in state.members and state.in_force(at)]
    return max(holding, key=lambda state: state.level, default=None)


def member_floor(city: str, at: datetime, active: Iterable[RegionalState]) -> Level | None:
    """The regional level in force for ``city`` at ``at`` (issued, started, not ended)."""
    state = _holding(city, at, active)
    return None if state is None else state.level


def refuse_member_change(
    city: str, target: Level | None, at: datetime, active: Iterable[RegionalState]
) -> str | None:
    """Why ``city`` may not go to ``target`` (None = lift) at ``at``, or None if it may."""
    state = _holding(city, at, active)
    if state is None or (target is not None and Level(target) >= state.level):
        return None
    move = "lift its warning" if target is None else f"downgrade to {Level(target).value}"
    return (
        f"{city} cannot {move}: {_name(state)} holds it at {state.level.value} or above "
        f"until the regional coordinator lifts it / 区域预警{state.id}"
        f"要求本市不低于{state.level.name_zh}预警，须由区域协调机构解除"
    )


@dataclass(frozen=True)
class MemberStatus:
    """A member city's own side: its warning in force (if any) and its acknowledgement."""

    city_level: Level | None = None
    city_warning_id: str | None = None
    issued_at: datetime | None = None
    issued_by: str | None = None
    acknowledged_at: datetime | None = None
    actions_in_force: int = 0


@dataclass(frozen=True)
class MemberCompliance:
    """Whether one member follows a regional warning at one time, and why."""

    city: str
    required_level: Level | None
    required_from: datetime | None
    city_level: Level | None
    city_warning_id: str | None
    issued_at: datetime | None
    issued_by: str | None
    acknowledged_at: datetime | None
    actions_in_force: int
    status: ComplianceStatus
    lagging: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``city_code``, levels as codes, times ISO 8601) of the API and the
        ``regional.lagging`` event (`docs/events.schema.json`, ``memberCompliance``)."""
        out: dict[str, Any] = dataclasses.asdict(self)
        out["city_code"] = out.pop("city")
        for name, value in out.items():
            if isinstance(value, Level):
                out[name] = value.value
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
        return out


def compliance(
    state: RegionalState,
    members: Mapping[str, MemberStatus],
    *,
    at: datetime,
    grace: timedelta | float,
) -> list[MemberCompliance]:
    """Each member's compliance with ``state`` at ``at`` (in the warning's member order).

    ``grace`` (a timedelta or hours): how long after the regional start a member may still
    be below the level or unacknowledged before it is ``lagging``. ``complied``: at or above
    the level and acknowledged; ``pending``: not yet, but within the grace;
    ``not_required``: the warning is not issued, has ended, or was lifted. A member missing
    from ``members`` has no warning of its own.
    """
    _aware("at", at)
    grace_delta = grace if isinstance(grace, timedelta) else timedelta(hours=grace)
    deadline = state.starts_at + grace_delta
    required = state.status == "issued" and (state.ends_at is None or at < state.ends_at)
    out = []
    for city in state.members:
        own = members.get(city, MemberStatus())
        level = _level(own.city_level)
        at_level = level is not None and level >= state.level
        status: ComplianceStatus
        if not required:
            status, reason = "not_required", f"{_name(state)} is {_not_required(state, at)}"
        elif at_level and own.acknowledged_at is not None:
            status, reason = "complied", f"at {level} and acknowledged"
        else:
            missing = _missing(level, at_level, own.acknowledged_at, state.level)
            if at < deadline:
                status = "pending"
                reason = f"{missing}; due by {deadline.isoformat()} (start plus grace)"
            else:
                status = "lagging"
                reason = f"{missing} at {deadline.isoformat()} (start plus grace)"
        out.append(
            MemberCompliance(
                city=city,
                required_level=state.level if required else None,
                required_from=state.starts_at if required else None,
                city_level=level,
                city_warning_id=own.city_warning_id,
                issued_at=own.issued_at,
                issued_by=own.issued_by,
                acknowledged_at=own.acknowledged_at,
                actions_in_force=own.actions_in_force,
                status=status,
                lagging=status == "lagging",
                reason=reason,
            )
        )
    return out


def _not_required(state: RegionalState, at: datetime) -> str:
    if state.status == "issued":
        return "over (ended)"
    return {"proposed": "only proposed", "lifted": "lifted", "rejected": "rejected"}[state.status]


def _missing(
    level: Level | None, at_level: bool, acknowledged: datetime | None, required: Level
) -> str:
    parts = []
    if not at_level:
        own = "no warning" if level is None else f"only {level.value}"
        parts.append(f"{own} (needs {required.value})")
    if acknowledged is None:
        parts.append("not acknowledged")
    return " and ".join(parts)
