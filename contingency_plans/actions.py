"""`actions_for(plan, level, issued_at)`: what each department must do, and from when.

Pure: the issue time is a parameter, times are computed on the city clock (the plan's
IANA zone) and returned aware in that zone.

What the list holds, for a warning at ``level``:

1. the required emission cut of the level (``emission_cut_pct``), if the plan sets one;
2. the measures in force at the level: cumulative upward from the lowest defined level,
   a same-``id`` measure at a higher level replacing the lower one, ``replaces`` dropping
   others (see :mod:`contingency_plans.schema`);
3. one action per listed enterprise, from its grade's measure at the level (or the nearest
   lower level's), or its exemption.

Order: by effective time, then sector (industry, construction_dust, vehicles, schools,
public_health, other), then the emission cut before measures before enterprise actions,
then the level the measure comes from (lower first), then its position in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from contingency_plans.schema import (
    EXEMPTION_TEXT,
    GRADES,
    LEVEL_RANK,
    LEVELS,
    SECTOR_RANK,
    Bilingual,
    Enterprise,
    Grade,
    Level,
    Measure,
    Plan,
    QuantityValue,
    Sector,
    Timing,
)

ActionKind = Literal["emission_cut", "measure", "enterprise"]
_KIND_RANK: dict[str, int] = {"emission_cut": 0, "measure": 1, "enterprise": 2}


class EnterpriseRef(BaseModel):
    name_zh: str
    name_en: str
    industry: str
    grade: Grade
    example: bool
    exemption: str | None = None


class Action(BaseModel):
    """One thing one department must do, and when it starts (aware, city zone)."""

    order: int = Field(description="1-based position in the ordered list")
    kind: ActionKind
    level: Level = Field(description="the level whose plan entry this action comes from")
    measure_id: str
    sector: Sector
    text_zh: str
    text_en: str
    department_zh: str
    department_en: str
    quantity: dict[str, QuantityValue]
    effective_at: datetime = Field(description="when the action takes effect, city clock")
    timing: str = Field(description="the plan's rule, e.g. on_issue, issue_plus_hours:2")
    timing_note_zh: str | None = None
    timing_note_en: str | None = None
    enterprise: EnterpriseRef | None = None


@dataclass
class _Draft:
    """An action before ordering; ``sort_key`` holds the tie-breakers after time and sector."""

    action: dict[str, object]
    effective_at: datetime
    sector: Sector
    sort_key: tuple[int, ...]


def _next_day_at(local_issue: datetime, clock: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    day = local_issue.date() + timedelta(days=1)
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _clock_of(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)


def resolve_timing(
    timing: Timing, issued_at: datetime, zone: ZoneInfo
) -> list[tuple[datetime, str | None, str | None, bool]]:
    """The effective time(s) of a measure issued at ``issued_at``.

    Returns (effective_at, note_zh, note_en, is_same_day_fallback) tuples: one for every
    rule, two for the school-day rule when issued between its two clock times (school opens
    that day without outdoor activity, and classes stop from the next day).
    """
    local = issued_at.astimezone(zone)
    kind = timing.kind
    if kind == "on_issue":
        return [(local, None, None, False)]
    if kind == "issue_plus_hours":
        assert timing.issue_plus_hours is not None
        # Add in UTC: wall-clock arithmetic would be wrong across a DST change.
        at = (issued_at.astimezone(UTC) + timedelta(hours=timing.issue_plus_hours)).astimezone(zone)
        return [(at, None, None, False)]
    if kind == "next_day":
        assert timing.next_day_at is not None
        return [(_next_day_at(local, timing.next_day_at, zone), None, None, False)]
    rule = timing.school_day_rule
    assert rule is not None
    clock = local.time().replace(tzinfo=None)
    same_day = _clock_of(rule.same_day_if_before)
    next_day = _clock_of(rule.next_day_if_before)
    tomorrow = _next_day_at(local, "00:00", zone)
    if clock < same_day:
        return [
            (
                local,
                f"{rule.same_day_if_before}前发布：当日停课",
                f"issued before {rule.same_day_if_before}: no school today",
                False,
            )
        ]
    if clock < next_day:
        return [
            (
                local,
                f"{rule.same_day_if_before}后发布：当日正常上课，停止户外活动",
                f"issued after {rule.same_day_if_before}: school opens today without outdoor "
                "activity",
                True,
            ),
            (
                tomorrow,
                f"{rule.next_day_if_before}前发布：次日停课",
                f"issued before {rule.next_day_if_before}: no school from tomorrow",
                False,
            ),
        ]
    return [
        (
            tomorrow,
            f"{rule.next_day_if_before}后、次日{rule.same_day_if_before}前发布：次日停课",
            f"issued after {rule.next_day_if_before}, before {rule.same_day_if_before} of "
            "the next day: no school tomorrow",
            False,
        )
    ]


def measures_in_force(plan: Plan, level: str) -> list[tuple[Level, int, Measure]]:
    """The measures in force at ``level``: (defining level, position, measure), cumulative
    upward with same-id overrides and ``replaces``."""
    active: dict[str, tuple[Level, int, Measure]] = {}
    for name, level_plan in plan.levels.items():
        if LEVEL_RANK[name] > LEVEL_RANK[level]:
            break
        for index, measure in enumerate(level_plan.measures):
            for replaced in measure.replaces:
                active.pop(replaced, None)
            active[measure.id] = (name, index, measure)
    return list(active.values())


def _department(bilingual: Bilingual) -> dict[str, object]:
    return {"department_zh": bilingual.zh, "department_en": bilingual.en}


def _enterprise_ref(firm: Enterprise) -> EnterpriseRef:
    return EnterpriseRef(
        name_zh=firm.name_zh,
        name_en=firm.name_en,
        industry=firm.industry,
        grade=firm.grade,
        example=firm.example,
        exemption=firm.exemption,
    )


def actions_for(plan: Plan, level: str, issued_at: datetime) -> list[Action]:
    """The ordered actions of a ``level`` warning issued at ``issued_at`` (aware).

    Raises ``ValueError`` for a naive ``issued_at`` or a level the plan does not define.
    """
    if issued_at.tzinfo is None or issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    if level not in LEVEL_RANK:
        raise ValueError(f"unknown level {level!r} (expected one of {', '.join(LEVELS)})")
    level_plan = plan.levels.get(level)
    if level_plan is None:
        raise ValueError(
            f"level {level} is not defined in the plan for {plan.code} "
            f"(defined: {', '.join(plan.levels.defined())})"
        )
    zone = plan.zone
    local_issue = issued_at.astimezone(zone)
    drafts: list[_Draft] = []
    typed_level: Level = LEVELS[LEVEL_RANK[level]]

    cut = level_plan.emission_cut_pct
    if cut is not None:
        drafts.append(
            _Draft(
                action={
                    "kind": "emission_cut",
                    "level": typed_level,
                    "measure_id": "emission-cut",
                    "text_zh": f"全市二氧化硫、氮氧化物、颗粒物和挥发性有机物减排{cut:g}%以上",
                    "text_en": f"Cut the city's SO2, NOx, PM and VOC emissions by {cut:g}% or more",
                    **_department(plan.enterprises.department),
                    "quantity": {"emission_cut_pct": int(cut) if cut.is_integer() else cut},
                    "timing": "on_issue",
                },
                effective_at=local_issue,
                sector="industry",
                sort_key=(_KIND_RANK["emission_cut"], 0, 0, 0),
            )
        )

    for source_level, index, measure in measures_in_force(plan, level):
        for sub, (at, note_zh, note_en, same_day) in enumerate(
            resolve_timing(measure.effective, issued_at, zone)
        ):
            rule = measure.effective.school_day_rule
            if same_day and rule is not None:
                texts = {"text_zh": rule.same_day_zh, "text_en": rule.same_day_en}
                quantity: dict[str, QuantityValue] = {"outdoor_activity": "stop"}
                measure_id = f"{measure.id}:same-day"
            else:
                texts = {"text_zh": measure.text_zh, "text_en": measure.text_en}
                quantity = dict(measure.quantity)
                measure_id = measure.id
            drafts.append(
                _Draft(
                    action={
                        "kind": "measure",
                        "level": source_level,
                        "measure_id": measure_id,
                        **texts,
                        **_department(measure.department),
                        "quantity": quantity,
                        "timing": measure.effective.describe(),
                        "timing_note_zh": note_zh,
                        "timing_note_en": note_en,
                    },
                    effective_at=at,
                    sector=measure.sector,
                    sort_key=(_KIND_RANK["measure"], LEVEL_RANK[source_level], index, sub),
                )
            )

    grade_measures = plan.enterprises.grade_measures
    # Exempt firms are named from the first level at which any grade has a measure: below
    # it nothing is mandatory, so there is nothing to be exempt from.
    mandatory_here = any(
        levels.at(level) is not None
        for levels in (grade_measures.for_grade(grade) for grade in GRADES)
        if levels is not None
    )
    for index, firm in enumerate(plan.enterprises.firms):
        if firm.exemption is not None:
            if not mandatory_here:
                continue
            text_zh, text_en = EXEMPTION_TEXT[firm.exemption]
            entry_level: Level = typed_level
            quantity = {"load": "by_need" if firm.exemption == "essential_service" else "by_orders"}
            timing = Timing()
        else:
            grade_levels = grade_measures.for_grade(firm.grade)
            found = grade_levels.at(level) if grade_levels is not None else None
            if found is None:
                continue  # this grade takes no measure at this level
            entry_level, entry = found
            text_zh, text_en = entry.text_zh, entry.text_en
            quantity = dict(entry.quantity)
            timing = entry.effective
        for at, note_zh, note_en, _same_day in resolve_timing(timing, issued_at, zone):
            drafts.append(
                _Draft(
                    action={
                        "kind": "enterprise",
                        "level": entry_level,
                        "measure_id": f"enterprise:{firm.exemption or firm.grade}",
                        "text_zh": f"{firm.name_zh}（{firm.grade}级）：{text_zh}",
                        "text_en": f"{firm.name_en} (grade {firm.grade}): {text_en}",
                        **_department(plan.enterprises.department),
                        "quantity": quantity,
                        "timing": timing.describe(),
                        "timing_note_zh": note_zh,
                        "timing_note_en": note_en,
                        "enterprise": _enterprise_ref(firm),
                    },
                    effective_at=at,
                    sector="industry",
                    sort_key=(_KIND_RANK["enterprise"], GRADES.index(firm.grade), index, 0),
                )
            )

    drafts.sort(key=lambda d: (d.effective_at, SECTOR_RANK[d.sector], *d.sort_key))
    return [
        Action(order=position, effective_at=d.effective_at, sector=d.sector, **d.action)  # type: ignore[arg-type]
        for position, d in enumerate(drafts, start=1)
    ]
