"""Template-based plans (`extends:`) through `hazewarn plans load`, versions and the API."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cities.service import sync_registry
from app.cli import cli
from app.plans import service
from contingency_plans.loader import PLANS_DIR, TEMPLATES_DIR, plan_files, plan_version

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
# Cangzhou and Hengshui follow the Hebei template; Jinan has a full plan of its own.
FILES = ["130900-cangzhou.yaml", "131100-hengshui.yaml", "370100-jinan.yaml"]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "plans"
    shutil.copytree(TEMPLATES_DIR, folder / "templates")
    for name in FILES:
        shutil.copy(PLANS_DIR / name, folder / name)
    return folder


def _registry(db: Session) -> None:
    sync_registry(db)
    db.commit()


def test_load_every_shipped_plan_then_nothing_changes(db: Session) -> None:
    _registry(db)
    first = runner.invoke(cli, ["plans", "load"], env=WIDE)
    assert first.exit_code == 0, first.output
    assert first.output.count("added") == len(plan_files(PLANS_DIR)) == 67
    again = runner.invoke(cli, ["plans", "load"], env=WIDE)
    assert again.exit_code == 0, again.output
    assert again.output.count("unchanged") == 67 and "added" not in again.output
    db.expire_all()
    row = service.get_current(db, "130900")
    assert row is not None
    assert row.version == plan_version(PLANS_DIR / "130900-cangzhou.yaml")
    # The stored content is the merged plan: no `extends`, names filled in.
    assert "extends" not in row.content
    assert row.content["plan"]["issuer_zh"] == "沧州市人民政府"
    assert row.content["city"]["province_en"] == "Hebei"


def test_a_template_change_is_a_new_version_of_every_plan_using_it(
    db: Session, tmp_path: Path
) -> None:
    _registry(db)
    folder = _folder(tmp_path)
    first = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert first.exit_code == 0, first.output
    before = {code: service.get_current(db, code) for code in ("130900", "131100", "370100")}
    versions = {code: row.version for code, row in before.items() if row is not None}

    template = folder / "templates" / "hebei.yaml"
    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    data["lead_time_hours"] = 36
    template.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    second = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert second.exit_code == 0, second.output
    db.expire_all()
    after = {code: service.get_current(db, code) for code in versions}
    assert all(row is not None for row in after.values())
    assert after["130900"].version != versions["130900"]  # type: ignore[union-attr]
    assert after["131100"].version != versions["131100"]  # type: ignore[union-attr]
    assert after["370100"].version == versions["370100"]  # type: ignore[union-attr]
    assert after["130900"].content["lead_time_hours"] == 36  # type: ignore[union-attr]
    assert len(service.list_versions(db, "130900")) == 2


def test_a_broken_template_refuses_its_plans_and_they_keep_their_version(
    db: Session, tmp_path: Path
) -> None:
    _registry(db)
    folder = _folder(tmp_path)
    assert runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE).exit_code == 0
    good = service.get_current(db, "130900")
    assert good is not None
    good_version = good.version

    template = folder / "templates" / "hebei.yaml"
    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    data["levels"]["orange"]["measures+"][0]["sector"] = "weather"
    template.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert result.exit_code == 2
    assert "refused 130900-cangzhou.yaml, 131100-hengshui.yaml" in result.output
    assert f"{template}:" in result.output  # the problem names the template that has it
    assert ".sector:" in result.output
    db.expire_all()
    current = service.get_current(db, "130900")
    assert current is not None and current.version == good_version


def test_validate_names_template_based_plans_with_their_version() -> None:
    path = PLANS_DIR / "130900-cangzhou.yaml"
    result = runner.invoke(cli, ["plans", "validate", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Cangzhou" in result.output and "mee-2024" in result.output
    assert plan_version(path) in result.output


def test_actions_of_a_template_based_plan(client: TestClient, tmp_path: Path) -> None:
    from app.database import session_scope

    with session_scope() as session:
        sync_registry(session)
    folder = _folder(tmp_path)
    result = runner.invoke(cli, ["plans", "load", str(folder)], env=WIDE)
    assert result.exit_code == 0, result.output
    response = client.get(
        "/v1/plans/130900/actions",
        params={"level": "orange", "issued_at": "2024-01-10T20:00:00+08:00"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["emission_cut_pct"] == 20
    rotation = next(a for a in body["items"] if a["measure_id"] == "plate-rotation")
    assert rotation["effective_at"] == "2024-01-11T00:00:00+08:00"
    assert rotation["department_zh"] == "沧州市公安局公安交通管理局"
    # Cumulative upward: yellow's measures are in force at orange too.
    assert any(a["measure_id"] == "green-travel" for a in body["items"])
    listed = client.get("/v1/plans").json()
    assert {item["city_code"] for item in listed["items"]} == {"130900", "131100", "370100"}
