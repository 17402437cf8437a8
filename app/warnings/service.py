"""Warnings in the database: evaluate a forecast run, act on warnings, read them back.

The decisions are all made by the pure `alerts` package; this module feeds it stored data
and writes what it decides:

- `evaluate_run(session, run_id, now)`: for every city with a current plan, the daily AQI
  path from the run's hourly quantiles (the plan's ``decide_from``) merged with the city's
  observed hours, `alerts.criteria.evaluate` with the plan's criteria set,
  `alerts.episodes.step` with the city's episode, then the regional floor
  (`alerts.regional.join`/`release` for notices from `regional_notice_providers`).
- Duty-officer actions (`approve`, `reject`, `upgrade`, `downgrade`, `extend`, `lift`) and
  the city office's `acknowledge`.

Every change is written by `_record` in the caller's transaction: the episode's state, the
warning row, one append-only `warning_events` line per transition (who, when, what, why,
before/after, run, plan version) and, for announced changes and proposals, the outbox
event (`app.outbox.service.enqueue_event`) and the next CAP message of the warning. The
caller commits once, so the audit line, the warning and its webhook are stored together
or not at all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from alerts.cap import cap_identifier
from alerts.criteria import Evaluation, evaluate
from alerts.daily import (
    ForecastHour,
    current_day_aqi,
    daily_aqi_path,
    decide_by_probability,
    heavy_under_way,
)
from alerts.episodes import (
    ACTIVE_STATUSES,
    CLOSED_STATUSES,
    SYSTEM,
    Decision,
    EpisodeError,
    EpisodeState,
    Kind,
    Pending,
    Policy,
    RunInfo,
    Status,
    Transition,
    day_end,
    day_start,
    local_day,
    path_first_day,
    step,
)
from alerts.episodes import approve as approve_state
from alerts.episodes import downgrade as downgrade_state
from alerts.episodes import extend as extend_state
from alerts.episodes import lift as lift_state
from alerts.episodes import reject as reject_state
from alerts.episodes import upgrade as upgrade_state
from alerts.events import MAX_BODY_BYTES, EventType, encode_event, make_event
from alerts.levels import Level
from alerts.regional import RegionalNotice, join, release
from app.cities.models import City
from app.config import get_settings
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.observations.models import Observation
from app.outbox.service import Audience, enqueue_event, new_event_id
from app.plans.models import PlanVersion
from app.stations.models import Station
from app.warnings.models import CityWarning, Episode, WarningEvent
from contingency_plans.actions import Action, actions_for
from contingency_plans.schema import Plan

log = logging.getLogger(__name__)

#: The primary pollutant of every warning: only PM2.5 is forecast.
PRIMARY_POLLUTANT: Final = "PM2.5"


# --- errors and actors ------------------------------------------------------------------------


class WarningNotFoundError(LookupError):
    """No warning with that id (or not visible to the caller)."""


class WarningConflictError(ValueError):
    """The action does not fit the warning's state (the API answers 409)."""


@dataclass(frozen=True)
class Actor:
    """Who acts: ``system``, or a principal (name, API key id, role)."""

    name: str
    key_id: int | None = None
    role: str | None = None


SYSTEM_ACTOR: Final = Actor(SYSTEM)


# --- EpisodeState <-> JSON ----------------------------------------------------------------------

_DATETIME_FIELDS: Final = frozenset(
    {"effective_from", "valid_until", "opened_at", "updated_at", "closed_at", "lower_since"}
)
_DATE_FIELDS: Final = frozenset({"first_day", "last_day"})
_LEVEL_FIELDS: Final = frozenset(
    {"level", "lower_level", "hold_at_least", "no_auto_up_to", "regional_level"}
)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def state_to_json(state: EpisodeState) -> dict[str, Any]:
    """The state as JSON-ready values (times as UTC ISO 8601, enums as their codes)."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(state):
        value = getattr(state, item.name)
        if item.name == "pending":
            out["pending"] = (
                None
                if value is None
                else {
                    "kind": value.kind.value,
                    "level": value.level.value,
                    "proposed_at": _iso(value.proposed_at),
                    "run_id": value.run_id,
                    "plan_version": value.plan_version,
                    "issue_by": _iso(value.issue_by),
                }
            )
        elif item.name in _DATETIME_FIELDS:
            out[item.name] = _iso(value)
        elif item.name in _DATE_FIELDS:
            out[item.name] = value.isoformat()
        elif item.name in _LEVEL_FIELDS or item.name == "status":
            out[item.name] = None if value is None else value.value
        else:
            out[item.name] = value
    return out


def state_from_json(data: dict[str, Any]) -> EpisodeState:
    """The inverse of `state_to_json`."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "pending":
            values[name] = (
                None
                if value is None
                else Pending(
                    kind=Kind(value["kind"]),
                    level=Level(value["level"]),
                    proposed_at=datetime.fromisoformat(value["proposed_at"]),
                    run_id=value["run_id"],
                    plan_version=value["plan_version"],
                    issue_by=_dt(value["issue_by"]),
                )
            )
        elif name in _DATETIME_FIELDS:
            values[name] = _dt(value)
        elif name in _DATE_FIELDS:
            values[name] = date.fromisoformat(value)
        elif name in _LEVEL_FIELDS:
            values[name] = None if value is None else Level(value)
        elif name == "status":
            values[name] = Status(value)
        else:
            values[name] = value
    return EpisodeState(**values)


# --- plans and inputs ---------------------------------------------------------------------------


#: Validated plans by (city, version): a version is the hash of the content, so the pair
#: names one content for good and validating it once is enough.
_PLANS: dict[tuple[str, str], Plan] = {}


