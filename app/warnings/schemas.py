"""Request and response bodies of the warning, proposal, CAP and ranking endpoints.

Every instant is given in UTC under its name and in the city's local time with its offset
under the same name with ``_local``. Warning field names follow the ``warning`` object of
the webhook events (docs/events.schema.json).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from alerts.levels import Level
from app.plans.schemas import ActionRead

#: A reason an officer gives: 1-2000 characters once surrounding blanks are stripped.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class EventActionRead(BaseModel):
    """One contingency action as the warning list and the events carry it."""

    order: int
    kind: str = Field(description="emission_cut, measure or enterprise")
    level: str
    sector: str
    department: str = Field(description="responsible department (Chinese name)")
    department_en: str | None = None
    effective_at: str = Field(description="UTC")
    effective_at_local: str | None = Field(default=None, description="city clock with offset")
    text_zh: str
    text_en: str | None = None
    quantity: str | int | float | None = Field(
        description="one number (e.g. 20 for a 20 % cut) or name=value pairs"
    )


class WarningRead(BaseModel):
    """A city's heavy-pollution warning (or proposal) as it stands now."""

    id: str = Field(examples=["42"])
    episode_id: str
    city_code: str = Field(examples=["110000"])
    city_name_zh: str
    city_name_en: str
    timezone: str = Field(description="IANA zone of the *_local times")
    level: Level = Field(description="level in force; the proposed level while proposed")
    level_name_zh: str = Field(examples=["重污染天气橙色预警"])
    response_level: str = Field(description="emergency response grade Ⅳ (blue) … Ⅰ (red)")
    state: str = Field(
        description="proposed, issued, upgraded, downgraded, lifted, rejected, cancelled"
    )
    active: bool = Field(
        description="in force or about to be: issued (or upgraded, downgraded) and not "
        "expired when the response was made; an issued warning whose window has ended "
        "without a later decision keeps its state but is not active"
    )
    pending_level: Level | None = Field(
        description="a change of this active warning waiting for a duty officer"
    )
    pending_kind: str | None = Field(description="issued (new warning), upgraded or downgraded")
    pending_since: dt.datetime | None
    issue_by: dt.datetime | None = Field(
        description="latest approval that keeps the plan's lead time (new warnings), UTC"
    )
    issue_by_local: dt.datetime | None
    drill: bool = Field(description="an exercise (CAP status=Exercise)")
    effective: dt.datetime = Field(description="window start, UTC (prospective while proposed)")
    effective_local: dt.datetime
    expires: dt.datetime = Field(description="window end, UTC")
    expires_local: dt.datetime
    proposed_at: dt.datetime | None
    issued_at: dt.datetime | None = Field(description="first issued, UTC")
    issued_at_local: dt.datetime | None
    level_since: dt.datetime | None = Field(description="when the current level was decided")
    lifted_at: dt.datetime | None = Field(description="closed: lifted, rejected or cancelled")
    lifted_at_local: dt.datetime | None
    aqi_forecast: int = Field(description="highest forecast daily AQI of the episode")
    primary_pollutant: str = Field(examples=["PM2.5"])
    required_cut_pct: int | None = Field(description="emission cut the level demands, %")
    regional_warning_id: str | None
    forecast_run_id: str = Field(description="forecast run behind the last decision")
    plan_version: str = Field(description="plan version behind the last decision")
    lead_hours: float | None = Field(description="hours from issue to the first day's start")
    late: bool = Field(
        description="issued with less than the plan's lead time; a proposal: still waiting "
        "past its approve-by time (issue_by)"
    )
    reason_zh: str
    reason_en: str
    acknowledged_at: dt.datetime | None = Field(
        description="when the city office acknowledged the last announced change"
    )
    acknowledged_at_local: dt.datetime | None
    acknowledged_by: str | None
    cap_identifier: str | None = Field(description="identifier of the last CAP message")
    cap_msg_type: str | None = Field(description="Alert, Update or Cancel")
    cap_sent: dt.datetime | None
    cap_url: str | None
    actions: list[EventActionRead] = Field(description="the plan's actions at this level")


class WarningList(BaseModel):
    items: list[WarningRead]
    total: int
    limit: int
    offset: int


class HistoryEntry(BaseModel):
    """One line of the append-only audit trail."""

    id: int
    at: dt.datetime = Field(description="UTC")
    at_local: dt.datetime
    actor: str = Field(description="'system' or the API key holder's name")
    actor_role: str | None
    kind: str = Field(description="proposed, issued, upgraded, …, rejected, acknowledged")
    reason: str = Field(description="why, as the actor gave it")
    reason_zh: str
    reason_en: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    run_id: str | None
    plan_version: str | None
    public: bool = Field(description="announced (webhook event and CAP message)")
    drill: bool
    lead_hours: float | None
    late: bool
    outbox_event_id: str | None


class WarningDetail(WarningRead):
    """A warning with every action of its plan (full detail) and its history."""

    actions: list[ActionRead] = Field(  # type: ignore[assignment]
        description="contingency_plans.actions_for(plan, level, when the level takes effect)"
    )
    history: list[HistoryEntry]


class ApproveBody(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = (
        Field(default=None, description="optional note for the audit trail")
    )
    level: Level | None = Field(
        default=None, description="approve at another level (held: not auto-downgraded below)"
    )


class ReasonBody(BaseModel):
    reason: Reason = Field(description="why (required, kept in the audit trail)")


class LevelBody(BaseModel):
    level: Level
    reason: Reason


class ExtendBody(BaseModel):
    until: AwareDatetime = Field(description="new end of the warning window, with offset")
    reason: Reason


class AckRead(BaseModel):
    warning_id: str
    city_code: str
    acknowledged_at: dt.datetime
    acknowledged_at_local: dt.datetime
    acknowledged_by: str
    recorded: bool = Field(description="false when it was already acknowledged")


class RankedCity(BaseModel):
    rank: int
    city_code: str
    name_zh: str
    name_en: str
    average_aqi: float = Field(description="mean of the city's daily AQI over the month")
    days: int = Field(description="days with a daily AQI (enough valid hours)")
    worst_day_aqi: int


class MonthlyRanking(BaseModel):
    month: str = Field(examples=["2016-12"])
    cities_ranked: int
    best: list[RankedCity] = Field(description="up to 10 cities, lowest average AQI first")
    worst: list[RankedCity] = Field(description="up to 10 cities, highest average AQI first")
