"""The regional level is a floor for members, raised at once and released by the regional
lift (which hands each member back to its own forecast); the audit is append-only; the
coordinator's moves are refused outside their state or scope (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.levels import Level
from app.regional import service
from app.regional.models import RegionalAuditError, RegionalWarningEvent
from app.timestamps import utcnow
from app.warnings import evaluation
from app.warnings.actors import Actor
from app.warnings.models import CityWarning, Episode

from .conftest import HEAVY, JJJ, Keys, heavy_days, make_run, run_time

BEIJING, SHIJIAZHUANG = "110000", "130100"
COORDINATOR = Actor("MEE duty coordinator", None, "coordinator")


def test_a_declared_regional_level_is_a_floor_until_the_coordinator_lifts_it(
    db: Session, members: list[str]
) -> None:
    issued = run_time()
    # Beijing's own forecast: one heavy day (blue, issued by its own rules); the others clean.
    run_id = make_run(db, issued, {BEIJING: heavy_days(issued, (HEAVY,))})
    evaluation.evaluate_run(db, run_id, utcnow())
    [own] = db.scalars(select(CityWarning)).all()
    assert (own.city_code, own.state, own.level) == (BEIJING, "issued", "blue")

    now = utcnow()
    row = service.declare(
        db,
        JJJ,
        COORDINATOR,
        now,
        level=Level.ORANGE,
        starts_at=now + timedelta(hours=2),
        ends_at=now + timedelta(days=2),
        member_codes=[BEIJING, SHIJIAZHUANG],
        reason="MEE letter: orange from tonight",
    )
    db.commit()
    warnings = {w.city_code: w for w in db.scalars(select(CityWarning))}
    beijing, sjz = warnings[BEIJING], warnings[SHIJIAZHUANG]
    assert (beijing.state, beijing.level) == ("upgraded", "orange")  # own blue, floor orange
    assert beijing.payload["regional_warning_id"] == str(row.id)
    assert (sjz.state, sjz.level, sjz.effective) == ("issued", "orange", row.starts_at)
    assert sjz.regional_warning_id == row.id and sjz.cap_msg_type == "Alert"

    service.lift(db, row.id, COORDINATOR, utcnow(), "the episode is over")
    db.commit()
    db.expire_all()
    # Shijiazhuang had nothing of its own: lifted with the regional warning.
    sjz = db.get(CityWarning, sjz.id)
    assert sjz is not None and (sjz.state, sjz.cap_msg_type) == ("lifted", "Cancel")
    # Beijing is handed back to its own forecast (still heavy): not lifted, not linked.
    episode = db.scalars(select(Episode).where(Episode.city_code == BEIJING)).one()
    assert episode.regional_warning_id is None and episode.status != "lifted"


def test_moves_outside_their_state_are_conflicts_and_the_audit_is_append_only(
    db: Session, members: list[str]
) -> None:
    now = utcnow()
    row = service.declare(
        db,
        JJJ,
        COORDINATOR,
        now,
        level=Level.YELLOW,
        starts_at=now + timedelta(hours=1),
        ends_at=None,
        member_codes=None,
        reason="drill of the joint response",
    )
    db.commit()
    assert row.members == list(service.region_of(JJJ).member_codes)
    with pytest.raises(service.RegionalConflictError, match="already issued"):
        service.approve(db, row.id, COORDINATOR, utcnow())
    with pytest.raises(service.RegionalConflictError):
        service.adjust(db, row.id, COORDINATOR, utcnow(), "add a city", member_codes=["610100"])
    db.rollback()
    entry = db.scalars(select(RegionalWarningEvent)).one()
    entry.reason = "rewritten"
    with pytest.raises(RegionalAuditError):
        db.flush()
    db.rollback()
    db.delete(db.scalars(select(RegionalWarningEvent)).one())
    with pytest.raises(RegionalAuditError):
        db.flush()
    db.rollback()


def test_api_scope_and_bad_input(client: TestClient, keys: Keys) -> None:
    start = (utcnow() + timedelta(hours=3)).isoformat()
    body = {"region_id": JJJ, "level": "orange", "starts_at": start, "reason": "letter 12"}
    assert client.post("/v1/regional-warnings", json=body).status_code == 401
    fenwei = client.post("/v1/regional-warnings", json=body, headers=keys.auth("fenwei"))
    assert fenwei.status_code == 403 and "fenwei" in fenwei.json()["detail"]
    office = client.post("/v1/regional-warnings", json=body, headers=keys.auth("beijing"))
    assert office.status_code == 403
    duty = client.post("/v1/regional-warnings", json=body, headers=keys.auth("duty"))
    assert duty.status_code == 403
    unknown = client.post(
        "/v1/regional-warnings", json={**body, "region_id": "nowhere"}, headers=keys.auth("jjj")
    )
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "body.region_id"
    outsider = client.post(
        "/v1/regional-warnings", json={**body, "members": ["610100"]}, headers=keys.auth("jjj")
    )
    assert outsider.status_code == 422 and "610100" in outsider.json()["detail"]
    made = client.post("/v1/regional-warnings", json=body, headers=keys.auth("jjj"))
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    assert made.json()["status"] == "issued" and len(made.json()["compliance"]) == 28
    no_reason = client.post(
        f"/v1/regional-warnings/{rid}/lift", json={"reason": " "}, headers=keys.auth("jjj")
    )
    assert no_reason.status_code == 422
    regions = client.get("/v1/regions").json()["items"]
    jjj = next(r for r in regions if r["id"] == JJJ)
    assert jjj["active_warning"]["id"] == rid and jjj["criteria"]["min_cities"] == 3
    fen = next(r for r in regions if r["id"] == "fenwei")
    assert fen["active_warning"] is None
    listed = client.get("/v1/regional-warnings", params={"region": JJJ}).json()
    assert [w["id"] for w in listed["items"]] == [rid] and listed["total"] == 1
    assert client.get("/v1/regional-warnings", params={"region": "fenwei"}).json()["total"] == 0
    cities = client.get("/v1/cities", params={"region": JJJ}).json()
    assert {c["code"] for c in cities["items"]} <= set(jjj["members"])


def test_adjusting_members_releases_the_dropped_and_drill_stays_apart(
    db: Session, members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_DRILL", "true")
    get_settings.cache_clear()
    now = utcnow()
    row = service.declare(
        db,
        JJJ,
        COORDINATOR,
        now,
        level=Level.YELLOW,
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(days=1),
        member_codes=[BEIJING, SHIJIAZHUANG],
        reason="exercise",
    )
    db.commit()
    assert row.drill
    warnings = {w.city_code: w for w in db.scalars(select(CityWarning))}
    assert all(w.drill for w in warnings.values()) and set(warnings) == {BEIJING, SHIJIAZHUANG}
    service.adjust(db, row.id, COORDINATOR, utcnow(), "Beijing leaves", member_codes=[SHIJIAZHUANG])
    db.commit()
    db.expire_all()
    beijing = db.get(CityWarning, warnings[BEIJING].id)
    assert beijing is not None and beijing.state == "lifted"  # raised by the region only
    assert db.get(CityWarning, warnings[SHIJIAZHUANG].id).state == "issued"  # type: ignore[union-attr]
    # A real (non-drill) regional warning is not in force over a drill episode's city.
    from app.regional import members as regional_members

    assert (
        regional_members.refusal(db, SHIJIAZHUANG, None, utcnow() + timedelta(hours=2), False)
        is None
    )
    why = regional_members.refusal(db, SHIJIAZHUANG, None, utcnow() + timedelta(hours=2), True)
    assert why is not None and f"regional warning {row.id}" in why


def test_region_filters_on_warning_lists(
    client: TestClient, db: Session, members: list[str], keys: Keys
) -> None:
    issued = run_time()
    fenwei_city = "610100"  # Xi'an: Fenwei, not JJJ
    days = {code: heavy_days(issued, (HEAVY, HEAVY, HEAVY)) for code in (BEIJING, fenwei_city)}
    from app.plans.service import load_plan_files

    from .conftest import plan_path

    load_plan_files(db, [plan_path(fenwei_city)], utcnow())
    evaluation.evaluate_run(db, make_run(db, issued, days), utcnow())
    db.commit()
    duty = keys.auth("duty")
    every = client.get("/v1/proposals", headers=duty).json()["items"]
    assert {w["city_code"] for w in every} >= {BEIJING, fenwei_city}
    jjj = client.get("/v1/proposals", params={"region": JJJ}, headers=duty).json()["items"]
    assert fenwei_city not in {w["city_code"] for w in jjj} and jjj
    listed = client.get("/v1/warnings", params={"region": "fenwei"}, headers=duty).json()
    assert {w["city_code"] for w in listed["items"]} == {fenwei_city}
    bad = client.get("/v1/warnings", params={"region": "atlantis"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.region"
