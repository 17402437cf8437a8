"""China Air Quality Index (AQI) after HJ 633-2012 and HJ 633-2026.

Pure functions, no I/O. Concentrations are in µg/m³ for SO2, NO2, PM10, PM2.5 and O3,
and in **mg/m³ for CO**. Breakpoint tables are versioned data; HJ 633-2026 applies to
days from 2026-03-01 on (`version_for`), HJ 633-2012 before.

Indicator keys are ``"<pollutant>_<period>"``: ``so2_24h, so2_1h, no2_24h, no2_1h,
pm10_24h, co_24h, co_1h, o3_1h, o3_8h, pm25_24h`` in both versions, plus ``pm10_1h`` and
``pm25_1h`` under HJ 633-2026 (scored with the PM daily columns, §4.2 of the 2026 text).

Rules implemented (see docs/aqi.md for the choices made where the standard leaves room):

- IAQI by linear interpolation between the bracketing breakpoints, rounded **up** (ceil),
  computed in exact decimal arithmetic so that values on a breakpoint are not pushed up by
  binary float error.
- HJ 633-2026 first rounds inputs per GB/T 8170 (round half to even on the decimal
  value): integer µg/m³, CO to 0.1 mg/m³. HJ 633-2012 uses inputs as given.
- SO2 1h above 800: 2012 gives no 1h sub-index (the 24h one is reported instead);
  2026 scores IAQI = 200. O3 8h above 800: 2012 gives no 8h sub-index (the 1h one is
  used instead); 2026 scores IAQI = 300.
- Any other concentration above the top breakpoint is capped at IAQI 500 and flagged
  ``out_of_range``.
- AQI is the maximum sub-index; primary pollutants only when AQI > 50, all tied listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

HJ633_2012: Final = "HJ633-2012"
HJ633_2026: Final = "HJ633-2026"
VERSIONS: Final = (HJ633_2012, HJ633_2026)
#: First day on which HJ 633-2026 applies (days are local calendar days).
HJ633_2026_START: Final = date(2026, 3, 1)

#: Pollutant codes in a fixed reporting order.
POLLUTANTS: Final = ("pm25", "pm10", "o3", "no2", "so2", "co")
#: Units of each pollutant's concentration.
UNITS: Final[Mapping[str, str]] = MappingProxyType(
    {"pm25": "µg/m³", "pm10": "µg/m³", "o3": "µg/m³", "no2": "µg/m³", "so2": "µg/m³", "co": "mg/m³"}
)

#: Indicators of the daily report per version (HJ 633-2012 §5: five 24h means plus O3
#: max 1h and max 8h; HJ 633-2026: five 24h means plus O3 max 8h only).
DAILY_INDICATORS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        HJ633_2012: ("so2_24h", "no2_24h", "pm10_24h", "co_24h", "o3_1h", "o3_8h", "pm25_24h"),
        HJ633_2026: ("so2_24h", "no2_24h", "pm10_24h", "co_24h", "o3_8h", "pm25_24h"),
    }
)

#: IAQI values of the breakpoint rows.
IAQI_LEVELS: Final = (0, 50, 100, 150, 200, 300, 400, 500)
IAQI_MAX: Final = 500

# Special rules, reported in SubIndex.special_rule.
SO2_1H_ABOVE_800_USE_24H: Final = "so2_1h_above_800_use_24h"  # 2012: no 1h sub-index
SO2_1H_ABOVE_800_IAQI_200: Final = "so2_1h_above_800_iaqi_200"  # 2026
O3_8H_ABOVE_800_USE_1H: Final = "o3_8h_above_800_use_1h"  # 2012: no 8h sub-index
O3_8H_ABOVE_800_IAQI_300: Final = "o3_8h_above_800_iaqi_300"  # 2026


@dataclass(frozen=True)
class BreakpointTable:
    """One version's IAQI breakpoints.

    ``columns[indicator][i]`` is the concentration at IAQI ``IAQI_LEVELS[i]`` (µg/m³, CO
    mg/m³). Columns that stop early (SO2 1h at IAQI 200, O3 8h at IAQI 300) are shorter.
    """

    version: str
    columns: Mapping[str, tuple[float, ...]]


def _table(version: str, columns: dict[str, tuple[float, ...]]) -> BreakpointTable:
    return BreakpointTable(version=version, columns=MappingProxyType(columns))


_COMMON_COLUMNS: dict[str, tuple[float, ...]] = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
}
_PM10_2026 = (0, 50, 120, 250, 350, 420, 500, 600)
_PM25_2026 = (0, 35, 60, 115, 150, 250, 350, 500)

#: Breakpoint tables by version.
TABLES: Final[Mapping[str, BreakpointTable]] = MappingProxyType(
    {
        HJ633_2012: _table(
            HJ633_2012,
            {
                **_COMMON_COLUMNS,
                "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
                "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
            },
        ),
        HJ633_2026: _table(
            HJ633_2026,
            {
                **_COMMON_COLUMNS,
                "pm10_24h": _PM10_2026,
                "pm25_24h": _PM25_2026,
                # 2026: PM 1h values are scored with the PM daily columns.
                "pm10_1h": _PM10_2026,
                "pm25_1h": _PM25_2026,
            },
        ),
    }
)


@dataclass(frozen=True)
class SubIndex:
    """The individual air quality index (IAQI) of one indicator.

    ``concentration`` is the value given (µg/m³, CO mg/m³); ``concentration_used`` is the
    value scored (after GB/T 8170 rounding under HJ 633-2026). ``iaqi`` is None only when a
    2012 special rule says this indicator yields no sub-index (``special_rule`` says which).
    """

    indicator: str
    pollutant: str
    period: str
    concentration: float
    concentration_used: float
    iaqi: int | None
    out_of_range: bool = False
    special_rule: str | None = None


@dataclass(frozen=True)
class Category:
    """An AQI category (HJ 633 Table 2, unchanged in 2026)."""

    level: int  # 1..6
    level_zh: str  # 一级..六级
    name_zh: str
    name_en: str
    colour_zh: str
    colour_en: str
    colour_hex: str
    rgb: tuple[int, int, int]
    aqi_min: int
    aqi_max: int | None  # None: open-ended (> 300)
    advice_zh: str
    advice_en: str


CATEGORIES: Final[tuple[Category, ...]] = (
    Category(1, "一级", "优", "Excellent", "绿色", "green", "#00E400", (0, 228, 0), 0, 50,
             "各类人群可正常活动", "Normal activity for everyone"),
    Category(2, "二级", "良", "Good", "黄色", "yellow", "#FFFF00", (255, 255, 0), 51, 100,
             "极少数异常敏感人群应减少户外活动",
             "Unusually sensitive people should reduce time outdoors"),
    Category(3, "三级", "轻度污染", "Lightly polluted", "橙色", "orange", "#FF7E00",
             (255, 126, 0), 101, 150,
             "敏感人群应减少长时间、高强度的户外锻炼",
             "Sensitive groups should cut long or heavy outdoor exercise"),
    Category(4, "四级", "中度污染", "Moderately polluted", "红色", "red", "#FF0000",
             (255, 0, 0), 151, 200,
             "敏感人群避免长时间、高强度的户外锻炼，一般人群适量减少户外运动",
             "Sensitive groups avoid long or heavy outdoor exercise; others cut back"),
    Category(5, "五级", "重度污染", "Heavily polluted", "紫色", "purple", "#99004C",
             (153, 0, 76), 201, 300,
             "敏感人群应停留在室内，停止户外运动，一般人群减少户外运动",
             "Sensitive groups stay indoors; others reduce outdoor activity"),
    Category(6, "六级", "严重污染", "Severely polluted", "褐红色", "maroon", "#7E0023",
             (126, 0, 35), 301, None,
             "儿童、老年人和病人应留在室内，一般人群应避免户外活动",
             "Everyone should avoid outdoor activity; vulnerable people stay indoors"),
)  # fmt: skip


@dataclass(frozen=True)
class AQIResult:
    """The AQI of one set of indicators.

    ``aqi`` is None when no indicator had a value. ``primary_pollutants`` holds pollutant
    codes (``pm25``, ``o3``, …) in `POLLUTANTS` order and is empty when AQI ≤ 50;
    ``primary_indicators`` holds the indicator keys that reached the AQI.
    ``non_attainment_pollutants`` (IAQI > 100) is reported under HJ 633-2012 only.
    ``out_of_range`` is True when any sub-index was capped at 500.
    """

    version: str
    aqi: int | None
    category: Category | None
    primary_pollutants: tuple[str, ...]
    primary_indicators: tuple[str, ...]
    non_attainment_pollutants: tuple[str, ...]
    out_of_range: bool
    sub_indices: Mapping[str, SubIndex] = field(default_factory=dict)


def version_for(day: date) -> str:
    """The HJ 633 version in force on a local calendar day (2026 from 2026-03-01)."""
    if isinstance(day, datetime):
        # A datetime invites UTC/local mix-ups; the caller must pass the local date.
        raise TypeError("version_for takes the local calendar date, not a datetime")
    return HJ633_2026 if day >= HJ633_2026_START else HJ633_2012


def _check_version(version: str) -> BreakpointTable:
    try:
        return TABLES[version]
    except KeyError:
        raise ValueError(f"unknown AQI version {version!r}; expected one of {VERSIONS}") from None


def _split_indicator(indicator: str) -> tuple[str, str]:
    pollutant, _, period = indicator.partition("_")
    return pollutant, period


def round_input(pollutant: str, concentration: float) -> float:
    """Round a concentration per GB/T 8170 as HJ 633-2026 requires.

    Integer µg/m³ for SO2, NO2, PM10, PM2.5, O3; 0.1 mg/m³ for CO. GB/T 8170 rounds a
    trailing 5 to the even neighbour; the decimal value (``repr``) of the float is rounded,
    so 0.25 mg/m³ → 0.2 and 0.35 → 0.4.
    """
    quantum = Decimal("0.1") if pollutant == "co" else Decimal("1")
    return float(Decimal(repr(float(concentration))).quantize(quantum, ROUND_HALF_EVEN))


def iaqi(pollutant: str, concentration: float, period: str, version: str) -> SubIndex:
    """The IAQI of one concentration.

    Args:
        pollutant: ``so2``, ``no2``, ``pm10``, ``co``, ``o3`` or ``pm25``.
        concentration: µg/m³, or mg/m³ for CO; must be finite and ≥ 0.
        period: averaging period, ``24h``, ``1h`` or ``8h`` (``o3_8h`` only).
        version: ``HJ633-2012`` or ``HJ633-2026``.

    Raises:
        ValueError: unknown version or indicator (e.g. ``pm25_1h`` under 2012), or a
            negative or non-finite concentration.
    """
    table = _check_version(version)
    indicator = f"{pollutant}_{period}"
    breakpoints = table.columns.get(indicator)
    if breakpoints is None:
        raise ValueError(
            f"{indicator!r} is not an indicator of {version}; expected one of "
            f"{sorted(table.columns)}"
        )
    value = float(concentration)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{indicator} concentration must be finite and >= 0, got {value}")
    used = round_input(pollutant, value) if version == HJ633_2026 else value

    def sub(score: int | None, *, out_of_range: bool = False, rule: str | None = None) -> SubIndex:
        return SubIndex(indicator, pollutant, period, value, used, score, out_of_range, rule)

    top = breakpoints[-1]
    if used > top:
        if indicator == "so2_1h":
            if version == HJ633_2012:
                return sub(None, rule=SO2_1H_ABOVE_800_USE_24H)
            return sub(200, rule=SO2_1H_ABOVE_800_IAQI_200)
        if indicator == "o3_8h":
            if version == HJ633_2012:
                return sub(None, rule=O3_8H_ABOVE_800_USE_1H)
            return sub(300, rule=O3_8H_ABOVE_800_IAQI_300)
        return sub(IAQI_MAX, out_of_range=True)

    # Exact rational arithmetic on the decimal value: ceil of 100.0000000001 would be 101.
    exact = Fraction(Decimal(repr(used)))
    for i in range(1, len(breakpoints)):
        bp_lo, bp_hi = Fraction(breakpoints[i - 1]), Fraction(breakpoints[i])
        if exact <= bp_hi:
            i_lo, i_hi = IAQI_LEVELS[i - 1], IAQI_LEVELS[i]
            score = (i_hi - i_lo) / (bp_hi - bp_lo) * (exact - bp_lo) + i_lo
            return sub(math.ceil(score))
    raise AssertionError("unreachable: value within the top breakpoint")  # pragma: no cover


def category_for(aqi_value: int) -> Category:
    """The category (level, names, colour, advice) of an AQI value (0..500)."""
    if aqi_value < 0:
        raise ValueError(f"AQI must be >= 0, got {aqi_value}")
    for category in CATEGORIES:
        if category.aqi_max is None or aqi_value <= category.aqi_max:
            return category
    raise AssertionError("unreachable")  # pragma: no cover


def _is_missing(value: float | None) -> bool:
    """None, NaN or pandas NA (as frames and forecasts deliver gaps)."""
    return value is None or bool(pd.isna(value))


def aqi(indicators: Mapping[str, float | None], version: str) -> AQIResult:
    """The AQI of a set of indicators (any keys valid for the version).

    ``indicators`` maps indicator keys (``pm25_24h``, ``o3_8h``, …) to concentrations in
    µg/m³ (CO mg/m³). None or NaN values are skipped; if all are missing, ``aqi`` is None.
    Unknown keys raise ValueError. For a daily report use `daily_aqi`, which keeps only
    the version's daily indicators.
    """
    table = _check_version(version)
    sub_indices: dict[str, SubIndex] = {}
    for indicator, value in indicators.items():
        if indicator not in table.columns:
            raise ValueError(
                f"{indicator!r} is not an indicator of {version}; expected one of "
                f"{sorted(table.columns)}"
            )
        if _is_missing(value):
            continue
        assert value is not None
        pollutant, period = _split_indicator(indicator)
        sub_indices[indicator] = iaqi(pollutant, value, period, version)

    scored = {k: s.iaqi for k, s in sub_indices.items() if s.iaqi is not None}
    out_of_range = any(s.out_of_range for s in sub_indices.values())
    if not scored:
        return AQIResult(version, None, None, (), (), (), out_of_range, sub_indices)
    value_max = max(scored.values())
    primary_indicators: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()
    if value_max > 50:
        primary_indicators = tuple(sorted(k for k, v in scored.items() if v == value_max))
        tied = {_split_indicator(k)[0] for k in primary_indicators}
        primary = tuple(p for p in POLLUTANTS if p in tied)
    non_attainment: tuple[str, ...] = ()
    if version == HJ633_2012:
        over = {_split_indicator(k)[0] for k, v in scored.items() if v > 100}
        non_attainment = tuple(p for p in POLLUTANTS if p in over)
    return AQIResult(
        version=version,
        aqi=value_max,
        category=category_for(value_max),
        primary_pollutants=primary,
        primary_indicators=primary_indicators,
        non_attainment_pollutants=non_attainment,
        out_of_range=out_of_range,
        sub_indices=sub_indices,
    )


def daily_aqi(
    indicators: Mapping[str, float | None],
    day: date | None = None,
    version: str | None = None,
) -> AQIResult:
    """The daily AQI of one day's indicators (daily means, O3 daily maxima).

    The version is ``version`` if given, else `version_for(day)`; one of them is required.
    Only the version's daily-report indicators (`DAILY_INDICATORS`) are scored; other
    valid keys (e.g. ``o3_1h`` under 2026, real-time 1h keys) are ignored. Units: µg/m³,
    CO mg/m³. Missing (None/NaN) indicators are skipped.
    """
    if version is None:
        if day is None:
            raise ValueError("daily_aqi needs a day or an explicit version")
        version = version_for(day)
    table = _check_version(version)
    unknown = sorted(k for k in indicators if k not in table.columns)
    if unknown:
        raise ValueError(f"unknown indicators for {version}: {unknown}")
    wanted = DAILY_INDICATORS[version]
    return aqi({k: v for k, v in indicators.items() if k in wanted}, version)


# Data validity (GB 3095-2012 §7 / Table 4 practice; see docs/aqi.md).
MIN_HOURS_24H: Final = 20
MIN_HOURS_O3_1H_MAX: Final = 20
MIN_HOURS_PER_8H_WINDOW: Final = 6
MIN_VALID_8H_WINDOWS: Final = 14
HOURLY_COLUMNS: Final = ("so2", "no2", "pm10", "co", "o3", "pm25")


def _hour_positions(hourly: pd.DataFrame) -> pd.DataFrame:
    """The frame reindexed on hour of day 0..23 (missing hours as NaN rows)."""
    if isinstance(hourly.index, pd.DatetimeIndex):
        index = hourly.index
        if len(set(index.date)) > 1:
            raise ValueError("hourly frame spans more than one calendar day")
        hours = pd.Index(index.hour)
        if hours.has_duplicates:
            raise ValueError("hourly frame has more than one row for an hour of the day")
        frame = hourly.set_axis(hours, axis=0)
        return frame.reindex(range(24))
    if len(hourly) != 24:
        raise ValueError(
            "hourly frame without a DatetimeIndex must have exactly 24 rows (hours 0..23, "
            f"NaN where missing), got {len(hourly)}"
        )
    return hourly.set_axis(pd.RangeIndex(24), axis=0)


def _mean_if_enough(values: pd.Series, minimum: int) -> float | None:
    valid = values.dropna()
    return float(valid.mean()) if len(valid) >= minimum else None


def daily_indicators(hourly: pd.DataFrame, version: str) -> dict[str, float | None]:
    """The daily-report indicators of one local calendar day from hourly means.

    ``hourly`` has columns ``pm25, pm10, so2, no2, co, o3`` (µg/m³; CO mg/m³; a missing
    column counts as all hours missing) and holds the hours of one local day, already
    selected by the caller in the city's zone. Either its index is a DatetimeIndex in
    local time (hours absent from it count as missing), or it has exactly 24 rows in hour
    order 0..23. Hour labels mark the start of the hour (hour 0 = 00:00–01:00).

    Returns the keys of `DAILY_INDICATORS[version]`, each a float or None when data are
    insufficient:

    - 24h means: at least 20 valid hours (GB 3095-2012).
    - O3 max 8h: 8h means over windows wholly inside the day (hours 0–7 … 16–23, 17
      windows, as HJ 663's 8:00–24:00 window ends); a window needs at least 6 valid hours
      and the day at least 14 valid windows.
    - O3 max 1h (2012 only): at least 20 valid hours (our choice, matching the 24h rule).
    """
    _check_version(version)
    frame = _hour_positions(hourly)

    def column(name: str) -> pd.Series:
        if name not in frame.columns:
            return pd.Series(np.nan, index=frame.index, dtype="float64")
        return pd.to_numeric(frame[name], errors="raise").astype("float64")

    result: dict[str, float | None] = {}
    for pollutant in ("so2", "no2", "pm10", "co", "pm25"):
        result[f"{pollutant}_24h"] = _mean_if_enough(column(pollutant), MIN_HOURS_24H)

    o3 = column("o3")
    if version == HJ633_2012:
        valid = o3.dropna()
        result["o3_1h"] = float(valid.max()) if len(valid) >= MIN_HOURS_O3_1H_MAX else None
    # rolling(8) labels each window by its last hour: windows ending at hours 7..23.
    window_means = o3.rolling(8, min_periods=MIN_HOURS_PER_8H_WINDOW).mean().iloc[7:]
    valid_windows = window_means.dropna()
    result["o3_8h"] = (
        float(valid_windows.max()) if len(valid_windows) >= MIN_VALID_8H_WINDOWS else None
    )
    return {k: result[k] for k in DAILY_INDICATORS[version]}


def concentration_for_iaqi(indicator: str, iaqi_value: float, version: str) -> float:
    """The concentration at which an indicator's IAQI equals ``iaqi_value`` (inverse).

    Because IAQI is rounded up, this is also the highest concentration whose IAQI is at
    most ``iaqi_value`` (for integer values). Units µg/m³, CO mg/m³.
    """
    table = _check_version(version)
    breakpoints = table.columns.get(indicator)
    if breakpoints is None:
        raise ValueError(f"{indicator!r} is not an indicator of {version}")
    top_iaqi = IAQI_LEVELS[len(breakpoints) - 1]
    if not 0 <= iaqi_value <= top_iaqi:
        raise ValueError(f"IAQI for {indicator} must be within 0..{top_iaqi}, got {iaqi_value}")
    for i in range(1, len(breakpoints)):
        i_lo, i_hi = IAQI_LEVELS[i - 1], IAQI_LEVELS[i]
        if iaqi_value <= i_hi:
            bp_lo, bp_hi = breakpoints[i - 1], breakpoints[i]
            return float(bp_lo + (bp_hi - bp_lo) * (iaqi_value - i_lo) / (i_hi - i_lo))
    raise AssertionError("unreachable")  # pragma: no cover


def pm25_for_aqi(aqi_value: float, version: str) -> float:
    """The PM2.5 24h mean (µg/m³) at which its IAQI equals ``aqi_value`` (0..500).

    For drawing thresholds on PM2.5 plots: e.g. 150 µg/m³ at AQI 200 in both versions,
    75 (2012) or 60 (2026) µg/m³ at AQI 100.
    """
    return concentration_for_iaqi("pm25_24h", aqi_value, version)
