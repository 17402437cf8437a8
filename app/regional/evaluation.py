"""The regional step after each forecast run, and the compliance check of the scheduler.

`evaluate_regions` runs inside `app.warnings.evaluation.evaluate_run`, in the run's own
transaction, after every city was evaluated: for each region, the members' own daily levels
go to `alerts.regional.propose`; a region has at most one proposal (a new run refreshes it
with `alerts.regional.reconsider`), and none is opened while an issued regional warning at
that level or above is active. Then every issued regional warning's floor is applied again
(members whose plan arrived since, or whose own episode ended, follow it).

`check_lagging` (scheduler job ``regional_lagging``): members past the grace of an issued
regional warning are flagged once each: an audit line and a ``regional.lagging`` event to
the region's subscribers (its coordinator's endpoints); the gauge
``hazewarn_regional_lagging_members`` counts them per region.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import regional as rules
from alerts.events import EventType
from alerts.levels import Level
from app.forecast_runs.models import ForecastRun
from app.outbox.service import enqueue_event
from app.regional import members, service
from app.regional.models import RegionalWarning, RegionalWarningEvent
from app.warnings.actors import SYSTEM_ACTOR
from app.warnings.evaluation import CityOutcome
from app.warnings.payloads import utc_text

__all__ = ["LAGGING", "check_lagging", "compliance_of", "evaluate_regions"]

LAGGING = Gauge(
    "hazewarn_regional_lagging_members",
    "Member cities lagging behind an issued regional warning (past its grace)",
    ["region"],
)


def _open_proposal(session: Session, region_id: str, drill: bool) -> RegionalWarning | None:
    return session.scalars(
        select(RegionalWarning)
        .where(
            RegionalWarning.region_id == region_id,
            RegionalWarning.status == "proposed",
            RegionalWarning.drill.is_(drill),
        )
        .order_by(RegionalWarning.id)
        .with_for_update()
        .limit(1)
    ).first()


def evaluate_regions(
    session: Session,
    run: ForecastRun,
    now: datetime,
    drill: bool,
    outcomes: Sequence[CityOutcome],
) -> list[int]:
    """Propose, refresh and apply regional warnings after one run; returns the ids of the
    regional warnings proposed or refreshed."""
    member_days: dict[str, dict[date, Level | None]] = {
        outcome.city_code: outcome.days for outcome in outcomes if outcome.days
    }
    touched: list[int] = []
    for region in service.regions().values():
        if not any(code in member_days for code in region.member_codes):
            continue
        zone = service.region_zone(session, region)
        proposal = rules.propose(region, member_days, at=run.issued_at, zone=zone)
        row = _open_proposal(session, region.id, drill)
        if row is not None:
            moved = rules.reconsider(service.state_of(row), proposal, at=now)
            if moved is not None:
                row.forecast_run_id = run.id
                service.record(session, row, *moved, actor=SYSTEM_ACTOR, now=now)
                touched.append(row.id)
            continue
        if proposal is None:
            continue
        active = service.active_warnings(session, drill=drill, region_id=region.id)
        if any(
            Level(other.level) >= proposal.level and (other.ends_at is None or other.ends_at > now)
            for other in active
        ):
            continue  # already covered by an issued regional warning
        row = service.new_row(session, region.id, now, run.id)
        row.proposed_by = rules.SYSTEM_ACTOR
        state, transition = rules.open_proposal(proposal, at=now, drill=drill, id=str(row.id))
        service.record(session, row, state, transition, actor=SYSTEM_ACTOR, now=now)
        touched.append(row.id)
    for row in service.active_warnings(session, drill=drill):
        members.apply_floor(session, service.state_of(row), now)
    return touched


def compliance_of(
    session: Session, row: RegionalWarning, now: datetime
) -> list[rules.MemberCompliance]:
    """Each member's compliance with the regional warning at ``now``."""
    state = service.state_of(row)
    grace = service.region_of(row.region_id).criteria.compliance_grace_hours
    own = members.statuses(session, state.members, state.drill, now)
    return rules.compliance(state, own, at=now, grace=timedelta(hours=grace))


def compliance_object(item: rules.MemberCompliance) -> dict[str, Any]:
    """One member's compliance as the API shows it (MemberRow.compliance)."""
    return {
        "city_code": item.city,
        "status": item.status,
        "lagging": item.lagging,
        "required_level": None if item.required_level is None else item.required_level.value,
        "required_from": utc_text(item.required_from),
        "city_warning_id": item.city_warning_id,
        "city_level": None if item.city_level is None else Level(item.city_level).value,
        "issued_at": utc_text(item.issued_at),
        "issued_by": item.issued_by,
        "acknowledged_at": utc_text(item.acknowledged_at),
        "actions_in_force": item.actions_in_force,
        "reason": item.reason,
    }


def check_lagging(
    session: Session, now: datetime, at: datetime | None = None
) -> dict[str, list[str]]:
    """Flag members newly lagging behind issued regional warnings; returns the lagging
    members per regional warning id (all of them, flagged before or now). Compliance is
    judged at ``at`` (default ``now``, the time stamped on the events and audit lines)."""
    at = now if at is None else at
    lagging: dict[str, list[str]] = {}
    per_region: dict[str, int] = dict.fromkeys(service.regions(), 0)
    for row in service.active_warnings(session):
        late = [item for item in compliance_of(session, row, at) if item.lagging]
        lagging[str(row.id)] = [item.city for item in late]
        per_region[row.region_id] = per_region.get(row.region_id, 0) + len(late)
        new = [item for item in late if item.city not in row.lagging_notified]
        if not new:
            continue
        data = {
            **service.read_object(session, row, now),
            "compliance": [compliance_object(item) for item in new],
        }
        event = enqueue_event(
            session,
            EventType.REGIONAL_LAGGING,
            data,
            now=now,
            level=row.level,
            region_code=row.region_id,
        )
        row.lagging_notified = sorted({*row.lagging_notified, *(item.city for item in new)})
        session.add(
            RegionalWarningEvent(
                regional_warning_id=row.id,
                region_id=row.region_id,
                at=now,
                actor=rules.SYSTEM_ACTOR,
                kind="lagging",
                reason="; ".join(f"{item.city}: {item.reason}" for item in new),
                before=None,
                after={"lagging": [item.city for item in new]},
                drill=row.drill,
                outbox_event_id=event.id,
            )
        )
    session.flush()
    for region_id, count in per_region.items():
        LAGGING.labels(region=region_id).set(count)
    return lagging
