"""A proposal waiting past its approve-by time reads `late: true` (it read false before)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient

from app.auth.service import Role, create_key
from app.cities.service import sync_registry
from app.database import session_scope
from app.forecast_runs.service import store_scenario_run
from app.plans.service import load_plan_files
from app.warnings.evaluation import evaluate_run
from app.warnings.models import CityWarning
from contingency_plans.loader import PLANS_DIR

BEIJING = "110000"


def test_a_proposal_past_its_approve_by_time_is_late(client: TestClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first: date = (now + timedelta(hours=8) + timedelta(days=1)).date()  # Beijing's tomorrow
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], now)
        run_id = store_scenario_run(
            session, now, {BEIJING: {first + timedelta(days=d): 420.0 for d in range(4)}}
        )
        evaluate_run(session, run_id, now)
        proposal = session.query(CityWarning).filter(CityWarning.state == "proposed").one()
        proposal.issue_by = now + timedelta(hours=2)
        proposal_id = proposal.id
        key = create_key(session, name="duty", role=Role.DUTY_OFFICER, now=now).key
    headers = {"Authorization": f"Bearer {key}"}

    waiting = client.get("/v1/proposals", headers=headers).json()["items"]
    assert [(p["id"], p["late"]) for p in waiting] == [(str(proposal_id), False)]

    with session_scope() as session:
        row = session.get(CityWarning, proposal_id)
        assert row is not None
        row.issue_by = now - timedelta(hours=12)  # waited 12 h past approve-by
    late = client.get("/v1/proposals", headers=headers).json()["items"]
    assert [(p["id"], p["late"]) for p in late] == [(str(proposal_id), True)]
    assert client.get(f"/v1/warnings/{proposal_id}", headers=headers).json()["late"] is True

    # Approved now, it is issued late and stays late.
    approved = client.post(f"/v1/proposals/{proposal_id}/approve", headers=headers, json={})
    assert approved.status_code == 200, approved.text
    assert approved.json()["late"] is True
