"""Plan and region files: the shipped ones validate; broken ones are refused with exact paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from contingency_plans.loader import (
    PLANS_DIR,
    REGIONS_DIR,
    PlanError,
    Problem,
    load_plan,
    load_plans,
    load_regions,
    plan_files,
    validate_files,
)
from contingency_plans.schema import CRITERIA_SETS, Plan

REQUIRED_CITIES = {
    "110000": "Beijing",
    "120000": "Tianjin",
    "130100": "Shijiazhuang",
    "130200": "Tangshan",
    "130600": "Baoding",
    "130400": "Handan",
    "131000": "Langfang",
    "140100": "Taiyuan",
    "370100": "Jinan",
    "410100": "Zhengzhou",
    "610100": "Xi'an",
    "310000": "Shanghai",
}
BEIJING = PLANS_DIR / "110000-beijing.yaml"


@pytest.fixture
def beijing() -> dict[str, Any]:
    """The shipped Beijing plan as plain data, to break in each test."""
    return copy.deepcopy(yaml.safe_load(BEIJING.read_text(encoding="utf-8")))


def _write(tmp_path: Path, data: dict[str, Any], name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _problems(tmp_path: Path, data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_files([_write(tmp_path, data)])]


# --- the shipped files ---------------------------------------------------------------------


def test_every_shipped_plan_and_region_validates() -> None:
    files = [*plan_files(PLANS_DIR), *plan_files(REGIONS_DIR)]
    assert len(files) >= 15
    assert validate_files(files) == []


def test_the_twelve_required_cities_have_plans_naming_real_criteria_sets() -> None:
    plans = load_plans(PLANS_DIR)
    assert set(REQUIRED_CITIES) <= set(plans)
    for code, name in REQUIRED_CITIES.items():
        plan = plans[code]
        assert plan.city.name_en == name
        assert plan.criteria_set in CRITERIA_SETS
        assert plan.plan.source_note
        assert plan.notes, f"{code}: unconfirmed items must be listed in notes"
        # Every level the criteria set can issue has measures, and the cuts are 10/20/30+.
        assert set(CRITERIA_SETS[plan.criteria_set]) <= set(plan.levels.defined())
        cuts = [plan.levels.get(lvl).emission_cut_pct for lvl in ("yellow", "orange", "red")]  # type: ignore[union-attr]
        assert cuts[0] is not None and cuts[0] >= 10
        assert cuts[2] is not None and cuts[2] >= 30
        # Example enterprises are marked as such, with names that say so.
        assert plan.enterprises.firms
        for firm in plan.enterprises.firms:
            assert firm.example is True
            assert firm.name_zh.startswith("示例") and firm.name_en.startswith("Example")


def test_plan_regions_exist_and_list_the_city() -> None:
    regions = load_regions(REGIONS_DIR)
    assert set(regions) == {"jjj-2+26", "fenwei", "yrd"}
    assert len(regions["jjj-2+26"].members) == 28
    for code, plan in load_plans(PLANS_DIR).items():
        assert plan.regions, f"{code} belongs to no region"
        for region_id in plan.regions:
            assert regions[region_id].covers(code), f"{region_id} does not list {code}"


# --- refused with the exact path ------------------------------------------------------------


def test_unknown_level_name_is_refused_with_its_path_and_line(
    tmp_path: Path, beijing: dict[str, Any]
) -> None:
    beijing["levels"]["purple"] = copy.deepcopy(beijing["levels"]["red"])
    path = _write(tmp_path, beijing)
    problems = validate_files([path])
    assert [(p.path, p.message) for p in problems] == [
        ("levels.purple", "unknown level name 'purple' (expected one of blue, yellow, orange, red)")
    ]
    line = next(
        number
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if text == "  purple:"
    )
    assert problems[0].line == line
    assert (
        str(problems[0]) == f"{path}:{line}: levels.purple: unknown level name 'purple' "
        "(expected one of blue, yellow, orange, red)"
    )


def test_negative_cut_is_refused(tmp_path: Path, beijing: dict[str, Any]) -> None:
    beijing["levels"]["orange"]["emission_cut_pct"] = -20
    assert _problems(tmp_path, beijing) == [
        ("levels.orange.emission_cut_pct", "Input should be greater than or equal to 0 (got -20)")
    ]


def test_probability_decisions_need_valid_cutoffs(tmp_path: Path, beijing: dict[str, Any]) -> None:
    beijing["decide_from"] = "probability"
    beijing.pop("probability_cutoffs", None)
    assert _problems(tmp_path, beijing) == [
        (
            "probability_cutoffs",
            "decide_from: probability needs probability_cutoffs (AQI 200 and/or 300)",
        )
    ]
    beijing["probability_cutoffs"] = {200: 0.3, 250: 0.3}
    problems = _problems(tmp_path, beijing)
    assert [path for path, _message in problems] == ["probability_cutoffs"]
    assert "no probability for AQI 250" in problems[0][1]
    beijing["probability_cutoffs"] = {200: 1.5}
    assert _problems(tmp_path, beijing) == [
        ("probability_cutoffs", "cut-off for AQI 200 must be in (0, 1]: 1.5")
    ]
    beijing["decide_from"] = "p90"
    beijing["probability_cutoffs"] = {200: 0.4}
    assert _problems(tmp_path, beijing) == [
        (
            "probability_cutoffs",
            "probability_cutoffs apply only with decide_from: probability, not p90",
        )
    ]


def test_measure_without_department_is_refused(tmp_path: Path, beijing: dict[str, Any]) -> None:
    del beijing["levels"]["orange"]["measures"][2]["department"]
    assert _problems(tmp_path, beijing) == [
        ("levels.orange.measures[2].department", "field required")
    ]


def test_every_problem_of_a_file_is_reported_in_one_pass(
    tmp_path: Path, beijing: dict[str, Any]
) -> None:
    beijing["levels"]["purple"] = {}
    beijing["levels"]["orange"]["emission_cut_pct"] = -5
    del beijing["levels"]["orange"]["measures"][2]["department"]
    beijing["levels"]["red"]["measures"][0]["quantity"]["cars_off_pct"] = 140
    beijing["levels"]["red"]["measures"][1]["replaces"] = ["no-such-measure"]
    beijing["levels"]["red"]["measures"][2]["effective"] = "tomorrow"
    beijing["levels"]["red"]["measures"][3]["sector"] = "farming"
    beijing["approval"]["duty_officer"] = ["yellow", "orange"]
    beijing["enterprises"]["firms"][0]["grade"] = "E"
    paths = [path for path, _ in _problems(tmp_path, beijing)]
    assert paths == [
        "approval",
        "levels.orange.emission_cut_pct",
        "levels.orange.measures[2].department",
        "levels.red.measures[0].quantity.cars_off_pct",
        "levels.red.measures[1].replaces[0]",
        "levels.red.measures[2].effective",
        "levels.red.measures[3].sector",
        "levels.purple",
        "enterprises.firms[0].grade",
    ]


def test_cross_field_rules_name_their_paths(tmp_path: Path, beijing: dict[str, Any]) -> None:
    beijing["levels"]["red"]["emission_cut_pct"] = 15  # below orange's 20
    beijing["approval"]["auto"] = ["blue", "yellow"]  # yellow also waits for a duty officer
    beijing["levels"]["yellow"]["measures"][1]["id"] = beijing["levels"]["yellow"]["measures"][0][
        "id"
    ]
    beijing["enterprises"]["grade_measures"].pop("D")
    assert _problems(tmp_path, beijing) == [
        ("approval.duty_officer[0]", "level yellow is already listed in approval.auto"),
        ("levels.yellow.measures[1].id", "duplicate id 'health-advice' (also measures[0])"),
        (
            "levels.red.emission_cut_pct",
            "15 is below orange's 20; the required cut must not fall as the level rises",
        ),
        ("enterprises.firms[3].grade", "grade D has no entry in enterprises.grade_measures"),
    ]


def test_four_level_criteria_need_a_blue_level(tmp_path: Path, beijing: dict[str, Any]) -> None:
    del beijing["levels"]["blue"]
    beijing["approval"]["auto"] = []
    assert ("levels.blue", "criteria set beijing-2016 can issue blue; the plan must define it") in (
        _problems(tmp_path, beijing)
    )


def test_unknown_criteria_set_and_grade_names(tmp_path: Path, beijing: dict[str, Any]) -> None:
    beijing["criteria_set"] = "mee-2030"
    beijing["enterprises"]["grade_measures"]["E"] = {}
    assert _problems(tmp_path, beijing) == [
        (
            "criteria_set",
            "unknown criteria set 'mee-2030' (expected one of national-2017, "
            "mee-2018, mee-2024, beijing-2016)",
        ),
        (
            "enterprises.grade_measures.E",
            "unknown performance grade 'E' (expected one of A, B, C, D, leading, white_list)",
        ),
    ]


def test_unquoted_clock_time_is_explained(tmp_path: Path) -> None:
    text = BEIJING.read_text(encoding="utf-8").replace(
        "next_day_if_before: '22:00'", "next_day_if_before: 22:00"
    )
    path = tmp_path / "clock.yaml"
    path.write_text(text, encoding="utf-8")
    [problem] = validate_files([path])
    assert problem.path.endswith("effective.school_day_rule.next_day_if_before")
    assert "write clock times in quotes" in problem.message and "1320" in problem.message


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("city:\n  code: '110000'\n  name_zh: [unclosed\n", encoding="utf-8")
    problems = validate_files([broken, tmp_path / "absent.yaml"])
    assert problems[0].file == str(broken) and "YAML syntax error" in problems[0].message
    assert problems[0].line is not None
    assert problems[1] == Problem(str(tmp_path / "absent.yaml"), "", "file not found")


def test_two_files_for_one_city(tmp_path: Path, beijing: dict[str, Any]) -> None:
    first = _write(tmp_path, beijing, "a.yaml")
    second = _write(tmp_path, beijing, "b.yaml")
    [problem] = validate_files([first, second])
    assert (problem.file, problem.path) == (str(second), "city.code")
    assert problem.message == f"city 110000 is also defined in {first}"
    with pytest.raises(PlanError):
        load_plans(tmp_path)


def test_load_plan_raises_with_every_problem(tmp_path: Path, beijing: dict[str, Any]) -> None:
    beijing["levels"]["orange"]["emission_cut_pct"] = -1
    beijing["levels"]["red"]["emission_cut_pct"] = 101
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, beijing))
    assert [p.path for p in caught.value.problems] == [
        "levels.orange.emission_cut_pct",
        "levels.red.emission_cut_pct",
    ]


def test_model_validate_alone_also_refuses_rule_violations(beijing: dict[str, Any]) -> None:
    beijing["approval"]["auto"] = []
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(beijing)
    assert "level blue is in neither approval.auto nor approval.duty_officer" in str(caught.value)


def test_region_with_a_duplicate_member(tmp_path: Path) -> None:
    data = yaml.safe_load((REGIONS_DIR / "fenwei.yaml").read_text(encoding="utf-8"))
    data["members"].append(dict(data["members"][0]))
    path = _write(tmp_path, data, "region.yaml")
    assert [(p.path, p.message) for p in validate_files([path])] == [
        ("members[12].code", "duplicate member 140700 (also members[0])")
    ]