def plan_of(row: PlanVersion) -> Plan:
    """The validated plan of a stored version (cached per city and version)."""
    key = (row.city_code, row.version)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = Plan.model_validate(row.content)
    return plan


def plan_version_row(session: Session, city_code: str, version: str) -> PlanVersion | None:
    """A stored plan version of a city (the current one when ``version`` is unknown)."""
    row = session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code == city_code, PlanVersion.version == version
        )
    ).first()
    if row is not None:
        return row
    return session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code == city_code, PlanVersion.is_current.is_(True)
        )
    ).first()


def observed_pm25(
    session: Session, city_code: str, start: datetime, end: datetime
) -> dict[datetime, float]:
    """The city's observed hourly PM2.5 (µg/m³): per hour, the mean over its stations
    reporting, for hour starts in ``start <= time < end`` (aware), keyed by aware UTC."""
    rows = session.execute(
        select(Observation.time, func.avg(Observation.pm25))
        .join(Station, Station.id == Observation.station_id)
        .where(
            Station.city_code == city_code,
            Observation.time >= start.astimezone(UTC),
            Observation.time < end.astimezone(UTC),
            Observation.pm25.is_not(None),
        )
        .group_by(Observation.time)
    )
    hours: dict[datetime, float] = {}
    for moment, value in rows:
        if value is None:
            continue
        aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        hours[aware] = float(value)
    return hours


def forecast_hours(session: Session, run_id: int, city_code: str) -> list[ForecastHour]:
    """The run's hourly PM2.5 quantiles (µg/m³) for one city, in time order."""
    rows = session.execute(
        select(ForecastHourly.valid_time, ForecastHourly.p50, ForecastHourly.p90)
        .where(ForecastHourly.run_id == run_id, ForecastHourly.city_code == city_code)
        .order_by(ForecastHourly.valid_time)
    )
    return [ForecastHour(valid_time, p50, p90) for valid_time, p50, p90 in rows]


def forecast_probabilities(
    session: Session, run_id: int, city_code: str
) -> dict[date, dict[float, float]]:
    """The run's daily exceedance probabilities for one city: local date → {PM2.5
    threshold (µg/m³) → P(daily mean > it)}."""
    rows = session.execute(
        select(
            ForecastDaily.local_date,
            ForecastDaily.p_gt_75,
            ForecastDaily.p_gt_115,
            ForecastDaily.p_gt_150,
            ForecastDaily.p_gt_250,
        ).where(ForecastDaily.run_id == run_id, ForecastDaily.city_code == city_code)
    )
    return {
        day: {75.0: p75, 115.0: p115, 150.0: p150, 250.0: p250}
        for day, p75, p115, p150, p250 in rows
    }


#: Sources of regional warning notices, consulted by `evaluate_run` (the regional
#: coordination feature registers one; tests register their own). Each returns the notices
#: (in effect or lifted) that may concern the cities at ``at``.
RegionalNoticeProvider = Callable[[Session, datetime], Sequence[RegionalNotice]]
regional_notice_providers: list[RegionalNoticeProvider] = []


# --- evaluating a run ---------------------------------------------------------------------------


@dataclass
class CityOutcome:
    """What evaluating one city did. ``status``: ``evaluated`` or ``skipped``."""

    city_code: str
    status: str
    level: Level | None = None
    transitions: list[str] = field(default_factory=list)
    warning_ids: list[int] = field(default_factory=list)
    note: str = ""


@dataclass
class RunEvaluation:
    run_id: int
    drill: bool
    cities: list[CityOutcome]

    @property
    def transitions(self) -> int:
        return sum(len(city.transitions) for city in self.cities)


def latest_episode(
    session: Session, city_code: str, drill: bool, for_update: bool = False
) -> Episode | None:
    """The city's most recent episode (open or closed) of the drill or real kind."""
    query = (
        select(Episode)
        .where(Episode.city_code == city_code, Episode.drill.is_(drill))
        .order_by(Episode.updated_at.desc(), Episode.started_at.desc())
        .limit(1)
    )
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def _run_time(session: Session, run_id: str) -> datetime | None:
    """Issue time of a stored forecast run named by its id string (None otherwise)."""
    if not run_id.isdigit():
        return None
    run = session.get(ForecastRun, int(run_id))
    return run.issued_at if run is not None else None


def _peak_aqi(evaluation: Evaluation, state: EpisodeState | None) -> int | None:
    """Highest daily AQI of the path over the episode's days (or the whole path)."""
    if not evaluation.path:
        return None
    if state is not None:
        inside = [e.aqi for e in evaluation.path if state.first_day <= e.day <= state.last_day]
        if inside:
            return max(inside)
    return max(entry.aqi for entry in evaluation.path)


def evaluate_run(
    session: Session,
    run_id: int,
    now: datetime,
    *,
    drill: bool | None = None,
    notices: Sequence[RegionalNotice] = (),
) -> RunEvaluation:
    """Evaluate every city with a current plan on one stored forecast run.

    ``now`` (aware) stamps the audit lines, outbox events and CAP messages. The rules run at
    the run's issue time (or the episode's last update if that is later, e.g. an officer
    acted between the run's issue and its evaluation). Drill: the run's own flag, the
    ``HAZEWARN_DRILL`` setting, or ``drill=True``; drill episodes never mix with real ones.
    A city is skipped when the run has no forecast for it, when its episode was already
    decided by this run (re-evaluating re-announces nothing) or by a later run.
    Writes in the caller's transaction (flushes, never commits).
    """
    run = session.get(ForecastRun, run_id)
    if run is None:
        raise WarningNotFoundError(f"no forecast run {run_id}")
    is_drill = bool(run.drill or get_settings().drill or drill)
    run_key = str(run.id)
    all_notices = list(notices)
    for provider in regional_notice_providers:
        all_notices.extend(provider(session, run.issued_at))
    current = session.execute(
        select(PlanVersion, City)
        .join(City, City.code == PlanVersion.city_code)
        .where(PlanVersion.is_current.is_(True))
        .order_by(PlanVersion.city_code)
    ).all()
    outcomes = [
        _evaluate_city(session, run, run_key, is_drill, row, city, all_notices, now)
        for row, city in current
    ]
    session.flush()
    return RunEvaluation(run_id=run.id, drill=is_drill, cities=outcomes)


