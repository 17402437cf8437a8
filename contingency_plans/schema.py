"""The schema of a city's heavy-pollution contingency plan and of a regional grouping.

A plan file (``contingency_plans/plans/*.yaml``) says which warning criteria the city
follows, who approves each level, the episode timing rules (hours), and per level the
required emission cut (% of the city's total SO2/NOx/PM/VOC emissions) and the measures by
sector, each with its responsible department, quantity and timing on the city clock.
An enterprise list gives each firm's performance grade and the measure each grade takes at
each level.

Measures are **cumulative upward**: the measures in force at a level are those of every
level the plan defines up to and including it. A measure at a higher level with the same
``id`` as a lower one replaces it (schools: outdoor activity ``reduce`` at yellow becomes
``stop`` at orange), and ``replaces: [id, ...]`` drops lower measures with other ids (red's
class suspension drops orange's outdoor stop). Enterprise grade measures are cumulative in
the same way: a grade without an entry for a level keeps the entry of the nearest lower
level; ``leading`` and ``white_list`` firms take grade A's measures unless given their own.

Validation is in two steps so every problem carries the path of the offending value:
pydantic checks the shape and values, then :func:`plan_problems` checks the rules that tie
fields together (approval covers every level, cuts never fall as the level rises, ``replaces``
points at a real lower measure, ...). :func:`validate_plan_data` runs both and returns
``(path, message)`` pairs such as ``levels.orange.measures[2].department: field required``.
``Plan.model_validate`` alone also refuses a plan that breaks the cross-field rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Annotated, Any, Literal, TypeGuard, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

Level = Literal["blue", "yellow", "orange", "red"]
LEVELS: tuple[Level, ...] = cast(tuple[Level, ...], get_args(Level))
"""Warning levels, lowest first: blue = Ⅳ, yellow = Ⅲ, orange = Ⅱ, red = Ⅰ."""
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}

Sector = Literal["industry", "construction_dust", "vehicles", "schools", "public_health", "other"]
SECTORS: tuple[Sector, ...] = cast(tuple[Sector, ...], get_args(Sector))
SECTOR_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SECTORS)}

Grade = Literal["A", "B", "C", "D", "leading", "white_list"]
GRADES: tuple[Grade, ...] = cast(tuple[Grade, ...], get_args(Grade))
GRADES_LIKE_A: frozenset[str] = frozenset({"leading", "white_list"})
"""Grades that take grade A's measures when the plan gives them none (standards.md §2.5)."""

DecideFrom = Literal["p50", "p90", "probability"]
"""What the forecast days are decided from: the daily AQI of an hourly quantile (``p50``,
``p90``), or the forecast's calibrated daily exceedance probabilities against the plan's
``probability_cutoffs`` (``probability``; hours then read p50)."""

#: The daily AQI thresholds a plan may give a probability cut-off for: the forecast carries
#: P(daily PM2.5 > 150 µg/m³) and P(> 250 µg/m³), the PM2.5 of AQI 200 and 300 under both
#: HJ 633 versions.
PROBABILITY_AQI: tuple[int, ...] = (200, 300)

CRITERIA_SETS: dict[str, tuple[Level, ...]] = {
    "national-2017": ("blue", "yellow", "orange", "red"),
    "mee-2018": ("yellow", "orange", "red"),
    "mee-2024": ("yellow", "orange", "red"),
    "beijing-2016": ("blue", "yellow", "orange", "red"),
}
"""Warning criteria sets a plan may name, with the levels each can produce.

The rules themselves live in ``alerts`` (standards.md §2.1–§2.2); a plan must define
every level its criteria set can produce, so a warning always has actions.
"""

Exemption = Literal["essential_service", "strategic_export"]

CITY_CODE_PATTERN = re.compile(r"^[1-8]\d{5}$")
CLOCK_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

QuantityValue = str | int | float | bool


