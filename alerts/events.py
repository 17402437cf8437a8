"""Webhook event envelopes: ``{id, type, timestamp, data}`` in the Standard Webhooks form.

Pure: the id and timestamp are parameters (the app mints them when it writes the outbox
row). ``encode_event`` gives the exact body bytes to store and sign; the dispatcher sends
those bytes unchanged on every retry. The JSON Schemas of each event type are in
``docs/events/`` and are checked against samples in the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event the service publishes (dot-separated, as Standard Webhooks suggests)."""

    WARNING_PROPOSED = "warning.proposed"
    WARNING_ISSUED = "warning.issued"
    WARNING_UPDATED = "warning.updated"
    WARNING_LIFTED = "warning.lifted"
    WARNING_ACKNOWLEDGED = "warning.acknowledged"
    #: A regional warning changed (data: the regional warning, `docs/events.schema.json`).
    REGIONAL_PROPOSED = "regional.proposed"
    REGIONAL_ISSUED = "regional.issued"
    REGIONAL_UPDATED = "regional.updated"
    REGIONAL_LIFTED = "regional.lifted"
    #: Members lag past the grace (to the coordinator's endpoints).
    REGIONAL_LAGGING = "regional.lagging"
    FORECAST_PUBLISHED = "forecast.published"
    ENDPOINT_DISABLED = "endpoint.disabled"
    #: A test event an endpoint's owner asks for (``POST /v1/subscriptions/{id}/ping``); it
    #: goes to that endpoint only and announces nothing.
    ENDPOINT_PING = "endpoint.ping"


EVENT_TYPES: tuple[str, ...] = tuple(event_type.value for event_type in EventType)
# Standard Webhooks: keep payloads under 20 KB (receivers may refuse more).
MAX_BODY_BYTES = 20 * 1024
# The id is sent as the webhook-id header and used as the receiver's idempotency key.
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def format_event_time(timestamp: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-01-05T12:00:00.000Z``."""
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("event timestamp must be timezone-aware")
    return timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(
    type: str, data: Mapping[str, Any], event_id: str, timestamp: datetime
) -> dict[str, Any]:
    """The event envelope ``{"id", "type", "timestamp", "data"}``.

    ``type`` is one of ``EVENT_TYPES``; ``event_id`` is stable for the event's lifetime
    (1-128 characters of ``A-Z a-z 0-9 _ . : -``; it becomes the ``webhook-id``);
    ``timestamp`` is when the change happened (any zone; written as UTC). ``data`` must be
    JSON-serialisable; its shape per type is in ``docs/events/<type>.schema.json``.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; expected one of {', '.join(EVENT_TYPES)}")
    if not _EVENT_ID.match(event_id):
        raise ValueError(f"event id {event_id!r} must be 1-128 characters of A-Za-z0-9_.:-")
    return {
        "id": event_id,
        "type": type,
        "timestamp": format_event_time(timestamp),
        "data": dict(data),
    }


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The body bytes to store in the outbox, sign and send (compact UTF-8 JSON).

    Raises ValueError if the body would exceed ``MAX_BODY_BYTES`` or is not JSON.
    """
    try:
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"event is not JSON-serialisable: {error}") from None
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(
            f"event body is {len(body)} bytes; keep it under {MAX_BODY_BYTES} "
            "(send a thinner payload with a link)"
        )
    return body
