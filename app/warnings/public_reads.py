"""Public reads served from memory: the warning list and the Atom index, as bytes.

The public list (`GET /v1/warnings`) answers 11.5 KB per warning (each carries its plan's
actions in both languages) and the Atom index renders every active alert's CAP summary:
rendering them means decoding every warning's stored JSON payload, validating and
serialising the whole answer. Both change only when a warning (or its episode) does, so
anonymous reads are rendered once and then served as the same bytes until:

- the **database version** changes: one aggregate statement over the warnings and episodes
  (count, largest id, latest ``updated_at`` and ``acknowledged_at``, latest episode
  change). It is checked at most every ``HAZEWARN_PUBLIC_READ_RECHECK_SECONDS`` (1 s) per
  process, so a change made by another process (another API worker, the scheduler) shows
  within that time; a change this process commits shows at once (a session hook bumps a
  local generation when warnings, episodes or cities are flushed);
- the **next expiry** passes: the earliest ``expires`` of the warnings still active when the
  answer was rendered, after which ``active`` flags and the Atom index change with no write;
- ``MAX_AGE_SECONDS`` have passed (a bound for writes made without touching those columns).

Requests with an API key (staff see proposals) are never cached. The cache is per process,
keyed on the query, the database URL, the clock offset and the public base URL, and holds
at most `MAX_ENTRIES` answers. Each answer carries a strong ``ETag``; ``If-None-Match``
gets 304.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, event, func, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.config import get_settings
from app.regional.models import RegionalWarning
from app.warnings.models import CityWarning, Episode
from app.warnings.queries import ACTIVE_STATE_VALUES

__all__ = [
    "MAX_AGE_SECONDS",
    "MAX_ENTRIES",
    "PUBLIC_READS",
    "PublicRead",
    "PublicReadCache",
    "PublicReadMiddleware",
    "Rendered",
    "database_version",
    "is_anonymous",
    "public_cache",
    "request_key",
]

MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 64
#: A request that claimed the version check and has not finished it this long (it failed)
#: lets the next one check.
CLAIM_SECONDS = 10.0

_generation = 0
_generation_lock = threading.Lock()


def local_generation() -> int:
    """How many flushes of this process touched warnings, episodes, cities or regional warnings."""
    return _generation


@event.listens_for(Session, "after_flush")
def _bump_generation(session: Session, _context: Any) -> None:
    global _generation
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CityWarning | Episode | City | RegionalWarning):
            with _generation_lock:
                _generation += 1
            return


def database_version(session: Session, now: datetime) -> tuple[tuple[Any, ...], datetime | None]:
    """(the version of what the public reads show, the next expiry of an active warning
    after ``now`` or None): one statement."""
    active = CityWarning.state.in_(ACTIVE_STATE_VALUES) & (CityWarning.expires > now)
    warnings = select(
        func.count(CityWarning.id),
        func.max(CityWarning.id),
        func.max(CityWarning.updated_at),
        func.max(CityWarning.acknowledged_at),
        func.min(case((active, CityWarning.expires), else_=None)),
        select(func.max(Episode.updated_at)).scalar_subquery(),
        # Regional warnings are listed in the Atom index.
        select(func.max(RegionalWarning.updated_at)).scalar_subquery(),
    )
    row = session.execute(warnings).one()
    count, last_id, updated, acknowledged, next_expiry, episodes, regional = row
    # SQLite returns aggregates of the UTC text column as text: compare as given, and
    # turn the expiry back into a time.
    if isinstance(next_expiry, str):
        next_expiry = datetime.fromisoformat(next_expiry).replace(tzinfo=now.tzinfo)
    return (
        (count, last_id, str(updated), str(acknowledged), str(episodes), str(regional)),
        next_expiry,
    )


@dataclass(frozen=True)
class Rendered:
    """A rendered answer and how long it holds at most (service clock), None: no limit."""

    body: bytes
    valid_until: datetime | None
    cacheable: bool = True


@dataclass
class PublicRead:
    body: bytes
    etag: str
    version: tuple[Any, ...]
    generation: int
    valid_until: datetime | None
    media_type: str
    rendered_at: float  # monotonic
    checked_at: float  # monotonic
    checking_since: float | None = None  # monotonic, while a request checks the version


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class PublicReadCache:
    """Rendered public answers by key; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, PublicRead] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def context() -> tuple[Hashable, ...]:
        settings = get_settings()
        return (settings.database_url, settings.clock_offset_seconds, settings.public_base_url)

    def fresh(self, key: Hashable, now: datetime) -> PublicRead | None:
        """The cached answer if it can be served without the database: same generation,
        checked recently, not past its expiry or its maximum age. When only the recheck
        is due, the first caller gets None (and checks); the others keep the answer."""
        recheck = get_settings().public_read_recheck_seconds
        clock = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.generation != _generation:
                return None
            if (entry.valid_until is not None and now >= entry.valid_until) or (
                clock - entry.rendered_at >= MAX_AGE_SECONDS
            ):
                return None
            if clock - entry.checked_at < recheck:
                return entry
            if entry.checking_since is not None and clock - entry.checking_since < CLAIM_SECONDS:
                return entry  # another request is checking the version right now
            entry.checking_since = clock
            return None

    def revalidate(
        self,
        key: Hashable,
        session: Session,
        now: datetime,
        render: Callable[[Session, datetime], Rendered],
        media_type: str,
    ) -> PublicRead | Rendered:
        """Check the database version; serve the cached answer if it still holds, else
        render (and cache, if the answer may be cached)."""
        generation = _generation
        version, next_expiry = database_version(session, now)
        clock = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.checking_since = None
                if (
                    entry.version == version
                    and entry.generation == generation
                    and (entry.valid_until is None or now < entry.valid_until)
                    and clock - entry.rendered_at < MAX_AGE_SECONDS
                ):
                    entry.checked_at = clock
                    return entry
        rendered = render(session, now)
        if not rendered.cacheable:
            return rendered
        limits = [t for t in (next_expiry, rendered.valid_until) if t is not None]
        fresh = PublicRead(
            body=rendered.body,
            etag=_etag(rendered.body),
            version=version,
            generation=generation,
            valid_until=min(limits) if limits else None,
            media_type=media_type,
            rendered_at=clock,
            checked_at=clock,
        )
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES and key not in self._entries:
                self._entries.clear()
            self._entries[key] = fresh
        return fresh