def _error(kind: str, message: str) -> PydanticCustomError:
    """A validation error with a ready-made message (no template placeholders)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in a plan must not silently drop a measure."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _six_digit_code(value: Any) -> Any:
    # YAML reads an unquoted 110000 as an int; every GB/T 2260 code starts with 1-8, so
    # turning it back into text loses nothing.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_code(value: str) -> str:
    if not CITY_CODE_PATTERN.match(value):
        raise _error("city_code", f"{value!r} is not a six-digit GB/T 2260 code")
    return value


def _clock(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320.
        raise _error(
            "clock_unquoted",
            f"write clock times in quotes, e.g. '22:00' (YAML read this one as the number {value})",
        )
    if not isinstance(value, str) or not CLOCK_PATTERN.match(value):
        raise _error("clock", f"expected a clock time HH:MM, got {value!r}")
    return value


Clock = Annotated[str, Field(description="local clock time HH:MM")]


class Bilingual(StrictModel):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class CityInfo(StrictModel):
    code: str = Field(description="GB/T 2260 administrative code, six digits")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    province_zh: str = Field(min_length=1)
    province_en: str = Field(min_length=1)
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone of the city clock")

    code_from_int = field_validator("code", mode="before")(_six_digit_code)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_code(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _error("timezone", f"unknown IANA time zone {value!r}") from None
        return value


class PlanInfo(StrictModel):
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    issuer_zh: str = Field(min_length=1)
    issuer_en: str = Field(min_length=1)
    effective_date: date | None = Field(
        description="date the plan (revision) took effect; null when not confirmed"
    )
    source_note: str = Field(
        min_length=1, description="where the content comes from (standards.md sections, sources)"
    )


class Approval(StrictModel):
    """Which levels issue automatically and which wait for a duty officer's approval."""

    auto: list[Level] = Field(default_factory=list)
    duty_officer: list[Level] = Field(default_factory=list)


class SchoolDayRule(StrictModel):
    """The class-suspension timing rule on the city clock (standards.md §3, red).

    Issued before ``same_day_if_before`` (06:00): no school that day, from the issue.
    Issued from 06:00 to before ``next_day_if_before`` (22:00): school opens that day
    without outdoor activity (``same_day_zh``/``same_day_en``), no school from the next day.
    Issued from 22:00: the warning is out before 06:00 of the next day, so that day has
    no school either (the "before 06:00 → no school that day" clause).
    """

    next_day_if_before: Clock = "22:00"
    same_day_if_before: Clock = "06:00"
    same_day_zh: str = "学校当日正常上课，停止户外活动"
    same_day_en: str = "Schools open today; all outdoor activity stops"

    clocks_quoted = field_validator("next_day_if_before", "same_day_if_before", mode="before")(
        _clock
    )

    @model_validator(mode="after")
    def _order(self) -> SchoolDayRule:
        if self.same_day_if_before >= self.next_day_if_before:
            raise _error(
                "school_day_order", "same_day_if_before must be earlier than next_day_if_before"
            )
        return self


NEXT_DAY_PATTERN = re.compile(r"^next_day_(\d\d:\d\d)$")


