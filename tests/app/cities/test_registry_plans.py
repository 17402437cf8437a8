"""Every member of every shipped region is a first-class city: a registry entry and a plan."""

from __future__ import annotations

import pytest
import yaml

from app.cities.registry import CityEntry, load_registry
from contingency_plans.loader import PLANS_DIR, load_plans, load_regions, plan_files
from contingency_plans.schema import Plan, Region


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return load_plans(PLANS_DIR)


@pytest.fixture(scope="module")
def regions() -> dict[str, Region]:
    return load_regions()


@pytest.fixture(scope="module")
def registry() -> dict[str, CityEntry]:
    return {city.code: city for city in load_registry()}


def test_every_region_member_has_a_registry_entry_and_a_plan(
    plans: dict[str, Plan], regions: dict[str, Region], registry: dict[str, CityEntry]
) -> None:
    missing_plan = [
        f"{region_id}: {m.code} {m.name_en}"
        for region_id, region in regions.items()
        for m in region.members
        if m.code not in plans
    ]
    missing_city = [
        f"{region_id}: {m.code} {m.name_en}"
        for region_id, region in regions.items()
        for m in region.members
        if m.code not in registry
    ]
    assert missing_plan == [], "region members without a plan"
    assert missing_city == [], "region members missing from app/cities/registry.yaml"
    assert sum(len(r.members) for r in regions.values()) == 28 + 12 + 27


def test_every_plan_names_a_registry_city_as_the_registry_does(
    plans: dict[str, Plan], registry: dict[str, CityEntry]
) -> None:
    for code, plan in plans.items():
        assert code in registry, f"plan for {code} but no registry city"
        city = registry[code]
        assert (plan.city.name_zh, plan.city.name_en) == (city.name_zh, city.name_en), code
        assert (plan.city.province_zh, plan.city.province_en) == (
            city.province_zh,
            city.province_en,
        ), code
        assert plan.city.timezone == city.timezone, code


def test_plan_regions_are_exactly_the_regions_listing_the_city(
    plans: dict[str, Plan], regions: dict[str, Region]
) -> None:
    for code, plan in plans.items():
        listing = sorted(rid for rid, region in regions.items() if region.covers(code))
        assert sorted(plan.regions) == listing, code


def test_template_based_plans_say_they_follow_their_province_template(
    plans: dict[str, Plan],
) -> None:
    based = 0
    for path in plan_files(PLANS_DIR):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        template = data.get("extends")
        if template is None:
            continue
        based += 1
        plan = plans[str(data["city"]["code"])]
        assert template == plan.city.province_en.lower(), path.name
        said = [
            note
            for note in plan.notes
            if "own plan text is not in our facts" in note and f"templates/{template}.yaml" in note
        ]
        assert said, f"{path.name}: notes must say it follows templates/{template}.yaml"
    # Every member without a plan of its own in our facts: 67 members, 12 full plans.
    assert based == 55
