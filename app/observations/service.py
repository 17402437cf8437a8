"""Observations: all-or-nothing, idempotent import of observation files, and queries.

Import (`import_observations`):

1. Every file is parsed and validated by `forecasting.observations` (bad input raises
   `ObservationFileError` naming file, line and reason) before anything is written.
2. Every (station, city) a file names is resolved with `app.stations.service`; a name no
   station answers to refuses the whole import, citing the line of its first row.
3. Then the files are written, in the order given, inside the caller's transaction.

Merge rule for a station-hour already stored (the key is station id + UTC hour):
- a value the file has (not NaN) replaces the stored one; a value the file lacks (NaN)
  never erases a stored one. So importing the long format for O3 fills the `o3` column of
  rows a multi-site import wrote, and keeps their other columns;
- QC flags accumulate: the incoming flags are added to the stored ones (flags mark, they
  are never silently dropped);
- `source` becomes the source of the last file that changed the row.
A row whose merge changes nothing is counted `unchanged` and not written, so re-importing
a file adds and changes nothing.

Fast paths: PostgreSQL gets a binary COPY (built with numpy, no per-row Python) into a
temporary table and one `INSERT ... SELECT ... ON CONFLICT DO UPDATE`; SQLite an
`executemany` into a temporary table and the same upsert. When nothing is stored yet for
the file's stations within its first..last hour (a first import), a plain INSERT replaces
the upsert (on SQLite an `executemany` straight into the table), under a savepoint that
falls back to the upsert should a concurrent writer have added rows. The caller commits.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import ColumnElement, case, func, literal_column, null, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.cities.service import station_ids
from app.observations.models import Observation
from app.stations.service import resolve_stations
from forecasting.aqi import AQIResult, daily_aqi, daily_indicators, version_for
from forecasting.observations import (
    POLLUTANTS,
    SOURCES,
    VALUE_COLUMNS,
    ObservationFile,
    ObservationFileError,
    read_observation_file,
)
from forecasting.qc import mask_flagged, station_keys

#: progress(description, completed_steps, total_steps); one step per file read and written.
ProgressCallback = Callable[[str, int, int], None]

TEMP_TABLE = "observations_import"


@dataclass(frozen=True)
class FileImportSummary:
    """What importing one file did. `rows_read` counts the station-hours the file holds
    (one per data line, except five-cities: one per site per line);
    rows_read = inserted + updated + unchanged."""

    path: str
    source: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class ImportSummary:
    """Per-file summaries, in the order imported, and their totals."""

    files: tuple[FileImportSummary, ...]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.files)

    @property
    def unchanged(self) -> int:
        return sum(f.unchanged for f in self.files)


@dataclass
class _Batch:
    """One file's rows ready to write: station ids resolved, columns as numpy arrays."""

    path: Path
    source: str
    station_ids: np.ndarray  # object, our station ids
    time: pd.DatetimeIndex  # UTC
    values: dict[str, np.ndarray]  # float64, NaN = missing
    qc_flags: np.ndarray  # object, "" = clean

    def __len__(self) -> int:
        return len(self.time)


def import_observations(
    session: Session, paths: Iterable[str | Path], progress: ProgressCallback | None = None
) -> ImportSummary:
    """Import observation files all or nothing (see module docstring). Does not commit.

    Raises `ObservationFileError` (file, line, reason) for a malformed file or an unknown
    station, before anything is written.
    """
    file_paths = [Path(p) for p in paths]
    total = 2 * len(file_paths)
    step = 0

    def report(description: str) -> None:
        if progress is not None:
            progress(description, step, total)

    parsed: list[ObservationFile] = []
    for path in file_paths:
        report(f"reading {path.name}")
        parsed.append(read_observation_file(path))
        step += 1
    batches = _resolve(session, parsed)
    session.flush()
    writer = _writer_for(session)
    summaries = []
    for batch in batches:
        report(f"writing {batch.path.name}")
        inserted, updated = writer(session, batch)
        summaries.append(
            FileImportSummary(
                path=str(batch.path),
                source=batch.source,
                rows_read=len(batch),
                inserted=inserted,
                updated=updated,
                unchanged=len(batch) - inserted - updated,
            )
        )
        step += 1
    report("done")
    return ImportSummary(tuple(summaries))


