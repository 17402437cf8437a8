"""CAP 1.2 per warning (Alert, Update referencing the earlier message, Cancel, Exercise),
valid against the OASIS schema, and the Atom index of active alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy.orm import Session

from app.timestamps import utcnow
from app.warnings import (
    evaluation,
    inputs,
    public_reads,
    queries,
    service,
)

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def cap_schema(shared_domain: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared_domain / "cap" / "CAP-v1.2.xsd")))


def fetch_cap(client: TestClient, warning_id: str, schema: etree.XMLSchema) -> etree._Element:
    response = client.get(f"/v1/cap/{warning_id}.xml")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    root = etree.fromstring(response.content)
    schema.assertValid(root)
    return root


def text(root: etree._Element, path: str) -> str:
    found = root.find(path)
    assert found is not None and found.text is not None, path
    return found.text


def issue_blue(session: Session, hw: Any, drill: bool = False, city: str | None = None) -> str:
    issued = hw.run_time()
    code = city or hw.BEIJING
    run_id = hw.make_run(session, issued, {code: hw.heavy_days(issued, (hw.HEAVY,))}, drill=drill)
    result = evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    [warning_id] = result.cities[[c.city_code for c in result.cities].index(code)].warning_ids
    return str(warning_id)


def test_alert_update_and_cancel_chain_their_references(
    client: TestClient,
    session: Session,
    keys: dict[str, str],
    hw: Any,
    cap_schema: etree.XMLSchema,
) -> None:
    warning_id = issue_blue(session, hw)
    alert = fetch_cap(client, warning_id, cap_schema)
    assert text(alert, f"{CAP}msgType") == "Alert"
    assert text(alert, f"{CAP}status") == "Actual"
    assert alert.find(f"{CAP}references") is None
    assert text(alert, f"{CAP}sent").endswith("+08:00")
    info = alert.find(f"{CAP}info")
    assert info is not None
    assert text(info, f"{CAP}severity") == "Minor"
    assert text(info, f"{CAP}urgency") == "Future"  # issued a day ahead, not yet in force
    assert text(info, f"{CAP}area/{CAP}geocode/{CAP}value") == hw.BEIJING
    assert "\n" in text(info, f"{CAP}instruction")  # one line per action of the plan
    first = (
        text(alert, f"{CAP}sender"),
        text(alert, f"{CAP}identifier"),
        text(alert, f"{CAP}sent"),
    )

    duty = hw.auth(keys["duty"])
    upgraded = client.post(
        f"/v1/warnings/{warning_id}/upgrade", headers=duty, json={"level": "orange", "reason": "x"}
    )
    assert upgraded.status_code == 200
    update = fetch_cap(client, warning_id, cap_schema)
    assert text(update, f"{CAP}msgType") == "Update"
    assert text(update, f"{CAP}references") == ",".join(first)
    assert text(update, f"{CAP}identifier") != first[1]
    update_info = update.find(f"{CAP}info")
    assert update_info is not None and text(update_info, f"{CAP}severity") == "Severe"
    second = (
        text(update, f"{CAP}sender"),
        text(update, f"{CAP}identifier"),
        text(update, f"{CAP}sent"),
    )

    lifted = client.post(f"/v1/warnings/{warning_id}/lift", headers=duty, json={"reason": "x"})
    assert lifted.status_code == 200
    cancel = fetch_cap(client, warning_id, cap_schema)
    assert text(cancel, f"{CAP}msgType") == "Cancel"
    assert text(cancel, f"{CAP}references") == f"{','.join(first)} {','.join(second)}"
    cancel_info = cancel.find(f"{CAP}info")
    assert cancel_info is not None
    assert text(cancel_info, f"{CAP}responseType") == "AllClear"
    assert len({first[1], second[1], text(cancel, f"{CAP}identifier")}) == 3


def test_drill_warnings_are_exercises(
    client: TestClient, session: Session, hw: Any, cap_schema: etree.XMLSchema
) -> None:
    warning_id = issue_blue(session, hw, drill=True)
    root = fetch_cap(client, warning_id, cap_schema)
    assert text(root, f"{CAP}status") == "Exercise"
    assert "EXERCISE" in text(root, f"{CAP}info[2]/{CAP}headline")


def test_a_proposal_has_no_cap_message(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    [warning_id] = evaluation.evaluate_run(session, run_id, utcnow()).cities[0].warning_ids
    session.commit()
    assert client.get(f"/v1/cap/{warning_id}.xml").status_code == 404  # not public
    staff = client.get(f"/v1/cap/{warning_id}.xml", headers=hw.auth(keys["duty"]))
    assert staff.status_code == 404 and "not been announced" in staff.json()["detail"]


def test_atom_lists_active_alerts_only(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any
) -> None:
    from app.plans.service import load_plan_files

    load_plan_files(session, [hw.plan_file(hw.TIANJIN)], utcnow())
    session.commit()
    kept = issue_blue(session, hw)
    gone = issue_blue(session, hw, city=hw.TIANJIN)
    lifted = client.post(
        f"/v1/warnings/{gone}/lift", headers=hw.auth(keys["duty"]), json={"reason": "x"}
    )
    assert lifted.status_code == 200
    response = client.get("/v1/feeds/cap.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = etree.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    link = entries[0].find(f"{ATOM}link")
    assert link is not None and link.get("type") == "application/cap+xml"
    assert link.get("href", "").endswith(f"/v1/cap/{kept}.xml")
    identifier = entries[0].find(f"{CAP}identifier")
    detail = client.get(f"/v1/warnings/{kept}").json()
    assert identifier is not None and identifier.text == detail["cap_identifier"]


def feed_statements(client: TestClient, render: bool = True) -> tuple[int, int]:
    """(SQL statements, entries) of one ``GET /v1/feeds/cap.atom``."""
    from sqlalchemy import event

    from app.database import get_engine

    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    engine = get_engine()
    if render:  # not from the public-read cache
        public_reads.public_cache.clear()
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/v1/feeds/cap.atom")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return statements, len(etree.fromstring(response.content).findall(f"{ATOM}entry"))


def test_atom_runs_a_fixed_number_of_statements_whatever_the_entries(
    client: TestClient, session: Session, hw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.plans.service import load_plan_files

    handan = "130400"
    load_plan_files(session, [hw.plan_file(hw.TIANJIN), hw.plan_file(handan)], utcnow())
    session.commit()
    # A regional link: the entry's summary names it, read from the episode loaded with
    # the warning.
    one = issue_blue(session, hw)
    episode = queries.episode_of(session, service.get_warning(session, int(one)))
    episode.regional_warning_id = "jjj-2+26:test"
    session.commit()

    def cold() -> tuple[int, int]:
        monkeypatch.setattr(inputs, "PLAN_CACHE", {})
        return feed_statements(client)

    cold_one, warm_one = cold(), feed_statements(client)
    issue_blue(session, hw, city=hw.TIANJIN)
    issue_blue(session, hw, city=handan)
    cold_three, warm_three = cold(), feed_statements(client)
    assert (cold_one[1], cold_three[1]) == (1, 3)
    # The database version (public-read cache); warnings with cities and episodes: one
    # query; the issued regional warnings: one more; uncached plan versions: one more.
    assert (warm_one[0], warm_three[0]) == (3, 3)
    assert (cold_one[0], cold_three[0]) == (4, 4)
    # Unchanged since: served from memory, no statement at all.
    assert feed_statements(client, render=False) == (0, 3)
    feed = client.get("/v1/feeds/cap.atom").content
    assert feed.count(b"regional warning jjj-2+26:test") == 1
