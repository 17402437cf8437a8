"""Evaluating a forecast run: every city with a current plan, then the regional step.

`evaluate_run(session, run_id, now)`: for every city with a current plan, the daily AQI
path from the run's hourly quantiles (the plan's ``decide_from``) merged with the city's
observed hours, `alerts.criteria.evaluate` with the plan's criteria set and
`alerts.episodes.step` with the city's episode; then, in the same transaction, the regional
step (`app.regional.evaluation.evaluate_regions`: proposals from the members' own daily
levels, and the floor of the regional warnings in force). Each city decision is written by
`app.warnings.recording.record` in the caller's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

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
    EpisodeError,
    EpisodeState,
    Policy,
    RunInfo,
    day_start,
    hold_if_degraded,
    local_day,
    path_first_day,
    step,
)
from alerts.levels import Level
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

# --- evaluating a run ---------------------------------------------------------------------------


@dataclass
class CityOutcome:
    """What evaluating one city did. ``status``: ``evaluated``, ``skipped`` or ``held`` (a
    degraded run that would have lowered or ended a warning)."""

    city_code: str
    status: str
    level: Level | None = None
    transitions: list[str] = field(default_factory=list)
    warning_ids: list[int] = field(default_factory=list)
    note: str = ""
    #: The city's own decided level per local day of this run (regional proposals).
    days: dict[date, Level | None] = field(default_factory=dict)


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
) -> RunEvaluation:
    """Evaluate every city with a current plan on one stored forecast run.

    ``now`` (aware) stamps the audit lines, outbox events and CAP messages. The rules run at
    the run's issue time (or the episode's last update if that is later, e.g. an officer
    acted between the run's issue and its evaluation). Drill: the run's own flag, the
    ``HAZEWARN_DRILL`` setting, or ``drill=True``; drill episodes never mix with real ones.
    A city is skipped when the run has no forecast for it, when its episode was already
    decided by this run (re-evaluating re-announces nothing) or by a later run.
    Then the regional step runs on the evaluated cities' daily levels.
    Writes in the caller's transaction (flushes, never commits).
    """
    # Imported here: the regional step uses this module's city evaluation too.
    from app.regional.evaluation import evaluate_regions

    run = session.get(ForecastRun, run_id)
    if run is None:
        raise WarningNotFoundError(f"no forecast run {run_id}")
    is_drill = bool(run.drill or get_settings().drill or drill)
    run_key = str(run.id)
    current = session.execute(
        select(PlanVersion, City)
        .join(City, City.code == PlanVersion.city_code)
        .where(PlanVersion.is_current.is_(True))
        .order_by(PlanVersion.city_code)
    ).all()
    outcomes = [
        _evaluate_city(session, run, run_key, is_drill, row, city, now) for row, city in current
    ]
    session.flush()
    evaluate_regions(session, run, now, is_drill, outcomes)
    return RunEvaluation(run_id=run.id, drill=is_drill, cities=outcomes)


def evaluate_city(
    session: Session, run_id: int, city_code: str, now: datetime, *, drill: bool | None = None
) -> CityOutcome:
    """Evaluate one city on a stored run (e.g. a member released by a regional lift)."""
    run = session.get(ForecastRun, run_id)
    if run is None:
        raise WarningNotFoundError(f"no forecast run {run_id}")
    is_drill = bool(run.drill or get_settings().drill or drill)
    found = session.execute(
        select(PlanVersion, City)
        .join(City, City.code == PlanVersion.city_code)
        .where(PlanVersion.is_current.is_(True), PlanVersion.city_code == city_code)
    ).first()
    if found is None:
        return CityOutcome(city_code, "skipped", note="no current plan")
    plan_row, city = found
    outcome = _evaluate_city(session, run, str(run.id), is_drill, plan_row, city, now)
    session.flush()
    return outcome


def _evaluate_city(
    session: Session,
    run: ForecastRun,
    run_key: str,
    drill: bool,
    plan_row: PlanVersion,
    city: City,
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
        stepped = step(
            state,
            evaluation,
            run_info,
            Policy.from_plan(plan),
            new_episode_id=f"{code}:{run_key}{suffix}",
        )
        # A degraded run never withdraws, downgrades or lifts by itself (alerts.episodes).
        decision = hold_if_degraded(state, stepped, run.degraded)
        if decision is not stepped:
            return CityOutcome(
                code,
                "held",
                level=evaluation.level,
                note=f"degraded run {run_key} "
                f"(lacks {', '.join(run.degraded_variables)}): "
                + ", ".join(t.kind.value for t in stepped.transitions)
                + " waits for a duty officer",
                days=_daily_levels(evaluation),
            )
    except EpisodeError as exc:
        log.warning("city %s, run %s: %s", code, run_key, exc)
        return CityOutcome(
            code, "skipped", level=evaluation.level, note=str(exc), days=_daily_levels(evaluation)
        )
    outcome = CityOutcome(code, "evaluated", level=evaluation.level, days=_daily_levels(evaluation))
    touched = record(
        session,
        city=city,
        plan=plan,
        episode=episode,
        decision=decision,
        now=now,
        actor=SYSTEM_ACTOR,
        aqi_peak=_peak_aqi(evaluation, decision.new_state),
    )
    outcome.transitions.extend(t.kind.value for t in decision.transitions)
    outcome.warning_ids.extend(w.id for w in touched)
    return outcome


def _daily_levels(evaluation: Evaluation) -> dict[date, Level | None]:
    """The city's own level per local day of the path: the level of the span holding the
    day (None outside every span that reaches a level)."""
    days: dict[date, Level | None] = {entry.day: None for entry in evaluation.path}
    for span in evaluation.spans:
        if span.level is None:
            continue
        for day in span.days:
            current = days.get(day)
            days[day] = span.level if current is None else max(current, span.level)
    return days


def evaluate_after_run(session: Session, run: ForecastRun) -> None:
    """The forecast runs' after-run hook: evaluate every city on the new run, in the run's
    own transaction (a failure here rolls the run back too)."""
    from app.timestamps import utcnow

    evaluate_run(session, run.id, utcnow())


def register_run_hook() -> None:
    """Put `evaluate_after_run` into `app.forecast_runs.service.after_run_hooks` (once).

    Called explicitly by each process that stores runs (`app.main.create_app`, the CLI's
    root callback, the scheduler's inbox job, the demo); importing this module does not."""
    from app.forecast_runs import service as forecast_runs

    if evaluate_after_run not in forecast_runs.after_run_hooks:
        forecast_runs.after_run_hooks.append(evaluate_after_run)
