"""Recording a decision: the episode's state, the warning row, one append-only
`warning_events` line per transition (who, when, what, why, before/after, run, plan
version) and, for announced changes and proposals, the outbox event and the next CAP
message of the warning, all in the caller's transaction: the audit line, the warning and
its webhook are stored together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.episodes import (
    CLOSED_STATUSES,
    Decision,
    EpisodeState,
    Kind,
    Status,
    Transition,
    day_end,
    day_start,
)
from alerts.regional import REGIONAL_RUN_PREFIX
from app.cities.models import City
from app.warnings.actors import SYSTEM_ACTOR, Actor
from app.warnings.announcements import enqueue_transition
from app.warnings.cap_numbering import next_cap_message
from app.warnings.episode_state import state_to_json, utc_iso
from app.warnings.models import CityWarning, Episode, WarningEvent
from app.warnings.payloads import warning_object
from contingency_plans.schema import Plan

log = logging.getLogger("hazewarn.warnings")


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
        snap["effective"] = utc_iso(window[0])
        snap["expires"] = utc_iso(window[1])
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


def record(
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
        if t.kind in (Kind.ISSUED, Kind.UPGRADED) and _raised_by_region(t, state):
            # The regional warning that raised it (its pure id is the row id).
            warning.regional_warning_id = int(str(state.regional_notice_id))
        if warning.episode_id == episode.id:
            _sync_pending(warning, state)
        if t.public:
            next_cap_message(warning, city.code, now)
        warning.payload = warning_object(warning, city, plan, episode)
        event_id = enqueue_transition(session, warning, t)
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
        log.info(
            "warning %d (%s): %s, now %s %s",
            warning.id,
            city.code,
            t.kind.value,
            warning.state,
            warning.level,
            extra={
                "warning_id": warning.id,
                "event_id": event_id,
                "run_id": t.run_id,
                "city": city.code,
                "episode_id": episode.id,
            },
        )
        if warning not in touched:
            touched.append(warning)
    session.flush()
    return touched


def _raised_by_region(t: Transition, state: EpisodeState) -> bool:
    notice = state.regional_notice_id
    return (
        t.run_id is not None
        and t.run_id.startswith(REGIONAL_RUN_PREFIX)
        and notice is not None
        and notice.isdigit()
    )


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
