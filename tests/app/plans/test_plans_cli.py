"""`hazewarn plans validate` and `hazewarn plans load`."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.plans import service
from contingency_plans.loader import PLANS_DIR, plan_version

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _broken_copy(tmp_path: Path) -> Path:
    data = yaml.safe_load((PLANS_DIR / "110000-beijing.yaml").read_text(encoding="utf-8"))
    data["levels"]["purple"] = {}
    del data["levels"]["orange"]["measures"][2]["department"]
    path = tmp_path / "110000-beijing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_validate_the_shipped_plans() -> None:
    result = runner.invoke(cli, ["plans", "validate"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "110000-beijing.yaml" in result.output
    assert plan_version(PLANS_DIR / "110000-beijing.yaml") in result.output
    assert "jjj-2+26" in result.output


def test_validate_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    broken = _broken_copy(tmp_path)
    result = runner.invoke(
        cli, ["plans", "validate", str(broken), str(PLANS_DIR / "310000-shanghai.yaml")], env=WIDE
    )
    assert result.exit_code == 2
    assert f"{broken}:" in result.output
    assert "levels.orange.measures[2].department: field required" in result.output
    assert "levels.purple: unknown level name 'purple'" in result.output
    assert "2 problem(s) in 1 of 2 file(s)" in result.output


def test_load_refuses_the_broken_file_and_loads_the_rest(
    db: Session, tmp_path: Path, add_cities: Callable[[list[str]], None]
) -> None:
    add_cities(["110000", "310000"])
    folder = tmp_path / "plans"
    folder.mkdir()
    shutil.copy(PLANS_DIR / "110000-beijing.yaml", folder)
    shutil.copy(PLANS_DIR / "310000-shanghai.yaml", folder)
    first = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert first.exit_code == 0, first.output
    assert first.output.count("added") == 2

    _broken_copy(folder)
    second = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert second.exit_code == 2
    assert "refused 110000-beijing.yaml" in second.output
    assert "levels.purple" in second.output
    assert "unchanged" in second.output  # Shanghai still went through
    db.expire_all()
    row = service.get_current(db, "110000")
    assert row is not None and row.version == plan_version(PLANS_DIR / "110000-beijing.yaml")


def test_load_a_missing_folder_fails_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["plans", "load", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
