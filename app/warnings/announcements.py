"""The outbox event of a recorded transition (`app.outbox.service.enqueue_event`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from alerts.episodes import (
    Kind,
    Status,
    Transition,
)
from alerts.events import MAX_BODY_BYTES, EventType, encode_event, make_event
from alerts.levels import Level
from app.config import get_settings
from app.outbox.service import Audience, enqueue_event, new_event_id
from app.warnings.models import CityWarning
from app.warnings.payloads import utc_text

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


def enqueue_transition(session: Session, warning: CityWarning, t: Transition) -> str:
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
