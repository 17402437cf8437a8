"""How a member city's own episode follows a regional warning (standards §4). Pure.

- **Start** (`join`): a member starts at the notified level and at the notified time: with no
  warning of its own it issues one (a *regionally triggered* warning); with a lower one it
  upgrades; with an equal or higher one it only records the link.
- **Hold**: while linked, the city's own rules never lift or cancel the warning nor downgrade
  it below the regional level (`alerts.episodes.step` honours the link), and a duty officer
  cannot lift it by hand.
- **End** (`release`): at the regional lift a regionally triggered warning is lifted; a warning
  the city had of its own goes back to its own rules, so the next evaluation of its own
  forecast decides whether it stays.

`alerts.regional.RegionalState.as_notice` gives the `RegionalNotice` of a regional warning.
A regional transition names the notice as its run (``run_id`` = ``"regional:<notice id>"``)
and keeps the plan version of the city's state (or the one given when it opens an episode).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from alerts.episodes import (
    Decision,
    EpisodeError,
    EpisodeState,
    Kind,
    Status,
    Transition,
    local_day,
    make_transition,
)
from alerts.levels import Level

__all__ = ["REGIONAL_RUN_PREFIX", "RegionalNotice", "join", "release"]

#: Prefix of the run id of member transitions caused by a regional warning.
REGIONAL_RUN_PREFIX: Final = "regional:"


@dataclass(frozen=True)
class RegionalNotice:
    """A regional warning notice (from MEE or a regional office).

    Members start at ``level`` from ``start`` (aware). ``lifted_at`` is set by the notice
    that ends it; ``until`` is the expected end if the notice gives one.
    """

    notice_id: str
    region: str
    level: Level
    start: datetime
    members: frozenset[str]
    issuer: str
    issued_at: datetime
    until: datetime | None = None
    lifted_at: datetime | None = None
    drill: bool = False

    def __post_init__(self) -> None:
        for name in ("start", "issued_at", "until", "lifted_at"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ValueError(f"RegionalNotice.{name} must be an aware datetime")
        if not self.members:
            raise ValueError("a regional notice names at least one member city")

    def in_effect(self, at: datetime) -> bool:
        """Whether the notice applies at ``at``: started and not yet lifted."""
        return self.start <= at and (self.lifted_at is None or at < self.lifted_at)

    @property
    def run_id(self) -> str:
        return f"{REGIONAL_RUN_PREFIX}{self.notice_id}"


def _transition(
    before: EpisodeState | None,
    after: EpisodeState,
    kind: Kind,
    notice: RegionalNotice,
    at: datetime,
    reason: tuple[str, str],
    public: bool,
) -> Transition:
    """A transition made by the regional issuer, under the notice's run."""
    return make_transition(
        before, after, kind, at, notice.issuer, reason, public, run_id=notice.run_id
    )


