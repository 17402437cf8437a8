"""Schemathesis over the whole OpenAPI schema, anonymously and with a key of every role
(SQLite and PostgreSQL): no 5xx, every answer as the schema declares it (status, media type,
body), every 4xx a problem+json body.

Bounded for CI on two busy cores: ``EXAMPLES`` cases per operation and caller, a fixed seed
(``derandomize``), no example database, so every run fuzzes the same cases.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.auth.service import create_key
from app.cities.service import sync_registry
from app.database import session_scope
from app.main import create_app
from app.timestamps import utcnow

EXAMPLES = 8
ROLES: dict[str, tuple[str, list[str], list[str]] | None] = {
    "anonymous": None,
    "admin": ("admin", [], []),
    "duty_officer": ("duty_officer", [], []),
    "city_office": ("city_office", ["110000"], []),
    "coordinator": ("coordinator", [], ["jjj-2+26"]),
}


def literal_only(host: str, port: int) -> list[str]:
    """No DNS in tests: IP literals resolve to themselves, names do not resolve."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        raise OSError(f"no DNS in tests for {host!r}") from None


def problem_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is an RFC 9457 problem body with the answer's status."""
    if 400 <= response.status_code < 500:
        media = response.headers.get("content-type", [""])
        media = media[0] if isinstance(media, list) else media
        assert media == "application/problem+json", (case.operation.label, media)
        body = response.json()
        assert body["status"] == response.status_code, body
        assert body["title"] and isinstance(body["detail"], str), body
    return None


def not_a_server_error_but_not_ready(ctx: Any, response: Any, case: Any) -> bool | None:
    """Readiness answers a declared 503 while a check fails (no scheduler runs here)."""
    assert response.status_code < 500 or response.status_code == 503, response.status_code
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_body,
]
READINESS = {"/health", "/health/ready"}
READINESS_CHECKS = [not_a_server_error_but_not_ready, *CHECKS[1:]]


def checks_of(case: Any) -> list[Any]:
    return READINESS_CHECKS if case.operation.path in READINESS else CHECKS


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr("app.subscriptions.destinations.resolve_host", literal_only)
    with session_scope() as session:
        sync_registry(session)
    yield create_app()


@pytest.mark.slow
@pytest.mark.parametrize("role", list(ROLES))
def test_no_server_error_and_every_error_a_problem(app: Any, role: str) -> None:
    headers = {}
    scope = ROLES[role]
    if scope is not None:
        with session_scope() as session:
            created = create_key(
                session,
                name=f"fuzz {role}",
                role=scope[0],
                now=utcnow(),
                city_codes=scope[1],
                region_codes=scope[2],
            )
        headers = {"Authorization": f"Bearer {created.key}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35

    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=checks_of(case), headers=headers)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # fuzz them all, report every failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