def _evaluate_city(
    session: Session,
    run: ForecastRun,
    run_key: str,
    drill: bool,
    plan_row: PlanVersion,
    city: City,
    notices: Sequence[RegionalNotice],
    now: datetime,
) -> CityOutcome:
    code = city.code
    forecast = forecast_hours(session, run.id, code)
    if not forecast:
        return CityOutcome(code, "skipped", note="the run has no forecast for this city")
    plan = plan_of(plan_row)
    zone = plan.city.timezone
    episode = latest_episode(session, code, drill, for_update=True)
    state = state_from_json(episode.state) if episode is not None else None
    if state is not None:
        if state.run_id == run_key:
            return CityOutcome(code, "skipped", note=f"already decided by run {run_key}")
        decided_by = _run_time(session, state.run_id)
        if decided_by is not None and decided_by > run.issued_at:
            return CityOutcome(code, "skipped", note=f"run {state.run_id} is newer")
    decided_at = run.issued_at if state is None else max(run.issued_at, state.updated_at)
    first = path_first_day(state, local_day(decided_at, zone))
    hour = decided_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = min(day_start(first, zone), hour - timedelta(hours=24))
    observed = observed_pm25(session, code, start, hour + timedelta(hours=1))
    quantile = plan.hourly_quantile
    path = daily_aqi_path(observed, forecast, zone, quantile, first_day=first)
    if plan.decide_from == "probability":
        assert plan.probability_cutoffs is not None  # the schema requires them
        probabilities = forecast_probabilities(session, run.id, code)
        path = decide_by_probability(path, probabilities, plan.probability_cutoffs)
    evaluation = evaluate(path, plan.criteria_set)
    run_info = RunInfo(
        run_id=run_key,
        issued_at=decided_at,
        plan_version=plan_row.version,
        city=code,
        zone=zone,
        drill=drill,
        heavy_under_way=heavy_under_way(observed, forecast, decided_at, zone, quantile),
        today_aqi=current_day_aqi(observed, forecast, decided_at, zone, quantile),
    )
    suffix = "-drill" if drill else ""
    try:
        decision = step(
            state,
            evaluation,
            run_info,
            Policy.from_plan(plan),
            new_episode_id=f"{code}:{run_key}{suffix}",
        )
        decisions = [
            decision,
            *_regional_floor(
                decision.new_state, drill, code, zone, plan_row.version, decided_at, notices
            ),
        ]
    except EpisodeError as exc:
        log.warning("city %s, run %s: %s", code, run_key, exc)
        return CityOutcome(code, "skipped", level=evaluation.level, note=str(exc))
    outcome = CityOutcome(code, "evaluated", level=evaluation.level)
    # Each decision is recorded on the episode its state names: a regional notice may open
    # a new episode after the city's own step closed the old one.
    for item in decisions:
        touched = _record(
            session,
            city=city,
            plan=plan,
            episode=episode,
            decision=item,
            now=now,
            actor=SYSTEM_ACTOR,
            aqi_peak=_peak_aqi(evaluation, item.new_state),
        )
        if item.new_state is not None:
            episode = session.get(Episode, item.new_state.episode_id)
        outcome.transitions.extend(t.kind.value for t in item.transitions)
        outcome.warning_ids.extend(w.id for w in touched if w.id not in outcome.warning_ids)
    return outcome


def _regional_floor(
    state: EpisodeState | None,
    drill: bool,
    city_code: str,
    zone: str,
    plan_version: str,
    at: datetime,
    notices: Sequence[RegionalNotice],
) -> list[Decision]:
    """The regional notices covering the city, applied after the city's own step: release
    a link whose notice was lifted, then join the highest notice in effect (its level is a
    floor: `alerts.regional`). One decision per change, in order."""
    decisions: list[Decision] = []
    mine = [n for n in notices if city_code in n.members and n.drill == drill]
    if state is not None and state.regional_notice_id is not None:
        lifted = next(
            (
                n
                for n in mine
                if n.notice_id == state.regional_notice_id
                and n.lifted_at is not None
                and n.lifted_at <= at
            ),
            None,
        )
        if lifted is not None:
            released = release(state, lifted, at=at)
            decisions.append(released)
            state = released.new_state
    in_effect = [n for n in mine if n.in_effect(at)]
    if in_effect:
        notice = max(in_effect, key=lambda n: (n.level, n.start))
        needs_join = (
            state is None
            or state.is_closed
            or state.level is None
            or state.level < notice.level
            or state.regional_notice_id != notice.notice_id
        )
        if needs_join:
            suffix = "-drill" if drill else ""
            decisions.append(
                join(
                    state,
                    notice,
                    city=city_code,
                    zone=zone,
                    plan_version=plan_version,
                    at=at,
                    new_episode_id=f"{city_code}:{notice.run_id}{suffix}",
                )
            )
    return decisions


# --- recording decisions ------------------------------------------------------------------------

