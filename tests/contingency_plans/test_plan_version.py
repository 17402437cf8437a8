"""A plan's version is the hash of its validated content: it changes iff the content does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from contingency_plans.loader import PLANS_DIR, canonical_json, load_plan, plan_version
from contingency_plans.schema import Plan, Timing

SHANGHAI = PLANS_DIR / "310000-shanghai.yaml"


@pytest.fixture(scope="module")
def text() -> str:
    return SHANGHAI.read_text(encoding="utf-8")


def test_version_is_12_hex_and_the_same_from_path_text_and_plan(text: str) -> None:
    version = plan_version(SHANGHAI)
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert plan_version(str(SHANGHAI)) == version
    assert plan_version(text) == version
    assert plan_version(load_plan(SHANGHAI)) == version


def test_layout_comments_and_key_order_do_not_change_the_version(text: str) -> None:
    data = yaml.safe_load(text)
    reordered = {key: data[key] for key in reversed(list(data))}
    relaid = "# a comment that changes nothing\n" + yaml.safe_dump(
        reordered, allow_unicode=False, default_flow_style=True, width=60
    )
    assert relaid != text
    assert plan_version(relaid) == plan_version(text)


def test_any_change_of_a_value_changes_the_version(text: str) -> None:
    base = plan_version(text)
    data = yaml.safe_load(text)
    data["levels"]["red"]["measures"][0]["text_en"] += "."
    assert plan_version(yaml.safe_dump(data, allow_unicode=True)) != base
    data = yaml.safe_load(text)
    data["lead_time_hours"] = 48
    assert plan_version(yaml.safe_dump(data, allow_unicode=True)) != base


def test_stored_json_validates_back_to_the_same_version() -> None:
    for path in sorted(PLANS_DIR.glob("*.yaml")):
        plan = load_plan(path)
        again = Plan.model_validate(plan.model_dump(mode="json"))
        assert canonical_json(again) == canonical_json(plan)
        assert plan_version(again) == plan_version(plan)


def test_timing_short_forms_round_trip() -> None:
    for written, kind in [
        ("on_issue", "on_issue"),
        ("next_day_00:00", "next_day"),
        ({"issue_plus_hours": 2}, "issue_plus_hours"),
        ({"school_day_rule": {"next_day_if_before": "22:00"}}, "school_day_rule"),
    ]:
        timing = Timing.model_validate(written)
        assert timing.kind == kind
        assert Timing.model_validate(timing.model_dump()) == timing
    assert Timing.model_validate("next_day_00:00").model_dump() == "next_day_00:00"


def test_file_path_argument_must_exist(tmp_path: Path) -> None:
    # A one-line string that is not a file is read as YAML text, which is not a plan.
    with pytest.raises(ValueError):
        plan_version(str(tmp_path / "absent.yaml"))
