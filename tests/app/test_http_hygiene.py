"""HTTP hygiene on every route of the app: 64-bit integers, error answers declared in the
OpenAPI schema as problem+json, `Allow` on 405, the body limit, security headers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.auth.access import PUBLIC, ROUTE_RULES, Answer, route_key
from app.auth.service import create_key
from app.dashboard.views import STATIC_DIR
from app.database import session_scope
from app.errors import allowed_methods
from app.main import create_app
from app.timestamps import utcnow

HUGE = 2**63  # one past the largest 64-bit id
PATH_VALUES = {"code": "110000", "city": "110000", "station_id": "1001A", "name": "x"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app().openapi()


def fill(path: str, overrides: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return overrides.get(name, PATH_VALUES.get(name, "1"))

    return re.sub(r"\{([^}]+)\}", value, path)


def integer_parameters(schema: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    found = []
    for method, path, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            shape = parameter["schema"]
            types = {shape.get("type")} | {o.get("type") for o in shape.get("anyOf", [])}
            if "integer" in types:
                found.append((method, path, parameter["in"], parameter["name"]))
    return found


def test_every_integer_parameter_is_bounded_to_64_bits(schema: dict[str, Any]) -> None:
    found = integer_parameters(schema)
    assert len(found) >= 10, found  # ids, offsets, limits, cursors
    for method, path, _, name in found:
        [parameter] = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
        shapes = [parameter["schema"], *parameter["schema"].get("anyOf", [])]
        assert all(s["maximum"] <= 2**63 - 1 for s in shapes if s.get("type") == "integer")


def test_an_integer_above_64_bits_is_a_422_naming_it_on_every_route(
    client: TestClient, schema: dict[str, Any]
) -> None:
    for method, path, where, name in integer_parameters(schema):
        if where == "path":
            url = fill(path, {name: str(HUGE)})
        else:
            url = f"{fill(path, {})}?{name}={HUGE}"
        response = client.request(method.upper(), url, json={})
        assert response.status_code == 422, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == f"{where}.{name}", response.text
        # One below the smallest 64-bit integer is refused too.
        low = client.request(method.upper(), url.replace(str(HUGE), str(-(2**63) - 1)))
        assert low.status_code == 422, (method, url, low.text)


def test_every_integer_parameter_takes_its_declared_maximum_without_a_5xx(
    client: TestClient, schema: dict[str, Any]
) -> None:
    """The declared maximum reaches the database (e.g. 2^31 - 1 for a 32-bit id column)."""
    with session_scope() as session:
        key = create_key(session, name="hygiene", role="admin", now=utcnow()).key
    admin = {"Authorization": f"Bearer {key}"}
    for method, path, where, name in integer_parameters(schema):
        [parameter] = [p for p in schema["paths"][path][method]["parameters"] if p["name"] == name]
        shapes = [parameter["schema"], *parameter["schema"].get("anyOf", [])]
        [top] = [s["maximum"] for s in shapes if s.get("type") == "integer"]
        url = fill(path, {name: str(top)}) if where == "path" else f"{fill(path, {})}?{name}={top}"
        response = client.request(method.upper(), url, json={}, headers=admin)
        assert response.status_code < 500, (method, url, response.text)
        over_url = url.replace(str(top), str(top + 1))
        over = client.request(method.upper(), over_url, json={}, headers=admin)
        assert over.status_code == 422, (method, url, over.text)


def test_every_error_answer_is_declared_as_a_problem(schema: dict[str, Any]) -> None:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in operations(schema):
        responses = operation["responses"]
        declared = {int(s) for s in responses if s.startswith("4")}
        for status in declared:
            content = responses[str(status)]["content"]
            assert content == {"application/problem+json": {"schema": problem_ref}}, (path, status)
        params = operation.get("parameters", [])
        if params or "requestBody" in operation:
            assert 422 in declared, (method, path)
        if "requestBody" in operation:
            assert {400, 413} <= declared, (method, path)
        if any(p["in"] == "path" for p in params):
            assert 404 in declared, (method, path)
        rule = ROUTE_RULES[route_key(method, path)]
        # What the access rule implies is declared (a route may declare more, e.g. a 403
        # for a body naming a city outside the key's scope).
        assert 401 in declared or not rule.may_refuse(Answer.UNAUTHORIZED), (method, path)
        assert 403 in declared or not rule.may_refuse(Answer.FORBIDDEN), (method, path)
        assert 409 in declared or not rule.conflict, (method, path)
        if rule == PUBLIC:
            assert not declared & {401, 403}, (method, path)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_actual_problem_bodies_match_the_declared_schema(
    client: TestClient, schema: dict[str, Any]
) -> None:
    problem_schema = {"$ref": "#/components/schemas/Problem", "components": schema["components"]}
    answers = [
        client.get("/v1/warnings/12345"),  # 404
        client.get("/v1/warnings?limit=0"),  # 422
        client.get("/v1/proposals"),  # 401
        client.post("/v1/subscriptions", json={}, headers={"Authorization": "Basic x"}),
        client.delete("/v1/cities"),  # 405
    ]
    for response in answers:
        assert response.status_code >= 400
        assert response.headers["content-type"] == "application/problem+json"
        jsonschema.validate(response.json(), problem_schema)


def test_405_lists_the_allowed_methods_of_every_path(client: TestClient) -> None:
    app = create_app()
    paths = {route.path for route in iter_route_contexts(app.routes) if route.path}
    for path in sorted(paths):
        url = fill(path, {})
        # Every route matching the URL counts (/v1/subscriptions/health also matches
        # /v1/subscriptions/{subscription_id}).
        served = set(allowed_methods(app, url))
        assert served, path
        wrong = next(m for m in ("DELETE", "PUT", "PATCH", "POST") if m not in served)
        response = client.request(wrong, url)
        assert response.status_code == 405, (wrong, path)
        assert set(response.headers["allow"].split(", ")) == served, path
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_a_413_problem(client: TestClient, chunked: bool) -> None:
    body = b'{"url": "' + b"x" * (1024 * 1024) + b'"}'

    def pieces() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = client.post(
        "/v1/subscriptions",
        content=pieces() if chunked else body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "larger than 1048576 bytes" in response.json()["detail"]
    # Under the limit the request goes on to the usual answer (here: no key).
    small = client.post("/v1/subscriptions", json={"url": "https://93.184.216.34/"})
    assert small.status_code == 401


def test_the_body_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_MAX_BODY_BYTES", "100")
    get_settings.cache_clear()
    with TestClient(create_app()) as small:
        response = small.post("/v1/subscriptions", json={"description": "d" * 200})
    get_settings.cache_clear()
    assert response.status_code == 413
    assert "larger than 100 bytes" in response.json()["detail"]


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = False
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.handlers += [v or "" for _, v in attrs if (v or "").startswith("javascript:")]
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        self.inline_script = self.inline_script or (self._in_script and bool(data.strip()))


def test_the_dashboard_has_no_inline_script_and_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    parser = _Scripts()
    parser.feed(page.text)
    assert parser.scripts and all(s.get("src", "").startswith("/") for s in parser.scripts)
    assert not parser.inline_script and not parser.handlers
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no other host
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in STATIC_DIR.iterdir():
        served = (
            client.get(f"/dashboard/static/{asset.name}") if asset.name != "index.html" else page
        )
        assert served.headers["x-content-type-options"] == "nosniff", asset.name
        assert "frame-ancestors 'none'" in served.headers["content-security-policy"]
    api = client.get("/v1/cities")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["x-content-type-options"] == "nosniff"
