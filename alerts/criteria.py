"""Warning criteria sets as validated data, and the pure `evaluate` over a daily AQI path.

A criteria set (one YAML file in ``alerts/criteria_sets/``) lists, per level, one or more
alternative conditions. A condition is met by a stretch of **consecutive days** of the
daily AQI path (24 h = 1 day):

- ``span``: at least ``days`` consecutive days each with AQI ``> aqi_above`` (or
  ``>= aqi_at_least``);
- ``including`` (optional): inside that stretch, at least ``days`` consecutive days meeting
  a stricter test. "> 300 for ≥ 2 days" is read as two *consecutive* days (48 h), the
  same way the outer duration is read.

A level is met when any of its conditions is; the evaluation's level is the most severe
level met anywhere on the path ("no higher level met" for blue follows from that).

The set's *floor* is its loosest threshold (200, or 150 for ``mee-2024``). The path splits
into *spans*: maximal runs of consecutive days above the floor. Every condition is met
inside one span, so each span gets its own level; the episode logic (`alerts.episodes`)
works on spans, and the evaluation's ``triggering_days`` are the days of the earliest span
that reaches the evaluation's level.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.levels import Level

#: Folder holding one YAML file per criteria set (file stem = set name).
CRITERIA_DIR: Final = Path(__file__).resolve().parent / "criteria_sets"

NATIONAL_2017: Final = "national-2017"
MEE_2018: Final = "mee-2018"
MEE_2024: Final = "mee-2024"
BEIJING_2016: Final = "beijing-2016"
#: The criteria sets shipped with hazewarn.
CRITERIA_SET_NAMES: Final = (NATIONAL_2017, MEE_2018, MEE_2024, BEIJING_2016)


class CriteriaError(ValueError):
    """A criteria set file is missing or invalid; the message names the file and path."""


class DayTest(BaseModel):
    """At least ``days`` consecutive days whose daily AQI is ``> aqi_above`` (or ``>=
    aqi_at_least``). Exactly one of the two thresholds is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aqi_above: int | None = Field(default=None, ge=0, le=500)
    aqi_at_least: int | None = Field(default=None, ge=1, le=500)
    days: int = Field(ge=1, le=30)

    @model_validator(mode="after")
    def _one_threshold(self) -> DayTest:
        if (self.aqi_above is None) == (self.aqi_at_least is None):
            raise ValueError("give exactly one of aqi_above or aqi_at_least")
        return self

    @property
    def strictest_below(self) -> int:
        """The highest AQI that does *not* pass the test (``aqi_above``, or
        ``aqi_at_least - 1``)."""
        if self.aqi_above is not None:
            return self.aqi_above
        assert self.aqi_at_least is not None
        return self.aqi_at_least - 1

    def passes(self, aqi: int) -> bool:
        """Whether one day's AQI passes the threshold (duration aside)."""
        return aqi > self.strictest_below

    def threshold_text(self) -> str:
        """``> 200`` or ``≥ 500``."""
        if self.aqi_above is not None:
            return f"> {self.aqi_above}"
        return f"≥ {self.aqi_at_least}"

    def _op_zh(self) -> str:
        if self.aqi_above is not None:
            return f"超过{self.aqi_above}"
        return f"达到{self.aqi_at_least}"

    def rule_zh(self) -> str:
        if self.days == 1:
            return f"日均AQI{self._op_zh()}"
        return f"日均AQI连续{self.days}天（{self.days * 24}小时）及以上{self._op_zh()}"

    def inner_rule_zh(self) -> str:
        """The test as the ``including`` part of a condition (no subject)."""
        if self.days == 1:
            return f"至少1天{self._op_zh()}"
        return f"连续{self.days}天（{self.days * 24}小时）及以上{self._op_zh()}"

    def rule_en(self) -> str:
        if self.days == 1:
            return f"daily AQI {self.threshold_text()}"
        return (
            f"daily AQI {self.threshold_text()} for ≥ {self.days} consecutive days "
            f"({self.days * 24} h)"
        )


