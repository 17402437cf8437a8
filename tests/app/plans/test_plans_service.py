"""Loading plan files as versions: new versions, unchanged reloads, and broken files refused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.plans import service
from app.plans.models import PlanVersion
from contingency_plans.loader import PLANS_DIR, plan_version

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
AddCities = Callable[[list[str]], None]
FILES = ["110000-beijing.yaml", "310000-shanghai.yaml", "610100-xian.yaml"]


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    folder.mkdir()
    for name in FILES:
        shutil.copy(PLANS_DIR / name, folder / name)
    return folder


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _load(db: Session, folder: Path, when: datetime = NOW) -> dict[str, service.FileOutcome]:
    outcomes = service.load_plan_files(db, sorted(folder.glob("*.yaml")), when)
    db.commit()
    return {Path(o.file).name: o for o in outcomes}


def _current_versions(db: Session) -> dict[str, str]:
    return {row.city_code: row.version for row, _city in service.list_current(db)}


def test_load_stores_one_current_version_per_city(
    db: Session, plan_dir: Path, add_cities: AddCities
) -> None:
    add_cities(["110000", "310000", "610100"])
    outcomes = _load(db, plan_dir)
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(FILES, "added")
    assert _current_versions(db) == {
        "110000": plan_version(plan_dir / FILES[0]),
        "310000": plan_version(plan_dir / FILES[1]),
        "610100": plan_version(plan_dir / FILES[2]),
    }
    row = service.get_current(db, "110000")
    assert row is not None and row.loaded_at == NOW and row.source_file == FILES[0]
    assert row.content["criteria_set"] == "beijing-2016"

    again = _load(db, plan_dir)
    assert {o.status for o in again.values()} == {"unchanged"}
    assert len(db.scalars(select(PlanVersion)).all()) == 3


def test_changed_content_adds_a_version_and_reverting_reinstates_the_old(
    db: Session, plan_dir: Path, add_cities: AddCities
) -> None:
    add_cities(["110000", "310000", "610100"])
    _load(db, plan_dir)
    first = _current_versions(db)["110000"]
    original = (plan_dir / FILES[0]).read_text(encoding="utf-8")

    _edit(plan_dir / FILES[0], lambda d: d.update(lead_time_hours=48))
    later = datetime(2026, 11, 26, tzinfo=UTC)
    outcomes = _load(db, plan_dir, later)
    assert outcomes[FILES[0]].status == "added"
    second = _current_versions(db)["110000"]
    assert second != first
    assert [v.version for v in service.list_versions(db, "110000")] == [second, first]
    assert [v.is_current for v in service.list_versions(db, "110000")] == [True, False]

    (plan_dir / FILES[0]).write_text(original, encoding="utf-8")
    outcomes = _load(db, plan_dir)
    assert outcomes[FILES[0]].status == "reinstated"
    assert _current_versions(db)["110000"] == first
    assert len(service.list_versions(db, "110000")) == 2


def test_a_broken_plan_never_replaces_a_good_one(
    db: Session, plan_dir: Path, add_cities: AddCities
) -> None:
    add_cities(["110000", "310000", "610100"])
    _load(db, plan_dir)
    good = _current_versions(db)

    def break_it(data: dict) -> None:  # type: ignore[type-arg]
        data["levels"]["orange"]["emission_cut_pct"] = -20
        data["lead_time_hours"] = 12  # a real change that must not get through either

    _edit(plan_dir / FILES[0], break_it)
    _edit(plan_dir / FILES[1], lambda d: d.update(lead_time_hours=12))  # a good change
    outcomes = _load(db, plan_dir)
    assert outcomes[FILES[0]].status == "refused"
    assert [p.path for p in outcomes[FILES[0]].problems] == ["levels.orange.emission_cut_pct"]
    assert outcomes[FILES[1]].status == "added"
    assert outcomes[FILES[2]].status == "unchanged"
    now = _current_versions(db)
    assert now["110000"] == good["110000"]
    assert now["310000"] != good["310000"]
    assert len(service.list_versions(db, "110000")) == 1


def test_unknown_city_and_duplicate_city_files_are_refused(
    db: Session, plan_dir: Path, add_cities: AddCities
) -> None:
    add_cities(["110000", "310000"])  # no Xi'an row
    shutil.copy(plan_dir / FILES[1], plan_dir / "310000-copy.yaml")
    outcomes = _load(db, plan_dir)
    assert outcomes[FILES[0]].status == "added"
    assert outcomes[FILES[2]].status == "refused"
    assert "not in the cities table" in outcomes[FILES[2]].problems[0].message
    assert outcomes[FILES[1]].status == outcomes["310000-copy.yaml"].status == "refused"
    assert set(_current_versions(db)) == {"110000"}


def test_current_plan_validates_from_stored_content(
    db: Session, plan_dir: Path, add_cities: AddCities
) -> None:
    add_cities(["110000", "310000", "610100"])
    _load(db, plan_dir)
    found = service.current_plan(db, "610100")
    assert found is not None
    plan, row = found
    assert plan.city.name_en == "Xi'an" and plan_version(plan) == row.version
    assert service.current_plan(db, "120000") is None