_EVENT_OF_KIND: Final[dict[Kind, tuple[EventType, str | None]]] = {
    Kind.PROPOSED: (EventType.WARNING_PROPOSED, None),
    Kind.LEVEL_CHANGED: (EventType.WARNING_PROPOSED, None),
    Kind.ISSUED: (EventType.WARNING_ISSUED, None),
    Kind.UPGRADED: (EventType.WARNING_UPDATED, "raise"),
    Kind.DOWNGRADED: (EventType.WARNING_UPDATED, "lower"),
    Kind.EXTENDED: (EventType.WARNING_UPDATED, "extend"),
    Kind.LIFTED: (EventType.WARNING_LIFTED, None),
    Kind.CANCELLED: (EventType.WARNING_LIFTED, None),
}


def _snapshot(t: Transition, after: bool) -> dict[str, Any]:
    """The warning as a transition saw it, before or after."""
    status: Status | None
    window: tuple[datetime | None, datetime | None] = (None, None)
    if after:
        status, level, proposed = t.status_after, t.level_after, t.proposed_level_after
        window = (t.effective_from, t.valid_until)
    else:
        status, level, proposed = t.status_before, t.level_before, t.proposed_level_before
    snap: dict[str, Any] = {
        "state": status.value if status is not None else None,
        "level": level.value if level is not None else None,
        "proposed_level": proposed.value if proposed is not None else None,
    }
    if after:
        snap["effective"] = _iso(window[0])
        snap["expires"] = _iso(window[1])
    return snap


def _opens(t: Transition) -> bool:
    return t.status_after not in CLOSED_STATUSES and (
        t.status_before is None or t.status_before in CLOSED_STATUSES
    )


def current_warning(session: Session, episode_id: str) -> CityWarning | None:
    return session.scalars(
        select(CityWarning)
        .where(CityWarning.episode_id == episode_id)
        .order_by(CityWarning.id.desc())
        .limit(1)
    ).first()


def _sync_episode(session: Session, episode: Episode | None, state: EpisodeState) -> Episode:
    if episode is None or episode.id != state.episode_id:
        existing = session.get(Episode, state.episode_id)
        if existing is None:
            existing = Episode(
                id=state.episode_id, city_code=state.city, started_at=state.opened_at
            )
            session.add(existing)
        episode = existing
    episode.status = state.status.value
    episode.level = state.level.value if state.level is not None else None
    episode.pending_level = state.pending.level.value if state.pending is not None else None
    episode.first_day = state.first_day
    episode.last_day = state.last_day
    episode.started_at = state.opened_at
    episode.updated_at = state.updated_at
    episode.lifted_at = state.closed_at
    episode.drill = state.drill
    episode.regional_warning_id = state.regional_notice_id
    episode.run_id = state.run_id
    episode.plan_version = state.plan_version
    episode.state = state_to_json(state)
    return episode


def _record(
    session: Session,
    *,
    city: City,
    plan: Plan,
    episode: Episode | None,
    decision: Decision,
    now: datetime,
    actor: Actor,
    aqi_peak: int | None = None,
    reason: str = "",
) -> list[CityWarning]:
    """Write a decision: episode state, warning rows, audit lines, outbox events, CAP.

    Returns the warnings the transitions touched. ``reason`` is the officer's own words
    (the transition's texts add the action's name). Flushes, never commits.
    """
    state = decision.new_state
    if state is None:
        return []
    episode = _sync_episode(session, episode, state)
    session.flush()
    if not decision.transitions:
        # Only the rules' memory moved (run id, downgrade damping): nothing to announce,
        # and the warning's last CAP message stays exactly as it was sent.
        return []
    touched: list[CityWarning] = []
    warning = current_warning(session, episode.id)
    for t in decision.transitions:
        if _opens(t) or warning is None:
            warning = _new_warning(session, city, episode, state, t, now, aqi_peak)
        _apply_transition(warning, state, t, now, aqi_peak)
        if warning.episode_id == episode.id:
            _sync_pending(warning, state)
        if t.public:
            _next_cap_message(warning, city.code, now)
        warning.payload = warning_object(warning, city, plan, episode)
        event_id = _enqueue(session, warning, t)
        session.add(
            WarningEvent(
                warning_id=warning.id,
                episode_id=episode.id,
                city_code=city.code,
                at=now,
                # System decisions name their own actor: "system", or the issuer of a
                # regional notice.
                actor=t.actor if actor == SYSTEM_ACTOR else actor.name,
                actor_key_id=actor.key_id,
                actor_role=actor.role,
                kind=t.kind.value,
                reason=reason or t.reason_en,
                reason_zh=t.reason_zh,
                reason_en=t.reason_en,
                before=None if t.status_before is None else _snapshot(t, after=False),
                after=_snapshot(t, after=True),
                run_id=t.run_id,
                plan_version=t.plan_version,
                public=t.public,
                drill=t.drill,
                lead_hours=t.lead_hours,
                late=t.late,
                outbox_event_id=event_id,
            )
        )
        if warning not in touched:
            touched.append(warning)
    session.flush()
    return touched


def _new_warning(
    session: Session,
    city: City,
    episode: Episode,
    state: EpisodeState,
    t: Transition,
    now: datetime,
    aqi_peak: int | None,
) -> CityWarning:
    level = t.level_after or t.proposed_level_after or state.level
    assert level is not None, "a new warning has a level"
    start, end = _window(state, t)
    warning = CityWarning(
        episode_id=episode.id,
        city_code=city.code,
        level=level.value,
        state=t.status_after.value,
        effective=start,
        expires=end,
        forecast_run_id=t.run_id,
        plan_version=t.plan_version,
        aqi_forecast=aqi_peak or 0,
        late=False,
        reason_zh="",
        reason_en="",
        payload={},
        drill=t.drill,
        cap_sequence=0,
        cap_references=[],
        created_at=now,
        updated_at=now,
    )
    session.add(warning)
    session.flush()
    return warning


