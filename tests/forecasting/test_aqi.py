"""HJ 633-2012 / HJ 633-2026 AQI.

Expected values are written out here from ../shared/domain/standards.md §1, independently
of the module's own tables.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecasting.aqi import (
    HJ633_2012,
    HJ633_2026,
    O3_8H_ABOVE_800_IAQI_300,
    O3_8H_ABOVE_800_USE_1H,
    SO2_1H_ABOVE_800_IAQI_200,
    SO2_1H_ABOVE_800_USE_24H,
    aqi,
    category_for,
    daily_aqi,
    daily_indicators,
    iaqi,
    pm25_for_aqi,
    round_input,
    version_for,
)

LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)

# Standards §1.1, one row per column; None where the column stops.
COMMON = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "so2_1h": (0, 150, 500, 650, 800, None, None, None),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "no2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "co_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800, None, None),
}
EXPECTED_TABLES = {
    HJ633_2012: {
        **COMMON,
        "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
        "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
    },
    HJ633_2026: {
        **COMMON,
        "pm10_24h": (0, 50, 120, 250, 350, 420, 500, 600),
        "pm25_24h": (0, 35, 60, 115, 150, 250, 350, 500),
        "pm10_1h": (0, 50, 120, 250, 350, 420, 500, 600),
        "pm25_1h": (0, 35, 60, 115, 150, 250, 350, 500),
    },
}

BREAKPOINT_CASES = [
    pytest.param(version, indicator, concentration, level, id=f"{version}-{indicator}-{level}")
    for version, columns in EXPECTED_TABLES.items()
    for indicator, row in columns.items()
    for concentration, level in zip(row, LEVELS, strict=True)
    if concentration is not None
]


def score(indicator: str, concentration: float, version: str) -> int:
    """The IAQI of a value that no special rule touches."""
    pollutant, period = indicator.split("_")
    value = iaqi(pollutant, concentration, period, version).iaqi
    assert value is not None
    return value


@pytest.mark.parametrize(("version", "indicator", "concentration", "level"), BREAKPOINT_CASES)
def test_iaqi_exactly_at_every_breakpoint(
    version: str, indicator: str, concentration: float, level: int
) -> None:
    sub = iaqi(indicator.split("_")[0], concentration, indicator.split("_")[1], version)
    assert sub.iaqi == level
    assert not sub.out_of_range
    assert sub.special_rule is None


def test_breakpoint_case_count() -> None:
    # 2012: 8 full columns × 8 + SO2 1h 5 + O3 8h 6 = 75; 2026 adds PM 1h: 75 + 16 = 91.
    assert len(BREAKPOINT_CASES) == 75 + 91


@pytest.mark.parametrize(
    ("version", "indicator", "concentration", "expected"),
    [
        # 2012 uses inputs as given: ceil of the interpolation.
        (HJ633_2012, "pm25_24h", 34.9, 50),  # 49.857… → 50
        (HJ633_2012, "pm25_24h", 35.1, 51),  # 50.125 → 51
        (HJ633_2012, "pm25_24h", 74.9, 100),  # 99.875 → 100
        (HJ633_2012, "pm25_24h", 75.01, 101),  # 100.0125 → 101
        (HJ633_2012, "pm25_24h", 100, 132),  # 131.25 → 132
        (HJ633_2012, "pm10_24h", 151, 101),  # 100.5 → 101
        (HJ633_2012, "pm10_24h", 149, 100),  # 99.5 → 100
        (HJ633_2012, "co_24h", 2.01, 51),  # 50.25 → 51
        (HJ633_2012, "o3_8h", 101, 51),  # 50.83 → 51
        (HJ633_2012, "so2_24h", 476, 151),  # 150.15 → 151
        (HJ633_2012, "no2_1h", 1201, 201),
        (HJ633_2012, "o3_1h", 1199, 500),  # 499.5 → 500
        # Exact on the decimal value: naive floats give 56 and 219 here.
        (HJ633_2012, "co_24h", 2.2, 55),
        (HJ633_2012, "co_1h", 65.4, 218),
        # 2026: PM daily columns changed at IAQI 100.
        (HJ633_2026, "pm25_24h", 70, 110),  # 100 + 50/55·10 = 109.09 → 110
        (HJ633_2026, "pm10_24h", 121, 101),  # 100 + 50/130 → 101
        (HJ633_2026, "pm10_24h", 150, 112),  # 111.54 → 112
        (HJ633_2026, "pm25_1h", 61, 101),  # PM 1h use the daily columns
        (HJ633_2026, "pm10_1h", 120, 100),
    ],
)
def test_iaqi_between_breakpoints_rounds_up(
    version: str, indicator: str, concentration: float, expected: int
) -> None:
    assert score(indicator, concentration, version) == expected


@pytest.mark.parametrize(
    ("pollutant", "value", "expected"),
    [
        ("pm25", 75.4, 75.0),
        ("pm25", 75.5, 76.0),  # half to even: 75 is odd → up
        ("pm25", 76.5, 76.0),  # half to even: 76 is even → stays
        ("pm25", 76.51, 77.0),
        ("o3", 0.4, 0.0),
        ("co", 0.25, 0.2),
        ("co", 0.35, 0.4),
        ("co", 1.04, 1.0),
        ("co", 1.05, 1.0),
        ("co", 1.15, 1.2),
        ("co", 1.151, 1.2),
        ("co", 2.0, 2.0),
    ],
)
def test_gbt8170_input_rounding(pollutant: str, value: float, expected: float) -> None:
    assert round_input(pollutant, value) == expected


@pytest.mark.parametrize(
    ("indicator", "concentration", "iaqi_2012", "iaqi_2026"),
    [
        ("pm25_24h", 35.4, 51, 50),  # 2026 rounds to 35 first
        ("pm25_24h", 35.5, 51, 52),  # 2026: 36 → 50 + 50/25 = 52
        ("pm25_24h", 0.4, 1, 0),
        ("co_24h", 2.04, 51, 50),  # 2012: 51.0; 2026: 2.0
        ("co_24h", 2.05, 52, 50),  # 2026: 2.0 (half to even)
        ("co_24h", 2.06, 52, 53),  # 2026: 2.1 → 52.5 → 53
        ("co_24h", 2.15, 54, 55),  # 2026: 2.2 → 55 exactly
        ("o3_8h", 100.4, 51, 50),
    ],
)
def test_2026_rounds_inputs_before_scoring(
    indicator: str, concentration: float, iaqi_2012: int, iaqi_2026: int
) -> None:
    assert score(indicator, concentration, HJ633_2012) == iaqi_2012
    assert score(indicator, concentration, HJ633_2026) == iaqi_2026
    pollutant, period = indicator.split("_")
    sub = iaqi(pollutant, concentration, period, HJ633_2026)
    assert sub.concentration == concentration
    assert sub.concentration_used == round_input(pollutant, concentration)


def test_so2_1h_above_800_2012_gives_no_sub_index() -> None:
    sub = iaqi("so2", 801, "1h", HJ633_2012)
    assert sub.iaqi is None
    assert sub.special_rule == SO2_1H_ABOVE_800_USE_24H
    assert not sub.out_of_range
    # The SO2 24h sub-index stands in: 100 µg/m³ → 75.
    result = aqi({"so2_1h": 900, "so2_24h": 100}, HJ633_2012)
    assert result.aqi == 75
    assert result.primary_indicators == ("so2_24h",)
    assert result.primary_pollutants == ("so2",)


def test_so2_1h_above_800_2026_scores_200() -> None:
    sub = iaqi("so2", 801, "1h", HJ633_2026)
    assert (sub.iaqi, sub.special_rule, sub.out_of_range) == (200, SO2_1H_ABOVE_800_IAQI_200, False)
    assert iaqi("so2", 5000, "1h", HJ633_2026).iaqi == 200
    # 800.4 rounds to 800 first: on the breakpoint, no special rule.
    on_top = iaqi("so2", 800.4, "1h", HJ633_2026)
    assert (on_top.iaqi, on_top.special_rule) == (200, None)
    assert aqi({"so2_1h": 900}, HJ633_2026).aqi == 200


def test_o3_8h_above_800_2012_uses_1h() -> None:
    sub = iaqi("o3", 801, "8h", HJ633_2012)
    assert sub.iaqi is None
    assert sub.special_rule == O3_8H_ABOVE_800_USE_1H
    result = daily_aqi({"o3_8h": 900, "o3_1h": 850}, version=HJ633_2012)
    assert result.aqi == 325  # O3 1h 850: 300 + 100/200·50
    assert result.primary_indicators == ("o3_1h",)
    # Without a 1h value nothing stands in.
    assert aqi({"o3_8h": 900}, HJ633_2012).aqi is None


def test_o3_8h_above_800_2026_scores_300() -> None:
    sub = iaqi("o3", 801, "8h", HJ633_2026)
    assert (sub.iaqi, sub.special_rule, sub.out_of_range) == (300, O3_8H_ABOVE_800_IAQI_300, False)
    result = daily_aqi({"o3_8h": 2000, "pm25_24h": 40}, version=HJ633_2026)
    assert result.aqi == 300
    assert result.primary_pollutants == ("o3",)
    assert not result.out_of_range


@pytest.mark.parametrize(
    ("version", "indicator", "concentration"),
    [
        (HJ633_2012, "pm25_24h", 500.01),
        (HJ633_2012, "pm25_24h", 900),
        (HJ633_2026, "pm25_24h", 501),
        (HJ633_2026, "pm10_24h", 700),
        (HJ633_2012, "co_24h", 60.1),
        (HJ633_2026, "co_1h", 151),
        (HJ633_2012, "o3_1h", 1201),
        (HJ633_2026, "o3_1h", 1300),
        (HJ633_2012, "no2_1h", 4000),
        (HJ633_2026, "so2_24h", 3000),
    ],
)
def test_above_500_is_capped_and_flagged(
    version: str, indicator: str, concentration: float
) -> None:
    pollutant, period = indicator.split("_")
    sub = iaqi(pollutant, concentration, period, version)
    assert sub.iaqi == 500
    assert sub.out_of_range
    result = aqi({indicator: concentration, "no2_24h": 50}, version)
    assert result.aqi == 500
    assert result.out_of_range
    assert result.category is not None and result.category.level == 6


def test_top_breakpoint_itself_is_not_out_of_range() -> None:
    assert not iaqi("pm25", 500, "24h", HJ633_2012).out_of_range
    # 2026: 500.5 rounds (half to even) to 500, still in range.
    sub = iaqi("pm25", 500.5, "24h", HJ633_2026)
    assert (sub.iaqi, sub.out_of_range) == (500, False)
    assert not aqi({"pm25_24h": 100}, HJ633_2012).out_of_range


@pytest.mark.parametrize(
    ("aqi_value", "level", "level_zh", "name_zh", "name_en", "colour_en", "colour_hex"),
    [
        (0, 1, "一级", "优", "Excellent", "green", "#00E400"),
        (1, 1, "一级", "优", "Excellent", "green", "#00E400"),
        (50, 1, "一级", "优", "Excellent", "green", "#00E400"),
        (51, 2, "二级", "良", "Good", "yellow", "#FFFF00"),
        (100, 2, "二级", "良", "Good", "yellow", "#FFFF00"),
        (101, 3, "三级", "轻度污染", "Lightly polluted", "orange", "#FF7E00"),
        (150, 3, "三级", "轻度污染", "Lightly polluted", "orange", "#FF7E00"),
        (151, 4, "四级", "中度污染", "Moderately polluted", "red", "#FF0000"),
        (200, 4, "四级", "中度污染", "Moderately polluted", "red", "#FF0000"),
        (201, 5, "五级", "重度污染", "Heavily polluted", "purple", "#99004C"),
        (300, 5, "五级", "重度污染", "Heavily polluted", "purple", "#99004C"),
        (301, 6, "六级", "严重污染", "Severely polluted", "maroon", "#7E0023"),
        (500, 6, "六级", "严重污染", "Severely polluted", "maroon", "#7E0023"),
    ],
)
def test_categories_at_boundaries(
    aqi_value: int,
    level: int,
    level_zh: str,
    name_zh: str,
    name_en: str,
    colour_en: str,
    colour_hex: str,
) -> None:
    category = category_for(aqi_value)
    assert (category.level, category.level_zh, category.name_zh, category.name_en) == (
        level,
        level_zh,
        name_zh,
        name_en,
    )
    assert (category.colour_en, category.colour_hex) == (colour_en, colour_hex)
    r, g, b = category.rgb
    assert f"#{r:02X}{g:02X}{b:02X}" == colour_hex
    assert category.advice_zh and category.advice_en


def test_category_rejects_negative() -> None:
    with pytest.raises(ValueError):
        category_for(-1)


def test_aqi_is_max_and_category_follows() -> None:
    # 2012: PM2.5 115 → 150, PM10 100 → 75, NO2 40 → 50.
    result = aqi({"pm25_24h": 115, "pm10_24h": 100, "no2_24h": 40}, HJ633_2012)
    assert result.aqi == 150
    assert result.category is not None and result.category.name_en == "Lightly polluted"
    assert result.primary_pollutants == ("pm25",)
    assert result.non_attainment_pollutants == ("pm25",)
    assert {k: s.iaqi for k, s in result.sub_indices.items()} == {
        "pm25_24h": 150,
        "pm10_24h": 75,
        "no2_24h": 50,
    }


def test_no_primary_pollutant_at_or_below_50() -> None:
    result = aqi({"pm25_24h": 35, "pm10_24h": 50, "no2_24h": 10}, HJ633_2012)
    assert result.aqi == 50
    assert result.primary_pollutants == ()
    assert result.primary_indicators == ()
    just_over = aqi({"pm25_24h": 35.1, "pm10_24h": 50}, HJ633_2012)
    assert (just_over.aqi, just_over.primary_pollutants) == (51, ("pm25",))


def test_tied_primary_pollutants_are_all_listed() -> None:
    # PM2.5 115 and PM10 250 both give 150.
    result = aqi({"pm25_24h": 115, "pm10_24h": 250, "so2_24h": 10}, HJ633_2012)
    assert result.aqi == 150
    assert result.primary_pollutants == ("pm25", "pm10")
    assert set(result.primary_indicators) == {"pm25_24h", "pm10_24h"}


def test_tie_within_one_pollutant_lists_it_once() -> None:
    result = daily_aqi({"o3_1h": 200, "o3_8h": 160, "pm25_24h": 10}, version=HJ633_2012)
    assert result.aqi == 100
    assert result.primary_pollutants == ("o3",)
    assert result.primary_indicators == ("o3_1h", "o3_8h")


def test_non_attainment_only_under_2012() -> None:
    indicators = {"pm25_24h": 80, "pm10_24h": 160}
    assert aqi(indicators, HJ633_2012).non_attainment_pollutants == ("pm25", "pm10")
    assert aqi(indicators, HJ633_2026).non_attainment_pollutants == ()


def test_missing_indicators_are_skipped() -> None:
    result = aqi({"pm25_24h": None, "pm10_24h": math.nan, "no2_24h": 80}, HJ633_2026)
    assert result.aqi == 100
    assert set(result.sub_indices) == {"no2_24h"}
    gaps: dict[str, Any] = {"pm25_24h": None, "pm10_24h": float("nan"), "no2_24h": pd.NA}
    empty = aqi(gaps, HJ633_2026)
    assert empty.aqi is None
    assert empty.category is None
    assert empty.primary_pollutants == ()
    assert aqi({}, HJ633_2012).aqi is None


def test_version_switch_date() -> None:
    assert version_for(date(2026, 2, 28)) == HJ633_2012
    assert version_for(date(2026, 3, 1)) == HJ633_2026
    assert version_for(date(2013, 1, 12)) == HJ633_2012
    with pytest.raises(TypeError):
        version_for(datetime(2026, 3, 1, 0, 0))


def test_daily_aqi_chooses_version_by_day() -> None:
    indicators = {"pm25_24h": 70.0}
    before = daily_aqi(indicators, day=date(2026, 2, 28))
    after = daily_aqi(indicators, day=date(2026, 3, 1))
    assert (before.version, before.aqi) == (HJ633_2012, 94)  # 50 + 50/40·35 = 93.75
    assert (after.version, after.aqi) == (HJ633_2026, 110)  # 100 + 50/55·10 = 109.09
    # An explicit version wins over the day.
    assert daily_aqi(indicators, day=date(2026, 3, 1), version=HJ633_2012).aqi == 94


def test_daily_aqi_uses_only_daily_indicators() -> None:
    indicators = {"o3_1h": 400.0, "o3_8h": 100.0, "so2_1h": 650.0, "pm25_24h": 35.0}
    # 2012 daily report includes O3 max 1h (400 → 200) but not SO2 1h.
    assert daily_aqi(indicators, version=HJ633_2012).aqi == 200
    # 2026 daily report has O3 max 8h only.
    result_2026 = daily_aqi(indicators, version=HJ633_2026)
    assert result_2026.aqi == 50
    assert set(result_2026.sub_indices) == {"o3_8h", "pm25_24h"}


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown AQI version"):
        iaqi("pm25", 10, "24h", "HJ633-2099")
    with pytest.raises(ValueError, match="pm25_1h"):
        iaqi("pm25", 10, "1h", HJ633_2012)  # PM 1h is defined only in 2026
    with pytest.raises(ValueError):
        iaqi("pm25", -1, "24h", HJ633_2012)
    with pytest.raises(ValueError):
        iaqi("pm25", math.nan, "24h", HJ633_2012)
    with pytest.raises(ValueError, match=r"pm2\.5"):
        aqi({"pm2.5": 10}, HJ633_2012)
    with pytest.raises(ValueError):
        daily_aqi({"pm25_24h": 10})
    with pytest.raises(ValueError):
        daily_aqi({"pm25_8h": 10}, version=HJ633_2026)


# ---- daily_indicators ------------------------------------------------------------------


def full_day(**values: float) -> pd.DataFrame:
    """24 hourly rows of constant values per column."""
    return pd.DataFrame({name: [value] * 24 for name, value in values.items()})


def test_daily_indicators_keys_per_version() -> None:
    frame = full_day(pm25=10, pm10=20, so2=5, no2=30, co=0.8, o3=60)
    assert set(daily_indicators(frame, HJ633_2012)) == {
        "so2_24h",
        "no2_24h",
        "pm10_24h",
        "co_24h",
        "pm25_24h",
        "o3_1h",
        "o3_8h",
    }
    values = daily_indicators(frame, HJ633_2026)
    assert values == pytest.approx(
        {"so2_24h": 5, "no2_24h": 30, "pm10_24h": 20, "co_24h": 0.8, "pm25_24h": 10, "o3_8h": 60}
    )


def test_24h_mean_needs_20_valid_hours() -> None:
    pm25 = np.arange(24, dtype=float)
    pm25[:4] = np.nan  # 20 valid: hours 4..23
    assert daily_indicators(pd.DataFrame({"pm25": pm25}), HJ633_2026)["pm25_24h"] == (
        pytest.approx(np.mean(np.arange(4, 24)))
    )
    pm25[4] = np.nan  # 19 valid
    assert daily_indicators(pd.DataFrame({"pm25": pm25}), HJ633_2026)["pm25_24h"] is None


def test_missing_column_is_missing() -> None:
    values = daily_indicators(full_day(pm25=10), HJ633_2012)
    assert values["pm25_24h"] == 10
    assert values["so2_24h"] is None and values["o3_8h"] is None and values["o3_1h"] is None


def test_o3_1h_max_needs_20_valid_hours_2012_only() -> None:
    o3 = np.full(24, 50.0)
    o3[12] = 180.0
    o3[:4] = np.nan
    assert daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2012)["o3_1h"] == 180.0
    o3[4] = np.nan
    assert daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2012)["o3_1h"] is None
    assert "o3_1h" not in daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2026)


def test_o3_8h_window_with_6_valid_hours_counts() -> None:
    o3 = np.full(24, 50.0)
    o3[18:] = 200.0
    o3[16:18] = np.nan  # last window (16..23) has 6 valid hours, all 200
    assert daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2026)["o3_8h"] == 200.0


def test_o3_8h_window_with_5_valid_hours_is_dropped() -> None:
    o3 = np.full(24, 50.0)
    o3[19:] = 200.0
    o3[16:19] = np.nan
    # Windows starting at 11..16 have 5 valid hours each and are dropped, so only the
    # 11 windows starting at 0..10 remain: fewer than 14, no daily value.
    assert daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2026)["o3_8h"] is None


@pytest.mark.parametrize(
    ("nan_hours", "valid_windows"),
    [
        ((19, 20, 21), 14),  # windows starting 14, 15, 16 hold all three gaps
        ((18, 19, 20), 13),  # windows starting 13..16
    ],
)
def test_o3_8h_needs_14_valid_windows(nan_hours: tuple[int, ...], valid_windows: int) -> None:
    o3 = np.arange(24, dtype=float) * 10  # rising, so the last valid window is the max
    o3[list(nan_hours)] = np.nan
    result = daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2026)["o3_8h"]
    if valid_windows >= 14:
        # Last valid window starts at hour 13: hours 13..20 minus 19, 20.
        assert result == pytest.approx(np.mean([130, 140, 150, 160, 170, 180]))
    else:
        assert result is None


def test_o3_8h_windows_stay_inside_the_day() -> None:
    # A peak in the first hours: windows start at hour 0, none reach back before midnight.
    o3 = np.full(24, 40.0)
    o3[0] = 400.0
    expected = (400.0 + 7 * 40.0) / 8
    assert daily_indicators(pd.DataFrame({"o3": o3}), HJ633_2012)["o3_8h"] == expected


def test_datetime_index_local_hours_with_gaps() -> None:
    index = pd.date_range("2026-03-01 00:00", periods=24, freq="h", tz="Asia/Shanghai")
    frame = pd.DataFrame({"pm25": np.full(24, 80.0), "o3": np.full(24, 100.0)}, index=index)
    gappy = frame.drop(index[:4])  # 20 hours left
    values = daily_indicators(gappy, HJ633_2026)
    assert values["pm25_24h"] == 80.0
    # Hours 0..3 absent: windows starting 0..1 have < 6 valid hours → 15 valid windows.
    assert values["o3_8h"] == 100.0
    assert daily_indicators(frame.drop(index[:5]), HJ633_2026)["pm25_24h"] is None
    # Out of order rows are placed by their hour.
    shuffled = frame.iloc[::-1]
    assert daily_indicators(shuffled, HJ633_2026) == daily_indicators(frame, HJ633_2026)


def test_daily_indicators_feed_daily_aqi() -> None:
    index = pd.date_range("2026-02-28 00:00", periods=24, freq="h", tz="Asia/Shanghai")
    frame = pd.DataFrame({"pm25": np.full(24, 75.0), "pm10": np.full(24, 50.0)}, index=index)
    day = index[0].date()
    version = version_for(day)
    result = daily_aqi(daily_indicators(frame, version), day=day)
    assert (result.version, result.aqi, result.primary_pollutants) == (HJ633_2012, 100, ("pm25",))


def test_daily_indicators_rejects_bad_frames() -> None:
    index = pd.date_range("2026-03-01 12:00", periods=24, freq="h")
    with pytest.raises(ValueError, match="more than one calendar day"):
        daily_indicators(pd.DataFrame({"pm25": np.ones(24)}, index=index), HJ633_2026)
    duplicated = pd.DatetimeIndex(["2026-03-01 01:00", "2026-03-01 01:00"])
    with pytest.raises(ValueError, match="more than one row"):
        daily_indicators(pd.DataFrame({"pm25": [1.0, 2.0]}, index=duplicated), HJ633_2026)
    with pytest.raises(ValueError, match="exactly 24 rows"):
        daily_indicators(pd.DataFrame({"pm25": np.ones(23)}), HJ633_2026)


# ---- inverse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "aqi_value", "pm25"),
    [
        (HJ633_2012, 0, 0.0),
        (HJ633_2012, 50, 35.0),
        (HJ633_2012, 100, 75.0),
        (HJ633_2026, 100, 60.0),
        (HJ633_2012, 125, 95.0),
        (HJ633_2026, 125, 87.5),
        (HJ633_2026, 200, 150.0),
        (HJ633_2012, 300, 250.0),
        (HJ633_2026, 500, 500.0),
    ],
)
def test_pm25_for_aqi(version: str, aqi_value: int, pm25: float) -> None:
    assert pm25_for_aqi(aqi_value, version) == pytest.approx(pm25)


def test_pm25_for_aqi_round_trips_2012() -> None:
    for aqi_value in range(0, 501, 7):
        concentration = pm25_for_aqi(aqi_value, HJ633_2012)
        assert score("pm25_24h", concentration, HJ633_2012) == aqi_value
        assert score("pm25_24h", concentration + 0.01, HJ633_2012) == aqi_value + 1


def test_pm25_for_aqi_bounds_integer_inputs_2026() -> None:
    # 2026 scores integer µg/m³: floor of the inverse is the highest value within the AQI.
    for aqi_value in range(0, 500, 7):
        highest = math.floor(pm25_for_aqi(aqi_value, HJ633_2026))
        assert score("pm25_24h", highest, HJ633_2026) <= aqi_value
        assert score("pm25_24h", highest + 1, HJ633_2026) > aqi_value


def test_pm25_for_aqi_range() -> None:
    with pytest.raises(ValueError):
        pm25_for_aqi(501, HJ633_2012)
    with pytest.raises(ValueError):
        pm25_for_aqi(-1, HJ633_2026)
