"""The authorization matrix: every route of the app × every kind of caller, each answer
checked against its cell in ``app.auth.access.ROUTE_RULES`` (SQLite and PostgreSQL).

The routes come from the app's own route table, so a route without a rule fails
``test_every_route_has_a_rule``. The objects acted on (a warning, a subscription) belong to
Beijing; the callers are Beijing's and Tianjin's city offices, coordinators of jjj-2+26
(which holds Beijing) and of yrd, admin, duty officer, a revoked key and no key.
Refusals (401/403) are asked first; then the callers let through, whose actions may change
the objects (a later action may then answer 404 or 409, still "let through").
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.auth.access import ROUTE_RULES, Answer, Caller, route_key
from app.auth.service import create_key, revoke_key
from app.cities.service import sync_registry
from app.database import session_scope
from app.forecast_runs.service import store_scenario_run
from app.main import create_app
from app.plans.service import load_plan_files
from app.timestamps import utcnow
from app.warnings.evaluation import evaluate_run
from app.warnings.queries import list_proposals
from contingency_plans.loader import PLANS_DIR

BEIJING = "110000"
PUBLIC_URL = "https://93.184.216.34/hooks/matrix"
#: Valid bodies and required query strings, so that a refusal is never hidden behind a 422.
#: A new route taking a body with required fields needs its example here.
REQUESTS: dict[str, dict[str, Any]] = {
    "POST /v1/subscriptions": {"json": {"url": PUBLIC_URL}},
    "PATCH /v1/subscriptions/{subscription_id}": {"json": {"description": "matrix"}},
    "POST /v1/subscriptions/{subscription_id}/replay": {
        "params": {"since": "2020-01-01T00:00:00Z"}
    },
    "POST /v1/proposals/{warning_id}/reject": {"json": {"reason": "matrix"}},
    "POST /v1/warnings/{warning_id}/upgrade": {"json": {"level": "red", "reason": "matrix"}},
    "POST /v1/warnings/{warning_id}/downgrade": {"json": {"level": "blue", "reason": "matrix"}},
    "POST /v1/warnings/{warning_id}/lift": {"json": {"reason": "matrix"}},
    "POST /v1/warnings/{warning_id}/extend": {
        "json": {"until": "2099-01-01T00:00:00+08:00", "reason": "matrix"}
    },
    "GET /v1/cities/{code}/aqi": {"params": {"date": "2016-12-20"}},
    "GET /v1/plans/{city}/actions": {"params": {"level": "red"}},
    "POST /v1/regional-warnings": {
        "json": {
            "region_id": "jjj-2+26",
            "level": "orange",
            "starts_at": "2099-01-01T00:00:00+08:00",
            "reason": "matrix",
        }
    },
    "POST /v1/regional-warnings/{warning_id}/reject": {"json": {"reason": "matrix"}},
    "POST /v1/regional-warnings/{warning_id}/adjust": {"json": {"reason": "matrix"}},
    "POST /v1/regional-warnings/{warning_id}/extend": {
        "json": {"ends_at": "2099-02-01T00:00:00+08:00", "reason": "matrix"}
    },
    "POST /v1/regional-warnings/{warning_id}/lift": {"json": {"reason": "matrix"}},
}
#: Routes whose {warning_id} is a regional warning's.
REGIONAL = ("/v1/regional-warnings/", "/v1/cap/regional/")


def app_routes() -> list[str]:
    """``METHOD /path`` of every route the app serves (HEAD aside), docs pages excluded."""
    found = []
    for route in iter_route_contexts(create_app().routes):
        if not route.path or route.path.startswith(("/docs", "/redoc", "/openapi")):
            continue
        found += [route_key(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


def test_every_route_has_a_rule_and_every_rule_a_route() -> None:
    routes = set(app_routes())
    missing = sorted(routes - set(ROUTE_RULES))
    assert not missing, f"declare these routes in app.auth.access.ROUTE_RULES: {missing}"
    assert not sorted(set(ROUTE_RULES) - routes), "rules for routes that no longer exist"


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    """Keys of every caller and the Beijing objects the routes act on."""
    now = utcnow()
    keys: dict[Caller, str | None] = {Caller.ANONYMOUS: None}
    scopes = {
        Caller.ADMIN: ("admin", [], []),
        Caller.DUTY_OFFICER: ("duty_officer", [], []),
        Caller.CITY_OWN: ("city_office", [BEIJING], []),
        Caller.CITY_OTHER: ("city_office", ["120000"], []),
        Caller.REGION_OWN: ("coordinator", [], ["jjj-2+26"]),
        Caller.REGION_OTHER: ("coordinator", [], ["yrd"]),
        Caller.REVOKED: ("city_office", [BEIJING], []),
    }
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, list(PLANS_DIR.glob(f"{BEIJING}-*.yaml")), now)
        for caller, (role, cities, regions) in scopes.items():
            made = create_key(
                session,
                name=caller.value,
                role=role,
                now=now,
                city_codes=cities,
                region_codes=regions,
            )
            keys[caller] = made.key
            if caller is Caller.REVOKED:
                revoke_key(session, made.row.id, now)
        issued = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        first = issued.date() + timedelta(days=2)
        heavy: dict[date, float] = {first: 200.0, first + timedelta(1): 300.0}
        heavy[first + timedelta(2)] = 200.0
        run_id = store_scenario_run(session, issued, {BEIJING: heavy}, model_version="matrix")
        evaluate_run(session, run_id, now)
        [(proposal, _)] = list_proposals(session)
        warning_id = proposal.id
    admin = {"Authorization": f"Bearer {keys[Caller.ADMIN]}"}
    approved = client.post(f"/v1/proposals/{warning_id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    own = {"Authorization": f"Bearer {keys[Caller.CITY_OWN]}"}
    subscription = client.post("/v1/subscriptions", json={"url": PUBLIC_URL}, headers=own)
    assert subscription.status_code == 201, subscription.text
    regional = client.post(
        "/v1/regional-warnings", json=REQUESTS["POST /v1/regional-warnings"]["json"], headers=admin
    )
    assert regional.status_code == 201, regional.text
    values = {
        "regional_warning_id": str(regional.json()["id"]),
        "region_id": "jjj-2+26",
        "warning_id": str(warning_id),
        "subscription_id": str(subscription.json()["id"]),
        "code": BEIJING,
        "city": BEIJING,
        "station_id": "1001A",
        "run_id": "1",
        "name": "dashboard.js",
    }
    return {"keys": keys, "values": values}


#: Readiness answers 503 with its own status document while something is not ready (here:
#: no scheduler heartbeat); that is its meaning, not an error of the request.
READINESS = {"GET /health", "GET /health/ready"}


def call(client: TestClient, key: str, caller_key: str | None, values: dict[str, str]) -> int:
    method, path = key.split(" ", 1)
    if path.startswith(REGIONAL):
        values = {**values, "warning_id": values["regional_warning_id"]}
    url = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)
    headers = {"Authorization": f"Bearer {caller_key}"} if caller_key else {}
    extra = REQUESTS.get(key, {})
    if method in {"POST", "PATCH", "PUT"} and "json" not in extra:
        extra = {**extra, "json": {}}
    response = client.request(method, url, headers=headers, **extra)
    if response.status_code >= 400 and not (key in READINESS and response.status_code == 503):
        assert response.headers["content-type"] == "application/problem+json", (key, response)
    return response.status_code


def test_every_cell_of_the_matrix(client: TestClient, world: dict[str, Any]) -> None:
    wrong = []
    cells = [
        (key, caller, rule.expected[caller])
        for key, rule in ROUTE_RULES.items()
        for caller in Caller
    ]
    # Refusals first: they change nothing. Then the callers let through.
    cells.sort(key=lambda cell: cell[2] == Answer.OK)
    for key, caller, expected in cells:
        status = call(client, key, world["keys"][caller], world["values"])
        assert status < 500 or key in READINESS, (key, caller, status)
        got = {401: Answer.UNAUTHORIZED, 403: Answer.FORBIDDEN}.get(status, Answer.OK)
        if got != expected:
            wrong.append(f"{key} as {caller.value}: expected {expected.value}, got {status}")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_is_documented() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "reliability.md"
    assert "ROUTE_RULES" in doc.read_text(encoding="utf-8")