def _window(state: EpisodeState, t: Transition) -> tuple[datetime, datetime]:
    """The warning window of a transition; prospective (the forecast days) for proposals."""
    start = t.effective_from or day_start(state.first_day, state.zone)
    end = t.valid_until or day_end(state.last_day, state.zone)
    return start, max(start, end)


def _apply_transition(
    warning: CityWarning, state: EpisodeState, t: Transition, now: datetime, aqi_peak: int | None
) -> None:
    warning.state = t.status_after.value
    if t.status_after == Status.PROPOSED:
        if t.proposed_level_after is not None:
            warning.level = t.proposed_level_after.value
        warning.proposed_at = warning.proposed_at or t.at
    elif t.level_after is not None:
        warning.level = t.level_after.value
    if t.status_after not in CLOSED_STATUSES or t.effective_from is not None:
        warning.effective, warning.expires = _window(state, t)
    if t.kind in (Kind.ISSUED, Kind.UPGRADED, Kind.DOWNGRADED):
        warning.level_since = t.at
    if t.kind == Kind.ISSUED:
        warning.issued_at = warning.issued_at or t.at
        warning.lead_hours = t.lead_hours
        warning.late = t.late
    if t.status_after in CLOSED_STATUSES:
        warning.lifted_at = t.at
    if t.public and t.kind in (Kind.UPGRADED, Kind.DOWNGRADED, Kind.EXTENDED):
        # An acknowledgement is of the last announced change: a new one needs a new one.
        warning.acknowledged_at = None
        warning.acknowledged_by = None
        warning.acknowledged_key_id = None
    if t.kind in (Kind.ISSUED, Kind.UPGRADED, Kind.EXTENDED) and aqi_peak is not None:
        warning.aqi_forecast = max(warning.aqi_forecast, aqi_peak)
    warning.forecast_run_id = t.run_id
    warning.plan_version = t.plan_version
    warning.reason_zh = t.reason_zh
    warning.reason_en = t.reason_en
    warning.updated_at = now


def _sync_pending(warning: CityWarning, state: EpisodeState) -> None:
    pending = state.pending
    if state.is_closed or pending is None:
        warning.pending_level = warning.pending_kind = None
        warning.pending_since = warning.issue_by = None
        return
    warning.pending_kind = pending.kind.value
    warning.pending_since = pending.proposed_at
    warning.issue_by = pending.issue_by
    # A new warning waiting for approval is the proposal itself (its level is pending).
    warning.pending_level = None if state.status == Status.PROPOSED else pending.level.value


def _next_cap_message(warning: CityWarning, city_code: str, now: datetime) -> None:
    """Start the warning's next CAP message: Alert on first issue, Update on a level
    change or extension, Cancel on a lift; each references every earlier message."""
    settings = get_settings()
    if warning.cap_identifier is not None and warning.cap_sent is not None:
        warning.cap_references = [
            *warning.cap_references,
            {
                "sender": settings.cap_sender,
                "identifier": warning.cap_identifier,
                "sent": _iso(warning.cap_sent) or "",
            },
        ]
    if warning.state in (Status.LIFTED.value, Status.CANCELLED.value):
        msg_type = "Cancel"
    elif warning.cap_identifier is None:
        msg_type = "Alert"
    else:
        msg_type = "Update"
    # The sequence digit tells apart messages of one city within one second; drill
    # messages use the upper half so an exercise never collides with a real message.
    digit = (warning.cap_sequence + (5 if warning.drill else 0)) % 10
    sent = now.replace(microsecond=0)
    warning.cap_identifier = cap_identifier(city_code, sent, digit)
    warning.cap_sent = sent
    warning.cap_msg_type = msg_type
    warning.cap_sequence += 1


# --- the warning object (events, API) ---------------------------------------------------------


def utc_text(moment: datetime | None) -> str | None:
    """RFC 3339 UTC (``…Z``), seconds precision."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def local_text(moment: datetime | None, zone: str | ZoneInfo) -> str | None:
    """The time in the city's zone with its offset (``…+08:00``)."""
    if moment is None:
        return None
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def actions_time(warning: CityWarning) -> datetime:
    """The time the level's actions are computed from: when the warning (at its current
    level) takes effect, i.e. the later of the level decision and the window start."""
    since = warning.level_since or warning.proposed_at or warning.created_at
    return max(since, warning.effective)


def warning_actions(warning: CityWarning, plan: Plan) -> list[Action]:
    """`contingency_plans.actions_for` of the warning's level (empty if the plan lacks it)."""
    if plan.levels.get(warning.level) is None:
        return []
    return actions_for(plan, warning.level, actions_time(warning))


def _quantity(values: dict[str, Any]) -> str | int | float | None:
    """The event schema's one-value quantity: the number of a single numeric quantity,
    else ``name=value`` pairs joined."""
    if not values:
        return None
    if len(values) == 1:
        (value,) = values.values()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return "; ".join(f"{name}={value}" for name, value in values.items())


def event_action(action: Action) -> dict[str, Any]:
    """One action as the events carry it (docs/events.schema.json ``action``)."""
    return {
        "order": action.order,
        "kind": action.kind,
        "level": action.level,
        "sector": action.sector,
        "department": action.department_zh,
        "department_en": action.department_en,
        "effective_at": utc_text(action.effective_at),
        "effective_at_local": action.effective_at.replace(microsecond=0).isoformat(),
        "text_zh": action.text_zh,
        "text_en": action.text_en,
        "quantity": _quantity(dict(action.quantity)),
    }


def cap_url(warning_id: int) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/v1/cap/{warning_id}.xml"


