"""Degraded forecast runs (a grid lacking weather the model can do without) never lower or
end a warning by itself, and the events say when a change came from one (issue 10)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.forecast_runs.models import ForecastRun
from app.timestamps import utcnow
from app.warnings import evaluation
from app.warnings.models import CityWarning


def _degrade(session: Session, run_id: int) -> None:
    run = session.get_one(ForecastRun, run_id)
    run.degraded = True
    run.inputs = {"grid": {"degraded_variables": ["sp", "tp"]}}
    session.flush()


def test_a_degraded_run_never_withdraws_a_pending_proposal(session: Session, hw: Any) -> None:
    """Issue 10 case: a run from a grid missing weather inputs withdrew a pending proposal
    in the middle of a red-alert episode; a degraded run's withdrawal waits for a duty
    officer, and the next complete run may make it."""
    issued = hw.run_time() - timedelta(hours=12)
    first = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    evaluation.evaluate_run(session, first, utcnow())
    session.commit()
    warning = session.scalars(select(CityWarning).where(CityWarning.city_code == hw.BEIJING)).one()
    assert warning.state == "proposed"
    assert warning.payload["forecast_degraded"] is False

    clean = hw.make_run(session, issued + timedelta(hours=6), {hw.BEIJING: {}})
    _degrade(session, clean)
    result = evaluation.evaluate_run(session, clean, utcnow())
    session.commit()
    (beijing,) = [c for c in result.cities if c.city_code == hw.BEIJING]
    assert beijing.status == "held" and beijing.transitions == []
    assert "degraded run" in beijing.note and "sp, tp" in beijing.note
    assert beijing.note.endswith(": cancelled waits for a duty officer")
    session.refresh(warning)
    assert warning.state == "proposed"

    complete = hw.make_run(session, issued + timedelta(hours=12), {hw.BEIJING: {}})
    result = evaluation.evaluate_run(session, complete, utcnow())
    session.commit()
    (beijing,) = [c for c in result.cities if c.city_code == hw.BEIJING]
    assert beijing.transitions == ["cancelled"]  # the unissued proposal is dropped
    session.refresh(warning)
    assert warning.state == "cancelled"


def test_a_degraded_run_may_raise_a_warning_and_the_event_says_so(
    session: Session, hw: Any
) -> None:
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    _degrade(session, run_id)
    result = evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    (beijing,) = [c for c in result.cities if c.city_code == hw.BEIJING]
    assert beijing.transitions == ["proposed"]
    warning = session.scalars(select(CityWarning).where(CityWarning.city_code == hw.BEIJING)).one()
    assert warning.payload["forecast_degraded"] is True
