"""`hazewarn cities sync|list` and the registry sync of `hazewarn db upgrade`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cities.models import City
from app.cities.registry import load_registry
from app.cli import cli
from app.stations.models import Station

runner = CliRunner()


def test_sync_then_list(db: Session) -> None:
    total = len(load_registry())
    first = runner.invoke(cli, ["cities", "sync"])
    assert first.exit_code == 0, first.output
    assert f"{total} added" in first.output
    again = runner.invoke(cli, ["cities", "sync"])
    assert again.exit_code == 0
    assert f"0 added, 0 updated, {total} unchanged" in again.output
    assert db.scalar(select(func.count()).select_from(City)) == total
    # The built-in extra stations come with the registry.
    assert db.get(Station, "US-BJ") is not None

    listed = runner.invoke(cli, ["cities", "list", "--region", "prd"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    assert "440100" in listed.output
    assert "110000" not in listed.output


def test_list_unknown_region_fails_with_one_line(db: Session) -> None:
    result = runner.invoke(cli, ["cities", "list", "--region", "atlantis"])
    assert result.exit_code == 2
    assert "unknown region 'atlantis'" in result.output


def test_db_upgrade_syncs_the_registry(db: Session) -> None:
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert db.scalar(select(func.count()).select_from(City)) == len(load_registry())
    assert db.get(Station, "US-SH") is not None