def warning_object(
    warning: CityWarning, city: City, plan: Plan, episode: Episode | None
) -> dict[str, Any]:
    """The warning as the events describe it (docs/events.schema.json ``warning``), with
    times in UTC and (``*_local``) the city's zone."""
    zone = city.timezone
    level = Level(warning.level)
    level_plan = plan.levels.get(warning.level)
    cut = level_plan.emission_cut_pct if level_plan is not None else None
    return {
        "id": str(warning.id),
        "episode_id": warning.episode_id,
        "city_code": city.code,
        "city_name_zh": city.name_zh,
        "city_name_en": city.name_en,
        "level": level.value,
        "level_name_zh": level.warning_name_zh,
        "state": warning.state,
        "proposed_level": warning.pending_level,
        "drill": warning.drill,
        "effective": utc_text(warning.effective),
        "effective_local": local_text(warning.effective, zone),
        "onset": utc_text(warning.effective),
        "expires": utc_text(warning.expires),
        "expires_local": local_text(warning.expires, zone),
        "issued_at": utc_text(warning.issued_at),
        "lifted_at": utc_text(warning.lifted_at),
        "aqi_forecast": max(0, min(500, warning.aqi_forecast)),
        "primary_pollutant": PRIMARY_POLLUTANT,
        "response_level": level.response_grade,
        "required_cut_pct": int(cut) if cut is not None else None,
        "regional_warning_id": episode.regional_warning_id if episode is not None else None,
        "forecast_run_id": warning.forecast_run_id,
        "plan_version": warning.plan_version,
        "cap_identifier": warning.cap_identifier,
        "cap_url": cap_url(warning.id) if warning.cap_identifier else None,
        "reason_zh": warning.reason_zh,
        "reason_en": warning.reason_en,
        "actions": [event_action(a) for a in warning_actions(warning, plan)],
    }


def _fit(type_: str, data: dict[str, Any], event_id: str, now: datetime) -> dict[str, Any]:
    """The data, thinned until the event body fits Standard Webhooks' 20 KB: first the
    English texts of the actions go, then the actions (the warning's URL has them all)."""

    def size(candidate: dict[str, Any]) -> int:
        try:
            return len(encode_event(make_event(type_, candidate, event_id, now)))
        except ValueError:
            return MAX_BODY_BYTES + 1

    if size(data) <= MAX_BODY_BYTES:
        return data
    warning = dict(data["warning"])
    warning["actions"] = [
        {k: v for k, v in a.items() if k not in ("text_en", "department_en", "effective_at_local")}
        for a in warning["actions"]
    ]
    thinner = {**data, "warning": warning}
    if size(thinner) <= MAX_BODY_BYTES:
        return thinner
    warning["actions"] = []
    warning["actions_url"] = (
        f"{get_settings().public_base_url.rstrip('/')}/v1/warnings/{warning['id']}"
    )
    return {**data, "warning": warning}


def _enqueue(session: Session, warning: CityWarning, t: Transition) -> str:
    """The outbox event of a transition.

    Announced changes go to the subscribers (`warning.issued`, `.updated`, `.lifted`);
    proposals and every other unannounced change (a rejection, a proposal the forecast
    withdrew, a regional link) go to staff only, the latter as `warning.updated` with
    ``change: edit``, so the duty officers' systems follow every decision."""
    type_, change = _EVENT_OF_KIND.get(t.kind, (EventType.WARNING_UPDATED, "edit"))
    proposal = type_ == EventType.WARNING_PROPOSED
    staff_only = proposal or not t.public
    if staff_only and not proposal:
        type_, change = EventType.WARNING_UPDATED, "edit"
    obj = dict(warning.payload)
    data: dict[str, Any] = {"warning": obj, "reason_zh": t.reason_zh, "reason_en": t.reason_en}
    if proposal:
        data["approval_required"] = True
        data["proposal"] = {
            "kind": "new" if t.status_after == Status.PROPOSED else "change",
            "level": (t.proposed_level_after or t.level_after or Level(warning.level)).value,
            "issue_by": utc_text(warning.issue_by),
        }
    elif type_ == EventType.WARNING_UPDATED:
        data["change"] = change
        data["previous_level"] = (t.level_before or Level(warning.level)).value
    elif type_ == EventType.WARNING_LIFTED:
        data["lifted_at"] = utc_text(t.at)
    when = warning.updated_at
    event_id = new_event_id(when)
    data = _fit(type_.value, data, event_id, when)
    event = enqueue_event(
        session,
        type_,
        data,
        now=when,
        city_code=warning.city_code,
        level=warning.level,
        event_id=event_id,
        audience=Audience.STAFF if staff_only else Audience.SUBSCRIBERS,
    )
    return event.id


# --- duty officer actions -------------------------------------------------------------------


def get_warning(session: Session, warning_id: int, for_update: bool = False) -> CityWarning:
    query = select(CityWarning).where(CityWarning.id == warning_id)
    if for_update:
        query = query.with_for_update()
    warning = session.scalars(query).first()
    if warning is None:
        raise WarningNotFoundError(f"no warning {warning_id}")
    return warning


def _act(
    session: Session,
    warning_id: int,
    actor: Actor,
    reason: str,
    now: datetime,
    decide: Callable[[EpisodeState], Decision],
) -> CityWarning:
    """Run one pure action on the warning's episode and record it."""
    warning = get_warning(session, warning_id, for_update=True)
    episode = session.scalars(
        select(Episode).where(Episode.id == warning.episode_id).with_for_update()
    ).one()
    latest = current_warning(session, episode.id)
    if latest is not None and latest.id != warning.id:
        raise WarningConflictError(
            f"warning {warning.id} is closed; episode {episode.id} continues as warning {latest.id}"
        )
    state = state_from_json(episode.state)
    try:
        decision = decide(state)
    except EpisodeError as exc:
        raise WarningConflictError(str(exc)) from None
    city = session.get(City, warning.city_code)
    assert city is not None
    plan_row = plan_version_row(
        session,
        city.code,
        decision.new_state.plan_version if decision.new_state else warning.plan_version,
    )
    if plan_row is None:
        raise WarningConflictError(f"no plan stored for city {city.code}")
    _record(
        session,
        city=city,
        plan=plan_of(plan_row),
        episode=episode,
        decision=decision,
        now=now,
        actor=actor,
        reason=reason,
    )
    session.refresh(warning)
    return warning


