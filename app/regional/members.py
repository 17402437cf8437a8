"""The member cities of a regional warning: floor, release, refusal and compliance.

- `apply_floor`: each member with a plan follows the issued regional warning
  (`alerts.regional.join` on its episode): a new warning at the regional level from the
  regional start when it has none, an upgrade when it is lower, a link when it is at or
  above. Recorded like any city decision (`app.warnings.recording.record`); the warning
  names the regional warning that raised it.
- `release`: the regional warning is lifted (or a member dropped): `alerts.regional.release`
  on each linked member, then the member is re-evaluated from its own latest forecast run,
  so a member still warned on its own forecast stays warned.
- `refusal`: why a member's lift or downgrade is refused (`alerts.regional.refuse_member_change`).
- `statuses`: each member's own side (warning, issuer, acknowledgement, actions in force)
  for `alerts.regional.compliance`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import regional as rules
from alerts.episodes import EpisodeError
from alerts.levels import Level
from app.cities.models import City
from app.forecast_runs.models import ForecastHourly, ForecastRun
from app.plans.models import PlanVersion
from app.regional.models import RegionalWarning
from app.warnings import evaluation as city_evaluation
from app.warnings.actors import SYSTEM_ACTOR
from app.warnings.episode_state import state_from_json
from app.warnings.inputs import plan_of
from app.warnings.models import CityWarning, WarningEvent
from app.warnings.payloads import warning_actions
from app.warnings.queries import is_active, warning_plan
from app.warnings.recording import record

__all__ = ["apply_floor", "in_force_states", "refusal", "release", "statuses"]

log = logging.getLogger(__name__)


def _current_plan(session: Session, code: str) -> PlanVersion | None:
    return session.scalars(
        select(PlanVersion).where(PlanVersion.city_code == code, PlanVersion.is_current.is_(True))
    ).first()


def apply_floor(session: Session, state: rules.RegionalState, now: datetime) -> list[str]:
    """Raise or link every member of an issued regional warning; returns the cities changed."""
    changed: list[str] = []
    notice = state.as_notice()
    suffix = "-drill" if state.drill else ""
    for code in state.members:
        city = session.get(City, code)
        plan_row = _current_plan(session, code)
        if city is None or plan_row is None:
            continue  # no plan: it cannot be warned (compliance shows it lagging)
        episode = city_evaluation.latest_episode(session, code, state.drill, for_update=True)
        own = state_from_json(episode.state) if episode is not None else None
        if (
            own is not None
            and not own.is_closed
            and own.regional_notice_id == state.id
            and own.regional_level == state.level
        ):
            continue  # already follows this regional warning at its level
        try:
            decision = rules.join(
                own,
                notice,
                city=code,
                zone=city.timezone,
                plan_version=plan_row.version,
                at=now,
                new_episode_id=f"{code}:{notice.run_id}{suffix}",
            )
        except EpisodeError as exc:
            log.warning("regional warning %s, city %s: %s", state.id, code, exc)
            continue
        record(
            session,
            city=city,
            plan=plan_of(plan_row),
            episode=episode,
            decision=decision,
            now=now,
            actor=SYSTEM_ACTOR,
        )
        changed.append(code)
    return changed


def latest_run_for(session: Session, code: str, drill: bool) -> int | None:
    """The latest stored forecast run with a forecast for the city (of the drill kind, or
    any run when ``drill``: an exercise may run on real forecasts)."""
    query = (
        select(ForecastRun.id)
        .join(ForecastHourly, ForecastHourly.run_id == ForecastRun.id)
        .where(ForecastHourly.city_code == code)
        .order_by(ForecastRun.issued_at.desc(), ForecastRun.id.desc())
        .limit(1)
    )
    if not drill:
        query = query.where(ForecastRun.drill.is_(False))
    return session.scalars(query).first()


def release(
    session: Session,
    state: rules.RegionalState,
    now: datetime,
    cities: Iterable[str] | None = None,
) -> list[str]:
    """Release the members that follow ``state`` and re-evaluate each from its own latest
    forecast; returns the cities released."""
    released: list[str] = []
    notice = state.as_notice()
    for code in list(cities) if cities is not None else state.members:
        city = session.get(City, code)
        plan_row = _current_plan(session, code)
        episode = city_evaluation.latest_episode(session, code, state.drill, for_update=True)
        if city is None or plan_row is None or episode is None:
            continue
        own = state_from_json(episode.state)
        if own.regional_notice_id != state.id:
            continue
        decision = rules.release(own, notice, at=now)
        record(
            session,
            city=city,
            plan=plan_of(plan_row),
            episode=episode,
            decision=decision,
            now=now,
            actor=SYSTEM_ACTOR,
        )
        released.append(code)
        run_id = latest_run_for(session, code, state.drill)
        if run_id is not None:
            city_evaluation.evaluate_city(session, run_id, code, now, drill=state.drill)
    return released


def in_force_states(session: Session, drill: bool | None = None) -> list[rules.RegionalState]:
    """The pure states of every issued (not lifted) regional warning."""
    query = select(RegionalWarning).where(RegionalWarning.status == "issued")
    if drill is not None:
        query = query.where(RegionalWarning.drill.is_(drill))
    return [rules.RegionalState.from_dict(row.state) for row in session.scalars(query)]


def refusal(
    session: Session, city_code: str, target: Level | None, at: datetime, drill: bool
) -> str | None:
    """Why a member city may not lift (``target`` None) or downgrade to ``target`` now."""
    return rules.refuse_member_change(city_code, target, at, in_force_states(session, drill))


def _issuer(session: Session, warning: CityWarning) -> str | None:
    return session.scalars(
        select(WarningEvent.actor)
        .where(WarningEvent.warning_id == warning.id, WarningEvent.kind == "issued")
        .order_by(WarningEvent.id)
        .limit(1)
    ).first()


def statuses(
    session: Session, codes: Sequence[str], drill: bool, now: datetime
) -> dict[str, rules.MemberStatus]:
    """Each city's own warning in force at ``now`` (latest first) for the compliance rule."""
    out: dict[str, rules.MemberStatus] = {}
    rows = session.scalars(
        select(CityWarning)
        .where(CityWarning.city_code.in_(list(codes)), CityWarning.drill.is_(drill))
        .order_by(CityWarning.id.desc())
    )
    for warning in rows:
        if warning.city_code in out or not is_active(warning, now):
            continue
        plan = warning_plan(session, warning)
        actions = warning_actions(warning, plan) if plan is not None else []
        out[warning.city_code] = rules.MemberStatus(
            city_level=Level(warning.level),
            city_warning_id=str(warning.id),
            issued_at=warning.issued_at,
            issued_by=_issuer(session, warning),
            acknowledged_at=warning.acknowledged_at,
            actions_in_force=sum(1 for action in actions if action.effective_at <= now),
        )
    return out
