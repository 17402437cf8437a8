"""`extends:`: a plan gives only its overrides of a province template; merged, then validated."""

from __future__ import annotations

import copy
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from contingency_plans.actions import actions_for
from contingency_plans.loader import (
    PLANS_DIR,
    TEMPLATES_DIR,
    PlanError,
    canonical_json,
    load_plan,
    parse_plan_text,
    plan_version,
    validate_files,
)
from contingency_plans.schema import Plan

CANGZHOU = PLANS_DIR / "130900-cangzhou.yaml"


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    """A plan folder with the shipped `national` template and a small test template."""
    folder = tmp_path / "plans"
    templates = folder / "templates"
    templates.mkdir(parents=True)
    shutil.copy(TEMPLATES_DIR / "national.yaml", templates / "national.yaml")
    (templates / "testprov.yaml").write_text(
        _dump(
            {
                "extends": "national",
                "city": {"province_zh": "测试省", "province_en": "Testprov"},
                "lead_time_hours": 30,
                "notes+": ["province note"],
                "levels": {
                    "yellow": {"emission_cut_pct": 12},
                    "orange": {
                        "measures+": [
                            {
                                "id": "province-extra",
                                "sector": "other",
                                "text_zh": "${city_zh}的额外措施",
                                "text_en": "An extra measure for ${city_en}",
                                "department": {"zh": "${city_zh}政府", "en": "${city_en} Gov"},
                                "quantity": {"extra": "yes"},
                            }
                        ]
                    },
                },
            }
        ),
        encoding="utf-8",
    )
    return folder


def _city(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "extends": "testprov",
        "city": {"code": "130900", "name_zh": "沧州市", "name_en": "Cangzhou"},
        "regions": ["jjj-2+26"],
        "notes+": ["city note"],
    }
    data.update(overrides)
    return data


def _write(folder: Path, data: dict[str, Any], name: str = "130900-test.yaml") -> Path:
    path = folder / name
    path.write_text(_dump(data), encoding="utf-8")
    return path


def _problems(path: Path) -> list[tuple[str, str, str]]:
    return [(Path(p.file).name, p.path, p.message) for p in validate_files([path])]


# --- merging -------------------------------------------------------------------------------


def test_chain_merges_mappings_deeply_and_appends_with_plus(plans: Path) -> None:
    plan = load_plan(_write(plans, _city()))
    national = yaml.safe_load((TEMPLATES_DIR / "national.yaml").read_text(encoding="utf-8"))
    # Mappings merge: the city's code and names, the province's names, national's zone.
    assert (plan.city.code, plan.city.province_en, plan.city.timezone) == (
        "130900",
        "Testprov",
        "Asia/Shanghai",
    )
    # A scalar replaces; a sibling key of the same mapping is inherited.
    assert plan.lead_time_hours == 30
    assert plan.levels.yellow.emission_cut_pct == 12
    assert len(plan.levels.yellow.measures) == len(national["levels"]["yellow"]["measures"])
    # `+` appends at each step of the chain, in order: national, province, city.
    assert plan.notes == [*national["notes"], "province note", "city note"]
    orange = [m.id for m in plan.levels.orange.measures]
    assert orange == [
        *(m["id"] for m in national["levels"]["orange"]["measures"]),
        "province-extra",
    ]
    # Placeholders become the city's names everywhere, templates included.
    extra = plan.levels.orange.measures[-1]
    assert (extra.text_zh, extra.department.en) == ("沧州市的额外措施", "Cangzhou Gov")
    assert plan.plan.issuer_zh == "沧州市人民政府"
    assert "$" not in canonical_json(plan)


def test_a_list_replaces_the_inherited_list_whole(plans: Path) -> None:
    data = _city(notes=["only this"])
    del data["notes+"]
    data["approval"] = {"duty_officer": ["orange", "red"], "auto": ["yellow"]}
    plan = load_plan(_write(plans, data))
    assert plan.notes == ["only this"]
    assert (plan.approval.auto, plan.approval.duty_officer) == (["yellow"], ["orange", "red"])


def test_null_replaces_like_any_value(plans: Path) -> None:
    plan = load_plan(_write(plans, _city(plan={"effective_date": "2024-03-01"})))
    assert str(plan.plan.effective_date) == "2024-03-01"
    plan = load_plan(_write(plans, _city(probability_cutoffs=None)))
    assert plan.probability_cutoffs is None


