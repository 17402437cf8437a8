"""API keys for the subscription API tests (raw keys, as a client would hold them)."""

from __future__ import annotations

import pytest

from app.auth.service import Role, create_key
from app.database import session_scope
from app.timestamps import utcnow


@pytest.fixture
def keys(database_url: str) -> dict[str, str]:
    """Raw keys: admin, duty officer, Beijing and Tianjin offices, Fenwei coordinator."""
    wanted = {
        "admin": (Role.ADMIN, (), ()),
        "duty": (Role.DUTY_OFFICER, (), ()),
        "beijing": (Role.CITY_OFFICE, ("110000",), ()),
        "tianjin": (Role.CITY_OFFICE, ("120000",), ()),
        "fenwei": (Role.COORDINATOR, (), ("fenwei",)),
    }
    found = {}
    with session_scope() as session:
        for name, (role, cities, regions) in wanted.items():
            created = create_key(
                session, name=name, role=role, now=utcnow(), city_codes=cities, region_codes=regions
            )
            found[name] = created.key
    return found


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def headers(keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Authorization headers by key name."""
    return {name: auth(key) for name, key in keys.items()}


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_ALLOW_PRIVATE_WEBHOOKS", "true")
    get_settings.cache_clear()
