"""`actions_for`: cumulative measures, timing rules on the city clock, enterprise grades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from contingency_plans.actions import Action, actions_for, measures_in_force
from contingency_plans.loader import PLANS_DIR, load_plan
from contingency_plans.schema import LEVEL_RANK, SECTOR_RANK, Plan, QuantityValue

CST = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def beijing() -> Plan:
    return load_plan(PLANS_DIR / "110000-beijing.yaml")


@pytest.fixture(scope="module")
def taiyuan() -> Plan:
    return load_plan(PLANS_DIR / "140100-taiyuan.yaml")


def _local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2016, 12, day, hour, minute, tzinfo=CST)


def _by_id(actions: list[Action]) -> dict[str, Action]:
    return {action.measure_id: action for action in actions if action.kind != "enterprise"}


# --- class suspension on the city clock -----------------------------------------------------


def test_red_before_22_suspends_classes_from_next_day_midnight(beijing: Plan) -> None:
    actions = _by_id(actions_for(beijing, "red", _local(16, 20)))
    classes = actions["schools-classes"]
    assert classes.effective_at == _local(17, 0)
    assert classes.effective_at.isoformat() == "2016-12-17T00:00:00+08:00"
    assert classes.quantity["classes"] == "suspended"
    assert classes.timing_note_en == "issued before 22:00: no school from tomorrow"
    # Issued after 06:00: school still opens today, without outdoor activity, from the issue.
    same_day = actions["schools-classes:same-day"]
    assert same_day.effective_at == _local(16, 20)
    assert same_day.quantity == {"outdoor_activity": "stop"}


def test_red_after_06_school_opens_without_outdoor_activity(beijing: Plan) -> None:
    actions = _by_id(actions_for(beijing, "red", _local(16, 7, 30)))
    assert actions["schools-classes:same-day"].effective_at == _local(16, 7, 30)
    assert (
        actions["schools-classes:same-day"].text_en
        == "Schools open today; all outdoor activity stops"
    )
    assert actions["schools-classes"].effective_at == _local(17, 0)


def test_red_before_06_means_no_school_that_day(beijing: Plan) -> None:
    actions = _by_id(actions_for(beijing, "red", _local(16, 5, 59)))
    assert actions["schools-classes"].effective_at == _local(16, 5, 59)
    assert "schools-classes:same-day" not in actions
    assert actions["schools-classes"].timing_note_en == "issued before 06:00: no school today"


def test_red_after_22_is_before_06_of_the_next_day(beijing: Plan) -> None:
    actions = _by_id(actions_for(beijing, "red", _local(16, 22, 0)))
    assert actions["schools-classes"].effective_at == _local(17, 0)
    assert "schools-classes:same-day" not in actions


def test_issue_time_is_read_on_the_city_clock(beijing: Plan) -> None:
    # 21:30 UTC is 05:30 the next morning in Beijing: no school that (Beijing) day.
    issued = datetime(2016, 12, 16, 21, 30, tzinfo=UTC)
    actions = actions_for(beijing, "red", issued)
    classes = _by_id(actions)["schools-classes"]
    assert classes.effective_at == _local(17, 5, 30)
    assert all(a.effective_at.utcoffset() == timedelta(hours=8) for a in actions)
    # The same instant given with another offset gives the same actions.
    other = issued.astimezone(timezone(timedelta(hours=-5)))
    assert actions_for(beijing, "red", other) == actions


def test_next_day_and_issue_plus_hours_rules(beijing: Plan, taiyuan: Plan) -> None:
    actions = _by_id(actions_for(beijing, "red", _local(16, 20)))
    assert actions["odd-even"].effective_at == _local(17, 0)
    assert actions["odd-even"].quantity["plate_rule"] == "odd-even"
    assert actions["fireworks"].effective_at == _local(16, 20)  # on_issue
    # Taiyuan: departments are notified within 2 h, so its measures start 2 h after issue.
    ty = _by_id(actions_for(taiyuan, "orange", _local(31, 23)))
    assert ty["fireworks"].effective_at == datetime(2017, 1, 1, 1, 0, tzinfo=CST)
    assert ty["fireworks"].timing == "issue_plus_hours:2"
    assert ty["emission-cut"].effective_at == _local(31, 23)


# --- cumulative measures --------------------------------------------------------------------


def test_measures_are_cumulative_upward_with_overrides(beijing: Plan) -> None:
    yellow = _by_id(actions_for(beijing, "yellow", _local(16, 12)))
    orange = _by_id(actions_for(beijing, "orange", _local(16, 12)))
    red = _by_id(actions_for(beijing, "red", _local(16, 12)))
    # Lower-level measures carry upward, tagged with the level they come from.
    assert orange["fireworks"].level == "yellow"
    assert red["spraying-shotcrete"].level == "blue"
    assert set(yellow) - {"emission-cut"} <= set(orange)
    # A same-id measure replaces the lower one: outdoor activity reduce → stop.
    assert yellow["schools-outdoor"].quantity == {"outdoor_activity": "reduce"}
    assert orange["schools-outdoor"].quantity == {"outdoor_classes": "stop"}
    assert orange["schools-outdoor"].level == "orange"
    # `replaces` drops another id: red's class suspension drops the outdoor-only measure.
    assert "schools-outdoor" not in red
    assert [m.id for _, _, m in measures_in_force(beijing, "red")].count("earthwork") == 1


def test_emission_cut_of_the_level_comes_first(beijing: Plan) -> None:
    for level, cut in [("yellow", 10), ("orange", 20), ("red", 30)]:
        first = actions_for(beijing, level, _local(16, 12))[0]
        assert (first.kind, first.quantity) == ("emission_cut", {"emission_cut_pct": cut})
    blue = actions_for(beijing, "blue", _local(16, 12))
    assert all(action.kind != "emission_cut" for action in blue)


def test_actions_are_ordered_by_time_then_sector(beijing: Plan) -> None:
    actions = actions_for(beijing, "red", _local(16, 20))
    assert [a.order for a in actions] == list(range(1, len(actions) + 1))
    keys = [(a.effective_at, SECTOR_RANK[a.sector]) for a in actions]
    assert keys == sorted(keys)
    assert actions[-1].measure_id == "schools-classes"  # the latest start comes last
    for action in actions:
        assert action.department_zh and action.department_en and action.quantity


# --- enterprises ----------------------------------------------------------------------------


def _firm_quantities(plan: Plan, level: str) -> dict[str, dict[str, QuantityValue]]:
    return {
        a.enterprise.name_en: a.quantity
        for a in actions_for(plan, level, _local(16, 12))
        if a.enterprise is not None
    }


def test_enterprise_grades_take_their_measure_at_each_level(beijing: Plan) -> None:
    firms = {f.grade: f.name_en for f in beijing.enterprises.firms if f.exemption is None}
    # Nothing is mandatory for firms at blue (grades start at yellow), so no firm is named.
    assert _firm_quantities(beijing, "blue") == {}
    yellow = _firm_quantities(beijing, "yellow")
    orange = _firm_quantities(beijing, "orange")
    red = _firm_quantities(beijing, "red")
    assert yellow[firms["A"]] == orange[firms["A"]] == red[firms["A"]] == {"mandatory_cut": "none"}
    assert yellow[firms["B"]] == {"production": "limit", "step": "yellow"}
    assert red[firms["B"]] == {"production": "limit", "step": "red"}
    assert yellow[firms["C"]] == {"production": "limit_large"}
    assert orange[firms["C"]] == red[firms["C"]] == {"production": "stop"}
    assert orange[firms["D"]] == {"production": "stop"}
    # White-listed firms are treated like grade A; essential services run at need.
    assert red[firms["white_list"]] == red[firms["A"]]
    assert yellow["Example firm: Beijing district heating plant"] == {"load": "by_need"}


def test_enterprise_actions_say_which_firm_and_that_it_is_an_example(beijing: Plan) -> None:
    actions = [a for a in actions_for(beijing, "orange", _local(16, 12)) if a.kind == "enterprise"]
    assert actions and all(a.enterprise and a.enterprise.example for a in actions)
    assert all(a.sector == "industry" for a in actions)
    grades = [a.enterprise.grade for a in actions if a.enterprise]
    assert grades == sorted(grades, key=["A", "B", "C", "D", "leading", "white_list"].index)
    assert any(a.level == "yellow" for a in actions)  # grade A keeps its yellow entry


# --- refused inputs --------------------------------------------------------------------------


def test_naive_time_and_undefined_level_are_refused(beijing: Plan) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        actions_for(beijing, "red", datetime(2016, 12, 16, 20))
    shanghai = load_plan(PLANS_DIR / "310000-shanghai.yaml")
    with pytest.raises(ValueError, match="level blue is not defined"):
        actions_for(shanghai, "blue", _local(16, 20))
    with pytest.raises(ValueError, match="unknown level"):
        actions_for(shanghai, "purple", _local(16, 20))


def test_every_shipped_plan_gives_actions_at_every_level() -> None:
    for path in sorted(PLANS_DIR.glob("*.yaml")):
        plan = load_plan(path)
        previous = 0
        for level in plan.levels.defined():
            actions = actions_for(plan, level, _local(16, 20))
            assert actions
            measures = [a for a in actions if a.kind == "measure"]
            # Cumulative: a higher level never has fewer measures in force... unless one
            # measure replaces another, which still keeps at least as many sectors covered.
            assert len({a.sector for a in measures}) >= previous
            previous = len({a.sector for a in measures})
            assert LEVEL_RANK[level] >= max(LEVEL_RANK[a.level] for a in measures)
