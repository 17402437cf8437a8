"""Cities: syncing the registry into the `cities` table, and reading it back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.cities.registry import DEFAULT_REGISTRY_PATH, CityEntry, load_registry
from app.database import update_changed
from app.stations.models import Station


@dataclass(frozen=True)
class SyncSummary:
    """What `sync_registry` did: rows added, rows changed, rows already up to date."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _row_values(entry: CityEntry) -> dict[str, object]:
    return {
        "name_zh": entry.name_zh,
        "name_en": entry.name_en,
        "province_zh": entry.province_zh,
        "province_en": entry.province_en,
        "lat": entry.lat,
        "lon": entry.lon,
        "timezone": entry.timezone,
        "regions": list(entry.regions),
    }


def sync_registry(session: Session, path: Path | str = DEFAULT_REGISTRY_PATH) -> SyncSummary:
    """Upsert every registry city into `cities`; running it twice changes nothing.

    Cities in the table but no longer in the registry are left alone (stations and
    warnings may refer to them). Flushes but does not commit: the caller owns the
    transaction.
    """
    entries = load_registry(path)
    existing = {c.code: c for c in session.scalars(select(City))}
    inserted = updated = unchanged = 0
    for entry in entries:
        values = _row_values(entry)
        city = existing.get(entry.code)
        if city is None:
            session.add(City(code=entry.code, **values))
            inserted += 1
            continue
        if update_changed(city, values):
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return SyncSummary(inserted=inserted, updated=updated, unchanged=unchanged)


def list_cities(session: Session, region: str | None = None) -> list[City]:
    """All cities ordered by code, optionally only members of `region` (a region code)."""
    cities = list(session.scalars(select(City).order_by(City.code)))
    if region is not None:
        # Region membership is a JSON list; filtering in Python keeps SQLite and
        # PostgreSQL alike, and the table holds tens of rows.
        cities = [c for c in cities if region in (c.regions or [])]
    return cities


def get_city(session: Session, code: str) -> City | None:
    return session.get(City, code)


def station_counts(session: Session) -> dict[str, int]:
    """Number of stations linked to each city code (cities without stations are absent)."""
    rows = session.execute(
        select(Station.city_code, func.count())
        .where(Station.city_code.is_not(None))
        .group_by(Station.city_code)
    )
    return {code: count for code, count in rows if code is not None}


def station_ids(session: Session, code: str) -> list[str]:
    """Ids of the stations linked to city `code`, sorted."""
    return list(
        session.scalars(select(Station.id).where(Station.city_code == code).order_by(Station.id))
    )
