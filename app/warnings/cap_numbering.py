"""The CAP message chain of a warning: identifier, message type and references."""

from __future__ import annotations

from datetime import datetime

from alerts.cap import cap_identifier
from alerts.episodes import Status
from app.config import get_settings
from app.warnings.episode_state import utc_iso
from app.warnings.models import CityWarning


def next_cap_message(warning: CityWarning, city_code: str, now: datetime) -> None:
    """Start the warning's next CAP message: Alert on first issue, Update on a level
    change or extension, Cancel on a lift; each references every earlier message."""
    settings = get_settings()
    if warning.cap_identifier is not None and warning.cap_sent is not None:
        warning.cap_references = [
            *warning.cap_references,
            {
                "sender": settings.cap_sender,
                "identifier": warning.cap_identifier,
                "sent": utc_iso(warning.cap_sent) or "",
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
