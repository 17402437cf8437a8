"""The warning episode lifecycle as a pure state machine.

One *episode* is one city's stretch of heavy pollution and the warning about it. Each
forecast run is turned into an `Evaluation` (`alerts.criteria.evaluate`) and fed to `step`
with the episode's current state; `step` returns the transitions to record and announce and
the new state. Duty officers act through `approve`, `reject`, `change_level`, `upgrade`,
`downgrade`, `extend`, `lift` and `cancel`, also pure. Nothing here reads a clock: every
time is a parameter and every transition names its time, the forecast run and the plan
version behind it, its actor and a reason in Chinese and English. docs/warnings.md has the
rules with their parameters; in short:

- **Statuses**: ``proposed`` (waits for a duty officer) → ``issued`` → ``upgraded`` /
  ``downgraded`` → ``lifted``; ``rejected`` (an officer refused the proposal) and
  ``cancelled`` (withdrawn before it took effect). The last three close the episode.
- **Chains**: the evaluation's spans (runs of days above the set's floor) that end today or
  later are grouped into chains; a span starting within ``merge_gap_hours`` after the
  previous one ends joins its chain. A chain's level is the most severe of its spans.
- **Issue**: the first chain with a level, once its first day starts within
  ``issue_horizon_hours`` of the run, is issued (levels in ``auto_levels``) or proposed.
  Its measures take effect at the start of its first day; the transition records the lead
  time and flags it ``late`` when under ``lead_hours`` (24 h), unless heavy pollution is
  already under way (``RunInfo.heavy_under_way``), in which case it takes effect at once.
- **Upgrade** at once when a run forecasts a higher level. **Downgrade** only when
  ``downgrade_runs`` consecutive runs spanning at least ``downgrade_hours`` all forecast a
  lower level, and then only to the highest level among them: oscillating runs keep the
  higher level. A plan may hold the level of a warning in force until it is lifted
  (``downgrade_in_force`` False).
- **Lift** a warning in force only when the run's forecast stays at or below the floor for
  at least ``lift_hours`` (36 h) from the run time and no new chain starts within
  ``merge_gap_hours``. Today counts with the hours it has when too few were observed for a
  whole day (``RunInfo.today_aqi``), so a station outage does not keep a warning in force.
  A warning not yet in force is **cancelled** instead, after the same damping as a
  downgrade.
- **Merge gap**: a chain that starts within ``merge_gap_hours`` after a closed episode ended
  continues it (same episode id).
- **No re-announcement**: a run that changes nothing public yields no transition.
- **Approval**: levels outside ``auto_levels`` become proposals and wait; a rejected
  proposal is not proposed again at the same or a lower level within its episode; an
  episode lifted, cancelled or rejected by hand that restarts is always proposed.
- **Drill**: the flag of the run is carried onto the episode and every transition; drill
  runs and real episodes never mix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from alerts.criteria import Evaluation, Span
from alerts.levels import LEVELS, Level, max_level

#: The actor of automatic transitions.
SYSTEM: Final = "system"


class EpisodeError(ValueError):
    """An action that the episode's state does not allow (the app answers 409)."""


class Status(StrEnum):
    PROPOSED = "proposed"
    ISSUED = "issued"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    LIFTED = "lifted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


#: Statuses of a warning that has been issued and not ended.
ACTIVE_STATUSES: Final = frozenset({Status.ISSUED, Status.UPGRADED, Status.DOWNGRADED})
#: Statuses that close an episode.
CLOSED_STATUSES: Final = frozenset({Status.LIFTED, Status.REJECTED, Status.CANCELLED})


