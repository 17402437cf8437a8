"""Request and response bodies of the region and regional warning endpoints.

Field names are fixed by the contract the dashboard builds against (docs/regions.md):
times in UTC (``…Z``) under their name, ``starts_at_local`` on the region's clock.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from alerts.levels import Level
from app.warnings.schemas import Reason

__all__ = [
    "AdjustBody",
    "ApproveBody",
    "Compliance",
    "DeclareBody",
    "ExtendBody",
    "MemberRow",
    "ReasonBody",
    "RegionDetail",
    "RegionList",
    "RegionRead",
    "RegionalAuditRow",
    "RegionalWarningDetail",
    "RegionalWarningList",
    "RegionalWarningRead",
]


class RegionalWarningRead(BaseModel):
    id: str
    region_id: str
    status: str = Field(description="proposed, issued, lifted or rejected")
    level: str
    starts_at: str
    ends_at: str | None
    starts_at_local: str | None
    ends_at_local: str | None = None
    members: list[str]
    triggering: list[str]
    proposed_at: str | None
    issued_at: str | None
    issued_by: str | None
    lifted_at: str | None
    lifted_by: str | None
    reason: str
    drill: bool
    approve_by: str | None = Field(description="a proposal should be approved by then")
    late: bool = Field(description="approved (or still waiting) after approve_by")
    cap_identifier: str | None = None
    cap_url: str | None
    forecast_run_id: str | None


class RegionRead(BaseModel):
    id: str
    name_zh: str
    name_en: str
    coordinator: dict[str, str] = Field(description="{zh, en}")
    members: list[str]
    criteria: dict[str, Any]
    active_warning: RegionalWarningRead | None


class RegionList(BaseModel):
    items: list[RegionRead]


class Compliance(BaseModel):
    status: str = Field(description="complied, lagging, pending or not_required")
    lagging: bool
    required_level: str | None
    required_from: str | None
    city_warning_id: str | None
    city_level: str | None
    issued_at: str | None
    issued_by: str | None
    acknowledged_at: str | None
    actions_in_force: int
    reason: str


class MemberCompliance(Compliance):
    city_code: str


class MemberRow(BaseModel):
    city_code: str
    name_zh: str
    name_en: str
    lat: float | None
    lon: float | None
    own_level: str | None = Field(description="the city's own warning level in force")
    regional_level: str | None = Field(description="the regional level in force over it")
    effective_level: str | None = Field(description="max(own, regional)")
    compliance: Compliance | None


class RegionDetail(RegionRead):
    member_status: list[MemberRow]


class RegionalAuditRow(BaseModel):
    id: int
    at: str
    actor: str
    actor_role: str | None
    kind: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outbox_event_id: str | None


class RegionalWarningDetail(RegionalWarningRead):
    history: list[RegionalAuditRow]
    compliance: list[MemberCompliance]


class RegionalWarningList(BaseModel):
    items: list[RegionalWarningRead]
    total: int


class DeclareBody(BaseModel):
    region_id: str = Field(max_length=64)
    level: Level
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    members: list[str] | None = Field(default=None, description="default: every member")
    reason: Reason


class ApproveBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class ReasonBody(BaseModel):
    reason: Reason


class AdjustBody(BaseModel):
    level: Level | None = None
    members: list[str] | None = None
    reason: Reason


class ExtendBody(BaseModel):
    ends_at: AwareDatetime
    reason: Reason
