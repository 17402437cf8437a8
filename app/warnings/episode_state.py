"""The pure `EpisodeState` as JSON (the `episodes.state` column) and back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any, Final

from alerts.episodes import (
    EpisodeState,
    Kind,
    Pending,
    Status,
)
from alerts.levels import Level

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


def utc_iso(value: datetime | None) -> str | None:
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
                    "proposed_at": utc_iso(value.proposed_at),
                    "run_id": value.run_id,
                    "plan_version": value.plan_version,
                    "issue_by": utc_iso(value.issue_by),
                }
            )
        elif item.name in _DATETIME_FIELDS:
            out[item.name] = utc_iso(value)
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