def join(
    state: EpisodeState | None,
    notice: RegionalNotice,
    *,
    city: str,
    zone: str,
    plan_version: str,
    at: datetime,
    new_episode_id: str | None = None,
) -> Decision:
    """Apply a regional notice to one member city at time ``at`` (when it is received).

    Returns the city's transitions and new state: a new regionally triggered warning
    (status ``issued``, in effect from the notified start), an upgrade to the notified
    level, or a ``linked`` audit event when the city is already at or above it.
    """
    if city not in notice.members:
        raise EpisodeError(f"{city} is not a member of regional notice {notice.notice_id}")
    if notice.lifted_at is not None:
        raise EpisodeError(f"regional notice {notice.notice_id} is already lifted")
    if state is not None and state.drill != notice.drill:
        raise EpisodeError("a drill notice and a real episode never mix")
    names = (
        f"区域预警{notice.notice_id}（{notice.region}）",
        f"regional warning {notice.notice_id} ({notice.region})",
    )
    if state is None or state.is_closed or state.level is None:
        # No warning in force: start one at the notified level and time (a waiting
        # proposal is superseded: the regional instruction needs no city approval).
        start = notice.start
        until = notice.until or (start + timedelta(days=1))
        issued = EpisodeState(
            episode_id=(
                state.episode_id
                if state is not None and not state.is_closed
                else (new_episode_id or f"{city}:{notice.run_id}")
            ),
            city=city,
            zone=zone,
            status=Status.ISSUED,
            level=notice.level,
            pending=state.pending if state is not None and not state.is_closed else None,
            first_day=local_day(start, zone),
            last_day=local_day(until - timedelta(microseconds=1), zone),
            effective_from=start,
            valid_until=until,
            opened_at=state.opened_at if state is not None and not state.is_closed else at,
            updated_at=at,
            closed_at=None,
            run_id=notice.run_id,
            plan_version=state.plan_version if state is not None else plan_version,
            drill=notice.drill,
            regionally_triggered=True,
            regional_notice_id=notice.notice_id,
            regional_level=notice.level,
        )
        if issued.pending is not None and issued.pending.level <= notice.level:
            issued = dataclasses.replace(issued, pending=None)
        before = state if state is not None and not state.is_closed else None
        reason = (
            f"按{names[0]}要求，自{start.isoformat()}起启动{notice.level.warning_name_zh}。",
            f"Following {names[1]}: {notice.level.warning_name_en} from {start.isoformat()}.",
        )
        return Decision(
            (_transition(before, issued, Kind.ISSUED, notice, at, reason, True),), issued
        )
    assert state.level is not None
    if state.level < notice.level:
        upgraded = dataclasses.replace(
            state,
            status=Status.UPGRADED,
            level=notice.level,
            updated_at=at,
            pending=state.pending
            if state.pending is not None and state.pending.level > notice.level
            else None,
            effective_from=min(state.effective_from or notice.start, notice.start),
            regional_notice_id=notice.notice_id,
            regional_level=notice.level,
        )
        reason = (
            f"按{names[0]}要求，由{state.level.name_zh}升级为{notice.level.name_zh}。",
            f"Following {names[1]}: upgraded from {state.level.name_en} to {notice.level.name_en}.",
        )
        return Decision(
            (_transition(state, upgraded, Kind.UPGRADED, notice, at, reason, True),), upgraded
        )
    linked = dataclasses.replace(
        state, updated_at=at, regional_notice_id=notice.notice_id, regional_level=notice.level
    )
    reason = (
        f"已处于{state.level.name_zh}，纳入{names[0]}（区域级别{notice.level.name_zh}）。",
        f"Already at {state.level.name_en}; linked to {names[1]} "
        f"(regional level {notice.level.name_en}).",
    )
    return Decision((_transition(state, linked, Kind.LINKED, notice, at, reason, False),), linked)


def release(state: EpisodeState, notice: RegionalNotice, *, at: datetime) -> Decision:
    """The regional notice is lifted: lift a regionally triggered warning; otherwise drop
    the link so that the city's own rules (and its own lift) apply again."""
    if state.regional_notice_id != notice.notice_id:
        raise EpisodeError(
            f"episode {state.episode_id} does not follow regional notice {notice.notice_id}"
        )
    unlinked = dataclasses.replace(
        state, regional_notice_id=None, regional_level=None, updated_at=at
    )
    name_zh, name_en = (
        f"区域预警{notice.notice_id}解除",
        f"regional warning {notice.notice_id} lifted",
    )
    if state.regionally_triggered and state.is_active:
        lifted = dataclasses.replace(
            unlinked, status=Status.LIFTED, pending=None, closed_at=at, regionally_triggered=False
        )
        assert state.level is not None
        reason = (
            f"{name_zh}，{state.level.warning_name_zh}随之解除。",
            f"{name_en.capitalize()}: the {state.level.warning_name_en} is lifted with it.",
        )
        return Decision(
            (_transition(state, lifted, Kind.LIFTED, notice, at, reason, True),), lifted
        )
    reason = (
        f"{name_zh}，恢复按本市预案管理。",
        f"{name_en.capitalize()}: the city's own plan applies again.",
    )
    return Decision(
        (_transition(state, unlinked, Kind.UNLINKED, notice, at, reason, False),), unlinked
    )
