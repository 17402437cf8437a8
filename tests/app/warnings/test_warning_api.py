"""The warning API: proposals, approve/reject/upgrade/lift with audit and outbox, role and
scope refusals, acknowledgements, public lists and event bodies that match the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.outbox.models import OutboxEvent
from app.plans.service import load_plan_files
from app.timestamps import utcnow
from app.warnings import (
    evaluation,
    queries,
)
from app.warnings.models import WarningEvent

EVENTS_SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "events.schema.json"


def evaluate(session: Session, hw: Any, days: dict[str, Any], drill: bool = False) -> int:
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, days, drill=drill)
    evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    return run_id


def orange_proposal(session: Session, hw: Any) -> str:
    issued = hw.run_time()
    evaluate(session, hw, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    [(warning, _city)] = queries.list_proposals(session)
    return str(warning.id)


def blue_warning(session: Session, hw: Any) -> str:
    issued = hw.run_time()
    evaluate(session, hw, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
    rows, _total = queries.list_warnings(session, queries.WarningFilters(), utcnow(), 10, 0)
    [(warning, _city)] = rows
    return str(warning.id)


def event_of(session: Session, entry: dict[str, Any]) -> dict[str, Any]:
    row = session.get(OutboxEvent, entry["outbox_event_id"])
    assert row is not None
    body: dict[str, Any] = json.loads(row.payload)
    return body


def test_officer_approves_upgrades_and_lifts_with_audit_and_events(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    warning_id = orange_proposal(session, hw)
    duty = hw.auth(keys["duty"])
    listed = client.get("/v1/proposals", headers=duty).json()
    assert [(p["id"], p["state"], p["level"]) for p in listed["items"]] == [
        (warning_id, "proposed", "orange")
    ]
    assert listed["items"][0]["issue_by"] is not None

    approved = client.post(f"/v1/proposals/{warning_id}/approve", headers=duty)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["state"], body["level"], body["cap_msg_type"]) == ("issued", "orange", "Alert")
    assert body["effective_local"].endswith("+08:00") and body["effective"].endswith("Z")
    assert client.get("/v1/proposals", headers=duty).json()["items"] == []

    upgraded = client.post(
        f"/v1/warnings/{warning_id}/upgrade",
        headers=duty,
        json={"level": "red", "reason": "consultation with the met office"},
    )
    assert upgraded.status_code == 200, upgraded.text
    assert (upgraded.json()["state"], upgraded.json()["level"]) == ("upgraded", "red")

    lifted = client.post(
        f"/v1/warnings/{warning_id}/lift", headers=duty, json={"reason": "cold front arrived"}
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["state"] == "lifted" and lifted.json()["cap_msg_type"] == "Cancel"

    detail = client.get(f"/v1/warnings/{warning_id}").json()  # public: it was issued
    history = detail["history"]
    assert [h["kind"] for h in history] == ["proposed", "issued", "upgraded", "lifted"]
    assert [h["actor"] for h in history] == ["system", "duty key", "duty key", "duty key"]
    assert history[1]["before"]["state"] == "proposed" and history[1]["after"]["state"] == "issued"
    assert history[2]["before"]["level"] == "orange" and history[2]["after"]["level"] == "red"
    assert history[2]["reason"] == "consultation with the met office"
    assert history[3]["before"]["state"] == "upgraded" and history[3]["after"]["state"] == "lifted"
    assert all(h["run_id"] and h["plan_version"] for h in history)
    assert all(h["at_local"].endswith("+08:00") for h in history)

    types = [event_of(session, h)["type"] for h in history]
    assert types == ["warning.proposed", "warning.issued", "warning.updated", "warning.lifted"]
    update = event_of(session, history[2])["data"]
    assert (update["change"], update["previous_level"]) == ("raise", "orange")
    assert update["warning"]["level"] == "red" and update["warning"]["actions"]
    # The detail carries every action of the plan at the level, on the city clock.
    assert detail["actions"] and all(
        a["effective_at"].endswith("+08:00") for a in detail["actions"]
    )


def test_every_event_body_matches_the_published_schema(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    warning_id = orange_proposal(session, hw)
    duty = hw.auth(keys["duty"])
    client.post(f"/v1/proposals/{warning_id}/approve", headers=duty, json={"level": "yellow"})
    client.post(
        f"/v1/warnings/{warning_id}/extend",
        headers=duty,
        json={"until": "2099-01-01T00:00:00+08:00", "reason": "forecast longer"},
    )
    client.post(f"/v1/warnings/{warning_id}/ack", headers=hw.auth(keys["beijing"]))
    client.post(f"/v1/warnings/{warning_id}/lift", headers=duty, json={"reason": "clean air"})
    schema = json.loads(EVENTS_SCHEMA.read_text(encoding="utf-8"))
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)).all()
    types = [row.type for row in rows]
    assert sorted(types) == sorted(
        [
            "warning.proposed",
            "warning.issued",
            "warning.updated",
            "warning.acknowledged",
            "warning.lifted",
        ]
    )
    for row in rows:
        jsonschema.validate(json.loads(row.payload), schema)
        assert len(row.payload.encode()) < 20 * 1024


def test_reject_needs_a_reason_and_hides_the_proposal_from_the_public(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    warning_id = orange_proposal(session, hw)
    duty = hw.auth(keys["duty"])
    for body in ({}, {"reason": "   "}):
        refused = client.post(f"/v1/proposals/{warning_id}/reject", headers=duty, json=body)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["body.reason"]
    bad_level = client.post(
        f"/v1/proposals/{warning_id}/approve", headers=duty, json={"level": "purple"}
    )
    assert bad_level.status_code == 422
    assert [e["field"] for e in bad_level.json()["errors"]] == ["body.level"]

    rejected = client.post(
        f"/v1/proposals/{warning_id}/reject", headers=duty, json={"reason": "model overshoots"}
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    entry = session.scalars(select(WarningEvent).where(WarningEvent.kind == "rejected")).one()
    assert entry.reason == "model overshoots" and entry.actor == "duty key"
    assert entry.before["proposed_level"] == "orange" and entry.after["state"] == "rejected"
    # Nothing was announced: the duty officers' systems alone hear of the decision.
    row = session.get(OutboxEvent, entry.outbox_event_id)
    assert row is not None and (row.type, row.audience) == ("warning.updated", "staff")
    assert json.loads(row.payload)["data"]["change"] == "edit"

    assert client.get("/v1/warnings").json()["total"] == 0
    assert client.get(f"/v1/warnings/{warning_id}").status_code == 404
    staff = client.get("/v1/warnings?state=rejected", headers=duty).json()
    assert [w["id"] for w in staff["items"]] == [warning_id]
    again = client.post(
        f"/v1/proposals/{warning_id}/reject", headers=duty, json={"reason": "twice"}
    )
    assert again.status_code == 409


def test_roles_and_scopes_are_enforced_with_problem_bodies(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    warning_id = orange_proposal(session, hw)
    approve = f"/v1/proposals/{warning_id}/approve"
    anonymous = client.post(approve)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    bad_key = client.post(approve, headers=hw.auth("hw_" + "x" * 43))
    assert bad_key.status_code == 401
    for name in ("beijing", "coordinator"):
        refused = client.post(approve, headers=hw.auth(keys[name]))
        assert refused.status_code == 403 and "duty_officer" in refused.json()["detail"]
    assert client.get("/v1/proposals").status_code == 401
    assert client.get("/v1/proposals", headers=hw.auth(keys["beijing"])).status_code == 403
    assert client.get("/v1/warnings/unacknowledged").status_code == 401
    # Unknown warning, wrong state.
    duty = hw.auth(keys["duty"])
    assert client.post("/v1/proposals/999999/approve", headers=duty).status_code == 404
    conflict = client.post(
        f"/v1/warnings/{warning_id}/upgrade", headers=duty, json={"level": "red", "reason": "x"}
    )
    assert conflict.status_code == 409 and conflict.json()["title"] == "Conflict"
    # The admin may act as a duty officer.
    assert client.post(approve, headers=hw.auth(keys["admin"])).status_code == 200


def test_only_the_city_office_of_the_city_acknowledges(
    client: TestClient,
    session: Session,
    keys: dict[str, str],
    hw: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAZEWARN_ACK_GRACE_MINUTES", "0")
    get_settings.cache_clear()
    warning_id = blue_warning(session, hw)
    duty = hw.auth(keys["duty"])
    ack = f"/v1/warnings/{warning_id}/ack"
    overdue = client.get("/v1/warnings/unacknowledged", headers=duty).json()
    assert [w["id"] for w in overdue["items"]] == [warning_id]

    assert client.post(ack).status_code == 401
    assert client.post(ack, headers=duty).status_code == 403
    other = client.post(ack, headers=hw.auth(keys["tianjin"]))
    assert other.status_code == 403 and "120000" in other.json()["detail"]

    done = client.post(ack, headers=hw.auth(keys["beijing"]))
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["recorded"] and body["acknowledged_by"] == "beijing key"
    assert body["acknowledged_at_local"].endswith("+08:00")
    assert client.post(ack, headers=hw.auth(keys["beijing"])).json()["recorded"] is False
    assert client.get("/v1/warnings/unacknowledged", headers=duty).json()["items"] == []

    entry = session.scalars(select(WarningEvent).where(WarningEvent.kind == "acknowledged")).one()
    assert entry.actor == "beijing key" and entry.actor_role == "city_office"
    assert entry.before == {"acknowledged_at": None, "acknowledged_by": None}
    event = event_of(session, {"outbox_event_id": entry.outbox_event_id})
    assert event["type"] == "warning.acknowledged"
    assert event["data"]["warning_id"] == warning_id
    detail = client.get(f"/v1/warnings/{warning_id}").json()
    assert detail["acknowledged_by"] == "beijing key"

    # A new announced change needs a new acknowledgement.
    client.post(
        f"/v1/warnings/{warning_id}/upgrade", headers=duty, json={"level": "yellow", "reason": "x"}
    )
    overdue = client.get("/v1/warnings/unacknowledged", headers=duty).json()
    assert [w["id"] for w in overdue["items"]] == [warning_id]


def test_public_list_filters_and_pages(client: TestClient, session: Session, hw: Any) -> None:
    load_plan_files(session, [hw.plan_file(hw.TIANJIN)], utcnow())
    session.commit()
    issued = hw.run_time()
    evaluate(
        session,
        hw,
        {
            hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,)),  # blue, issued
            hw.TIANJIN: hw.heavy_days(issued, (hw.HEAVY,)),  # blue, issued
            hw.SHIJIAZHUANG: hw.heavy_days(issued, hw.ORANGE_PATH),  # proposal only
        },
    )
    everything = client.get("/v1/warnings").json()
    assert everything["total"] == 2
    assert {w["city_code"] for w in everything["items"]} == {hw.BEIJING, hw.TIANJIN}
    page = client.get("/v1/warnings?limit=1&offset=1").json()
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (2, 1, 1, 1)
    assert page["items"][0]["id"] != client.get("/v1/warnings?limit=1").json()["items"][0]["id"]
    beijing = client.get(f"/v1/warnings?city={hw.BEIJING}&level=blue&active=true").json()
    assert [w["city_code"] for w in beijing["items"]] == [hw.BEIJING]
    assert client.get("/v1/warnings?level=red").json()["total"] == 0
    assert client.get("/v1/warnings?active=false").json()["total"] == 0
    # History window: warnings whose window overlaps [start, end).
    item = beijing["items"][0]
    expires = item["expires"].replace("Z", "+00:00")
    after = client.get("/v1/warnings", params={"start": expires}).json()
    assert after["total"] == 0
    before = client.get("/v1/warnings", params={"end": item["effective"]}).json()
    assert before["total"] == 0
    inside = client.get(
        "/v1/warnings", params={"start": item["effective"], "end": item["expires"]}
    ).json()
    assert inside["total"] == 2
    naive = client.get("/v1/warnings", params={"start": "2016-12-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.start"
    assert client.get("/v1/warnings?city=beijing").status_code == 422
    assert client.get("/v1/warnings?limit=0").status_code == 422


def test_expired_and_lifted_warnings_are_active_nowhere(
    client: TestClient,
    session: Session,
    keys: dict[str, str],
    hw: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    monkeypatch.setenv("HAZEWARN_ACK_GRACE_MINUTES", "0")
    get_settings.cache_clear()
    handan = "130400"
    load_plan_files(session, [hw.plan_file(hw.TIANJIN), hw.plan_file(handan)], utcnow())
    session.commit()
    # Six days ago: a blue warning for Tianjin and an orange proposal for Shijiazhuang, both
    # for days now past, and no run since for either city.
    past = hw.run_time() - timedelta(days=6)
    past_run = hw.make_run(
        session,
        past,
        {
            hw.TIANJIN: hw.heavy_days(past, (hw.HEAVY,), first_offset=1),
            hw.SHIJIAZHUANG: hw.heavy_days(past, hw.ORANGE_PATH, first_offset=1),
        },
    )
    evaluation.evaluate_run(session, past_run, utcnow())
    # Now: blue warnings for Beijing (it stays) and Handan (lifted by hand below).
    evaluate(
        session,
        hw,
        {
            hw.BEIJING: hw.heavy_days(hw.run_time(), (hw.HEAVY,)),
            handan: hw.heavy_days(hw.run_time(), (hw.HEAVY,)),
        },
    )
    ids = {
        w.city_code: str(w.id)
        for w, _c in queries.list_warnings(
            session, queries.WarningFilters(published_only=False), utcnow(), 10, 0
        )[0]
    }
    expired, stale_proposal = ids[hw.TIANJIN], ids[hw.SHIJIAZHUANG]
    kept, lifted = ids[hw.BEIJING], ids[handan]
    duty = hw.auth(keys["duty"])
    assert (
        client.post(
            f"/v1/warnings/{lifted}/lift", headers=duty, json={"reason": "clean air"}
        ).status_code
        == 200
    )

    def listed(path: str) -> list[str]:
        response = client.get(path, headers=duty)
        assert response.status_code == 200, response.text
        return [w["id"] for w in response.json()["items"]]

    assert listed("/v1/warnings?active=true") == [kept]
    assert listed("/v1/warnings/unacknowledged") == [kept]
    assert listed("/v1/proposals") == []  # nothing left to decide on a past window
    assert set(listed("/v1/warnings?active=false")) == {expired, stale_proposal, lifted}
    feed = client.get("/v1/feeds/cap.atom").content
    assert feed.count(b"<entry>") == 1 and f"/v1/cap/{kept}.xml".encode() in feed
    # The detail says so too; the stored state stays what was last decided.
    detail = client.get(f"/v1/warnings/{expired}").json()
    assert (detail["state"], detail["active"]) == ("issued", False)
    assert client.get(f"/v1/warnings/{kept}").json()["active"] is True
    everything = {
        w["id"]: w["active"] for w in client.get("/v1/warnings", headers=duty).json()["items"]
    }
    assert everything == {kept: True, lifted: False, expired: False, stale_proposal: False}
    # The scheduler's reminder uses the same query.
    overdue = queries.list_unacknowledged(session, utcnow(), timedelta(0))
    assert [str(w.id) for w, _c in overdue] == [kept]