class Condition(BaseModel):
    """One way to reach a level: a ``span`` of days, optionally ``including`` a stricter
    run of days inside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    span: DayTest
    including: DayTest | None = None

    @model_validator(mode="after")
    def _inner_fits(self) -> Condition:
        inner = self.including
        if inner is None:
            return self
        if inner.strictest_below < self.span.strictest_below:
            raise ValueError(
                "including must be at least as strict as span "
                f"({inner.threshold_text()} vs {self.span.threshold_text()})"
            )
        if inner.days > self.span.days:
            raise ValueError(
                f"including lasts {inner.days} days, longer than its span ({self.span.days})"
            )
        return self

    def rule_zh(self) -> str:
        text = self.span.rule_zh()
        if self.including is not None:
            text += f"，且其中{self.including.inner_rule_zh()}"
        return text

    def rule_en(self) -> str:
        text = self.span.rule_en()
        if self.including is not None:
            inner = self.including
            days = "≥ 1 day" if inner.days == 1 else f"≥ {inner.days} consecutive days"
            text += f", including {days} {inner.threshold_text()}"
        return text


class CriteriaSet(BaseModel):
    """A named set of warning criteria (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    source: str = Field(min_length=1)
    levels: dict[Level, tuple[Condition, ...]]

    @field_validator("levels")
    @classmethod
    def _levels_present(
        cls, value: dict[Level, tuple[Condition, ...]]
    ) -> dict[Level, tuple[Condition, ...]]:
        if not value:
            raise ValueError("a criteria set needs at least one level")
        for level, conditions in value.items():
            if not conditions:
                raise ValueError(f"level {level.value} has no conditions")
        return value

    @property
    def floor(self) -> int:
        """The loosest threshold: days with AQI above it form spans (200; 150 for mee-2024)."""
        return min(
            condition.span.strictest_below
            for conditions in self.levels.values()
            for condition in conditions
        )

    @property
    def ordered_levels(self) -> tuple[Level, ...]:
        """The levels this set defines, weakest first."""
        return tuple(sorted(self.levels))


def load_criteria_set(path: Path) -> CriteriaSet:
    """Read and validate one criteria set file. Raises CriteriaError naming the problem path."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CriteriaError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CriteriaError(f"{path}: not valid YAML: {exc}") from exc
    try:
        criteria = CriteriaSet.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CriteriaError(f"{path}: {problems}") from exc
    if criteria.name != path.stem:
        raise CriteriaError(f"{path}: name: {criteria.name!r} differs from the file name")
    return criteria


@functools.cache
def criteria_set(name: str) -> CriteriaSet:
    """A shipped criteria set by name (``national-2017``, ``mee-2018``, ``mee-2024``,
    ``beijing-2016``). Raises CriteriaError for an unknown name."""
    if name not in CRITERIA_SET_NAMES:
        raise CriteriaError(f"unknown criteria set {name!r}; expected one of {CRITERIA_SET_NAMES}")
    return load_criteria_set(CRITERIA_DIR / f"{name}.yaml")


def all_criteria_sets() -> Mapping[str, CriteriaSet]:
    """Every shipped criteria set by name."""
    return {name: criteria_set(name) for name in CRITERIA_SET_NAMES}


# --- evaluation ---------------------------------------------------------------------------


class DailyAQI(NamedTuple):
    """One day of the daily AQI path: local calendar date and AQI (integer 0..500)."""

    day: date
    aqi: int


@dataclass(frozen=True)
class Span:
    """A maximal run of consecutive days with AQI above the criteria set's floor.

    ``level`` is the most severe level met inside it (None if none). ``window`` holds the
    days of the run that met the deciding condition's ``span`` test and ``inner`` the days
    that met its ``including`` test (both empty when ``level`` is None). ``reason_zh`` /
    ``reason_en`` explain the span's level.
    """

    days: tuple[date, ...]
    aqis: tuple[int, ...]
    level: Level | None
    condition: Condition | None
    window: tuple[date, ...]
    inner: tuple[date, ...]
    reason_zh: str = ""
    reason_en: str = ""

    @property
    def first_day(self) -> date:
        return self.days[0]

    @property
    def last_day(self) -> date:
        return self.days[-1]

    @property
    def peak_aqi(self) -> int:
        return max(self.aqis)


@dataclass(frozen=True)
class Evaluation:
    """The result of evaluating a daily AQI path against a criteria set.

    ``level`` is the most severe level met (None if none); ``triggering_days`` are the days
    of the earliest span that reaches it (empty when None). ``path`` is the path evaluated
    and ``spans`` every span on it, earliest first (with their own levels), for the episode
    logic. ``floor`` is the set's loosest threshold.
    """

    criteria: str
    level: Level | None
    triggering_days: tuple[date, ...]
    reason_zh: str
    reason_en: str
    path: tuple[DailyAQI, ...]
    spans: tuple[Span, ...]
    floor: int

    @property
    def first_triggering_day(self) -> date | None:
        return self.triggering_days[0] if self.triggering_days else None

    @property
    def last_triggering_day(self) -> date | None:
        return self.triggering_days[-1] if self.triggering_days else None


def _runs(days: Sequence[DailyAQI], test: DayTest) -> list[list[DailyAQI]]:
    """Maximal runs of consecutive path entries passing the test's threshold."""
    runs: list[list[DailyAQI]] = []
    current: list[DailyAQI] = []
    for entry in days:
        if test.passes(entry.aqi):
            current.append(entry)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _match(days: Sequence[DailyAQI], condition: Condition) -> tuple[list[date], list[date]] | None:
    """The earliest run of ``days`` meeting the condition: (window days, inner days)."""
    for run in _runs(days, condition.span):
        if len(run) < condition.span.days:
            continue
        if condition.including is None:
            return [entry.day for entry in run], []
        for inner in _runs(run, condition.including):
            if len(inner) >= condition.including.days:
                return [entry.day for entry in run], [entry.day for entry in inner]
    return None


def _span(run: Sequence[DailyAQI], criteria: CriteriaSet) -> Span:
    best: tuple[Level, Condition, list[date], list[date]] | None = None
    for level in sorted(criteria.levels, reverse=True):  # most severe first
        for condition in criteria.levels[level]:
            found = _match(run, condition)
            if found is not None:
                best = (level, condition, found[0], found[1])
                break
        if best is not None:
            break
    days = tuple(entry.day for entry in run)
    aqis = tuple(entry.aqi for entry in run)
    if best is None:
        return Span(days, aqis, None, None, (), ())
    level, condition, window, inner = best
    return Span(days, aqis, level, condition, tuple(window), tuple(inner))


def normalise_path(daily_aqi_path: Iterable[tuple[date, int]]) -> tuple[DailyAQI, ...]:
    """The path as `DailyAQI` entries, checked: consecutive days, integer AQI 0..500."""
    path = tuple(DailyAQI(day, aqi) for day, aqi in daily_aqi_path)
    for i, entry in enumerate(path):
        if not isinstance(entry.aqi, int) or isinstance(entry.aqi, bool):
            raise ValueError(f"day {entry.day}: AQI must be an integer, got {entry.aqi!r}")
        if not 0 <= entry.aqi <= 500:
            raise ValueError(f"day {entry.day}: AQI must be within 0..500, got {entry.aqi}")
        if i and entry.day != path[i - 1].day + timedelta(days=1):
            raise ValueError(
                f"daily AQI path must hold consecutive days: {path[i - 1].day} then {entry.day}"
            )
    return path


def _day_range(days: Sequence[date]) -> str:
    if len(days) == 1:
        return days[0].isoformat()
    return f"{days[0].isoformat()}/{days[-1].isoformat()}"


def _reasons(criteria: CriteriaSet, span: Span | None, path: Sequence[DailyAQI]) -> tuple[str, str]:
    if span is None or span.level is None or span.condition is None:
        if not path:
            return (
                f"{criteria.title_zh}：无预报数据，未达到预警条件。",
                f"{criteria.title_en}: no forecast days; no warning level met.",
            )
        peak = max(path, key=lambda entry: entry.aqi)
        return (
            f"{criteria.title_zh}：未达到预警条件"
            f"（最高日均AQI {peak.aqi}，{peak.day.isoformat()}）。",
            f"{criteria.title_en}: no warning level met "
            f"(highest daily AQI {peak.aqi} on {peak.day.isoformat()}).",
        )
    level, condition = span.level, span.condition
    facts_zh = (
        f"预报日均AQI {condition.span.threshold_text()} 共{len(span.window)}天"
        f"（{_day_range(span.window)}）"
    )
    facts_en = (
        f"forecast daily AQI {condition.span.threshold_text()} on {len(span.window)} "
        f"consecutive day(s) ({_day_range(span.window)})"
    )
    if condition.including is not None:
        facts_zh += (
            f"，其中{condition.including.threshold_text()} 共{len(span.inner)}天"
            f"（{_day_range(span.inner)}）"
        )
        facts_en += (
            f", of which {len(span.inner)} day(s) {condition.including.threshold_text()} "
            f"({_day_range(span.inner)})"
        )
    return (
        f"{criteria.title_zh}：{level.warning_name_zh}。条件：{condition.rule_zh()}；"
        f"{facts_zh}，最高日均AQI {span.peak_aqi}。",
        f"{criteria.title_en}: {level.warning_name_en}. Rule: {condition.rule_en()}; "
        f"{facts_en}; peak daily AQI {span.peak_aqi}.",
    )


def evaluate(daily_aqi_path: Iterable[tuple[date, int]], criteria: CriteriaSet | str) -> Evaluation:
    """Evaluate a daily AQI path against a criteria set. Pure.

    Args:
        daily_aqi_path: (local calendar date, daily AQI 0..500) for consecutive days in
            order, e.g. from `alerts.daily.daily_aqi_path` (today's day, observed hours
            included, first). `DailyAQI` entries or plain tuples.
        criteria: a `CriteriaSet` or the name of a shipped one (``national-2017``, …).

    Returns:
        The most severe level met (or None), the days of the earliest span reaching it, a
        reason in Chinese and English, and every span of the path with its own level.

    Raises:
        ValueError: days not consecutive, AQI not an integer in 0..500.
        CriteriaError: unknown criteria set name.
    """
    criteria_obj = criteria_set(criteria) if isinstance(criteria, str) else criteria
    path = normalise_path(daily_aqi_path)
    floor_test = DayTest(aqi_above=criteria_obj.floor, days=1)
    spans = tuple(
        dataclasses.replace(span, reason_zh=texts[0], reason_en=texts[1])
        for span in (_span(run, criteria_obj) for run in _runs(path, floor_test))
        for texts in [_reasons(criteria_obj, span, path)]
    )
    levelled = [span for span in spans if span.level is not None]
    deciding: Span | None = None
    if levelled:
        top = max(span.level for span in levelled if span.level is not None)
        deciding = next(span for span in levelled if span.level == top)
    reason_zh, reason_en = _reasons(criteria_obj, deciding, path)
    return Evaluation(
        criteria=criteria_obj.name,
        level=deciding.level if deciding else None,
        triggering_days=deciding.days if deciding else (),
        reason_zh=reason_zh,
        reason_en=reason_en,
        path=path,
        spans=spans,
        floor=criteria_obj.floor,
    )
