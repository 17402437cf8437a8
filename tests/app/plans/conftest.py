"""Fixtures of the plan tests: minimal city rows for plans to point at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from app.cities.models import City


def insert_cities(session: Session, codes: list[str]) -> None:
    """Minimal rows in `cities` (the registry itself belongs to the cities module)."""
    for code in codes:
        session.add(
            City(
                code=code,
                name_zh=code,
                name_en=code,
                province_zh="-",
                province_en="-",
                lat=0.0,
                lon=0.0,
                timezone="Asia/Shanghai",
                regions=[],
            )
        )
    session.commit()


@pytest.fixture
def add_cities(database_url: str) -> Callable[[list[str]], None]:
    """Call with GB/T 2260 codes to insert those cities into the test database."""
    from app.database import get_sessionmaker

    def add(codes: list[str]) -> None:
        session = get_sessionmaker()()
        try:
            insert_cities(session, codes)
        finally:
            session.close()

    return add