class Kind(StrEnum):
    """What a transition did."""

    PROPOSED = "proposed"  # a new warning or a level change waits for a duty officer
    LEVEL_CHANGED = "level_changed"  # an officer edited a waiting proposal's level
    WITHDRAWN = "withdrawn"  # the system dropped a waiting change the forecast no longer supports
    LINKED = "linked"  # joined a regional warning without changing level
    UNLINKED = "unlinked"  # the regional warning ended; the city's own rules apply again
    ISSUED = "issued"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    EXTENDED = "extended"  # the warning window widened (earlier start or later end)
    LIFTED = "lifted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Policy:
    """The lifecycle parameters of one city's plan (hours are wall-clock hours).

    ``lead_hours``: minimum lead time of a warning before its first day (24).
    ``lift_hours``: how long the forecast must stay at or below the floor to lift (36).
    ``merge_gap_hours``: a restart within this many hours continues the episode (36: a gap
    of one clean day merges, two do not).
    ``auto_levels``: levels issued without a duty officer; others are proposed.
    ``downgrade_runs`` / ``downgrade_hours``: a downgrade (or the cancellation of a
    warning not yet in force) needs this many consecutive lower runs spanning at least
    this many hours (2 runs, 36 h: with one run a day that is three runs over two days,
    so one low daily run between high ones does not flap the level; chosen on a replay of
    the training year 2015-03..2016-02, bench/warning_replay.py).
    ``issue_horizon_hours``: a chain whose first day starts further ahead than this waits
    for a later run (48; None: issue on first sight). 48 h = the lead time plus one
    daily run interval: with runs at least daily, some run sees the first day between
    24 h and 48 h ahead, so the lead time holds, while a chain seen further out (often only
    its first days, at a low level) is not issued early only to be upgraded run after run.
    ``downgrade_in_force``: whether the system lowers the level of a warning already in
    force (True); when False the warning keeps its highest level until the lift rule ends
    it (a level is still lowered before the warning takes effect, and duty officers may
    downgrade by hand), so a long episode with lulls does not step down and up again.
    """

    lead_hours: float = 24
    lift_hours: float = 36
    merge_gap_hours: float = 36
    auto_levels: frozenset[Level] = frozenset(LEVELS)
    downgrade_runs: int = 2
    downgrade_hours: float = 36
    issue_horizon_hours: float | None = 48
    downgrade_in_force: bool = True

    def __post_init__(self) -> None:
        for name in ("lead_hours", "lift_hours", "merge_gap_hours", "downgrade_hours"):
            if getattr(self, name) < 0:
                raise ValueError(f"Policy.{name} must be >= 0")
        if self.downgrade_runs < 1:
            raise ValueError("Policy.downgrade_runs must be >= 1")
        if self.issue_horizon_hours is not None and self.issue_horizon_hours < 0:
            raise ValueError("Policy.issue_horizon_hours must be >= 0 or None")

    @classmethod
    def from_plan(cls, plan: Any, **overrides: Any) -> Policy:
        """The policy of a `contingency_plans` plan: ``approval.auto`` → ``auto_levels``,
        ``lead_time_hours``, ``lift_after_hours``, ``episode_merge_gap_hours``,
        ``downgrade_in_force``. Other fields
        keep their defaults unless given in ``overrides``."""
        values: dict[str, Any] = {
            "auto_levels": frozenset(Level(name) for name in plan.approval.auto),
            "lead_hours": float(plan.lead_time_hours),
            "lift_hours": float(plan.lift_after_hours),
            "merge_gap_hours": float(plan.episode_merge_gap_hours),
            "downgrade_in_force": bool(getattr(plan, "downgrade_in_force", True)),
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class RunInfo:
    """The forecast run behind a `step`, for one city.

    ``issued_at`` (aware) is the run's decision time, the "now" of every rule.
    ``heavy_under_way`` is `alerts.daily.heavy_under_way` for this run (observed AQI > 200
    and no improvement expected within 12 h).
    ``today_aqi`` is `alerts.daily.current_day_aqi` for this run: the AQI of the run's local
    day from the hours it has (observed so far, the forecast for the rest). The lift rule
    uses it when the path lacks that day because too few of its hours were observed (a
    station outage); None when unknown.
    """

    run_id: str
    issued_at: datetime
    plan_version: str
    city: str
    zone: str
    drill: bool = False
    heavy_under_way: bool = False
    today_aqi: int | None = None


@dataclass(frozen=True)
class Pending:
    """A change waiting for a duty officer: a new warning (``ISSUED``), ``UPGRADED`` or
    ``DOWNGRADED`` to ``level``. ``issue_by`` is the latest approval that keeps the lead
    time (new warnings only)."""

    kind: Kind
    level: Level
    proposed_at: datetime
    run_id: str
    plan_version: str
    issue_by: datetime | None = None


@dataclass(frozen=True)
class EpisodeState:
    """Everything `step` needs to know about one episode (stored by the app).

    ``level`` is the level in force (None until issued); a waiting change is in
    ``pending``. ``first_day``/``last_day`` are the local dates of the episode's forecast
    days as announced; ``effective_from``/``valid_until`` the warning window.
    ``lower_*`` count consecutive runs forecasting less than ``level`` (downgrade damping).
    ``hold_at_least`` is a level a duty officer chose, below which the system does not
    downgrade; ``no_auto_up_to`` is a level at or below which the system proposes nothing
    (after a rejection or a manual lift/downgrade). ``regional_*`` link the episode to a
    regional warning (`alerts.regional`): its level is a floor, and while linked the system
    neither lifts nor cancels the warning; ``regionally_triggered`` episodes end only on the
    regional notice.
    """

    episode_id: str
    city: str
    zone: str
    status: Status
    level: Level | None
    pending: Pending | None
    first_day: date
    last_day: date
    effective_from: datetime | None
    valid_until: datetime | None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    run_id: str
    plan_version: str
    drill: bool = False
    lower_runs: int = 0
    lower_since: datetime | None = None
    lower_level: Level | None = None
    hold_at_least: Level | None = None
    no_auto_up_to: Level | None = None
    closed_by_hand: bool = False
    regional_notice_id: str | None = None
    regional_level: Level | None = None
    regionally_triggered: bool = False

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def in_force(self, at: datetime) -> bool:
        """Whether the warning's measures apply at ``at``."""
        return self.is_active and self.effective_from is not None and self.effective_from <= at


@dataclass(frozen=True)
class Transition:
    """One change of an episode: the audit event and, when ``public``, the announcement.

    ``level_before``/``level_after`` are the levels in force, ``proposed_level_before`` /
    ``proposed_level_after`` those of a waiting change. ``run_id``/``plan_version`` name
    the forecast run and plan behind it (for a duty officer's action: the run behind the state acted
    on). ``lead_hours`` (issue transitions) is the time from ``at`` to the start of the
    first forecast day; ``late`` when it is under the policy's lead time and pollution was
    not already under way.
    """

    episode_id: str
    kind: Kind
    at: datetime
    status_before: Status | None
    status_after: Status
    level_before: Level | None
    level_after: Level | None
    proposed_level_before: Level | None
    proposed_level_after: Level | None
    run_id: str
    plan_version: str
    actor: str
    reason_zh: str
    reason_en: str
    public: bool
    drill: bool
    effective_from: datetime | None
    valid_until: datetime | None
    lead_hours: float | None = None
    late: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome of a step or action: transitions in order, and the state after them
    (None when there is no episode)."""

    transitions: tuple[Transition, ...]
    new_state: EpisodeState | None

    @property
    def public_transitions(self) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.public)


@dataclass(frozen=True)
class Chain:
    """Spans of the forecast merged across gaps of at most the merge gap."""

    spans: tuple[Span, ...] = field(default=())

    @property
    def first_day(self) -> date:
        return self.spans[0].first_day

    @property
    def last_day(self) -> date:
        return self.spans[-1].last_day

    @property
    def level(self) -> Level | None:
        return max_level(*(span.level for span in self.spans))

    @property
    def deciding_span(self) -> Span:
        """The first span that reaches the chain's level (the first span if none)."""
        return next((s for s in self.spans if s.level == self.level), self.spans[0])


# --- time helpers -------------------------------------------------------------------------


def _tz(zone: str) -> ZoneInfo:
    return ZoneInfo(zone)


def _check_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {moment.isoformat()}")


def day_start(day: date, zone: str) -> datetime:
    """Local midnight at the start of ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=_tz(zone))


def day_end(day: date, zone: str) -> datetime:
    """Local midnight at the end of ``day`` in ``zone``."""
    return day_start(day + timedelta(days=1), zone)


def local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(_tz(zone)).date()


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


#: Past days of an active episode worth keeping in the path: the longest condition of the
#: shipped sets lasts 4 days, so today and the 3 days before it decide every level.
LOOKBACK_DAYS: Final = 3


def path_first_day(
    state: EpisodeState | None, today: date, lookback_days: int = LOOKBACK_DAYS
) -> date:
    """The local date the caller should start the daily AQI path at for the next run.

    While a warning is active, the path starts at its first day (at most ``lookback_days``
    before today), so that the observed days of the episode keep counting towards its
    level (a red episode on its last day is still red); otherwise it starts today.
    """
    if state is not None and state.is_active and state.first_day < today:
        return max(state.first_day, today - timedelta(days=lookback_days))
    return today


# --- reading an evaluation ------------------------------------------------------------------


def chains(evaluation: Evaluation, today: date, merge_gap_hours: float) -> list[Chain]:
    """The evaluation's spans that end today or later, merged into chains: a span whose
    first day starts at most ``merge_gap_hours`` after the previous span's last day ends
    joins its chain."""
    relevant = [span for span in evaluation.spans if span.last_day >= today]
    result: list[list[Span]] = []
    for span in relevant:
        if result:
            gap_hours = (span.first_day - result[-1][-1].last_day - timedelta(days=1)).days * 24
            if gap_hours <= merge_gap_hours:
                result[-1].append(span)
                continue
        result.append([span])
    return [Chain(tuple(spans)) for spans in result]


def clear_hours(
    evaluation: Evaluation, at: datetime, zone: str, today_aqi: int | None = None
) -> float:
    """Hours from ``at`` during which the forecast stays at or below the floor.

    Walks the path from ``at``'s local day: the clear stretch ends at the start of the first
    day whose AQI is above the floor, or at the end of the path (a day missing from the
    path counts as not clear). 0 when today itself is above the floor.

    Today is usually in the path: its observed hours merged with the forecast for the rest
    of it make a whole day. When it is not (a station outage left too few observed hours),
    ``today_aqi`` stands for it: the AQI of the hours today has, i.e. the forecast for its
    remaining hours with whatever was observed (`alerts.daily.current_day_aqi`). Without
    it, a missing today is not clear, and no warning could be lifted during an outage.
    """
    today = local_day(at, zone)
    by_day = {entry.day: entry.aqi for entry in evaluation.path}
    if today not in by_day and today_aqi is not None:
        by_day[today] = today_aqi
    day = today
    while day in by_day and by_day[day] <= evaluation.floor:
        day += timedelta(days=1)
    return max(0.0, _hours(day_start(day, zone) - at))


# --- texts ----------------------------------------------------------------------------------


def _fmt(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(_tz(zone)).strftime("%Y-%m-%d %H:%M%z")


def _window_text(state: EpisodeState) -> tuple[str, str]:
    start, end = _fmt(state.effective_from, state.zone), _fmt(state.valid_until, state.zone)
    return f"预警时段{start}至{end}", f"window {start} to {end}"


# --- building transitions -------------------------------------------------------------------


def make_transition(
    before: EpisodeState | None,
    after: EpisodeState,
    kind: Kind,
    at: datetime,
    actor: str,
    reason: tuple[str, str],
    public: bool,
    lead_hours: float | None = None,
    late: bool = False,
    run_id: str | None = None,
) -> Transition:
    """The transition from ``before`` to ``after``; ``run_id`` overrides the state's run
    (a regional notice names its own)."""
    return Transition(
        episode_id=after.episode_id,
        kind=kind,
        at=at,
        status_before=before.status if before else None,
        status_after=after.status,
        level_before=before.level if before else None,
        level_after=after.level,
        proposed_level_before=before.pending.level if before and before.pending else None,
        proposed_level_after=after.pending.level if after.pending else None,
        run_id=after.run_id if run_id is None else run_id,
        plan_version=after.plan_version,
        actor=actor,
        reason_zh=reason[0],
        reason_en=reason[1],
        public=public,
        drill=after.drill,
        effective_from=after.effective_from,
        valid_until=after.valid_until,
        lead_hours=lead_hours,
        late=late,
    )


#: Transitions that lower or end a warning (or drop a waiting change): a degraded run
#: (a grid lacking weather the model can do without) never makes them by itself.
LOWERING_KINDS: Final = frozenset({Kind.WITHDRAWN, Kind.DOWNGRADED, Kind.LIFTED, Kind.CANCELLED})


def hold_if_degraded(state: EpisodeState | None, decision: Decision, degraded: bool) -> Decision:
    """The decision a run may take given whether it is degraded. A degraded run's step
    that would withdraw, downgrade, lift or cancel is held whole: nothing changes and the
    state stays as it was (its counters do not advance), so the change waits for a duty
    officer or a complete run. Raising a warning is never held."""
    if not degraded or not any(t.kind in LOWERING_KINDS for t in decision.transitions):
        return decision
    return Decision(transitions=(), new_state=state)


def _system_decision(
    before: EpisodeState | None,
    after: EpisodeState,
    kind: Kind,
    at: datetime,
    reason: tuple[str, str],
    public: bool,
) -> Decision:
    """A decision of the system (not an officer) with one transition, ``before`` to ``after``."""
    return Decision(
        (make_transition(before, after, kind, at, SYSTEM, reason, public=public),), after
    )


def _reset_lower(state: EpisodeState) -> EpisodeState:
    return dataclasses.replace(state, lower_runs=0, lower_since=None, lower_level=None)


def _lead(
    first_day: date, at: datetime, zone: str, policy: Policy, under_way: bool
) -> tuple[float, bool, datetime]:
    """(lead hours, late?, effective_from) of a warning issued at ``at``."""
    start = day_start(first_day, zone)
    lead = _hours(start - at)
    if under_way or start <= at:
        return max(lead, 0.0), (not under_way and lead < policy.lead_hours), at
    return lead, lead < policy.lead_hours, start


# --- step -----------------------------------------------------------------------------------


def step(
    state: EpisodeState | None,
    evaluation: Evaluation,
    run: RunInfo,
    policy: Policy,
    new_episode_id: str | None = None,
) -> Decision:
    """Advance one city's episode by one forecast run. Pure.

    Args:
        state: the city's latest episode (open or closed), or None if it has none.
        evaluation: the run's evaluation (path from `path_first_day`).
        run: the run (time, id, plan version, zone, drill and under-way flags).
        policy: the plan's lifecycle parameters.
        new_episode_id: id for an episode this run opens (default ``"{city}:{run_id}"``).

    Returns:
        The transitions (empty when nothing changes publicly or for the duty officer) and
        the state after them: the same episode, a new one, or None.

    Raises:
        ValueError: naive ``issued_at``; EpisodeError: a run older than the state, another
            city's state, or a drill run on a real episode (or the reverse).
    """
    _check_aware(run.issued_at, "RunInfo.issued_at")
    if state is not None:
        if state.city != run.city:
            raise EpisodeError(f"episode {state.episode_id} is {state.city}'s, not {run.city}'s")
        if state.drill != run.drill:
            raise EpisodeError(
                f"episode {state.episode_id} is {'a drill' if state.drill else 'real'}; "
                f"run {run.run_id} is {'a drill' if run.drill else 'real'}"
            )
        if run.issued_at < state.updated_at:
            raise EpisodeError(
                f"run {run.run_id} at {run.issued_at.isoformat()} is older than the episode's "
                f"last update {state.updated_at.isoformat()}"
            )
    today = local_day(run.issued_at, run.zone)
    found = chains(evaluation, today, policy.merge_gap_hours)
    if state is None or state.is_closed:
        return _open(state, found, run, policy, new_episode_id)
    touched = dataclasses.replace(
        state, run_id=run.run_id, plan_version=run.plan_version, updated_at=run.issued_at
    )
    if state.status == Status.PROPOSED:
        return _step_proposed(state, touched, found, run)
    return _step_active(state, touched, found, evaluation, run, policy)


def _candidate(found: Sequence[Chain]) -> Chain | None:
    return next((chain for chain in found if chain.level is not None), None)


def _open(
    state: EpisodeState | None,
    found: Sequence[Chain],
    run: RunInfo,
    policy: Policy,
    new_episode_id: str | None,
) -> Decision:
    """No open episode: open one (or continue a closed one) if a chain reaches a level."""
    chain = _candidate(found)
    t = run.issued_at
    if chain is None or chain.level is None:
        return Decision((), state)
    start = day_start(chain.first_day, run.zone)
    if policy.issue_horizon_hours is not None and _hours(start - t) > policy.issue_horizon_hours:
        return Decision((), state)  # too far ahead: a later run decides
    level = chain.level
    continues = False
    if state is not None:
        # The closed episode ended when it was closed, or at the end of its forecast days
        # or announced window if later (a warning lifted, rejected or cancelled early).
        ends = (state.closed_at, state.valid_until, day_end(state.last_day, state.zone))
        ended = max(moment for moment in ends if moment is not None)
        continues = _hours(start - ended) <= policy.merge_gap_hours
    suppressed = state.no_auto_up_to if continues and state is not None else None
    if suppressed is not None and level <= suppressed:
        return Decision((), state)  # an officer already decided on this episode
    needs_officer = level not in policy.auto_levels or (
        continues
        and state is not None
        and (state.closed_by_hand or state.status == Status.REJECTED)
    )
    span = chain.deciding_span
    lead, late, effective_from = _lead(chain.first_day, t, run.zone, policy, run.heavy_under_way)
    base = EpisodeState(
        episode_id=state.episode_id
        if continues and state is not None
        else (new_episode_id or f"{run.city}:{run.run_id}"),
        city=run.city,
        zone=run.zone,
        status=Status.PROPOSED,
        level=None,
        pending=None,
        first_day=chain.first_day,
        last_day=chain.last_day,
        effective_from=None,
        valid_until=None,
        opened_at=state.opened_at if continues and state is not None else t,
        updated_at=t,
        closed_at=None,
        run_id=run.run_id,
        plan_version=run.plan_version,
        drill=run.drill,
        no_auto_up_to=state.no_auto_up_to if continues and state is not None else None,
    )
    prefix_zh = f"延续预警过程{base.episode_id}。" if continues else ""
    prefix_en = f"Continues episode {base.episode_id}. " if continues else ""
    before = state if continues else None
    if needs_officer:
        issue_by = day_start(chain.first_day, run.zone) - timedelta(hours=policy.lead_hours)
        proposed = dataclasses.replace(
            base,
            pending=Pending(Kind.ISSUED, level, t, run.run_id, run.plan_version, issue_by),
        )
        reason = (
            f"{prefix_zh}{span.reason_zh} 需值班人员审批，请于{_fmt(issue_by, run.zone)}前决定。",
            f"{prefix_en}{span.reason_en} Needs a duty officer's approval; decide by "
            f"{_fmt(issue_by, run.zone)} to keep the {policy.lead_hours:g} h lead time.",
        )
        return _system_decision(before, proposed, Kind.PROPOSED, t, reason, public=False)
    issued = dataclasses.replace(
        base,
        status=Status.ISSUED,
        level=level,
        effective_from=effective_from,
        valid_until=day_end(chain.last_day, run.zone),
    )
    window_zh, window_en = _window_text(issued)
    under_zh = "重污染已发生且12小时内无改善，立即发布。" if run.heavy_under_way else ""
    under_en = (
        "Heavy pollution under way with no improvement within 12 h: issued at once. "
        if run.heavy_under_way
        else ""
    )
    reason = (
        f"{prefix_zh}{span.reason_zh} {under_zh}自动发布，提前{lead:.0f}小时；{window_zh}。",
        f"{prefix_en}{span.reason_en} {under_en}Issued automatically {lead:.0f} h ahead; "
        f"{window_en}.",
    )
    return Decision(
        (
            make_transition(
                before, issued, Kind.ISSUED, t, SYSTEM, reason, True, lead_hours=lead, late=late
            ),
        ),
        issued,
    )


def _step_proposed(
    state: EpisodeState, touched: EpisodeState, found: Sequence[Chain], run: RunInfo
) -> Decision:
    """A new warning waits for approval: follow the forecast, keeping the higher level."""
    assert state.pending is not None
    t = run.issued_at
    chain = _candidate(found)
    if chain is None or chain.level is None:
        cancelled = dataclasses.replace(touched, status=Status.CANCELLED, pending=None, closed_at=t)
        reason = (
            "预报不再达到预警条件，待审批的预警已撤销。",
            "The forecast no longer meets any warning level; the waiting proposal is withdrawn.",
        )
        return _system_decision(state, cancelled, Kind.CANCELLED, t, reason, public=False)
    widened = dataclasses.replace(
        touched,
        first_day=min(state.first_day, chain.first_day),
        last_day=max(state.last_day, chain.last_day),
    )
    if chain.level > state.pending.level and (
        state.no_auto_up_to is None or chain.level > state.no_auto_up_to
    ):
        raised = dataclasses.replace(
            widened, pending=dataclasses.replace(state.pending, level=chain.level)
        )
        span = chain.deciding_span
        reason = (
            f"待审批预警级别由{state.pending.level.name_zh}提高为{chain.level.name_zh}。{span.reason_zh}",
            f"Waiting proposal raised from {state.pending.level.name_en} to "
            f"{chain.level.name_en}. {span.reason_en}",
        )
        return _system_decision(state, raised, Kind.PROPOSED, t, reason, public=False)
    return Decision((), widened)


def _step_active(
    state: EpisodeState,
    touched: EpisodeState,
    found: Sequence[Chain],
    evaluation: Evaluation,
    run: RunInfo,
    policy: Policy,
) -> Decision:
    """An issued warning: lift, upgrade, downgrade, cancel, extend or nothing."""
    assert state.level is not None
    t = run.issued_at
    current = state.level
    in_force = state.in_force(t)
    if in_force:
        chain = None
        if found and _hours(day_start(found[0].first_day, run.zone) - t) <= policy.merge_gap_hours:
            chain = found[0]
        clear = clear_hours(evaluation, t, run.zone, run.today_aqi)
        restart = _candidate(found)
        restart_soon = restart is not None and (
            _hours(day_start(restart.first_day, run.zone) - t) <= policy.merge_gap_hours
        )
        linked = state.regional_notice_id is not None  # only the regional notice lifts
        if clear >= policy.lift_hours and not restart_soon and not linked:
            lifted = dataclasses.replace(
                _reset_lower(touched), status=Status.LIFTED, pending=None, closed_at=t
            )
            reason = (
                f"预报日均AQI在未来{clear:.0f}小时内不超过{evaluation.floor}"
                f"（不少于{policy.lift_hours:g}小时），解除{current.warning_name_zh}。",
                f"Forecast daily AQI stays at or below {evaluation.floor} for the next "
                f"{clear:.0f} h (at least {policy.lift_hours:g} h): {current.warning_name_en} "
                "lifted.",
            )
            return _system_decision(state, lifted, Kind.LIFTED, t, reason, public=True)
    else:
        chain = _candidate(found)
    forecast_level = chain.level if chain is not None else None
    transitions: list[Transition] = []
    working = touched

    # Upgrade at once (or propose it) when the forecast is higher.
    if forecast_level is not None and forecast_level >= current:
        working = _reset_lower(working)
        if forecast_level > current:
            assert chain is not None
            return _raise(state, working, chain, forecast_level, run, policy)
        if working.pending is not None and working.pending.kind == Kind.DOWNGRADED:
            before = working
            working = dataclasses.replace(working, pending=None)
            reason = (
                f"预报回升至{current.name_zh}，撤回待审批的降级。",
                f"Forecast back at {current.name_en}; the waiting downgrade is withdrawn.",
            )
            transitions.append(
                make_transition(before, working, Kind.WITHDRAWN, t, SYSTEM, reason, public=False)
            )
    else:
        # Lower (or no level): count consecutive lower runs; act only when damped.
        since = working.lower_since or t
        highest_lower = (
            max_level(working.lower_level, forecast_level) if working.lower_runs else forecast_level
        )
        working = dataclasses.replace(
            working, lower_runs=working.lower_runs + 1, lower_since=since, lower_level=highest_lower
        )
        damped = (
            working.lower_runs >= policy.downgrade_runs
            and _hours(t - since) >= policy.downgrade_hours
        )
        if damped:
            target = max_level(working.lower_level, working.hold_at_least, working.regional_level)
            if target is None and not in_force:
                return _cancel_issued(state, working, run, policy)
            held = in_force and not policy.downgrade_in_force
            if target is not None and target < current and not held:
                decision = _lower(state, working, target, run, policy)
                if decision is not None:
                    return decision

    # Widen the window when the forecast extends it.
    if chain is not None:
        extended = _widen(working, chain, run.zone, in_force, t)
        if extended is not None:
            before = working
            working = extended
            window_zh, window_en = _window_text(working)
            reason = (
                f"预报重污染过程延长，{window_zh}。",
                f"Forecast episode longer: {window_en}.",
            )
            transitions.append(
                make_transition(before, working, Kind.EXTENDED, t, SYSTEM, reason, public=True)
            )
    return Decision(tuple(transitions), working)


def _widen(
    state: EpisodeState, chain: Chain, zone: str, in_force: bool, t: datetime
) -> EpisodeState | None:
    """The state with its window widened to cover the chain, or None if it already does."""
    last_day = max(state.last_day, chain.last_day)
    first_day = min(state.first_day, chain.first_day)
    valid_until = day_end(last_day, zone)
    effective_from = state.effective_from
    if not in_force and effective_from is not None:
        effective_from = min(effective_from, max(day_start(first_day, zone), t))
    if (
        last_day == state.last_day
        and effective_from == state.effective_from
        and state.valid_until is not None
        and valid_until <= state.valid_until
    ):
        return None
    return dataclasses.replace(
        state,
        first_day=first_day,
        last_day=last_day,
        effective_from=effective_from,
        valid_until=max(valid_until, state.valid_until) if state.valid_until else valid_until,
    )


def _raise(
    state: EpisodeState,
    working: EpisodeState,
    chain: Chain,
    level: Level,
    run: RunInfo,
    policy: Policy,
) -> Decision:
    """The forecast is above the level in force: upgrade, or propose the upgrade."""
    assert state.level is not None
    t = run.issued_at
    span = chain.deciding_span
    widened = _widen(working, chain, run.zone, state.in_force(t), t) or working
    if state.no_auto_up_to is not None and level <= state.no_auto_up_to:
        return Decision((), widened)  # an officer refused this level in this episode
    if level not in policy.auto_levels:
        pending = working.pending
        if pending is not None and pending.kind == Kind.UPGRADED and pending.level >= level:
            return Decision((), widened)  # already waiting for this (or more)
        proposed = dataclasses.replace(
            widened,
            pending=Pending(Kind.UPGRADED, level, t, run.run_id, run.plan_version),
        )
        reason = (
            f"建议由{state.level.name_zh}升级为{level.name_zh}，需值班人员审批。{span.reason_zh}",
            f"Upgrade from {state.level.name_en} to {level.name_en} proposed; needs a duty "
            f"officer. {span.reason_en}",
        )
        return _system_decision(state, proposed, Kind.PROPOSED, t, reason, public=False)
    upgraded = dataclasses.replace(widened, status=Status.UPGRADED, level=level, pending=None)
    window_zh, window_en = _window_text(upgraded)
    reason = (
        f"预警由{state.level.name_zh}升级为{level.name_zh}（自动）。{span.reason_zh} {window_zh}。",
        f"Upgraded from {state.level.name_en} to {level.name_en} automatically. "
        f"{span.reason_en} {window_en}.",
    )
    return _system_decision(state, upgraded, Kind.UPGRADED, t, reason, public=True)


def _lower(
    state: EpisodeState, working: EpisodeState, target: Level, run: RunInfo, policy: Policy
) -> Decision | None:
    """Damped lower forecast: downgrade to ``target``, or propose it. None: nothing new."""
    assert state.level is not None
    t = run.issued_at
    runs, hours = working.lower_runs, _hours(t - (working.lower_since or t))
    if target not in policy.auto_levels:
        pending = working.pending
        if pending is not None and pending.kind == Kind.DOWNGRADED and pending.level == target:
            return None
        proposed = dataclasses.replace(
            working, pending=Pending(Kind.DOWNGRADED, target, t, run.run_id, run.plan_version)
        )
        reason = (
            f"连续{runs}次预报（{hours:.0f}小时）低于{state.level.name_zh}，建议降为"
            f"{target.name_zh}，需值班人员审批。",
            f"{runs} consecutive runs over {hours:.0f} h forecast below {state.level.name_en}; "
            f"downgrade to {target.name_en} proposed, needs a duty officer.",
        )
        return _system_decision(state, proposed, Kind.PROPOSED, t, reason, public=False)
    downgraded = dataclasses.replace(
        _reset_lower(working), status=Status.DOWNGRADED, level=target, pending=None
    )
    reason = (
        f"连续{runs}次预报（{hours:.0f}小时）低于{state.level.name_zh}，降为{target.name_zh}。",
        f"{runs} consecutive runs over {hours:.0f} h forecast below {state.level.name_en}: "
        f"downgraded to {target.name_en}.",
    )
    return _system_decision(state, downgraded, Kind.DOWNGRADED, t, reason, public=True)


def _cancel_issued(
    state: EpisodeState, working: EpisodeState, run: RunInfo, policy: Policy
) -> Decision:
    """A warning not yet in force whose level the damped forecast no longer supports."""
    assert state.level is not None
    t = run.issued_at
    cancelled = dataclasses.replace(
        _reset_lower(working), status=Status.CANCELLED, pending=None, closed_at=t
    )
    reason = (
        f"连续{working.lower_runs}次预报不再达到预警条件，{state.level.warning_name_zh}在生效前取消。",
        f"{working.lower_runs} consecutive runs no longer meet any level: the "
        f"{state.level.warning_name_en} is cancelled before taking effect.",
    )
    return _system_decision(state, cancelled, Kind.CANCELLED, t, reason, public=True)


# --- duty officer actions -------------------------------------------------------------------


def _check_action(state: EpisodeState, actor: str, reason: str, at: datetime) -> None:
    _check_aware(at, "action time")
    if not actor.strip():
        raise EpisodeError("an action needs the actor's name")
    if not reason.strip():
        raise EpisodeError("an action needs a reason")
    if at < state.updated_at:
        raise EpisodeError(
            f"action at {at.isoformat()} is older than the episode's last update "
            f"{state.updated_at.isoformat()}"
        )


def _check_not_linked(state: EpisodeState, action: str) -> None:
    if state.regional_notice_id is not None:
        raise EpisodeError(
            f"episode {state.episode_id} follows regional warning {state.regional_notice_id}; "
            f"only the regional notice can {action} it"
        )


_ACTION_TEXT: Final = {
    Kind.ISSUED: ("批准发布", "Approved and issued"),
    Kind.UPGRADED: ("人工升级", "Upgraded by hand"),
    Kind.DOWNGRADED: ("人工降级", "Downgraded by hand"),
    Kind.EXTENDED: ("人工延长", "Extended by hand"),
    Kind.LIFTED: ("人工解除", "Lifted by hand"),
    Kind.REJECTED: ("驳回", "Rejected"),
    Kind.CANCELLED: ("人工取消", "Cancelled by hand"),
    Kind.LEVEL_CHANGED: ("修改待审批级别", "Proposed level changed"),
}


def _by_hand(
    before: EpisodeState,
    after: EpisodeState,
    kind: Kind,
    actor: str,
    reason: str,
    at: datetime,
    lead_hours: float | None = None,
    late: bool = False,
) -> Decision:
    """A duty officer's transition: public when it changes the warning people see."""
    after = dataclasses.replace(after, updated_at=at)
    public = kind in {Kind.ISSUED, Kind.UPGRADED, Kind.DOWNGRADED, Kind.EXTENDED, Kind.LIFTED}
    public = public or (kind == Kind.CANCELLED and before.is_active)
    action_zh, action_en = _ACTION_TEXT[kind]
    texts = (f"{action_zh}（{actor}）：{reason}", f"{action_en} ({actor}): {reason}")
    transition = make_transition(
        before, after, kind, at, actor, texts, public, lead_hours=lead_hours, late=late
    )
    return Decision((transition,), after)


def approve(
    state: EpisodeState,
    *,
    actor: str,
    reason: str,
    at: datetime,
    level: Level | None = None,
) -> Decision:
    """Approve the waiting proposal (optionally at another ``level``, which the system then
    does not downgrade below). A new warning takes effect at the start of its first day,
    or at once if that has passed; its transition records the lead time from ``at`` and is
    ``late`` when approved after the proposal's ``issue_by``."""
    _check_action(state, actor, reason, at)
    pending = state.pending
    if pending is None:
        raise EpisodeError(f"episode {state.episode_id} has nothing waiting for approval")
    chosen = level or pending.level
    hold = chosen if level is not None and level != pending.level else state.hold_at_least
    if state.status == Status.PROPOSED:
        start = day_start(state.first_day, state.zone)
        issued = dataclasses.replace(
            state,
            status=Status.ISSUED,
            level=chosen,
            pending=None,
            effective_from=max(start, at),
            valid_until=day_end(state.last_day, state.zone),
            hold_at_least=hold,
        )
        late = pending.issue_by is not None and at > pending.issue_by
        lead = max(0.0, _hours(start - at))
        return _by_hand(state, issued, Kind.ISSUED, actor, reason, at, lead, late)
    assert state.level is not None
    if chosen == state.level:
        raise EpisodeError(f"approving would leave the level at {chosen.value}")
    kind = Kind.UPGRADED if chosen > state.level else Kind.DOWNGRADED
    changed = dataclasses.replace(
        _reset_lower(state),
        status=Status(kind.value),
        level=chosen,
        pending=None,
        hold_at_least=hold,
    )
    return _by_hand(state, changed, kind, actor, reason, at)


def reject(state: EpisodeState, *, actor: str, reason: str, at: datetime) -> Decision:
    """Reject the waiting proposal. A new warning's episode closes as ``rejected``; the
    system proposes nothing at that level or below in the episode again. A rejected
    downgrade keeps the level in force (the system does not downgrade below it)."""
    _check_action(state, actor, reason, at)
    pending = state.pending
    if pending is None:
        raise EpisodeError(f"episode {state.episode_id} has nothing waiting for approval")
    if state.status == Status.PROPOSED:
        rejected = dataclasses.replace(
            state,
            status=Status.REJECTED,
            pending=None,
            closed_at=at,
            closed_by_hand=True,
            no_auto_up_to=max_level(state.no_auto_up_to, pending.level),
        )
        return _by_hand(state, rejected, Kind.REJECTED, actor, reason, at)
    if pending.kind == Kind.UPGRADED:
        kept = dataclasses.replace(
            state, pending=None, no_auto_up_to=max_level(state.no_auto_up_to, pending.level)
        )
    else:
        kept = dataclasses.replace(
            _reset_lower(state),
            pending=None,
            hold_at_least=max_level(state.hold_at_least, state.level),
        )
    return _by_hand(state, kept, Kind.REJECTED, actor, reason, at)


def change_level(
    state: EpisodeState, level: Level, *, actor: str, reason: str, at: datetime
) -> Decision:
    """Change the level by hand: a waiting new warning's proposed level (it still waits), or
    the level in force of an active warning (upgrade or downgrade at once)."""
    _check_action(state, actor, reason, at)
    if state.status == Status.PROPOSED:
        assert state.pending is not None
        if level == state.pending.level:
            raise EpisodeError(f"the proposal is already {level.value}")
        edited = dataclasses.replace(state, pending=dataclasses.replace(state.pending, level=level))
        return _by_hand(state, edited, Kind.LEVEL_CHANGED, actor, reason, at)
    if not state.is_active or state.level is None:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; nothing to change")
    if level == state.level:
        raise EpisodeError(f"the warning is already {level.value}")
    if level > state.level:
        return upgrade(state, level, actor=actor, reason=reason, at=at)
    return downgrade(state, level, actor=actor, reason=reason, at=at)


def upgrade(
    state: EpisodeState, level: Level, *, actor: str, reason: str, at: datetime
) -> Decision:
    """Raise an active warning by hand; the system will not downgrade below ``level``."""
    _check_action(state, actor, reason, at)
    if not state.is_active or state.level is None:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; cannot upgrade")
    if level <= state.level:
        raise EpisodeError(f"{level.value} is not above the level in force ({state.level.value})")
    upgraded = dataclasses.replace(
        _reset_lower(state), status=Status.UPGRADED, level=level, pending=None, hold_at_least=level
    )
    return _by_hand(state, upgraded, Kind.UPGRADED, actor, reason, at)


def downgrade(
    state: EpisodeState, level: Level, *, actor: str, reason: str, at: datetime
) -> Decision:
    """Lower an active warning by hand; the system will not upgrade it back to the level
    it had (only above that)."""
    _check_action(state, actor, reason, at)
    if not state.is_active or state.level is None:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; cannot downgrade")
    if level >= state.level:
        raise EpisodeError(f"{level.value} is not below the level in force ({state.level.value})")
    if state.regional_level is not None and level < state.regional_level:
        raise EpisodeError(
            f"the regional warning {state.regional_notice_id} keeps this city at "
            f"{state.regional_level.value} or above"
        )
    downgraded = dataclasses.replace(
        _reset_lower(state),
        status=Status.DOWNGRADED,
        level=level,
        pending=None,
        hold_at_least=level,
        no_auto_up_to=max_level(state.no_auto_up_to, state.level),
    )
    return _by_hand(state, downgraded, Kind.DOWNGRADED, actor, reason, at)


def extend(
    state: EpisodeState, until: datetime, *, actor: str, reason: str, at: datetime
) -> Decision:
    """Extend an active warning's window to ``until`` (later than its current end)."""
    _check_action(state, actor, reason, at)
    _check_aware(until, "until")
    if not state.is_active or state.valid_until is None:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; cannot extend")
    if until <= state.valid_until:
        raise EpisodeError(
            f"{until.isoformat()} is not after the current end {state.valid_until.isoformat()}"
        )
    last_day = local_day(until - timedelta(microseconds=1), state.zone)
    extended = dataclasses.replace(state, valid_until=until, last_day=max(state.last_day, last_day))
    return _by_hand(state, extended, Kind.EXTENDED, actor, reason, at)


def lift(state: EpisodeState, *, actor: str, reason: str, at: datetime) -> Decision:
    """Lift an active warning by hand. If the forecast restarts the episode within the
    merge gap, the system proposes (never auto-issues), and only above the lifted level."""
    _check_action(state, actor, reason, at)
    if not state.is_active:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; cannot lift")
    _check_not_linked(state, "lift")
    lifted = dataclasses.replace(
        _reset_lower(state),
        status=Status.LIFTED,
        pending=None,
        closed_at=at,
        closed_by_hand=True,
        no_auto_up_to=max_level(state.no_auto_up_to, state.level),
    )
    return _by_hand(state, lifted, Kind.LIFTED, actor, reason, at)


def cancel(state: EpisodeState, *, actor: str, reason: str, at: datetime) -> Decision:
    """Cancel a waiting proposal or an issued warning that has not taken effect yet."""
    _check_action(state, actor, reason, at)
    _check_not_linked(state, "cancel")
    if state.status == Status.PROPOSED:
        pass
    elif state.is_active:
        if state.in_force(at):
            raise EpisodeError(f"episode {state.episode_id} is in force; lift it instead")
    else:
        raise EpisodeError(f"episode {state.episode_id} is {state.status.value}; cannot cancel")
    cancelled = dataclasses.replace(
        _reset_lower(state),
        status=Status.CANCELLED,
        pending=None,
        closed_at=at,
        closed_by_hand=True,
        no_auto_up_to=max_level(
            state.no_auto_up_to, state.level, state.pending.level if state.pending else None
        ),
    )
    return _by_hand(state, cancelled, Kind.CANCELLED, actor, reason, at)