def approve(
    session: Session,
    warning_id: int,
    actor: Actor,
    now: datetime,
    reason: str = "",
    level: Level | None = None,
) -> CityWarning:
    """Approve the warning's proposal (a new warning, or a waiting level change),
    optionally at another ``level``."""
    text = reason.strip() or "approved"
    return _act(
        session,
        warning_id,
        actor,
        text,
        now,
        lambda s: approve_state(s, actor=actor.name, reason=text, at=now, level=level),
    )


def reject(
    session: Session, warning_id: int, actor: Actor, now: datetime, reason: str
) -> CityWarning:
    """Reject the warning's proposal; ``reason`` is required."""
    return _act(
        session,
        warning_id,
        actor,
        reason,
        now,
        lambda s: reject_state(s, actor=actor.name, reason=reason, at=now),
    )


def upgrade(
    session: Session, warning_id: int, actor: Actor, now: datetime, level: Level, reason: str
) -> CityWarning:
    return _act(
        session,
        warning_id,
        actor,
        reason,
        now,
        lambda s: upgrade_state(s, level, actor=actor.name, reason=reason, at=now),
    )


def downgrade(
    session: Session, warning_id: int, actor: Actor, now: datetime, level: Level, reason: str
) -> CityWarning:
    return _act(
        session,
        warning_id,
        actor,
        reason,
        now,
        lambda s: downgrade_state(s, level, actor=actor.name, reason=reason, at=now),
    )


def extend(
    session: Session, warning_id: int, actor: Actor, now: datetime, until: datetime, reason: str
) -> CityWarning:
    """Extend the warning's window to ``until`` (aware, later than its end)."""
    return _act(
        session,
        warning_id,
        actor,
        reason,
        now,
        lambda s: extend_state(s, until, actor=actor.name, reason=reason, at=now),
    )


def lift(
    session: Session, warning_id: int, actor: Actor, now: datetime, reason: str
) -> CityWarning:
    return _act(
        session,
        warning_id,
        actor,
        reason,
        now,
        lambda s: lift_state(s, actor=actor.name, reason=reason, at=now),
    )


def acknowledge(
    session: Session, warning_id: int, actor: Actor, now: datetime
) -> tuple[CityWarning, bool]:
    """Record that the city office received the warning's last announced change.

    Returns (warning, whether this call recorded it): acknowledging again is a no-op.
    Only active warnings can be acknowledged. Writes an audit line and a
    ``warning.acknowledged`` event in the caller's transaction.
    """
    warning = get_warning(session, warning_id, for_update=True)
    if warning.state not in {s.value for s in ACTIVE_STATUSES}:
        raise WarningConflictError(
            f"warning {warning.id} is {warning.state}; only an issued warning is acknowledged"
        )
    if warning.acknowledged_at is not None:
        return warning, False
    before = {"acknowledged_at": None, "acknowledged_by": None}
    warning.acknowledged_at = now
    warning.acknowledged_by = actor.name
    warning.acknowledged_key_id = actor.key_id
    event = enqueue_event(
        session,
        EventType.WARNING_ACKNOWLEDGED,
        {
            "warning_id": str(warning.id),
            "city_code": warning.city_code,
            "level": warning.level,
            "acknowledged_at": utc_text(now),
            "acknowledged_by": actor.name,
            "cap_identifier": warning.cap_identifier,
            "drill": warning.drill,
        },
        now=now,
        city_code=warning.city_code,
        level=warning.level,
    )
    session.add(
        WarningEvent(
            warning_id=warning.id,
            episode_id=warning.episode_id,
            city_code=warning.city_code,
            at=now,
            actor=actor.name,
            actor_key_id=actor.key_id,
            actor_role=actor.role,
            kind="acknowledged",
            reason=f"acknowledged CAP message {warning.cap_identifier}",
            reason_zh=f"{actor.name}已确认收到预警",
            reason_en=f"{actor.name} acknowledged the warning",
            before=before,
            after={"acknowledged_at": _iso(now), "acknowledged_by": actor.name},
            run_id=warning.forecast_run_id,
            plan_version=warning.plan_version,
            public=False,
            drill=warning.drill,
            late=False,
            outbox_event_id=event.id,
        )
    )
    session.flush()
    return warning, True


# --- reads -----------------------------------------------------------------------------------

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])

ACTIVE_STATE_VALUES: Final = tuple(sorted(s.value for s in ACTIVE_STATUSES))


def is_active(warning: CityWarning, now: datetime) -> bool:
    """Whether the warning is active at ``now``: issued, upgraded or downgraded, and its
    window not yet ended. A warning whose ``expires`` has passed with no later run keeps
    its last state in the table but is active nowhere (lists, Atom, acknowledgements)."""
    return warning.state in ACTIVE_STATE_VALUES and warning.expires > now


@dataclass(frozen=True)
class WarningFilters:
    """Filters of the warning list; ``start``/``end`` select warnings whose window
    overlaps ``[start, end)``; ``published_only`` hides proposals never issued."""

    city: str | None = None
    level: Level | None = None
    state: str | None = None
    active: bool | None = None
    drill: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    published_only: bool = True


