"""Duty-officer actions on a warning (`approve`, `reject`, `upgrade`, `downgrade`,
`extend`, `lift`) and the city office's `acknowledge`.

Each runs one pure `alerts.episodes` action on the warning's episode and records it with
`app.warnings.recording.record` in the caller's transaction. Evaluating a forecast run is
`app.warnings.evaluation`; reads are `app.warnings.queries`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.episodes import (
    ACTIVE_STATUSES,
    Decision,
    EpisodeError,
    EpisodeState,
)
from alerts.episodes import approve as approve_state
from alerts.episodes import downgrade as downgrade_state
from alerts.episodes import extend as extend_state
from alerts.episodes import lift as lift_state
from alerts.episodes import reject as reject_state
from alerts.episodes import upgrade as upgrade_state
from alerts.events import EventType
from alerts.levels import Level
from app.cities.models import City
from app.outbox.service import enqueue_event
from app.regional import members as regional_members
from app.warnings.actors import Actor
from app.warnings.episode_state import state_from_json, utc_iso
from app.warnings.errors import WarningConflictError, WarningNotFoundError
from app.warnings.inputs import plan_of, plan_version_row
from app.warnings.models import CityWarning, Episode, WarningEvent
from app.warnings.payloads import utc_text
from app.warnings.recording import current_warning, record

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
    record(
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


def _refuse_below_regional(
    session: Session, warning_id: int, target: Level | None, now: datetime
) -> None:
    """A member city cannot go below the regional level in force (409 naming it)."""
    warning = get_warning(session, warning_id)
    why = regional_members.refusal(session, warning.city_code, target, now, warning.drill)
    if why is not None:
        raise WarningConflictError(why)


def downgrade(
    session: Session, warning_id: int, actor: Actor, now: datetime, level: Level, reason: str
) -> CityWarning:
    _refuse_below_regional(session, warning_id, level, now)
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
    _refuse_below_regional(session, warning_id, None, now)
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
            after={"acknowledged_at": utc_iso(now), "acknowledged_by": actor.name},
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
