"""Response models of `/v1/plans`. Times: UTC and the city's local time with its offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from contingency_plans.actions import Action, EnterpriseRef
from contingency_plans.schema import Level, QuantityValue, Sector


class PlanSummary(BaseModel):
    city_code: str = Field(examples=["110000"])
    name_zh: str
    name_en: str
    version: str = Field(description="12 hex digits of the plan content's sha256")
    criteria_set: str = Field(examples=["beijing-2016"])
    decide_from: str = Field(examples=["p90"], description="p50, p90 or probability")
    probability_cutoffs: dict[str, float] | None = Field(
        default=None,
        examples=[{"200": 0.3, "300": 0.3}],
        description="with decide_from probability: daily AQI threshold → probability cut-off",
    )
    levels: list[Level] = Field(description="levels the plan defines, lowest first")
    title_zh: str
    title_en: str
    loaded_at: datetime = Field(description="when this version was first loaded, UTC")
    loaded_at_local: datetime = Field(description="the same, city clock with offset")


class PlanList(BaseModel):
    items: list[PlanSummary]
    total: int


class VersionRead(BaseModel):
    version: str
    source_file: str
    loaded_at: datetime
    loaded_at_local: datetime


class PlanDetail(PlanSummary):
    content: dict[str, Any] = Field(description="the validated plan (schema: docs/plans.md)")
    earlier_versions: list[VersionRead] = Field(description="other stored versions, newest first")


class ActionRead(BaseModel):
    order: int
    kind: str = Field(description="emission_cut, measure or enterprise")
    level: Level = Field(description="the level whose plan entry the action comes from")
    measure_id: str
    sector: Sector
    text_zh: str
    text_en: str
    department_zh: str
    department_en: str
    quantity: dict[str, QuantityValue]
    effective_at: datetime = Field(description="city clock with offset, e.g. +08:00")
    effective_at_utc: datetime
    timing: str
    timing_note_zh: str | None = None
    timing_note_en: str | None = None
    enterprise: EnterpriseRef | None = None

    @classmethod
    def of(cls, action: Action) -> ActionRead:
        """The API view of a plan action: the same fields plus its effective time in UTC."""
        return cls(
            **action.model_dump(exclude={"enterprise"}),
            enterprise=action.enterprise,
            effective_at_utc=action.effective_at.astimezone(UTC),
        )


class ActionList(BaseModel):
    city_code: str
    version: str
    level: Level
    emission_cut_pct: float | None
    issued_at: datetime = Field(description="city clock with offset")
    issued_at_utc: datetime
    items: list[ActionRead]
    total: int
