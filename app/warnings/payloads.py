"""The warning object of the events and the API: times, actions, CAP URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy.orm import object_session

from alerts.levels import Level
from app.cities.models import City
from app.config import get_settings
from app.forecast_runs.models import ForecastRun
from app.warnings.models import CityWarning, Episode
from contingency_plans.actions import Action, actions_for
from contingency_plans.schema import Plan

#: The primary pollutant of every warning: only PM2.5 is forecast.
PRIMARY_POLLUTANT: Final = "PM2.5"


# --- the warning object (events, API) ---------------------------------------------------------


def utc_text(moment: datetime | None) -> str | None:
    """RFC 3339 UTC (``…Z``), seconds precision."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def local_text(moment: datetime | None, zone: str | ZoneInfo) -> str | None:
    """The time in the city's zone with its offset (``…+08:00``)."""
    if moment is None:
        return None
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def actions_time(warning: CityWarning) -> datetime:
    """The time the level's actions are computed from: when the warning (at its current
    level) takes effect, i.e. the later of the level decision and the window start."""
    since = warning.level_since or warning.proposed_at or warning.created_at
    return max(since, warning.effective)


def warning_actions(warning: CityWarning, plan: Plan) -> list[Action]:
    """`contingency_plans.actions_for` of the warning's level (empty if the plan lacks it)."""
    if plan.levels.get(warning.level) is None:
        return []
    return actions_for(plan, warning.level, actions_time(warning))


def _quantity(values: dict[str, Any]) -> str | int | float | None:
    """The event schema's one-value quantity: the number of a single numeric quantity,
    else ``name=value`` pairs joined."""
    if not values:
        return None
    if len(values) == 1:
        (value,) = values.values()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return "; ".join(f"{name}={value}" for name, value in values.items())


def event_action(action: Action) -> dict[str, Any]:
    """One action as the events carry it (docs/events.schema.json ``action``)."""
    return {
        "order": action.order,
        "kind": action.kind,
        "level": action.level,
        "sector": action.sector,
        "department": action.department_zh,
        "department_en": action.department_en,
        "effective_at": utc_text(action.effective_at),
        "effective_at_local": action.effective_at.replace(microsecond=0).isoformat(),
        "text_zh": action.text_zh,
        "text_en": action.text_en,
        "quantity": _quantity(dict(action.quantity)),
    }


def cap_url(warning_id: int) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/v1/cap/{warning_id}.xml"


def _run_degraded(warning: CityWarning) -> bool:
    """Whether the forecast run behind the warning was degraded (its grid lacked weather
    the model can do without); False for officers' actions and unknown runs."""
    session = object_session(warning)
    run_id = warning.forecast_run_id or ""
    if session is None or not run_id.isdigit():
        return False
    run = session.get(ForecastRun, int(run_id))
    return bool(run is not None and run.degraded)


def warning_object(
    warning: CityWarning, city: City, plan: Plan, episode: Episode | None
) -> dict[str, Any]:
    """The warning as the events describe it (docs/events.schema.json ``warning``), with
    times in UTC and (``*_local``) the city's zone."""
    zone = city.timezone
    level = Level(warning.level)
    level_plan = plan.levels.get(warning.level)
    cut = level_plan.emission_cut_pct if level_plan is not None else None
    return {
        "id": str(warning.id),
        "episode_id": warning.episode_id,
        "city_code": city.code,
        "city_name_zh": city.name_zh,
        "city_name_en": city.name_en,
        "level": level.value,
        "level_name_zh": level.warning_name_zh,
        "state": warning.state,
        "proposed_level": warning.pending_level,
        "drill": warning.drill,
        "effective": utc_text(warning.effective),
        "effective_local": local_text(warning.effective, zone),
        "onset": utc_text(warning.effective),
        "expires": utc_text(warning.expires),
        "expires_local": local_text(warning.expires, zone),
        "issued_at": utc_text(warning.issued_at),
        "lifted_at": utc_text(warning.lifted_at),
        "aqi_forecast": max(0, min(500, warning.aqi_forecast)),
        "primary_pollutant": PRIMARY_POLLUTANT,
        "response_level": level.response_grade,
        "required_cut_pct": int(cut) if cut is not None else None,
        "regional_warning_id": episode.regional_warning_id if episode is not None else None,
        "forecast_run_id": warning.forecast_run_id,
        "forecast_degraded": _run_degraded(warning),
        "plan_version": warning.plan_version,
        "cap_identifier": warning.cap_identifier,
        "cap_url": cap_url(warning.id) if warning.cap_identifier else None,
        "reason_zh": warning.reason_zh,
        "reason_en": warning.reason_en,
        "actions": [event_action(a) for a in warning_actions(warning, plan)],
    }
