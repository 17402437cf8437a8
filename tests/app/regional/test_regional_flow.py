"""End to end, on SQLite and PostgreSQL: a forecast run in which most JJJ members cross
orange yields one regional proposal; the coordinator approves it and every member follows;
real uvicorn receivers verify every webhook signature; acknowledgement and compliance; a
member's lift is refused; the coordinator's lift re-evaluates the members."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.levels import Level
from app import scheduler
from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig
from app.regional import evaluation as regional_evaluation
from app.regional.models import RegionalWarning, RegionalWarningEvent
from app.subscriptions.service import Filters, create_subscription
from app.timestamps import utcnow
from app.warnings import evaluation
from app.warnings.models import CityWarning

from .conftest import HEAVY, JJJ, Keys, Receiver, heavy_days, make_run, run_time

EVENTS_SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "events.schema.json"
FAST = DispatcherConfig(
    concurrency=20, client_shards=2, request_timeout=30, backoff_scale=0.001, poll_interval=0.02
)
BEIJING, TIANJIN, SHIJIAZHUANG = "110000", "120000", "130100"
ORANGE_DAYS = (HEAVY, HEAVY, HEAVY)  # three heavy days: orange under most plans, never red


def dispatch() -> None:
    asyncio.run(Dispatcher(FAST).run(until_idle=True, max_seconds=30))


def subscribe(principal: Any, receiver: Receiver, name: str) -> None:
    with session_scope() as session:
        created = create_subscription(
            session,
            principal,
            url=receiver.url(name),
            description=name,
            filters=Filters(
                cities=sorted(principal.scope_cities() or []), levels=[], event_types=[]
            ),
            now=utcnow(),
        )
        receiver.endpoints[name].secret = created.secret


def active_city_warnings(session: Session) -> dict[str, CityWarning]:
    rows = session.scalars(select(CityWarning).order_by(CityWarning.id)).all()
    return {w.city_code: w for w in rows if w.state in ("issued", "upgraded", "downgraded")}


CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def regional_cap(client: TestClient, rid: int, shared_domain: Path) -> etree._Element:
    """The regional CAP document, validated against the CAP 1.2 XSD."""
    schema = etree.XMLSchema(etree.parse(str(shared_domain / "cap" / "CAP-v1.2.xsd")))
    response = client.get(f"/v1/cap/regional/{rid}.xml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    root = etree.fromstring(response.content)
    schema.assertValid(root)
    return root


def test_regional_warning_end_to_end(
    client: TestClient,
    shared_domain: Path,
    db: Session,
    members: list[str],
    keys: Keys,
    receiver: Receiver,
    allow_private: None,
) -> None:
    heavy = [code for code in members if code not in (BEIJING, TIANJIN)]
    for name in ("jjj", "beijing", "tianjin"):
        subscribe(keys.principals[name], receiver, name)

    # 1. One run: most members orange on their own forecasts -> exactly one proposal.
    issued = run_time()
    scenario = {code: heavy_days(issued, ORANGE_DAYS) for code in heavy}
    result = evaluation.evaluate_run(db, make_run(db, issued, scenario), utcnow())
    db.commit()
    orange = sorted(c.city_code for c in result.cities if c.level and c.level >= Level.ORANGE)
    assert len(orange) > len(members) / 2  # most members cross orange on their own
    # A later run with the same picture opens no second proposal.
    later = make_run(db, issued + timedelta(minutes=30), scenario)
    evaluation.evaluate_run(db, later, utcnow())
    db.commit()
    [proposal] = db.scalars(select(RegionalWarning)).all()
    assert (proposal.region_id, proposal.status, proposal.level) == (JJJ, "proposed", "orange")
    assert sorted(proposal.triggering) == orange
    rid = proposal.id

    # Shijiazhuang's own orange is approved by its duty officer before the regional one.
    own = active_city_warnings(db)
    assert own == {}
    [(sjz_id,)] = db.execute(
        select(CityWarning.id).where(CityWarning.city_code == SHIJIAZHUANG)
    ).all()
    approved = client.post(f"/v1/proposals/{sjz_id}/approve", headers=keys.auth("duty"))
    assert approved.status_code == 200, approved.text

    # 2. Scope: a Fenwei coordinator and a city office cannot approve a JJJ warning.
    refused = client.post(f"/v1/regional-warnings/{rid}/approve", headers=keys.auth("fenwei"))
    assert refused.status_code == 403
    assert "fenwei" in refused.json()["detail"] and JJJ not in refused.json()["detail"]
    office = client.post(f"/v1/regional-warnings/{rid}/approve", headers=keys.auth("beijing"))
    assert office.status_code == 403 and "coordinator" in office.json()["detail"]

    # 3. The JJJ coordinator approves: every member with a plan is at orange at least.
    done = client.post(
        f"/v1/regional-warnings/{rid}/approve",
        headers=keys.auth("jjj"),
        json={"reason": "joint response"},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["issued_by"], body["cap_url"] is not None) == (
        "issued",
        "jjj key",
        True,
    )
    db.expire_all()
    row = db.get(RegionalWarning, rid)
    assert row is not None
    warned = active_city_warnings(db)
    assert set(warned) == set(members)
    assert all(w.level == "orange" for w in warned.values())
    for code in (BEIJING, TIANJIN):  # no warning of their own: raised from the regional start
        assert warned[code].effective == row.starts_at
        assert warned[code].regional_warning_id == rid
    assert warned[SHIJIAZHUANG].regional_warning_id is None  # its own, linked only

    # The regional CAP alert: valid, one <area> (name and GB/T 2260 geocode) per member.
    alert = regional_cap(client, rid, shared_domain)
    assert alert.findtext(f"{CAP}msgType") == "Alert"
    for info in alert.findall(f"{CAP}info"):
        codes = [a.findtext(f"{CAP}geocode/{CAP}value") for a in info.findall(f"{CAP}area")]
        assert sorted(codes) == sorted(row.members)
    feed = client.get("/v1/feeds/cap.atom")
    assert feed.status_code == 200 and f"/v1/cap/regional/{rid}.xml" in feed.text

    # 4. Each subscriber: one regional event, one event per member city it follows.
    dispatch()
    beijing, tianjin, coordinator = (receiver.endpoints[n] for n in ("beijing", "tianjin", "jjj"))
    assert beijing.invalid == tianjin.invalid == coordinator.invalid == 0
    assert sorted(beijing.types) == ["regional.issued", "warning.issued"]
    assert sorted(tianjin.types) == ["regional.issued", "warning.issued"]
    assert coordinator.types.count("regional.proposed") == 1
    assert coordinator.types.count("regional.issued") == 1
    followed = [b for b in coordinator.bodies if b["type"] == "warning.issued"]
    assert sorted(b["data"]["warning"]["city_code"] for b in followed) == sorted(members)
    regional_body = next(b for b in beijing.bodies if b["type"] == "regional.issued")
    assert regional_body["data"]["id"] == str(rid) and regional_body["data"]["level"] == "orange"

    # 5. Beijing's office acknowledges; compliance shows who did and who lags.
    ack = client.post(f"/v1/warnings/{warned[BEIJING].id}/ack", headers=keys.auth("beijing"))
    assert ack.status_code == 200, ack.text
    late = row.starts_at + timedelta(hours=3)  # past the 2 h grace
    db.expire_all()
    row = db.get(RegionalWarning, rid)
    assert row is not None
    by_city = {c.city: c for c in regional_evaluation.compliance_of(db, row, late)}
    assert by_city[BEIJING].status == "complied"
    assert by_city[TIANJIN].status == "lagging" and "not acknowledged" in by_city[TIANJIN].reason
    flagged = regional_evaluation.check_lagging(db, utcnow(), at=late)
    db.commit()
    assert BEIJING not in flagged[str(rid)] and TIANJIN in flagged[str(rid)]
    assert regional_evaluation.LAGGING.labels(region=JJJ)._value.get() == len(flagged[str(rid)])
    assert regional_evaluation.check_lagging(db, utcnow(), at=late) == flagged  # flagged once only
    # The scheduler's job runs the same check at the real time: before the start, no laggard.
    assert scheduler.flag_regional_lagging(utcnow())[str(rid)] == []
    db.commit()
    dispatch()
    assert coordinator.types.count("regional.lagging") == 1
    assert "regional.lagging" not in beijing.types  # the coordinator's endpoints only
    detail = client.get(f"/v1/regions/{JJJ}").json()
    rows = {m["city_code"]: m for m in detail["member_status"]}
    assert rows[BEIJING]["compliance"]["acknowledged_at"] is not None
    assert rows[BEIJING]["effective_level"] == "orange"

    # 6. A member cannot lift below the regional level: 409 naming the regional warning.
    lifted = client.post(
        f"/v1/warnings/{warned[BEIJING].id}/lift",
        headers=keys.auth("duty"),
        json={"reason": "our air is clean"},
    )
    assert lifted.status_code == 409
    assert f"regional warning {rid}" in lifted.json()["detail"]

    # 7. The coordinator lifts: members are released and re-evaluated on their own forecast.
    out = client.post(
        f"/v1/regional-warnings/{rid}/lift", headers=keys.auth("jjj"), json={"reason": "over"}
    )
    assert out.status_code == 200, out.text
    db.expire_all()
    still = active_city_warnings(db)
    assert set(still) == {SHIJIAZHUANG}  # warned on its own forecast: stays warned
    kinds = db.scalars(
        select(RegionalWarningEvent.kind).where(RegionalWarningEvent.regional_warning_id == rid)
    ).all()
    assert kinds == ["proposed", "issued", "lagging", "lifted"]
    cancel = regional_cap(client, rid, shared_domain)
    assert cancel.findtext(f"{CAP}msgType") == "Cancel"
    assert alert.findtext(f"{CAP}identifier") in (cancel.findtext(f"{CAP}references") or "")
    assert f"/v1/cap/regional/{rid}.xml" not in client.get("/v1/feeds/cap.atom").text
    dispatch()
    assert "regional.lifted" in beijing.types
    # Every event received validates against the published schema.
    schema = json.loads(EVENTS_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    for endpoint in (beijing, tianjin, coordinator):
        for event in endpoint.bodies:
            validator.validate(event)
