"""Evaluating a forecast run: every city with a current plan, then the regional floor.

`evaluate_run(session, run_id, now)`: for every city with a current plan, the daily AQI
path from the run's hourly quantiles (the plan's ``decide_from``) merged with the city's
observed hours, `alerts.criteria.evaluate` with the plan's criteria set,
`alerts.episodes.step` with the city's episode, then the regional floor
(`alerts.regional.join`/`release` for notices from `regional_notice_providers`).
Each decision is written by `app.warnings.recording.record` in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.criteria import Evaluation, evaluate
from alerts.daily import (
    current_day_aqi,
    daily_aqi_path,
    decide_by_probability,
    heavy_under_way,
)
from alerts.episodes import (
    Decision,
    EpisodeError,
    EpisodeState,
    Policy,
    RunInfo,
    day_start,
    local_day,
    path_first_day,
    step,
)
from alerts.levels import Level
from alerts.regional import RegionalNotice, join, release
from app.cities.models import City
from app.config import get_settings
from app.forecast_runs.models import ForecastRun
from app.plans.models import PlanVersion
from app.warnings.actors import SYSTEM_ACTOR
from app.warnings.episode_state import state_from_json
from app.warnings.errors import WarningNotFoundError
from app.warnings.inputs import forecast_hours, forecast_probabilities, observed_pm25, plan_of
from app.warnings.models import Episode
from app.warnings.recording import record

log = logging.getLogger(__name__)

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
        touched = record(
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