def _filtered(query: SelectT, filters: WarningFilters, now: datetime) -> SelectT:
    if filters.city is not None:
        query = query.where(CityWarning.city_code == filters.city)
    if filters.level is not None:
        query = query.where(CityWarning.level == filters.level.value)
    if filters.state is not None:
        query = query.where(CityWarning.state == filters.state)
    if filters.drill is not None:
        query = query.where(CityWarning.drill.is_(filters.drill))
    if filters.active is True:
        query = query.where(CityWarning.state.in_(ACTIVE_STATE_VALUES), CityWarning.expires > now)
    elif filters.active is False:
        query = query.where(
            or_(CityWarning.state.not_in(ACTIVE_STATE_VALUES), CityWarning.expires <= now)
        )
    if filters.start is not None:
        query = query.where(CityWarning.expires > filters.start)
    if filters.end is not None:
        query = query.where(CityWarning.effective < filters.end)
    if filters.published_only:
        query = query.where(CityWarning.issued_at.is_not(None))
    return query


def list_warnings(
    session: Session, filters: WarningFilters, now: datetime, limit: int, offset: int
) -> tuple[list[tuple[CityWarning, City]], int]:
    """One page of warnings, newest first, and the total matching."""
    total = session.scalar(_filtered(select(func.count(CityWarning.id)), filters, now)) or 0
    rows = session.execute(
        _filtered(
            select(CityWarning, City).join(City, City.code == CityWarning.city_code), filters, now
        )
        .order_by(CityWarning.created_at.desc(), CityWarning.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(w, c) for w, c in rows], int(total)


def list_proposals(
    session: Session, drill: bool | None = None, now: datetime | None = None
) -> list[tuple[CityWarning, City]]:
    """Warnings waiting for a duty officer: new proposals and pending level changes,
    oldest first (the most urgent decision first). With ``now``, those whose window has
    ended (``expires <= now``: nothing is left to decide) are left out."""
    query = (
        select(CityWarning, City)
        .join(City, City.code == CityWarning.city_code)
        .where(
            or_(
                CityWarning.state == Status.PROPOSED.value,
                CityWarning.pending_level.is_not(None),
            )
        )
        .order_by(CityWarning.pending_since, CityWarning.proposed_at, CityWarning.id)
    )
    if now is not None:
        query = query.where(CityWarning.expires > now)
    if drill is not None:
        query = query.where(CityWarning.drill.is_(drill))
    return [(w, c) for w, c in session.execute(query).all()]


def list_unacknowledged(
    session: Session, now: datetime, grace: timedelta
) -> list[tuple[CityWarning, City]]:
    """Active warnings (issued, upgraded or downgraded, and not expired at ``now``) whose
    last announced change is older than ``grace`` and that the city office has not
    acknowledged, oldest first. Lifted, cancelled and expired warnings are never listed."""
    rows = session.execute(
        select(CityWarning, City)
        .join(City, City.code == CityWarning.city_code)
        .where(
            CityWarning.state.in_(ACTIVE_STATE_VALUES),
            CityWarning.expires > now,
            CityWarning.acknowledged_at.is_(None),
            CityWarning.cap_sent.is_not(None),
            CityWarning.cap_sent <= now - grace,
        )
        .order_by(CityWarning.cap_sent, CityWarning.id)
    ).all()
    return [(w, c) for w, c in rows]


def history(session: Session, warning_id: int) -> list[WarningEvent]:
    """The warning's audit trail, oldest first."""
    return list(
        session.scalars(
            select(WarningEvent)
            .where(WarningEvent.warning_id == warning_id)
            .order_by(WarningEvent.id)
        )
    )


def warning_plan(session: Session, warning: CityWarning) -> Plan | None:
    """The plan version the warning was decided under (the current one if gone).

    The validated plan cache is consulted first: a version is the hash of its content, so a
    cached (city, version) is that version for good, and the stored row (its ~20 KB JSON
    content) need not be read again."""
    cached = _PLANS.get((warning.city_code, warning.plan_version))
    if cached is not None:
        return cached
    row = plan_version_row(session, warning.city_code, warning.plan_version)
    return plan_of(row) if row is not None else None


def preload_plans(session: Session, warnings: Iterable[CityWarning]) -> None:
    """Validate and cache, in one query, the plan versions of ``warnings`` not yet cached,
    so that `warning_plan` answers each of them without a statement of its own."""
    missing = {
        (w.city_code, w.plan_version)
        for w in warnings
        if (w.city_code, w.plan_version) not in _PLANS
    }
    if not missing:
        return
    rows = session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code.in_(sorted({city for city, _v in missing})),
            PlanVersion.version.in_(sorted({version for _c, version in missing})),
        )
    )
    for row in rows:
        if (row.city_code, row.version) in missing:
            plan_of(row)


def episode_of(session: Session, warning: CityWarning) -> Episode:
    episode = session.get(Episode, warning.episode_id)
    assert episode is not None
    return episode


def evaluate_after_run(session: Session, run: ForecastRun) -> None:
    """The forecast runs' after-run hook: evaluate every city on the new run, in the run's
    own transaction (a failure here rolls the run back too)."""
    from app.timestamps import utcnow

    evaluate_run(session, run.id, utcnow())


def register_run_hook() -> None:
    """Put `evaluate_after_run` into `app.forecast_runs.service.after_run_hooks` (once)."""
    from app.forecast_runs import service as forecast_runs

    if evaluate_after_run not in forecast_runs.after_run_hooks:
        forecast_runs.after_run_hooks.append(evaluate_after_run)


# Importing the warnings service (the API, the CLI and the scheduler all do) registers it.
register_run_hook()