def _resolve(session: Session, files: Sequence[ObservationFile]) -> list[_Batch]:
    """Map every file's (station, city) to a station id; refuse the import on the first
    name nothing answers to."""
    pairs = {key for f in files for key in f.station_lines}
    resolved = resolve_stations(session, sorted(pairs, key=lambda p: (p[0], p[1] or "")))
    for f in files:
        for key, line in sorted(f.station_lines.items(), key=lambda item: item[1]):
            if resolved.get(key) is None:
                station, city = key
                where = f" in {city}" if city else ""
                raise ObservationFileError(
                    f.path,
                    line,
                    f"unknown station {station!r}{where}: no single station has this name "
                    "or alias (import the station list with `hazewarn stations import`)",
                )
    batches = []
    for f in files:
        frame = f.frame
        codes = station_keys(frame)
        unique_codes, first_rows, inverse = np.unique(codes, return_index=True, return_inverse=True)
        ids = np.empty(len(unique_codes), dtype=object)
        for i, row in enumerate(first_rows):  # one iteration per station, not per row
            city_name = frame["city"].to_numpy(dtype=object)[row]
            key = (str(frame["station"].iat[row]), None if pd.isna(city_name) else str(city_name))
            found = resolved[key]
            assert found is not None
            ids[i] = found.id
        batches.append(
            _Batch(
                path=f.path,
                source=f.source,
                station_ids=ids[inverse],
                time=pd.DatetimeIndex(frame["time"]),
                values={
                    c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in VALUE_COLUMNS
                },
                qc_flags=frame["qc_flags"].to_numpy(dtype=object),
            )
        )
    return batches


# --------------------------------------------------------------------------- upsert SQL


def _merge_sql(select_sql: str, dialect: str) -> str:
    """INSERT ... SELECT ... ON CONFLICT with the merge rule of the module docstring.

    `select_sql` yields (station_id, time, *VALUE_COLUMNS, qc_flags, source) with NULL for
    missing values and NULL for no flags.
    """
    columns = STORED_COLUMNS
    assignments = [f"{c} = COALESCE(excluded.{c}, observations.{c})" for c in VALUE_COLUMNS]
    # Flags accumulate; a substring test is exact here because no flag token is part of
    # another (tokens are "<column>:<negative|spike|stuck>").
    concat = "observations.qc_flags || ',' || excluded.qc_flags"
    contains = (
        "strpos(observations.qc_flags, excluded.qc_flags) > 0"
        if dialect == "postgresql"
        else "instr(observations.qc_flags, excluded.qc_flags) > 0"
    )
    merged_flags = (
        "CASE WHEN excluded.qc_flags IS NULL THEN observations.qc_flags "
        "WHEN observations.qc_flags IS NULL THEN excluded.qc_flags "
        f"WHEN {contains} THEN observations.qc_flags "
        f"ELSE {concat} END"
    )
    assignments.append(f"qc_flags = {merged_flags}")
    assignments.append("source = excluded.source")
    changed = [
        f"(excluded.{c} IS NOT NULL AND excluded.{c} IS DISTINCT FROM observations.{c})"
        if dialect == "postgresql"
        else f"(excluded.{c} IS NOT NULL AND excluded.{c} IS NOT observations.{c})"
        for c in VALUE_COLUMNS
    ]
    changed.append(
        f"(excluded.qc_flags IS NOT NULL AND (observations.qc_flags IS NULL OR NOT {contains}))"
    )
    return (
        f"INSERT INTO observations ({', '.join(columns)}) {select_sql} "
        "ON CONFLICT (station_id, time) DO UPDATE SET "
        + ", ".join(assignments)
        + " WHERE "
        + " OR ".join(changed)
    )


_Writer = Callable[[Session, _Batch], tuple[int, int]]

STORED_COLUMNS = ("station_id", "time", *VALUE_COLUMNS, "qc_flags", "source")


