"""API keys and principals: create, list, revoke, authenticate; role and scope rules.

A key is ``hw_`` + 43 URL-safe characters (256 random bits). Only its sha256 is stored: with
that much entropy a plain hash cannot be brute-forced, and lookup stays one indexed query.
The first 11 characters (``prefix``) are kept in clear so a key can be recognised in
listings without revealing it.

Scopes: ``admin`` and ``duty_officer`` act for every city; ``city_office`` for the cities on
its key; ``coordinator`` for every member city of the regions on its key (membership from
the city registry); ``ingest`` (a monitoring network) acts for no city and may only push
observations for the stations on its key. Anonymous callers get public reads only.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey
from app.cities.registry import load_regions, load_registry

KEY_PREFIX = "hw_"
KEY_RANDOM_BYTES = 32
SHOWN_PREFIX_LENGTH = 11  # "hw_" + 8 characters: enough to tell keys apart, useless to guess


class Role(StrEnum):
    ADMIN = "admin"
    DUTY_OFFICER = "duty_officer"
    CITY_OFFICE = "city_office"
    COORDINATOR = "coordinator"
    INGEST = "ingest"


STAFF_ROLES = frozenset({Role.ADMIN, Role.DUTY_OFFICER})


class KeyRequestError(ValueError):
    """A key request breaks a rule; the message names the option and why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and scope."""

    key_id: int
    name: str
    role: Role
    city_codes: frozenset[str] = frozenset()
    region_codes: frozenset[str] = frozenset()
    station_ids: frozenset[str] = frozenset()

    @property
    def is_staff(self) -> bool:
        """Admins and duty officers act for every city."""
        return self.role in STAFF_ROLES

    def scope_cities(self) -> frozenset[str] | None:
        """The city codes this principal may act for, or None for every city."""
        if self.is_staff:
            return None
        if self.role == Role.CITY_OFFICE:
            return self.city_codes
        if self.role == Role.INGEST:
            return frozenset()
        return region_member_cities(self.region_codes)

    def may_act_for_city(self, city_code: str) -> bool:
        cities = self.scope_cities()
        return cities is None or city_code in cities

    def describe_scope(self) -> str:
        """The principal's own scope in words (safe to show it: it is theirs)."""
        if self.is_staff:
            return "all cities"
        if self.role == Role.CITY_OFFICE:
            return "cities " + ", ".join(sorted(self.city_codes))
        if self.role == Role.INGEST:
            return "stations " + ", ".join(sorted(self.station_ids))
        return "regions " + ", ".join(sorted(self.region_codes))


def region_member_cities(region_codes: Iterable[str]) -> frozenset[str]:
    """Codes of the registry cities that belong to any of ``region_codes``."""
    wanted = set(region_codes)
    return frozenset(c.code for c in load_registry() if wanted.intersection(c.regions))


def hash_key(key: str) -> str:
    """sha256 hex of the key as sent."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


@dataclass(frozen=True)
class CreatedKey:
    """A freshly created key: ``key`` is the only time the secret is available."""

    row: ApiKey
    key: str


def _validate_stations(
    session: Session, role: Role, station_ids: Sequence[str], scoped: bool
) -> list[str]:
    """The ingest scope: at least one stored station, and only on ingest keys."""
    from app.stations.models import Station

    stations = sorted(set(station_ids))
    if role != Role.INGEST:
        if stations:
            raise KeyRequestError(f"--station: a {role.value} key is not scoped by station")
        return []
    if scoped:
        raise KeyRequestError("--city/--region: an ingest key is scoped by --station only")
    if not stations:
        raise KeyRequestError("--station: an ingest key needs at least one station id")
    known = set(session.scalars(select(Station.id).where(Station.id.in_(stations))))
    unknown = [s for s in stations if s not in known]
    if unknown:
        raise KeyRequestError(f"--station: unknown station id(s) {', '.join(unknown)}")
    return stations


def _validate_scope(
    role: Role, city_codes: Sequence[str], region_codes: Sequence[str]
) -> tuple[list[str], list[str]]:
    cities = sorted(set(city_codes))
    regions = sorted(set(region_codes))
    if role == Role.INGEST:
        return cities, regions  # refused by _validate_stations when given
    if role in STAFF_ROLES and (cities or regions):
        raise KeyRequestError(f"--role {role.value} acts for every city; drop --city/--region")
    if role == Role.CITY_OFFICE:
        if not cities:
            raise KeyRequestError("--city: a city_office key needs at least one city code")
        if regions:
            raise KeyRequestError("--region: a city_office key is scoped by --city only")
        known = {c.code for c in load_registry()}
        unknown = [c for c in cities if c not in known]
        if unknown:
            raise KeyRequestError(f"--city: unknown city code(s) {', '.join(unknown)}")
    if role == Role.COORDINATOR:
        if not regions:
            raise KeyRequestError("--region: a coordinator key needs at least one region code")
        if cities:
            raise KeyRequestError("--city: a coordinator key is scoped by --region only")
        known_regions = {r.code for r in load_regions()}
        unknown = [r for r in regions if r not in known_regions]
        if unknown:
            raise KeyRequestError(f"--region: unknown region code(s) {', '.join(unknown)}")
    return cities, regions


def create_key(
    session: Session,
    *,
    name: str,
    role: Role | str,
    now: datetime,
    city_codes: Sequence[str] = (),
    region_codes: Sequence[str] = (),
    station_ids: Sequence[str] = (),
) -> CreatedKey:
    """Issue a key. The returned ``key`` is shown once; only its hash is written."""
    try:
        role = Role(role)
    except ValueError:
        raise KeyRequestError(
            f"--role: unknown role {role!r}; one of {', '.join(r.value for r in Role)}"
        ) from None
    name = name.strip()
    if not name or len(name) > 128:
        raise KeyRequestError("--name: give 1-128 characters naming who holds the key")
    cities, regions = _validate_scope(role, city_codes, region_codes)
    stations = _validate_stations(session, role, station_ids, bool(cities or regions))
    key = new_key()
    row = ApiKey(
        name=name,
        role=role.value,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(key),
        city_codes=cities,
        region_codes=regions,
        station_ids=stations,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return CreatedKey(row=row, key=key)


def list_keys(session: Session, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: int, now: datetime) -> ApiKey | None:
    """Mark the key revoked (kept for the record); None if there is no such key."""
    row = session.get(ApiKey, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def principal_of(row: ApiKey) -> Principal:
    return Principal(
        key_id=row.id,
        name=row.name,
        role=Role(row.role),
        city_codes=frozenset(row.city_codes or ()),
        region_codes=frozenset(row.region_codes or ()),
        station_ids=frozenset(row.station_ids or ()),
    )


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 256:
        return None
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return principal_of(row)
