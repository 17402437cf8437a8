"""API keys: shown once, stored hashed, revocable; roles and scopes (`hazewarn keys`,
`CurrentUser`, `require`)."""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.deps import require
from app.auth.models import ApiKey
from app.auth.service import (
    KeyRequestError,
    Principal,
    Role,
    authenticate,
    create_key,
    principal_of,
)
from app.cli import cli
from app.database import session_scope
from app.errors import ProblemError
from app.timestamps import utcnow

runner = CliRunner()
KEY = re.compile(r"^hw_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def test_cli_prints_the_key_once_and_stores_only_its_hash(db: Session) -> None:
    result = runner.invoke(
        cli, ["keys", "create", "--role", "city_office", "--city", "110000", "--name", "BJ EOC"]
    )
    assert result.exit_code == 0, result.output
    [key] = KEY.findall(result.output)
    row = db.scalars(select(ApiKey)).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {row.key_hash, row.prefix, row.name} and key.startswith(row.prefix)
    assert row.city_codes == ["110000"] and row.role == "city_office"

    listed = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and row.prefix in listed.output
    assert key not in listed.output  # never shown again

    revoked = runner.invoke(cli, ["keys", "revoke", str(row.id)])
    assert revoked.exit_code == 0
    db.expire_all()
    assert db.get(ApiKey, row.id).revoked_at is not None
    with session_scope() as session:
        assert authenticate(session, key) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "city_office", "--name", "x"], "--city: a city_office key needs"),
        (["--role", "city_office", "--city", "999999", "--name", "x"], "unknown city code"),
        (["--role", "coordinator", "--name", "x"], "--region: a coordinator key needs"),
        (["--role", "coordinator", "--region", "mars", "--name", "x"], "unknown region"),
        (["--role", "admin", "--city", "110000", "--name", "x"], "acts for every city"),
        (["--role", "mayor", "--name", "x"], "unknown role"),
    ],
)
def test_cli_refuses_bad_scopes_in_one_line(db: Session, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["keys", "create", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert db.scalars(select(ApiKey)).first() is None


def test_revoked_and_unknown_keys_are_refused_with_401(client: TestClient) -> None:
    with session_scope() as session:
        created = create_key(session, name="ops", role=Role.ADMIN, now=utcnow())
        key, key_id = created.key, created.row.id
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["role"] == "admin"
    assert me.json()["scope_cities"] is None
    assert client.get("/v1/auth/me", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/v1/auth/me").status_code == 401
    assert client.get("/v1/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    runner.invoke(cli, ["keys", "revoke", str(key_id)])
    refused = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "unknown or revoked API key"
    assert refused.headers["content-type"] == "application/problem+json"


def test_coordinator_scope_is_its_regions_member_cities(client: TestClient) -> None:
    with session_scope() as session:
        key = create_key(
            session, name="Fenwei", role="coordinator", now=utcnow(), region_codes=["fenwei"]
        ).key
    body = client.get("/v1/auth/me", headers={"X-API-Key": key}).json()
    assert "610100" in body["scope_cities"] and "110000" not in body["scope_cities"]


def test_require_checks_role_then_scope() -> None:
    office = Principal(1, "BJ", Role.CITY_OFFICE, city_codes=frozenset({"110000"}))
    duty = Principal(2, "duty", Role.DUTY_OFFICER)
    assert require(office, Role.CITY_OFFICE, city="110000") is office
    assert require(duty, Role.DUTY_OFFICER, Role.ADMIN, city="120000") is duty

    with pytest.raises(ProblemError) as anonymous:
        require(None, Role.ADMIN)
    assert anonymous.value.status == 401
    with pytest.raises(ProblemError) as wrong_role:
        require(office, Role.DUTY_OFFICER, Role.ADMIN)
    assert wrong_role.value.status == 403
    assert "city_office may not do this; it needs duty_officer or admin" in wrong_role.value.detail
    with pytest.raises(ProblemError) as other_city:
        require(office, city="120000")
    assert other_city.value.status == 403
    assert other_city.value.detail == (
        "this key (city_office) is scoped to cities 110000; it may not act for city 120000"
    )


def test_service_validates_and_principal_round_trips(db: Session) -> None:
    with session_scope() as session:
        created = create_key(
            session, name=" Tianjin ", role="city_office", now=utcnow(), city_codes=["120000"]
        )
        principal = principal_of(created.row)
        assert authenticate(session, created.key) == principal
        assert authenticate(session, created.key + "x") is None
        assert authenticate(session, "not-ours") is None
    assert principal.name == "Tianjin" and principal.scope_cities() == frozenset({"120000"})
    with pytest.raises(KeyRequestError, match="--name"), session_scope() as session:
        create_key(session, name="  ", role="admin", now=utcnow())
