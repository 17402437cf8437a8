"""Stations: resolving source names to our station ids, and importing station lists.

`resolve_station` / `resolve_stations` are the interface the observation importers use to
map the names their files carry (``Dongsi``, ``US Post``, ``Changping``, StateAir's
``Site = Beijing``) to rows of the `stations` table.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.cities.registry import CityEntry, load_registry
from app.cities.service import sync_registry
from app.database import update_changed
from app.stations.models import Station

EXTRA_STATIONS_PATH = Path(__file__).with_name("extra_stations.yaml")

# Columns of the national station list (KnowAir / PM2.5-GNN `station_info.csv`).
STATION_LIST_COLUMNS = (
    "ID",
    "stations_name",
    "stations_en_name",
    "area",
    "area_en_name",
    "lon",
    "lat",
)

_SPACES = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """A name as compared when resolving: trimmed, inner blanks collapsed, case-folded.

    Full-width spaces (U+3000, found in the national station list) count as blanks.
    """
    return _SPACES.sub(" ", name.replace("\u3000", " ")).strip().casefold()


def _station_keys(station: Station) -> set[str]:
    """Every normalised name a station answers to: id, English and Chinese name, aliases."""
    names = [station.id, station.name_en, station.name_zh or "", *(station.aliases or [])]
    return {normalise_name(n) for n in names if n and n.strip()}


def _city_matches(city: City, wanted: str) -> bool:
    """True when `wanted` names this city by code, English or Chinese name (with or without 市)."""
    names = {city.code, city.name_en, city.name_zh, city.name_zh.removesuffix("市")}
    return wanted in {normalise_name(n) for n in names}


def _stations_in_city(session: Session, city_name: str) -> list[Station]:
    """Stations that report for the city named `city_name` (code, English or Chinese name).

    Stations linked to one of our cities are found through `city_code`; for a city outside
    our registry, stations are found through the area names the station list gave them.
    """
    wanted = normalise_name(city_name)
    cities = [c for c in session.scalars(select(City)) if _city_matches(c, wanted)]
    if cities:
        codes = [c.code for c in cities]
        return list(session.scalars(select(Station).where(Station.city_code.in_(codes))))
    return [
        s
        for s in session.scalars(select(Station))
        if wanted in {normalise_name(s.area_en or ""), normalise_name(s.area_zh or "")}
    ]


def _pick(candidates: list[Station], name: str) -> Station | None:
    """The one station among `candidates` that answers to `name`; None if none or several.

    An exact id match wins over names, so ``1003A`` is never ambiguous.
    """
    key = normalise_name(name)
    if not key:
        return None
    by_id = [s for s in candidates if normalise_name(s.id) == key]
    if len(by_id) == 1:
        return by_id[0]
    matches = [s for s in candidates if key in _station_keys(s)]
    return matches[0] if len(matches) == 1 else None


def resolve_station(
    session: Session, source_name: str, city_en: str | None = None
) -> Station | None:
    """The station a source calls `source_name`, or None when no single station matches.

    Matching is case-insensitive on the station id, English name, Chinese name or one of its
    aliases. With `city_en` (English or Chinese city name, or GB/T 2260 code) only that
    city's stations are searched, which is how ``US Post`` or ``Dongsi`` become unambiguous.
    A name several stations answer to (e.g. ``US Post`` without a city) gives None.
    """
    if city_en is None:
        direct = session.get(Station, source_name.strip())
        if direct is not None:
            return direct
        candidates = list(session.scalars(select(Station)))
    else:
        candidates = _stations_in_city(session, city_en)
    return _pick(candidates, source_name)


def resolve_stations(
    session: Session, names: Iterable[tuple[str, str | None]]
) -> dict[tuple[str, str | None], Station | None]:
    """`resolve_station` for many ``(source_name, city_en)`` pairs, reading the tables once.

    Returns a dict keyed by the pairs as given; unresolved pairs map to None.
    """
    all_stations = list(session.scalars(select(Station)))
    cities = list(session.scalars(select(City)))
    by_city: dict[str | None, list[Station]] = {}
    result: dict[tuple[str, str | None], Station | None] = {}
    for source_name, city_name in names:
        if city_name not in by_city:
            if city_name is None:
                by_city[None] = all_stations
            else:
                wanted = normalise_name(city_name)
                codes = {c.code for c in cities if _city_matches(c, wanted)}
                if codes:
                    by_city[city_name] = [s for s in all_stations if s.city_code in codes]
                else:
                    by_city[city_name] = [
                        s
                        for s in all_stations
                        if wanted
                        in {normalise_name(s.area_en or ""), normalise_name(s.area_zh or "")}
                    ]
        result[(source_name, city_name)] = _pick(by_city[city_name], source_name)
    return result


# --- Station lists -----------------------------------------------------------------------


class StationFileError(ValueError):
    """A station file was refused whole; `line` is 1-based (the header is line 1)."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. `linked` counts the file's stations that belong to one of our
    cities; `extras` is the summary of the built-in extra stations loaded alongside."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    linked: int
    extras: ImportSummary | None = None


