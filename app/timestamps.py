"""UTC timestamps that come back timezone-aware from SQLite and PostgreSQL alike.

PostgreSQL's ``timestamptz`` round-trips aware datetimes; SQLite stores text and gives naive
ones back (and would store an aware value's wall-clock digits without converting it). The
``UtcDateTime`` column type converts to UTC on the way in and marks UTC on the way out, so
service code can compare and subtract times without caring which database it runs on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive values and always returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC times")
        utc = value.astimezone(UTC)
        # SQLite keeps the text as given: drop the zone so every row sorts as UTC text.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC (the app layer's one clock).

    ``HAZEWARN_CLOCK_OFFSET_SECONDS`` shifts it: `hazewarn demo` replays a past episode
    with the service's clock set back to it. Always 0 in production.
    """
    from app.config import get_settings

    offset = get_settings().clock_offset_seconds
    now = datetime.now(UTC)
    return now + timedelta(seconds=offset) if offset else now