class Timing(StrictModel):
    """When a measure takes effect, relative to the issue time on the city clock.

    Written in a plan as one of ``on_issue`` (default), ``next_day_HH:MM`` (e.g.
    ``next_day_00:00``), ``{issue_plus_hours: 2}`` or ``{school_day_rule: {...}}``.
    Exactly one of the fields below is set (none means ``on_issue``).
    """

    next_day_at: Clock | None = None
    issue_plus_hours: float | None = Field(default=None, ge=0, le=240)
    school_day_rule: SchoolDayRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_short_form(cls, value: Any) -> Any:
        if value is None or value == "on_issue":
            return {}
        if isinstance(value, str):
            match = NEXT_DAY_PATTERN.match(value)
            if match:
                return {"next_day_at": match.group(1)}
            raise _error(
                "timing",
                f"unknown timing {value!r}: use on_issue, next_day_HH:MM, "
                "{issue_plus_hours: N} or {school_day_rule: {...}}",
            )
        if isinstance(value, dict) and "next_day_at" in value:
            raise _error("timing", "write next_day_at as the text next_day_HH:MM")
        return value

    @field_validator("next_day_at", mode="before")
    @classmethod
    def _next_day_clock(cls, value: Any) -> Any:
        return None if value is None else _clock(value)

    @model_validator(mode="after")
    def _one_rule(self) -> Timing:
        given = [
            name
            for name in ("next_day_at", "issue_plus_hours", "school_day_rule")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise _error("timing", f"give one timing rule, not {' and '.join(given)}")
        return self

    @property
    def kind(self) -> str:
        """``on_issue``, ``next_day``, ``issue_plus_hours`` or ``school_day_rule``."""
        if self.next_day_at is not None:
            return "next_day"
        if self.issue_plus_hours is not None:
            return "issue_plus_hours"
        if self.school_day_rule is not None:
            return "school_day_rule"
        return "on_issue"

    @model_serializer(mode="plain")
    def _short_form(self) -> Any:
        # Dump as written, so stored content reads like the plan file and validates again.
        if self.next_day_at is not None:
            return f"next_day_{self.next_day_at}"
        if self.issue_plus_hours is not None:
            return {"issue_plus_hours": self.issue_plus_hours}
        if self.school_day_rule is not None:
            return {"school_day_rule": self.school_day_rule.model_dump()}
        return "on_issue"

    def describe(self) -> str:
        """A short label, e.g. ``issue_plus_hours:2``."""
        if self.next_day_at is not None:
            return f"next_day_{self.next_day_at}"
        if self.issue_plus_hours is not None:
            return f"issue_plus_hours:{self.issue_plus_hours:g}"
        if self.school_day_rule is not None:
            return "school_day_rule"
        return "on_issue"


def _check_quantity(quantity: dict[str, QuantityValue]) -> dict[str, QuantityValue]:
    if not quantity:
        raise _error("quantity_empty", "give at least one quantity, e.g. earthwork: stop")
    # Percentages (keys ending in _pct) are range-checked in plan_problems, which can name
    # the exact key.
    return quantity


class Measure(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="stable id, unique per level")
    sector: Sector
    text_zh: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    department: Bilingual
    quantity: dict[str, QuantityValue] = Field(
        description="what the measure demands, e.g. {emission_cut_pct: 20} or {earthwork: stop}"
    )
    effective: Timing = Field(default_factory=Timing)
    replaces: list[str] = Field(
        default_factory=list, description="ids of lower-level measures this one drops"
    )
    note: str | None = Field(default=None, description="e.g. 'typical measure; UNCONFIRMED'")

    quantity_checked = field_validator("quantity")(_check_quantity)


class LevelPlan(StrictModel):
    emission_cut_pct: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="required cut of the city's total SO2/NOx/PM/VOC emissions, %",
    )
    sign_off: Bilingual | None = Field(default=None, description="who signs the warning")
    measures: list[Measure] = Field(min_length=1)


class Levels(StrictModel):
    """The levels a plan defines. A three-level plan (mee-2018, mee-2024) omits blue."""

    blue: LevelPlan | None = None
    yellow: LevelPlan
    orange: LevelPlan
    red: LevelPlan

    def defined(self) -> list[Level]:
        """The defined level names, lowest first."""
        return [name for name in LEVELS if getattr(self, name) is not None]

    def get(self, level: str) -> LevelPlan | None:
        return cast(LevelPlan | None, getattr(self, level, None)) if level in LEVEL_RANK else None

    def items(self) -> Iterator[tuple[Level, LevelPlan]]:
        for name in LEVELS:
            plan = getattr(self, name)
            if plan is not None:
                yield name, plan


class GradeMeasure(StrictModel):
    text_zh: str = Field(min_length=1)
    text_en: str = Field(min_length=1)
    quantity: dict[str, QuantityValue]
    effective: Timing = Field(default_factory=Timing)

    quantity_checked = field_validator("quantity")(_check_quantity)


class GradeLevels(StrictModel):
    """The measure a grade takes at each level; a missing level keeps the lower one's."""

    blue: GradeMeasure | None = None
    yellow: GradeMeasure | None = None
    orange: GradeMeasure | None = None
    red: GradeMeasure | None = None

    def at(self, level: str) -> tuple[Level, GradeMeasure] | None:
        """The entry in force at ``level``: its own, else the nearest lower level's."""
        for name in reversed(LEVELS[: LEVEL_RANK[level] + 1]):
            entry = getattr(self, name)
            if entry is not None:
                return name, entry
        return None


class GradeMeasures(StrictModel):
    A: GradeLevels | None = None
    B: GradeLevels | None = None
    C: GradeLevels | None = None
    D: GradeLevels | None = None
    leading: GradeLevels | None = None
    white_list: GradeLevels | None = None

    def for_grade(self, grade: str) -> GradeLevels | None:
        """The grade's own measures; leading and white-list firms fall back to grade A's."""
        own = cast(GradeLevels | None, getattr(self, grade, None))
        if own is None and grade in GRADES_LIKE_A:
            return self.A
        return own


