"""Helpers shared by the benchmarks in `bench/`: machine facts, docs/benchmarks.md sections,
scratch databases and process CPU time.

Each benchmark is one command that writes its figures into its own ``## title`` section of
docs/benchmarks.md, with the machine it ran on. On this shared machine the load average
matters as much as the CPU model, so `machine_info` always states it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "docs" / "benchmarks.md"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Environment variables naming a PostgreSQL server for benchmarks, first match wins.
POSTGRES_ENV = ("HAZEWARN_BENCH_POSTGRES_URL", "HAZEWARN_TEST_POSTGRES_URL")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"3.5, 3.8, 2.6"``."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def package_version(package: str) -> str:
    """The installed version of the distribution ``package``, or ``"absent"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine_info(packages: Sequence[str] = (), extra: Sequence[str] = ()) -> str:
    """One sentence on where and when a benchmark ran: CPU, cores, load average now,
    OS, Python, the versions of ``packages`` (distribution names), any ``extra`` facts
    (e.g. ``"SQLite 3.45.1"``, ``"database PostgreSQL"``), and the UTC time.

    Call it at the end of the run, so the load average covers the measurement.
    """
    versions = "".join(f", {name} {package_version(name)}" for name in packages)
    versions += "".join(f", {fact}" for fact in extra)
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average {load_average()} "
        f"at the end (shared with other work); {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}{versions}. "
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
    )


def write_section(title: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the ``## title`` section of docs/benchmarks.md with ``body`` (or append the
    section), leaving every other section byte for byte as it was.

    Several benchmarks may finish at once: an exclusive lock on a file in the system's
    temporary folder (not in the repository) serialises the read-modify-write, and the new
    text replaces the file in one rename.
    """
    heading = f"## {title}"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"hazewarn-benchmarks-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
        block = f"{heading}\n\n{body.strip()}\n"
        pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(current):
            updated = pattern.sub(lambda _: block + "\n", current, count=1).rstrip() + "\n"
        else:
            updated = current.rstrip() + "\n\n" + block
        scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        scratch.write_text(updated, encoding="utf-8")
        os.replace(scratch, path)


def shared_data() -> Path:
    """The shared data folder: ``HAZEWARN_SHARED_DATA``, else ``../shared/data``."""
    return Path(os.environ.get("HAZEWARN_SHARED_DATA", REPO.parent / "shared" / "data"))


def postgres_server(explicit: str | None) -> str | None:
    """The PostgreSQL URL to benchmark on: ``explicit`` (``--postgres``), else the first of
    `POSTGRES_ENV` that is set, else None (SQLite only)."""
    if explicit:
        return explicit
    for name in POSTGRES_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A new, empty database of its own on the PostgreSQL ``server`` (a URL): its URL,
    dropped again on the way out (also after an error or Ctrl-C)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hw_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def scratch_database(postgres: str | None, folder: Path) -> Iterator[str]:
    """A new, migrated, empty database made current for `app` (``HAZEWARN_DATABASE_URL``):
    a SQLite file in ``folder``, or, given a server URL, a database of its own on that
    PostgreSQL server, dropped again on the way out (also after an error or Ctrl-C)."""
    from app import migrate
    from app.database import reset_caches

    with ExitStack() as stack:
        if postgres:
            url = stack.enter_context(postgres_database(postgres))
        else:
            url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        previous = os.environ.get("HAZEWARN_DATABASE_URL")
        os.environ["HAZEWARN_DATABASE_URL"] = url
        reset_caches()
        try:
            migrate.upgrade(url)
            yield url
        finally:
            reset_caches()
            if previous is None:
                os.environ.pop("HAZEWARN_DATABASE_URL", None)
            else:
                os.environ["HAZEWARN_DATABASE_URL"] = previous


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc); NaN if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
