"""`hazewarn warnings ...`: evaluate a run, list, show, approve, reject, lift."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.warnings.models import CityWarning, WarningEvent

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_evaluate_list_show_approve_and_lift(session: Session, hw: Any) -> None:
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    session.commit()

    evaluated = runner.invoke(cli, ["warnings", "evaluate", "--run", str(run_id)], env=WIDE)
    assert evaluated.exit_code == 0, evaluated.output
    assert "proposed" in evaluated.output
    warning = session.scalars(select(CityWarning)).one()
    again = runner.invoke(cli, ["warnings", "evaluate", "--run", str(run_id)], env=WIDE)
    assert again.exit_code == 0 and "already decided" in again.output

    listed = runner.invoke(cli, ["warnings", "list"], env=WIDE)
    assert listed.exit_code == 0 and re.search(rf"{warning.id}\s.*orange.*proposed", listed.output)

    approved = runner.invoke(
        cli, ["warnings", "approve", str(warning.id), "--level", "red", "--by", "Li Wei"], env=WIDE
    )
    assert approved.exit_code == 0, approved.output
    assert "now red (issued)" in approved.output

    shown = runner.invoke(cli, ["warnings", "show", str(warning.id)], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "CAP Alert" in shown.output and "Li Wei" in shown.output
    assert "classes" in shown.output.lower()  # red suspends classes in Beijing's plan

    refused = runner.invoke(cli, ["warnings", "reject", str(warning.id), "--reason", "x"])
    assert refused.exit_code == 2 and "nothing waiting" in refused.output
    empty = runner.invoke(cli, ["warnings", "lift", str(warning.id), "--reason", " "])
    assert empty.exit_code == 2 and "--reason" in empty.output
    lifted = runner.invoke(
        cli, ["warnings", "lift", str(warning.id), "--reason", "clean", "--by", "Li Wei"]
    )
    assert lifted.exit_code == 0, lifted.output
    session.expire_all()
    kinds = [e.kind for e in session.scalars(select(WarningEvent).order_by(WarningEvent.id))]
    assert kinds == ["proposed", "issued", "lifted"]
    assert runner.invoke(cli, ["warnings", "show", "999999"]).exit_code == 2
    assert runner.invoke(cli, ["warnings", "evaluate", "--run", "999999"]).exit_code == 2