@dataclass(frozen=True)
class StationRecord:
    """One validated station, ready to upsert. Degrees WGS 84."""

    id: str
    name_zh: str | None
    name_en: str
    area_zh: str | None
    area_en: str | None
    lat: float
    lon: float
    city_code: str | None
    aliases: tuple[str, ...] = ()


def _clean(text: str | None) -> str:
    """Trim blanks, including the full-width spaces the national list carries."""
    return (text or "").replace("\u3000", " ").strip()


def _coordinate(path: Path, line: int, column: str, text: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise StationFileError(path, line, f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise StationFileError(path, line, f"{column} {text!r} is outside -{limit:g}..{limit:g}")
    return value


class CityMatcher:
    """Links a station's area (the city as the station list names it) to one of our cities.

    The Chinese area name decides when present (北京 or 北京市); the English one, which the
    national list spells loosely (Chengdou, Xian), is used only when there is no Chinese
    name, and also matches a city's `other_names`.
    """

    def __init__(self, cities: Iterable[CityEntry]) -> None:
        self._zh: dict[str, str] = {}
        self._en: dict[str, str] = {}
        for city in cities:
            self._zh[city.name_zh] = city.code
            self._zh[city.short_name_zh] = city.code
            for name in (city.name_en, *city.other_names):
                self._en[normalise_name(name)] = city.code

    def code_for(self, area_zh: str | None, area_en: str | None) -> str | None:
        if area_zh:
            return self._zh.get(area_zh)
        if area_en:
            return self._en.get(normalise_name(area_en))
        return None


def parse_station_list(path: Path | str, matcher: CityMatcher) -> list[StationRecord]:
    """Read and validate a whole station list; raise `StationFileError` at the first fault.

    Columns: ID, stations_name, stations_en_name, area, area_en_name, lon, lat (UTF-8,
    optional BOM). Every row needs an ID (unique in the file), an English name and numeric
    coordinates in range.
    """
    path = Path(path)
    try:
        # A gzip-compressed list (the demo extract ships one) reads the same.
        opener = gzip.open if path.name.endswith(".gz") else open
        handle = opener(path, "rt", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise StationFileError(path, 0, f"cannot open: {exc.strerror or exc}") from exc
    records: list[StationRecord] = []
    first_line: dict[str, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = [_clean(name) for name in (reader.fieldnames or [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise StationFileError(path, 1, f"unreadable header: {exc}") from exc
        missing = [c for c in STATION_LIST_COLUMNS if c not in header]
        if missing:
            raise StationFileError(path, 1, f"missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        try:
            for row in reader:
                records.append(_parse_row(path, reader.line_num, row, first_line, matcher))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise StationFileError(path, reader.line_num + 1, f"unreadable: {exc}") from exc
    if not records:
        raise StationFileError(path, 1, "no stations in file")
    return records


def _parse_row(
    path: Path,
    line: int,
    row: dict[str | None, str | list[str] | None],
    first_line: dict[str, int],
    matcher: CityMatcher,
) -> StationRecord:
    if None in row:
        raise StationFileError(path, line, "more fields than columns")
    values = {
        k: _clean(v) for k, v in row.items() if isinstance(k, str) and not isinstance(v, list)
    }
    if any(row.get(c) is None for c in STATION_LIST_COLUMNS):
        raise StationFileError(path, line, "fewer fields than columns")
    station_id = values["ID"]
    if not station_id:
        raise StationFileError(path, line, "ID is empty")
    if len(station_id) > 32:
        raise StationFileError(path, line, f"ID {station_id!r} is longer than 32 characters")
    if station_id in first_line:
        raise StationFileError(
            path, line, f"duplicate ID {station_id} (first on line {first_line[station_id]})"
        )
    first_line[station_id] = line
    name_en = values["stations_en_name"]
    if not name_en:
        raise StationFileError(path, line, "stations_en_name is empty")
    lon = _coordinate(path, line, "lon", values["lon"], 180)
    lat = _coordinate(path, line, "lat", values["lat"], 90)
    area_zh = values["area"] or None
    area_en = values["area_en_name"] or None
    return StationRecord(
        id=station_id,
        name_zh=values["stations_name"] or None,
        name_en=name_en,
        area_zh=area_zh,
        area_en=area_en,
        lat=lat,
        lon=lon,
        city_code=matcher.code_for(area_zh, area_en),
    )


# --- Built-in extra stations --------------------------------------------------------------


class ExtraStation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=32)]
    name_zh: str | None = None
    name_en: Annotated[str, Field(min_length=1, max_length=128)]
    city: str = Field(description="GB/T 2260 code of one of our cities")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    aliases: tuple[str, ...] = ()


class ExtraStations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stations: tuple[ExtraStation, ...]
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("aliases", mode="before")
    @classmethod
    def _keys_as_text(cls, value: object) -> object:
        # YAML reads an unquoted station id like 1001 as an int; ids are text.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


def load_extra_stations(path: Path | str = EXTRA_STATIONS_PATH) -> ExtraStations:
    """The validated `extra_stations.yaml`; every station must name a registry city."""
    path = Path(path)
    try:
        extras = ExtraStations.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise StationFileError(path, 0, f"cannot read: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StationFileError(path, 0, f"{where}: {first['msg']}") from exc
    codes = {c.code for c in load_registry()}
    ids = [s.id for s in extras.stations]
    if len(set(ids)) != len(ids):
        raise StationFileError(path, 0, f"duplicate station id in {ids}")
    for station in extras.stations:
        if station.city not in codes:
            raise StationFileError(path, 0, f"{station.id}: city {station.city} not in registry")
    return extras


def _extra_records(extras: ExtraStations) -> list[StationRecord]:
    cities = {c.code: c for c in load_registry()}
    return [
        StationRecord(
            id=s.id,
            name_zh=s.name_zh,
            name_en=s.name_en,
            area_zh=cities[s.city].short_name_zh,
            area_en=cities[s.city].name_en,
            lat=s.lat,
            lon=s.lon,
            city_code=s.city,
            aliases=s.aliases,
        )
        for s in extras.stations
    ]


# --- Writing --------------------------------------------------------------------------------


def _merged_aliases(current: list[str] | None, added: Iterable[str]) -> list[str]:
    """Existing aliases plus new ones, in order, without case-insensitive repeats."""
    merged: list[str] = []
    seen: set[str] = set()
    for alias in [*(current or []), *added]:
        key = normalise_name(alias)
        if key and key not in seen:
            seen.add(key)
            merged.append(alias)
    return merged


def _upsert(
    session: Session, records: list[StationRecord], aliases: dict[str, tuple[str, ...]]
) -> ImportSummary:
    """Insert or update `records`; `aliases` adds names to stations by id. No commit."""
    ids = [r.id for r in records]
    existing: dict[str, Station] = {}
    # Chunked IN lists keep within every driver's parameter limit.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        existing.update(
            {s.id: s for s in session.scalars(select(Station).where(Station.id.in_(chunk)))}
        )
    inserted = updated = unchanged = linked = 0
    for record in records:
        values: dict[str, object] = {
            "name_zh": record.name_zh,
            "name_en": record.name_en,
            "area_zh": record.area_zh,
            "area_en": record.area_en,
            "lat": record.lat,
            "lon": record.lon,
            "city_code": record.city_code,
        }
        new_aliases = (*record.aliases, *aliases.get(record.id, ()))
        if record.city_code is not None:
            linked += 1
        station = existing.get(record.id)
        if station is None:
            session.add(Station(id=record.id, aliases=_merged_aliases([], new_aliases), **values))
            inserted += 1
            continue
        values["aliases"] = _merged_aliases(station.aliases, new_aliases)
        if update_changed(station, values):
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ImportSummary(
        rows=len(records), inserted=inserted, updated=updated, unchanged=unchanged, linked=linked
    )


def sync_extra_stations(session: Session, path: Path | str = EXTRA_STATIONS_PATH) -> ImportSummary:
    """Upsert the built-in extra stations (US posts, Dongsihuan) and add the aliases of
    `extra_stations.yaml` to the national stations already stored. Syncs the city registry
    first (the stations link to it). Idempotent; flushes, does not commit."""
    extras = load_extra_stations(path)
    sync_registry(session)
    summary = _upsert(session, _extra_records(extras), {})
    alias_targets = session.scalars(select(Station).where(Station.id.in_(list(extras.aliases))))
    for station in alias_targets:
        merged = _merged_aliases(station.aliases, extras.aliases[station.id])
        if merged != list(station.aliases or []):
            station.aliases = merged
    session.flush()
    return summary


def import_station_list(
    session: Session, path: Path | str, *, with_extras: bool = True
) -> ImportSummary:
    """Import a national station list (see `parse_station_list`), all or nothing.

    Syncs the city registry, links each station to our city its area names (others keep
    `city_code` NULL), upserts by ID, and, with `with_extras`, loads the built-in extra
    stations and aliases too. A malformed file raises `StationFileError` before anything is
    written. Re-importing the same file changes nothing. Flushes; the caller commits.
    """
    matcher = CityMatcher(load_registry())
    records = parse_station_list(path, matcher)
    extras = load_extra_stations() if with_extras else None
    sync_registry(session)
    summary = _upsert(session, records, extras.aliases if extras else {})
    if not with_extras:
        return summary
    extra_summary = sync_extra_stations(session)
    return ImportSummary(
        rows=summary.rows,
        inserted=summary.inserted,
        updated=summary.updated,
        unchanged=summary.unchanged,
        linked=summary.linked,
        extras=extra_summary,
    )


# --- Reading --------------------------------------------------------------------------------


def list_stations(
    session: Session, city_code: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Station], int]:
    """A page of stations ordered by id, optionally of one city, and the total count."""
    query = select(Station)
    count = select(func.count()).select_from(Station)
    if city_code is not None:
        query = query.where(Station.city_code == city_code)
        count = count.where(Station.city_code == city_code)
    total = session.scalar(count) or 0
    page = list(session.scalars(query.order_by(Station.id).limit(limit).offset(offset)))
    return page, total


def get_station(session: Session, station_id: str) -> Station | None:
    return session.get(Station, station_id)