def test_same_content_same_version_as_the_full_plan(plans: Path) -> None:
    """The version covers the merged content: writing it out in full changes nothing."""
    extended = load_plan(_write(plans, _city()))
    full = _write(plans, extended.model_dump(mode="json"), "130900-full.yaml")
    assert plan_version(load_plan(full)) == plan_version(extended)
    assert plan_version(full) == plan_version(plans / "130900-test.yaml")


def test_changing_a_template_changes_the_version_of_every_plan_using_it(plans: Path) -> None:
    path = _write(plans, _city())
    before = plan_version(path)
    template = plans / "templates" / "testprov.yaml"
    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    data["lead_time_hours"] = 48
    template.write_text(_dump(data), encoding="utf-8")
    after = load_plan(path)
    assert after.lead_time_hours == 48
    assert plan_version(after) != before


def test_parse_plan_text_finds_the_given_templates(plans: Path) -> None:
    plan = parse_plan_text(_dump(_city()), "city.yaml", templates=plans / "templates")
    assert plan.city.province_en == "Testprov"
    shipped = parse_plan_text(CANGZHOU.read_text(encoding="utf-8"))
    assert plan_version(shipped) == plan_version(CANGZHOU)


# --- refused ---------------------------------------------------------------------------------


def test_unknown_template_is_refused_with_file_path_and_line(plans: Path) -> None:
    path = _write(plans, _city(extends="atlantis"))
    problems = validate_files([path])
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.path, problem.line) == (str(path), "extends", 1)
    assert "unknown template 'atlantis'" in problem.message
    assert "national, testprov" in problem.message


@pytest.mark.parametrize("value", [None, 3, "Has Spaces", "../national"])
def test_malformed_extends_is_refused(plans: Path, value: Any) -> None:
    assert _problems(_write(plans, _city(extends=value))) == [
        (
            "130900-test.yaml",
            "extends",
            f"extends names a template id such as 'hebei', got {value!r}",
        )
    ]


def test_a_template_cycle_is_refused(plans: Path) -> None:
    templates = plans / "templates"
    (templates / "a.yaml").write_text(_dump({"extends": "b", "lead_time_hours": 1}), "utf-8")
    (templates / "b.yaml").write_text(_dump({"extends": "a"}), "utf-8")
    problems = validate_files([_write(plans, _city(extends="a"))])
    assert [(Path(p.file).name, p.path, p.message) for p in problems] == [
        ("b.yaml", "extends", "template cycle: a → b → a")
    ]
    (templates / "c.yaml").write_text(_dump({"extends": "c"}), "utf-8")
    assert _problems(_write(plans, _city(extends="c"))) == [
        ("c.yaml", "extends", "template cycle: c → c")
    ]


def test_a_problem_names_the_file_that_wrote_the_value(plans: Path) -> None:
    """Validated exactly like a full plan; the template's own mistake points at the template."""
    template = plans / "templates" / "testprov.yaml"
    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    data["levels"]["orange"]["measures+"][0]["sector"] = "weather"
    data["levels"]["red"] = {"emission_cut_pct": 5}
    template.write_text(_dump(data), encoding="utf-8")
    city = _city()
    city["city"]["code"] = "13090"
    path = _write(plans, city)
    problems = validate_files([path])
    found = {(Path(p.file).name, p.path): p for p in problems}
    assert ("130900-test.yaml", "city.code") in found  # the plan's own file comes first
    assert problems[0].file == str(path)
    assert found[("130900-test.yaml", "city.code")].line == 3
    orange = [key for key in found if key[1].startswith("levels.orange.measures[")]
    assert orange and orange[0][0] == "testprov.yaml" and orange[0][1].endswith(".sector")
    red = found[("testprov.yaml", "levels.red.emission_cut_pct")]
    assert "must not fall" in red.message
    assert red.line is not None and red.line > 1
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert "testprov.yaml:" in str(caught.value)


def test_key_and_key_plus_together_or_on_a_non_list_are_refused(plans: Path) -> None:
    assert _problems(_write(plans, _city(notes=["a"]))) == [
        ("130900-test.yaml", "notes+", "give either notes (replace) or notes+ (append), not both")
    ]
    assert _problems(_write(plans, _city(**{"plan+": ["x"]}))) == [
        (
            "130900-test.yaml",
            "plan+",
            "plan+ appends to a list, but the inherited plan is not a list",
        )
    ]
    assert _problems(_write(plans, _city(**{"notes+": "one"}))) == [
        ("130900-test.yaml", "notes+", "notes+ appends a list of items")
    ]