class Enterprise(StrictModel):
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    industry: str = Field(min_length=1, description="e.g. steel, coking, cement, glass")
    grade: Grade
    example: bool = Field(description="true for a made-up example firm, not a real one")
    exemption: Exemption | None = Field(
        default=None,
        description="essential_service (heating, waste: load set by need) or "
        "strategic_export (load set by orders)",
    )


EXEMPTION_TEXT: dict[str, tuple[str, str]] = {
    "essential_service": (
        "保障类企业，按民生保障需要确定生产负荷",
        "Essential-service firm: runs at the load set by need",
    ),
    "strategic_export": (
        "战略性、出口型企业，按订单确定生产负荷",
        "Strategic or export firm: runs at the load set by orders",
    ),
}


class Enterprises(StrictModel):
    department: Bilingual = Field(description="department that enforces enterprise measures")
    grade_measures: GradeMeasures
    firms: list[Enterprise] = Field(default_factory=list)


class Plan(StrictModel):
    """One city's heavy-pollution contingency plan."""

    city: CityInfo
    plan: PlanInfo
    criteria_set: str = Field(description="one of CRITERIA_SETS")
    decide_from: DecideFrom = Field(
        description="forecast quantile (p50, p90) or probability the level is decided from"
    )
    probability_cutoffs: dict[int, float] | None = Field(
        default=None,
        description=(
            "with decide_from: probability, daily AQI threshold (200, 300) → the probability "
            "at or above which a forecast day counts as above it"
        ),
    )
    approval: Approval
    episode_merge_gap_hours: float = Field(
        default=36,
        ge=0,
        le=240,
        description="an episode restarting within this many hours continues the old one",
    )
    lift_after_hours: float = Field(
        default=36, gt=0, le=240, description="forecast must stay below the trigger this long"
    )
    lead_time_hours: float = Field(
        default=24, ge=0, le=240, description="issue at least this long before the first day"
    )
    downgrade_in_force: bool = Field(
        default=True,
        description=(
            "whether the system lowers the level of a warning in force; false holds it until "
            "lifted (duty officers may still downgrade by hand)"
        ),
    )
    regions: list[str] = Field(default_factory=list, description="ids of regions/*.yaml")
    notes: list[str] = Field(default_factory=list, description="unconfirmed items, assumptions")
    levels: Levels
    enterprises: Enterprises

    @field_validator("probability_cutoffs")
    @classmethod
    def _cutoffs(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is None:
            return value
        for aqi, cutoff in value.items():
            if aqi not in PROBABILITY_AQI:
                raise _error(
                    "probability_cutoffs",
                    f"no probability for AQI {aqi} (expected one of "
                    f"{', '.join(map(str, PROBABILITY_AQI))})",
                )
            if not 0 < cutoff <= 1:
                raise _error(
                    "probability_cutoffs", f"cut-off for AQI {aqi} must be in (0, 1]: {cutoff}"
                )
        return dict(sorted(value.items()))

    @field_validator("criteria_set")
    @classmethod
    def _criteria(cls, value: str) -> str:
        if value not in CRITERIA_SETS:
            raise _error(
                "criteria_set",
                f"unknown criteria set {value!r} (expected one of {', '.join(CRITERIA_SETS)})",
            )
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Plan:
        # The loader asks to run these itself (context defer_rules) so each problem keeps
        # its own path; anyone else validating gets them here, joined into one error.
        if info.context and info.context.get("defer_rules"):
            return self
        problems = plan_problems(self)
        if problems:
            raise _error(
                "plan_rules", "; ".join(f"{path}: {message}" for path, message in problems)
            )
        return self

    @property
    def code(self) -> str:
        return self.city.code

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.city.timezone)

    @property
    def hourly_quantile(self) -> Literal["p50", "p90"]:
        """The quantile of the hourly forecast the plan reads (today's rest, the lift
        rule, heavy pollution under way): p50 when forecast days go by probability."""
        return "p50" if self.decide_from == "probability" else self.decide_from