#: The process's cache of public reads.
public_cache = PublicReadCache()


def request_key(kind: str, query_string: bytes) -> Hashable:
    """The cache key of an anonymous public read: its kind, its query string as sent (only
    query strings the endpoint accepted are ever cached) and the context."""
    return (kind, query_string, *public_cache.context())


def is_anonymous(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return not any(name in _CREDENTIALS for name, _value in headers)


_CREDENTIALS = (b"authorization", b"x-api-key")


#: The public reads answered from memory, by path: their cache key kind.
PUBLIC_READS = {"/v1/warnings": "list", "/v1/feeds/cap.atom": "atom"}


@dataclass(frozen=True)
class _Route:
    """What outer middleware reads of ``scope["route"]`` for an answer from memory."""

    path: str


_ROUTES = {kind: _Route(path) for path, kind in PUBLIC_READS.items()}


class PublicReadMiddleware:
    """ASGI middleware answering an anonymous GET of a public read whose answer is fresh in
    the cache at once: no routing (the longest part of a cached answer otherwise), no
    parameter parsing, no thread, no database. Everything else goes on to the app, whose
    endpoint renders or revalidates (and fills the cache). Install it innermost (first),
    so that outer middleware (metrics, logs) sees these requests too."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = PUBLIC_READS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if kind is not None and scope.get("method") == "GET":
            headers = scope.get("headers", ())
            if is_anonymous(headers):
                entry = public_cache.fresh(request_key(kind, scope["query_string"]), _now())
                if entry is not None:
                    # Outer middleware labels requests by their route (metrics, logs).
                    scope["route"] = _ROUTES[kind]
                    await _answer(entry, headers, send)
                    return
        await self.app(scope, receive, send)


def _now() -> datetime:
    from app.timestamps import utcnow

    return utcnow()


async def _answer(entry: PublicRead, headers: Iterable[tuple[bytes, bytes]], send: Any) -> None:
    etag = entry.etag.encode()
    if (b"if-none-match", etag) in headers:
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
        await send({"type": "http.response.body", "body": b""})
        return
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", entry.media_type.encode()),
            (b"content-length", str(len(entry.body)).encode()),
            (b"etag", etag),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": entry.body})