def test_unknown_placeholder_is_refused(plans: Path) -> None:
    data = _city(plan={"title_en": "${city} plan"})
    problems = _problems(_write(plans, data))
    assert len(problems) == 1
    assert problems[0][:2] == ("130900-test.yaml", "plan.title_en")
    assert "unknown placeholder" in problems[0][2]
    dollars = load_plan(_write(plans, _city(plan={"title_en": "$$5 plan for ${city_en}"})))
    assert dollars.plan.title_en == "$5 plan for Cangzhou"


def test_a_full_plan_is_untouched_by_the_template_rules(tmp_path: Path) -> None:
    """Without `extends`, nothing merges: `notes+` is an unknown field, `$` stays text."""
    data = yaml.safe_load((PLANS_DIR / "110000-beijing.yaml").read_text(encoding="utf-8"))
    plain = copy.deepcopy(data)
    plain["plan"]["title_en"] = "Costs $5 for ${city_en}"
    path = tmp_path / "plain.yaml"
    path.write_text(_dump(plain), encoding="utf-8")
    assert load_plan(path).plan.title_en == "Costs $5 for ${city_en}"
    data["notes+"] = ["x"]
    path.write_text(_dump(data), encoding="utf-8")
    assert [(p.path, p.message) for p in validate_files([path])] == [
        ("notes+", "unknown field 'notes+'")
    ]


# --- the shipped templates -----------------------------------------------------------------


def test_every_shipped_template_is_used_and_every_province_template_extends_national() -> None:
    ids = sorted(path.stem for path in TEMPLATES_DIR.glob("*.yaml"))
    assert {"national", "hebei", "shanxi", "shandong", "henan", "shaanxi"} <= set(ids)
    assert {"jiangsu", "zhejiang", "anhui"} <= set(ids)
    used: set[str] = set()
    for path in PLANS_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "extends" in data:
            used.add(data["extends"])
    for template in ids:
        data = yaml.safe_load((TEMPLATES_DIR / f"{template}.yaml").read_text(encoding="utf-8"))
        if template != "national":
            assert data["extends"] == "national", template
            assert data["city"]["province_en"].lower() == template
    assert used == set(ids) - {"national"}


def test_province_items_reach_the_city_plans() -> None:
    hebei = load_plan(CANGZHOU)
    assert "plate-rotation" in [m.id for m in hebei.levels.orange.measures]
    assert hebei.levels.orange.measures[-1].department.zh == "沧州市公安局公安交通管理局"
    shanxi = load_plan(PLANS_DIR / "140700-jinzhong.yaml")
    assert shanxi.levels.red.sign_off is not None and shanxi.levels.red.sign_off.en == "Mayor"
    henan = load_plan(PLANS_DIR / "410300-luoyang.yaml")
    assert [f.exemption for f in henan.enterprises.firms].count("strategic_export") == 1
    assert isinstance(henan, Plan) and henan.city.province_en == "Henan"
    # A city's own override beats the template; the rest of the mapping is inherited.
    yangling = load_plan(PLANS_DIR / "610403-yangling.yaml")
    assert yangling.plan.issuer_zh == "杨凌示范区管理委员会"
    assert yangling.plan.title_zh == "杨凌示范区重污染天气应急预案"


def test_actions_for_a_template_based_plan_on_the_city_clock() -> None:
    plan = load_plan(PLANS_DIR / "320500-suzhou.yaml")
    issued = datetime(2025, 1, 8, 21, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    actions = actions_for(plan, "red", issued)
    by_id = {a.measure_id: a for a in actions if a.kind != "enterprise"}
    classes = by_id["schools-classes"]
    assert classes.effective_at.isoformat() == "2025-01-09T00:00:00+08:00"
    assert classes.department_zh == "苏州市教育局"
    # Red replaces orange's outdoor stop; cumulative otherwise.
    assert "schools-outdoor" not in by_id and "green-travel" in by_id
    firms = [a for a in actions if a.kind == "enterprise"]
    assert firms and all(a.enterprise is not None and a.enterprise.example for a in firms)
    assert all("苏州市" in a.enterprise.name_zh for a in firms if a.enterprise is not None)


def test_a_broken_template_is_reported_once_for_all_its_plans(plans: Path) -> None:
    template = plans / "templates" / "testprov.yaml"
    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    data["lead_time_hours"] = -1
    template.write_text(_dump(data), encoding="utf-8")
    first = _write(plans, _city())
    second = _write(
        plans, _city(city={"code": "131100", "name_zh": "衡水市", "name_en": "Hengshui"}), "b.yaml"
    )
    problems = validate_files([first, second])
    assert [(Path(p.file).name, p.path) for p in problems] == [("testprov.yaml", "lead_time_hours")]
