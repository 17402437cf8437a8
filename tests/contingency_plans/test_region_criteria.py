"""Region files: membership, and the regional criteria (`criteria:`) with their defaults and
refusals reported by path and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contingency_plans.loader import REGIONS_DIR, PlanError, load_region, load_regions
from contingency_plans.schema import DEFAULT_MIN_CITIES, RegionalCriteria


def region_data(name: str = "fenwei") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REGIONS_DIR / f"{name}.yaml").read_text("utf-8"))
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "region.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_province_membership() -> None:
    regions = load_regions(REGIONS_DIR)
    assert regions["yrd"].covers("320100")  # Nanjing, a central-area city
    assert not regions["yrd"].covers("320300")  # Xuzhou: Jiangsu, but not in the central area
    assert not regions["yrd"].covers("110000")
    assert not regions["fenwei"].covers("140100")
    assert regions["fenwei"].member_codes[0] == "140700"


def test_every_shipped_region_states_its_criteria() -> None:
    for region_id, region in load_regions().items():
        assert "criteria" in region_data(region_id), f"{region_id} has no criteria: block"
        assert region.criteria == RegionalCriteria(), f"{region_id} differs from the defaults"


def test_load_region_by_id_or_file() -> None:
    assert load_region("jjj-2+26").id == "jjj-2+26"
    assert load_region(REGIONS_DIR / "yrd.yaml").id == "yrd"
    with pytest.raises(KeyError, match="unknown region 'pearl'"):
        load_region("pearl")


def test_criteria_defaults_when_absent(tmp_path: Path) -> None:
    data = region_data()
    del data["criteria"]
    criteria = load_region(write(tmp_path, data)).criteria
    assert criteria.min_cities == DEFAULT_MIN_CITIES == 3 and criteria.min_share is None
    assert (criteria.window_days, criteria.lead_hours) == (3, 24)
    assert criteria.levels == ["yellow", "orange", "red"]
    assert criteria.lifted_by == "regional_issuer"
    assert (criteria.compliance_grace_hours, criteria.approve_within_hours) == (2, 6)


@pytest.mark.parametrize(
    ("min_cities", "min_share", "members", "required"),
    [
        (3, None, 12, 3),
        (None, 0.5, 12, 6),
        (None, 0.3, 12, 4),  # 3.6 rounds up
        (None, 0.25, 12, 3),  # exactly 3
        (5, 0.25, 12, 3),  # both: either suffices
        (2, 0.5, 12, 2),
        (None, 0.01, 12, 1),
    ],
)
def test_required_count(
    min_cities: int | None, min_share: float | None, members: int, required: int
) -> None:
    criteria = RegionalCriteria(min_cities=min_cities, min_share=min_share)
    assert criteria.required_count(members) == required


def test_only_a_share_means_only_the_share(tmp_path: Path) -> None:
    data = region_data()
    data["criteria"] = {"min_share": 0.5}
    criteria = load_region(write(tmp_path, data)).criteria
    assert criteria.min_cities is None and criteria.required_count(12) == 6


@pytest.mark.parametrize(
    ("criteria", "path", "message"),
    [
        ({"min_cities": 0}, "criteria.min_cities", "greater than or equal to 1"),
        ({"min_cities": 13}, "criteria.min_cities", "13 is more than the region's 12 members"),
        ({"min_share": 1.5}, "criteria.min_share", "less than or equal to 1"),
        ({"min_share": 0}, "criteria.min_share", "greater than 0"),
        ({"window_days": 0}, "criteria.window_days", "greater than or equal to 1"),
        ({"lead_hours": -1}, "criteria.lead_hours", "greater than or equal to 0"),
        ({"levels": ["orange", "purple"]}, "criteria.levels[1]", "'purple'"),
        ({"levels": ["orange", "orange"]}, "criteria.levels[1]", "level orange is listed twice"),
        ({"levels": []}, "criteria.levels", "at least 1 item"),
        ({"lifted_by": "members"}, "criteria.lifted_by", "'regional_issuer'"),
        ({"compliance_grace_hours": -2}, "criteria.compliance_grace_hours", "greater than or"),
        ({"approve_within_hours": 0}, "criteria.approve_within_hours", "greater than 0"),
        ({"min_citys": 3}, "criteria.min_citys", "unknown field 'min_citys'"),
    ],
)
def test_bad_criteria_are_refused_with_path_and_line(
    tmp_path: Path, criteria: dict[str, Any], path: str, message: str
) -> None:
    data = region_data()
    data["criteria"] = criteria
    with pytest.raises(PlanError) as caught:
        load_region(write(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.path == path and message in problem.message
    assert problem.line is not None and problem.line > 1