def plan_problems(data: Any) -> list[tuple[str, str]]:
    """The cross-field rules of a plan, as (path, message) pairs.

    ``data`` is the plan as parsed from YAML (or a :class:`Plan`). The checks read it
    defensively, so they also run on a file whose shape is wrong and every problem is
    reported in one pass; values of the wrong type or name are left to the schema.
    """
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    problems: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        return problems
    levels = _mapping(data.get("levels"))
    defined = [name for name in LEVELS if isinstance(levels.get(name), dict)]

    criteria = data.get("criteria_set")
    if isinstance(criteria, str) and criteria in CRITERIA_SETS:
        for level in CRITERIA_SETS[criteria]:
            if level not in defined and level not in {"yellow", "orange", "red"}:
                # yellow/orange/red are required by the schema; only blue needs saying here.
                problems.append(
                    (
                        f"levels.{level}",
                        f"criteria set {criteria} can issue {level}; the plan must define it",
                    )
                )

    decide_from = data.get("decide_from")
    cutoffs = data.get("probability_cutoffs")
    if decide_from == "probability" and not cutoffs:
        problems.append(
            (
                "probability_cutoffs",
                "decide_from: probability needs probability_cutoffs (AQI 200 and/or 300)",
            )
        )
    elif decide_from in ("p50", "p90") and cutoffs is not None:
        problems.append(
            (
                "probability_cutoffs",
                f"probability_cutoffs apply only with decide_from: probability, not {decide_from}",
            )
        )

    approval = _mapping(data.get("approval"))
    seen: dict[str, str] = {}
    for group in ("auto", "duty_officer"):
        for index, level in enumerate(_sequence(approval.get(group))):
            if level not in LEVEL_RANK:
                continue  # not a level name at all: the schema reports it
            path = f"approval.{group}[{index}]"
            if level not in defined:
                problems.append((path, f"level {level} is not defined in levels"))
            elif level in seen:
                problems.append(
                    (path, f"level {level} is already listed in approval.{seen[level]}")
                )
            else:
                seen[level] = group
    if isinstance(data.get("approval"), dict):
        for level in defined:
            if level not in seen:
                problems.append(
                    (
                        "approval",
                        f"level {level} is in neither approval.auto nor approval.duty_officer",
                    )
                )

    previous_cut: tuple[str, float] | None = None
    active: set[str] = set()
    for level in defined:
        level_plan = _mapping(levels[level])
        cut = level_plan.get("emission_cut_pct")
        if _is_number(cut) and 0 <= cut <= 100:
            if previous_cut is not None and cut < previous_cut[1]:
                problems.append(
                    (
                        f"levels.{level}.emission_cut_pct",
                        f"{cut:g} is below {previous_cut[0]}'s {previous_cut[1]:g}; "
                        "the required cut must not fall as the level rises",
                    )
                )
            previous_cut = (level, cut)
        ids_here: dict[str, int] = {}
        dropped: set[str] = set()
        for index, measure in enumerate(_sequence(level_plan.get("measures"))):
            measure = _mapping(measure)
            path = f"levels.{level}.measures[{index}]"
            problems.extend(_percentage_problems(measure.get("quantity"), f"{path}.quantity"))
            measure_id = measure.get("id")
            if isinstance(measure_id, str):
                if measure_id in ids_here:
                    problems.append(
                        (
                            f"{path}.id",
                            f"duplicate id {measure_id!r} (also measures[{ids_here[measure_id]}])",
                        )
                    )
                ids_here.setdefault(measure_id, index)
            for r_index, replaced in enumerate(_sequence(measure.get("replaces"))):
                if isinstance(replaced, str) and replaced not in active:
                    problems.append(
                        (f"{path}.replaces[{r_index}]", f"no measure {replaced!r} at a lower level")
                    )
                elif isinstance(replaced, str):
                    dropped.add(replaced)
        active = (active - dropped) | set(ids_here)

    enterprises = _mapping(data.get("enterprises"))
    grade_measures = _mapping(enterprises.get("grade_measures"))
    for index, firm in enumerate(_sequence(enterprises.get("firms"))):
        firm = _mapping(firm)
        grade = firm.get("grade")
        if grade not in GRADES or firm.get("exemption") is not None:
            continue
        own = isinstance(grade_measures.get(grade), dict)
        like_a = grade in GRADES_LIKE_A and isinstance(grade_measures.get("A"), dict)
        if not (own or like_a):
            problems.append(
                (
                    f"enterprises.firms[{index}].grade",
                    f"grade {grade} has no entry in enterprises.grade_measures",
                )
            )
    for grade in GRADES:
        per_level = grade_measures.get(grade)
        if not isinstance(per_level, dict):
            continue
        for level in LEVELS:
            problems.extend(
                _percentage_problems(
                    _mapping(per_level.get(level)).get("quantity"),
                    f"enterprises.grade_measures.{grade}.{level}.quantity",
                )
            )
            if per_level.get(level) is not None and level not in defined:
                problems.append(
                    (
                        f"enterprises.grade_measures.{grade}.{level}",
                        f"level {level} is not defined in levels",
                    )
                )
    return problems


