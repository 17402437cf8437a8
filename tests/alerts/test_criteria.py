"""Criteria sets at and around every boundary (AQI thresholds and day counts)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from alerts.criteria import (
    CRITERIA_SET_NAMES,
    CriteriaError,
    CriteriaSet,
    DailyAQI,
    criteria_set,
    evaluate,
    load_criteria_set,
)
from alerts.levels import Level

D0 = date(2016, 12, 15)
BLUE, YELLOW, ORANGE, RED = Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED


def path(*aqis: int) -> list[tuple[date, int]]:
    return [(D0 + timedelta(days=i), aqi) for i, aqi in enumerate(aqis)]


# (daily AQI values, expected level) per criteria set. Each row sits at or next to a
# boundary: 200/201, 300/301, 150/151, 499/500, and day counts 1-4, consecutive or broken.
NATIONAL_CASES: list[tuple[tuple[int, ...], Level | None]] = [
    ((200,), None),
    ((201,), BLUE),
    ((200, 200, 200, 200), None),
    ((201, 200), BLUE),
    ((201, 201), YELLOW),
    ((201, 200, 201), BLUE),  # broken: two separate 1-day runs
    ((201, 201, 201), YELLOW),  # 3 days but none > 300
    ((201, 300, 201), YELLOW),  # 300 is not > 300
    ((201, 301, 201), ORANGE),
    ((301, 201), YELLOW),  # > 300 day but only 2 days > 200
    ((201, 301, 200, 201), YELLOW),  # run broken before the third day
    ((201, 301, 301, 201), RED),  # 4 days, 2 consecutive > 300
    ((201, 301, 201, 301), ORANGE),  # 4 days but the > 300 days are not consecutive
    ((301, 301, 201), ORANGE),  # 2 days > 300 but only 3 days
    ((201, 301, 301, 200), ORANGE),
    ((201, 201, 201, 201, 201), YELLOW),  # long but never > 300
    ((499,), BLUE),
    ((500,), RED),  # AQI reaches 500
    ((150, 500, 150), RED),
    ((0, 0), None),
]

MEE_2018_CASES: list[tuple[tuple[int, ...], Level | None]] = [
    ((201,), None),  # no blue in the three-level set
    ((500,), RED),
    ((499,), None),
    ((201, 200), None),
    ((201, 201), YELLOW),  # 48 h
    ((201, 200, 201), None),
    ((201, 201, 201), ORANGE),  # 72 h, no > 300 needed
    ((201, 201, 200, 201), YELLOW),
    ((201, 201, 201, 201), ORANGE),  # 96 h but no 48 h > 300
    ((201, 301, 201, 301), ORANGE),  # > 300 not for 48 h
    ((201, 301, 301, 201), RED),
    ((301, 301, 301), ORANGE),  # 48 h > 300 but only 72 h > 200
    ((300, 300, 300, 300), ORANGE),
]

MEE_2024_CASES: list[tuple[tuple[int, ...], Level | None]] = [
    ((150,), None),
    ((151,), None),
    ((200,), None),
    ((201,), YELLOW),  # > 200 (24 h)
    ((150, 150), None),
    ((151, 150), None),
    ((151, 151), YELLOW),  # > 150 for 48 h
    ((151, 140, 151), None),  # broken
    ((151, 151, 151), ORANGE),  # > 150 for 72 h
    ((151, 151, 150, 151), YELLOW),
    ((201, 200), YELLOW),  # 200 is not > 200; (201,200) is > 150 for 48 h -> yellow anyway
    ((201, 150), YELLOW),
    ((201, 201), ORANGE),  # > 200 for 48 h
    ((201, 150, 201), YELLOW),
    ((201, 201, 201), ORANGE),  # 72 h > 200 but no day > 300
    ((201, 300, 201), ORANGE),
    ((201, 301, 201), RED),  # 72 h > 200 and 24 h > 300
    ((301, 301), ORANGE),  # only 48 h
    ((201, 301, 150, 201), ORANGE),
    ((500,), YELLOW),  # no "reaches 500" clause in 2024
    ((500, 500), ORANGE),
]

BEIJING_2016_CASES: list[tuple[tuple[int, ...], Level | None]] = [
    ((200,), None),
    ((201,), BLUE),
    ((201, 201), YELLOW),
    ((201, 200, 201), BLUE),
    ((201, 301, 201), ORANGE),
    ((201, 300, 201), YELLOW),
    ((201, 301, 301, 201), RED),
    ((201, 301, 201, 301), ORANGE),
    ((499, 150), BLUE),
    ((500, 150), RED),
]


@pytest.mark.parametrize(
    ("name", "aqis", "expected"),
    [("national-2017", a, e) for a, e in NATIONAL_CASES]
    + [("mee-2018", a, e) for a, e in MEE_2018_CASES]
    + [("mee-2024", a, e) for a, e in MEE_2024_CASES]
    + [("beijing-2016", a, e) for a, e in BEIJING_2016_CASES],
)
def test_boundaries(name: str, aqis: tuple[int, ...], expected: Level | None) -> None:
    result = evaluate(path(*aqis), name)
    assert result.level == expected, (name, aqis, result.reason_en)
    assert result.criteria == name
    if expected is None:
        assert result.triggering_days == ()
    else:
        assert result.triggering_days


def test_every_shipped_set_loads_with_its_levels() -> None:
    assert set(CRITERIA_SET_NAMES) == {"national-2017", "mee-2018", "mee-2024", "beijing-2016"}
    assert criteria_set("national-2017").ordered_levels == (BLUE, YELLOW, ORANGE, RED)
    assert criteria_set("beijing-2016").ordered_levels == (BLUE, YELLOW, ORANGE, RED)
    assert criteria_set("mee-2018").ordered_levels == (YELLOW, ORANGE, RED)
    assert criteria_set("mee-2024").ordered_levels == (YELLOW, ORANGE, RED)
    assert criteria_set("mee-2024").floor == 150
    assert criteria_set("national-2017").floor == 200


def test_triggering_days_are_the_span_reaching_the_level() -> None:
    # A blue day, a clean day, then a 4-day red run: the red run triggers.
    result = evaluate(path(250, 100, 210, 320, 330, 220, 90), "national-2017")
    assert result.level == RED
    assert result.triggering_days == tuple(D0 + timedelta(days=i) for i in range(2, 6))
    assert [span.level for span in result.spans] == [BLUE, RED]
    assert result.first_triggering_day == D0 + timedelta(days=2)
    assert result.last_triggering_day == D0 + timedelta(days=5)


def test_earliest_span_wins_among_equal_levels() -> None:
    result = evaluate(path(210, 210, 100, 220, 220), "national-2017")
    assert result.level == YELLOW
    assert result.triggering_days == (D0, D0 + timedelta(days=1))


def test_mee_2024_span_includes_days_above_150() -> None:
    result = evaluate(path(140, 160, 210, 170, 140), "mee-2024")
    assert result.level == ORANGE  # > 150 for 72 h
    assert result.triggering_days == tuple(D0 + timedelta(days=i) for i in (1, 2, 3))


def test_reasons_name_the_rule_and_the_days_in_both_languages() -> None:
    result = evaluate(path(201, 301, 301, 201), "national-2017")
    assert "红色预警" in result.reason_zh
    assert "超过200" in result.reason_zh and "超过300" in result.reason_zh
    assert "2016-12-15/2016-12-18" in result.reason_zh
    assert "Red heavy-pollution warning" in result.reason_en
    assert "> 200 for ≥ 4 consecutive days" in result.reason_en
    assert "2016-12-16/2016-12-17" in result.reason_en  # the two days > 300
    none = evaluate(path(120, 180), "national-2017")
    assert "未达到预警条件" in none.reason_zh and "180" in none.reason_zh
    assert "no warning level met" in none.reason_en


def test_accepts_daily_aqi_entries_and_a_criteria_object() -> None:
    entries = [DailyAQI(D0, 250), DailyAQI(D0 + timedelta(days=1), 260)]
    assert evaluate(entries, criteria_set("mee-2018")).level == YELLOW
    assert evaluate([], "national-2017").level is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([(D0, 250), (D0 + timedelta(days=2), 250)], "consecutive"),
        ([(D0, 501)], "0..500"),
        ([(D0, -1)], "0..500"),
        ([(D0, 250.5)], "integer"),
    ],
)
def test_rejects_bad_paths(bad: list[tuple[date, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(bad, "national-2017")


def test_unknown_set_name() -> None:
    with pytest.raises(CriteriaError, match="unknown criteria set"):
        evaluate(path(250), "national-2099")


def test_invalid_criteria_file_reports_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "odd-set.yaml"
    bad.write_text(
        "name: odd-set\ntitle_zh: x\ntitle_en: x\nsource: x\n"
        "levels:\n  purple:\n    - span: {aqi_above: 200, days: 1}\n"
        "  red:\n    - span: {aqi_above: 200, aqi_at_least: 300, days: 1}\n"
        "    - span: {aqi_above: 200, days: 2}\n      including: {aqi_above: 100, days: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(CriteriaError) as info:
        load_criteria_set(bad)
    text = str(info.value)
    assert "levels.purple" in text
    assert "levels.red.0.span" in text and "exactly one" in text
    assert "levels.red.1" in text and "at least as strict" in text


def test_file_name_must_match_set_name(tmp_path: Path) -> None:
    good = criteria_set("mee-2018").model_dump(mode="json")
    renamed = tmp_path / "other.yaml"
    import yaml

    renamed.write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CriteriaError, match="differs from the file name"):
        load_criteria_set(renamed)
    ok = tmp_path / "mee-2018.yaml"
    ok.write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    assert isinstance(load_criteria_set(ok), CriteriaSet)
    assert load_criteria_set(ok) == criteria_set("mee-2018")