def _range_has_rows(cursor: Any, batch: _Batch, placeholder: str) -> bool:
    """Whether any stored row of the batch's stations lies within its first..last hour."""
    if len(batch) == 0:
        return False
    stations = sorted(set(batch.station_ids.tolist()))
    first, last = batch.time.min(), batch.time.max()
    if placeholder == "?":  # SQLite compares SQLAlchemy's DATETIME text
        bounds: list[Any] = _sqlite_times(pd.DatetimeIndex([first, last]))
    else:
        bounds = [first.to_pydatetime(), last.to_pydatetime()]
    marks = ", ".join([placeholder] * len(stations))
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM observations "
        f"WHERE station_id IN ({marks}) AND time >= {placeholder} AND time <= {placeholder})",
        [*stations, *bounds],
    )
    return bool(cursor.fetchone()[0])


def _writer_for(session: Session) -> _Writer:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _write_postgresql
    if dialect == "sqlite":
        return _write_sqlite
    raise NotImplementedError(f"observation import does not support {dialect}")


# --------------------------------------------------------------------------- PostgreSQL

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in µs since 1970
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_COPY_TRAILER = struct.pack(">h", -1)


def _binary_copy_rows(batch: _Batch, station_codes: np.ndarray, flag_codes: np.ndarray) -> bytes:
    """The batch as PostgreSQL binary COPY rows, built as one numpy structured array.

    Every field is fixed width: station and flags as int4 codes into small lookup tables,
    time as int8 µs since 2000, values as float8 with NaN (turned into NULL by the upsert).
    """
    fields: list[tuple[str, str]] = [("count", ">i2")]
    fields += [("station_len", ">i4"), ("station", ">i4"), ("time_len", ">i4"), ("time", ">i8")]
    for column in VALUE_COLUMNS:
        fields += [(f"{column}_len", ">i4"), (column, ">f8")]
    fields += [("flags_len", ">i4"), ("flags", ">i4")]
    rows = np.empty(len(batch), dtype=np.dtype(fields))
    rows["count"] = 3 + len(VALUE_COLUMNS)
    rows["station_len"] = 4
    rows["station"] = station_codes
    rows["time_len"] = 8
    rows["time"] = batch.time.as_unit("us").asi8 - _PG_EPOCH_US
    for column in VALUE_COLUMNS:
        rows[f"{column}_len"] = 8
        rows[column] = batch.values[column]
    rows["flags_len"] = 4
    rows["flags"] = flag_codes
    return _PG_COPY_HEADER + rows.tobytes() + _PG_COPY_TRAILER


