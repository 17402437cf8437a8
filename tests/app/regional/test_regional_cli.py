"""`hazewarn regions ...` and `hazewarn regional ...`: declare, list, show, adjust, extend,
lift, and one-line refusals with exit code 2 (nothing written)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.regional.models import RegionalWarning, RegionalWarningEvent
from app.timestamps import utcnow
from app.warnings.models import CityWarning

from .conftest import JJJ

runner = CliRunner()
WIDE = {"COLUMNS": "220"}


def test_regions_and_regional_commands(db: Session, members: list[str]) -> None:
    listed = runner.invoke(cli, ["regions", "list"], env=WIDE)
    assert listed.exit_code == 0 and JJJ in listed.output and "fenwei" in listed.output
    shown = runner.invoke(cli, ["regions", "show", JJJ], env=WIDE)
    assert shown.exit_code == 0 and "130100 Shijiazhuang" in shown.output
    assert runner.invoke(cli, ["regions", "show", "nowhere"]).exit_code == 2

    start = (utcnow() + timedelta(hours=4)).isoformat(timespec="minutes")
    bad = runner.invoke(
        cli,
        [
            "regional",
            "declare",
            "--region",
            JJJ,
            "--level",
            "purple",
            "--start",
            start,
            "--reason",
            "x",
        ],
    )
    assert bad.exit_code == 2 and "--level" in bad.output
    naive = runner.invoke(
        cli,
        [
            "regional",
            "declare",
            "--region",
            JJJ,
            "--level",
            "orange",
            "--start",
            "2026-12-07T20:00",
            "--reason",
            "x",
        ],
    )
    assert naive.exit_code == 2 and "offset" in naive.output
    assert db.scalar(select(func.count()).select_from(RegionalWarning)) == 0

    declared = runner.invoke(
        cli,
        [
            "regional",
            "declare",
            "--region",
            JJJ,
            "--level",
            "orange",
            "--start",
            start,
            "--members",
            "110000,120000",
            "--reason",
            "MEE letter",
            "--by",
            "MEE",
        ],
        env=WIDE,
    )
    assert declared.exit_code == 0, declared.output
    row = db.scalars(select(RegionalWarning)).one()
    assert (row.status, row.members, row.issued_by) == ("issued", ["110000", "120000"], "MEE")
    assert db.scalar(select(func.count()).select_from(CityWarning)) == 2

    adjusted = runner.invoke(
        cli, ["regional", "adjust", str(row.id), "--level", "red", "--reason", "worse"], env=WIDE
    )
    assert adjusted.exit_code == 0 and "red (issued)" in adjusted.output
    later = (utcnow() + timedelta(days=3)).isoformat(timespec="minutes")
    extended = runner.invoke(
        cli, ["regional", "extend", str(row.id), "--until", later, "--reason", "longer"]
    )
    assert extended.exit_code == 2 and "until lifted" in extended.output  # it has no end
    listed = runner.invoke(cli, ["regional", "list", "--region", JJJ], env=WIDE)
    assert listed.exit_code == 0 and "red" in listed.output
    shown = runner.invoke(cli, ["regional", "show", str(row.id)], env=WIDE)
    assert shown.exit_code == 0 and "pending" in shown.output and "issued by MEE" in shown.output
    lifted = runner.invoke(cli, ["regional", "lift", str(row.id), "--reason", "over"], env=WIDE)
    assert lifted.exit_code == 0 and "(lifted)" in lifted.output
    again = runner.invoke(cli, ["regional", "lift", str(row.id), "--reason", "over"])
    assert again.exit_code == 2 and "lift" in again.output
    kinds = db.scalars(select(RegionalWarningEvent.kind).order_by(RegionalWarningEvent.id)).all()
    assert kinds == ["issued", "updated", "lifted"]
    assert runner.invoke(cli, ["regional", "show", "999"]).exit_code == 2