def _percentage_problems(quantity: Any, path: str) -> list[tuple[str, str]]:
    """Quantities named ``*_pct`` must be percentages from 0 to 100."""
    return [
        (f"{path}.{key}", f"must be a percentage from 0 to 100, got {value:g}")
        for key, value in _mapping(quantity).items()
        if isinstance(key, str)
        and key.endswith("_pct")
        and _is_number(value)
        and not 0 <= value <= 100
    ]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RegionMember(StrictModel):
    code: str = Field(description="GB/T 2260 code; a province code (..0000) covers the province")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    note: str | None = None

    code_from_int = field_validator("code", mode="before")(_six_digit_code)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_code(value)


class RegionIssuers(StrictModel):
    """Who issues the regional warning at each level (only where known)."""

    blue: Bilingual | None = None
    yellow: Bilingual | None = None
    orange: Bilingual | None = None
    red: Bilingual | None = None


class RegionInfo(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9+_-]*$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


DEFAULT_MIN_CITIES = 3
"""Members that must be forecast at a level for a regional proposal when the region file
gives neither ``min_cities`` nor ``min_share`` (a setting: the facts give no number)."""


class RegionalCriteria(StrictModel):
    """When the region proposes a regional warning, and how it is run (``criteria:``).

    A regional warning at a level is proposed when at least ``min_cities`` members, or at
    least the share ``min_share`` of them (either suffices when both are given), are
    forecast at or above that level on the same local day within the next ``window_days``
    days (today included). Every number is a setting with a documented default: the
    numeric regional triggers are UNCONFIRMED in the facts (standards.md §4).
    """

    min_cities: int | None = Field(default=None, ge=1, description="default 3")
    min_share: float | None = Field(default=None, gt=0, le=1, description="share 0..1")
    window_days: int = Field(default=3, ge=1, le=10)
    lead_hours: float = Field(default=24, ge=0, le=168)
    levels: list[Level] = Field(default_factory=lambda: list(LEVELS[1:]), min_length=1)
    lifted_by: Literal["regional_issuer"] = Field(
        default="regional_issuer", description="only the regional coordinator lifts"
    )
    compliance_grace_hours: float = Field(default=2, ge=0, le=72)
    approve_within_hours: float = Field(default=6, gt=0, le=72)

    @model_validator(mode="after")
    def _default_count(self) -> RegionalCriteria:
        # Neither threshold given: the documented default count applies.
        if self.min_cities is None and self.min_share is None:
            self.min_cities = DEFAULT_MIN_CITIES
        return self

    def required_count(self, members: int) -> int:
        """How many of ``members`` cities suffice (the smaller threshold when both apply)."""
        counts = [] if self.min_cities is None else [self.min_cities]
        if self.min_share is not None:
            counts.append(max(1, math.ceil(self.min_share * members - 1e-9)))
        return min(counts)


class Region(StrictModel):
    """A regional grouping: the regional warning level is a floor for every member city."""

    region: RegionInfo
    coordinator: Bilingual
    period: str | None = Field(default=None, description="e.g. 2017–2023")
    members: list[RegionMember] = Field(min_length=1)
    floor_rule: Literal["regional_level_is_floor"] = Field(
        default="regional_level_is_floor",
        description="effective city level = max(city level, regional level)",
    )
    criteria: RegionalCriteria = Field(default_factory=RegionalCriteria)
    issuers: RegionIssuers = Field(default_factory=RegionIssuers)
    source_note: str = Field(min_length=1)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_members(self, info: ValidationInfo) -> Region:
        if info.context and info.context.get("defer_rules"):
            return self
        problems = region_problems(self)
        if problems:
            raise _error(
                "region_rules", "; ".join(f"{path}: {message}" for path, message in problems)
            )
        return self

    @property
    def id(self) -> str:
        return self.region.id

    @property
    def member_codes(self) -> tuple[str, ...]:
        """The members' codes, in file order."""
        return tuple(member.code for member in self.members)

    def covers(self, city_code: str) -> bool:
        """Whether a city is a member (directly, or through its province's code)."""
        for member in self.members:
            if member.code == city_code:
                return True
            if member.code.endswith("0000") and city_code[:2] == member.code[:2]:
                return True
        return False