def _write_postgresql(session: Session, batch: _Batch) -> tuple[int, int]:
    connection = session.connection().connection.driver_connection
    assert connection is not None
    station_codes, stations = pd.factorize(batch.station_ids)
    flag_codes, flags = pd.factorize(batch.qc_flags)
    value_columns = ", ".join(f"{c} float8" for c in VALUE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {TEMP_TABLE} "
            f"(station int4, time timestamptz, {value_columns}, flags int4) ON COMMIT DROP"
        )
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {TEMP_TABLE}_keys "
            "(code int4, station_id text, flags text) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {TEMP_TABLE}, {TEMP_TABLE}_keys")
        with cursor.copy(f"COPY {TEMP_TABLE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_binary_copy_rows(batch, station_codes, flag_codes))
        keys = max(len(stations), len(flags))
        cursor.executemany(
            f"INSERT INTO {TEMP_TABLE}_keys VALUES (%s, %s, %s)",
            [
                (
                    i,
                    str(stations[i]) if i < len(stations) else None,
                    str(flags[i]) if i < len(flags) else None,
                )
                for i in range(keys)
            ],
        )
        values = ", ".join(f"NULLIF(t.{c}, 'NaN')" for c in VALUE_COLUMNS)
        select_sql = (
            f"SELECT s.station_id, t.time, {values}, NULLIF(f.flags, ''), %(source)s "
            f"FROM {TEMP_TABLE} t "
            f"JOIN {TEMP_TABLE}_keys s ON s.code = t.station "
            f"JOIN {TEMP_TABLE}_keys f ON f.code = t.flags"
        )
        if not _range_has_rows(cursor, batch, "%s"):
            # Nothing stored in the batch's range: a plain INSERT skips the conflict
            # machinery. The savepoint covers a concurrent writer adding rows meanwhile.
            try:
                with connection.transaction():
                    cursor.execute(
                        f"INSERT INTO observations ({', '.join(STORED_COLUMNS)}) {select_sql}",
                        {"source": batch.source},
                    )
                return len(batch), 0
            except psycopg.errors.UniqueViolation:
                pass
        cursor.execute(
            f"WITH upserted AS ({_merge_sql(select_sql, 'postgresql')} "
            "RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
            "FROM upserted",
            {"source": batch.source},
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


# --------------------------------------------------------------------------- SQLite


def _sqlite_times(time: pd.DatetimeIndex) -> list[str]:
    """UTC times in SQLAlchemy's SQLite DATETIME text ('2015-01-15 00:00:00.000000')."""
    naive = time.tz_convert("UTC").tz_localize(None).as_unit("us").to_numpy()
    text = np.datetime_as_string(naive, unit="us")
    return list(np.char.replace(text, "T", " ").tolist())


def _write_sqlite(session: Session, batch: _Batch) -> tuple[int, int]:
    connection = session.connection().connection.driver_connection
    assert connection is not None
    value_columns = ", ".join(f"{c} REAL" for c in VALUE_COLUMNS)
    cursor = connection.cursor()
    try:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {TEMP_TABLE} "
            f"(station_id TEXT, time TEXT, {value_columns}, qc_flags TEXT)"
        )
        flags = batch.qc_flags.copy()
        flags[flags == ""] = None
        # sqlite3 stores a NaN parameter as NULL, so value arrays go in as they are.
        rows = list(
            zip(
                batch.station_ids.tolist(),
                _sqlite_times(batch.time),
                *(batch.values[c].tolist() for c in VALUE_COLUMNS),
                flags.tolist(),
                strict=True,
            )
        )
        placeholders = ", ".join("?" * (3 + len(VALUE_COLUMNS)))
        assert batch.source in SOURCES  # spliced into SQL below: only our own names
        if not _range_has_rows(cursor, batch, "?"):
            # Nothing stored in the batch's range: insert straight into the table. The
            # savepoint covers a concurrent writer adding rows meanwhile.
            cursor.execute("SAVEPOINT observations_import")
            try:
                cursor.executemany(
                    f"INSERT INTO observations ({', '.join(STORED_COLUMNS)}) "
                    f"VALUES ({placeholders}, '{batch.source}')",
                    rows,
                )
                cursor.execute("RELEASE observations_import")
                return len(batch), 0
            except sqlite3.IntegrityError:
                cursor.execute("ROLLBACK TO observations_import")
                cursor.execute("RELEASE observations_import")
        cursor.execute(f"DELETE FROM {TEMP_TABLE}")
        cursor.executemany(f"INSERT INTO {TEMP_TABLE} VALUES ({placeholders})", rows)
        cursor.execute(
            f"SELECT count(*) FROM {TEMP_TABLE} t WHERE NOT EXISTS "
            "(SELECT 1 FROM observations o WHERE o.station_id = t.station_id AND o.time = t.time)"
        )
        inserted = int(cursor.fetchone()[0])
        columns = ", ".join(VALUE_COLUMNS)
        # "WHERE true" tells SQLite's parser the ON CONFLICT belongs to the INSERT.
        select_sql = f"SELECT station_id, time, {columns}, qc_flags, ? FROM {TEMP_TABLE} WHERE true"
        cursor.execute(_merge_sql(select_sql, "sqlite"), (batch.source,))
        changed = cursor.rowcount
        cursor.execute(f"DELETE FROM {TEMP_TABLE}")
    finally:
        cursor.close()
    return inserted, changed - inserted


# --------------------------------------------------------------------------- queries


def as_utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC datetimes)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def list_observations(
    session: Session,
    station_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
    after: datetime | None = None,
    limit: int = 100,
) -> list[Observation]:
    """Observations of a station in time order, `start <= time < end`, strictly after
    `after` (keyset pagination), at most `limit`. Datetimes must be aware."""
    query = select(Observation).where(Observation.station_id == station_id)
    if start is not None:
        query = query.where(Observation.time >= start.astimezone(UTC))
    if end is not None:
        query = query.where(Observation.time < end.astimezone(UTC))
    if after is not None:
        query = query.where(Observation.time > after.astimezone(UTC))
    return list(session.scalars(query.order_by(Observation.time).limit(limit)))