def region_problems(data: Any) -> list[tuple[str, str]]:
    """The cross-field rules of a region, as (path, message) pairs: no member twice; the
    criteria's levels unique; ``min_cities`` not above the number of members."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    members = _sequence(_mapping(data).get("members"))
    for index, member in enumerate(members):
        code = _six_digit_code(_mapping(member).get("code"))
        if not isinstance(code, str):
            continue
        if code in seen:
            problems.append(
                (f"members[{index}].code", f"duplicate member {code} (also members[{seen[code]}])")
            )
        seen.setdefault(code, index)
    criteria = _mapping(_mapping(data).get("criteria"))
    levels_seen: set[Any] = set()
    for index, level in enumerate(_sequence(criteria.get("levels"))):
        if isinstance(level, str) and level in levels_seen:
            problems.append((f"criteria.levels[{index}]", f"level {level} is listed twice"))
        levels_seen.add(level)
    min_cities = criteria.get("min_cities")
    if _is_number(min_cities) and members and min_cities > len(members):
        message = f"{min_cities} is more than the region's {len(members)} members"
        problems.append(("criteria.min_cities", message))
    return problems


# --- turning pydantic errors into (path, message) pairs --------------------------------


def format_path(loc: Iterable[str | int]) -> str:
    """``('levels', 'orange', 'measures', 2, 'department')`` → ``levels.orange.measures[2]...``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _unknown_key_message(loc: tuple[str | int, ...]) -> str:
    key = loc[-1]
    parent = loc[:-1]
    if (
        parent == ("levels",)
        or parent[-1:] == ("issuers",)
        or parent[-3:-1]
        == (
            "enterprises",
            "grade_measures",
        )
    ):
        return f"unknown level name {key!r} (expected one of {', '.join(LEVELS)})"
    if parent == ("enterprises", "grade_measures"):
        return f"unknown performance grade {key!r} (expected one of {', '.join(GRADES)})"
    return f"unknown field {key!r}"


def _describe(error: Any) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return _unknown_key_message(loc)
    message = str(error["msg"])
    if error.get("union_member"):
        return f"expected text, a number or true/false (got {error.get('input')!r})"
    if kind.startswith(("literal_", "greater_", "less_", "string_", "too_", "enum")):
        return f"{message} (got {error.get('input')!r})"
    return message


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # Union members and function validators add tags such as 'str' or 'function-after[...]'
    # to the location; a plan author only wants the path in the file.
    return tuple(part for part in loc if not _is_tag(part))


def _is_tag(part: Any) -> bool:
    """Whether a location part names a union member or validator rather than a key."""
    if isinstance(part, int):
        return False
    return part in _UNION_TAGS or part.startswith("constrained-") or "[" in part


_UNION_TAGS = frozenset({"str", "int", "float", "bool"})


def errors_from(exc: ValidationError) -> list[tuple[str, str]]:
    """Every error of a pydantic validation as (path, message), in document order."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        raw_loc = tuple(error["loc"])
        loc = _clean_loc(raw_loc)
        union_member = any(_is_tag(part) and "[" not in str(part) for part in raw_loc)
        entry = (format_path(loc), _describe({**error, "loc": loc, "union_member": union_member}))
        if entry not in seen:  # a bad value tried against several union members repeats
            seen.add(entry)
            out.append(entry)
    return out


def validate_plan_data(data: Any) -> tuple[Plan | None, list[tuple[str, str]]]:
    """Validate parsed plan data: (plan, []) or (None, every problem as (path, message))."""
    rules = plan_problems(data)
    try:
        plan = Plan.model_validate(data, context={"defer_rules": True})
    except ValidationError as exc:
        return None, _merge(errors_from(exc), rules)
    return (None, rules) if rules else (plan, [])


def validate_region_data(data: Any) -> tuple[Region | None, list[tuple[str, str]]]:
    """Validate parsed region data: (region, []) or (None, every problem as (path, message))."""
    rules = region_problems(data)
    try:
        region = Region.model_validate(data, context={"defer_rules": True})
    except ValidationError as exc:
        return None, _merge(errors_from(exc), rules)
    return (None, rules) if rules else (region, [])


def _merge(first: list[tuple[str, str]], second: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Both lists, without repeats, in the order of the paths in the file as far as known."""
    out = list(first)
    out.extend(entry for entry in second if entry not in first)
    return out