def valid_value(name: str) -> ColumnElement[Any]:
    """SQL for an observation column that is NULL where a QC flag marks it (the SQL
    twin of `forecasting.qc.mask_flagged`), for aggregates computed in the database."""
    column = getattr(Observation, name)
    padded = literal_column("','").concat(func.coalesce(Observation.qc_flags, ""))
    return case((padded.like(f"%,{name}:%"), null()), else_=column)


def observations_frame(
    session: Session, station_ids: Sequence[str], start: datetime, end: datetime
) -> pd.DataFrame:
    """Hourly values of stations in `start <= time < end` (aware datetimes): columns
    station_id, time (UTC) and the value columns. A QC-flagged value is NaN here (see
    `forecasting.qc.mask_flagged`): it is stored and shown, never used."""
    query = (
        select(Observation)
        .where(Observation.station_id.in_(list(station_ids)))
        .where(Observation.time >= start.astimezone(UTC))
        .where(Observation.time < end.astimezone(UTC))
        .order_by(Observation.station_id, Observation.time)
    )
    records = [
        {
            "station_id": o.station_id,
            "time": as_utc(o.time),
            **{c: getattr(o, c) for c in VALUE_COLUMNS},
            "qc_flags": o.qc_flags,
        }
        for o in session.scalars(query)
    ]
    frame = pd.DataFrame.from_records(
        records, columns=["station_id", "time", *VALUE_COLUMNS, "qc_flags"]
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in VALUE_COLUMNS:
        frame[column] = frame[column].astype("float64")
    return mask_flagged(frame).drop(columns=["qc_flags"])


# --------------------------------------------------------------------------- daily AQI

DEFAULT_TIMEZONE = "Asia/Shanghai"  # stations outside our city registry are all in China


@dataclass(frozen=True)
class DailyAQI:
    """One daily AQI: the `forecasting.aqi` result plus the data it came from."""

    result: AQIResult
    indicators: dict[str, float | None]
    valid_hours: dict[str, int]


@dataclass(frozen=True)
class CityDailyAQI:
    city_code: str
    day: date
    timezone: str
    version: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    city: DailyAQI
    stations: tuple[tuple[str, DailyAQI], ...]  # (station id, AQI), stations with data


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a local calendar day starts and ends (exclusive)."""
    start = datetime.combine(day, dt_time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), dt_time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _daily(hourly: pd.DataFrame, version: str) -> DailyAQI:
    """`hourly`: pollutant columns on a local-time DatetimeIndex of one day."""
    indicators = daily_indicators(hourly, version)
    result = daily_aqi(indicators, version=version)
    valid = {p: int(hourly[p].notna().sum()) for p in POLLUTANTS}
    return DailyAQI(result=result, indicators=indicators, valid_hours=valid)


def city_daily_aqi(session: Session, city: City, day: date) -> CityDailyAQI:
    """Daily AQI (HJ 633, version in force on `day`) of a city's stations and of the city,
    for the city's local calendar day.

    Each station's indicators come from its own hours (a 24 h mean needs ≥ 20 of them,
    see `forecasting.aqi.daily_indicators`). The city series is, hour by hour, the mean of
    the concentrations of the stations reporting that hour, as HJ 663 averages a city's
    sites; its indicators and AQI follow from that series by the same rules.
    """
    zone = ZoneInfo(city.timezone)
    start, end = local_day_bounds(day, zone)
    version = version_for(day)
    frame = observations_frame(session, station_ids(session, city.code), start, end)
    frame["time"] = frame["time"].dt.tz_convert(zone)
    stations: list[tuple[str, DailyAQI]] = []
    for station_id, hourly in frame.groupby("station_id", sort=True):
        series = hourly.set_index("time")[list(POLLUTANTS)]
        if series.notna().to_numpy().any():
            stations.append((str(station_id), _daily(series, version)))
    city_hourly = frame.groupby("time")[list(POLLUTANTS)].mean()
    city_hourly.index = pd.DatetimeIndex(city_hourly.index)
    return CityDailyAQI(
        city_code=city.code,
        day=day,
        timezone=city.timezone,
        version=version,
        start=start,
        end=end,
        city=_daily(city_hourly, version),
        stations=tuple(stations),
    )
