"""Back up and restore, as docs/operations.md says: PostgreSQL with pg_dump/pg_restore,
SQLite with its online backup API (`hazewarn db backup`) while a writer keeps writing;
each restored copy is served."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app import migrate
from app.cities.registry import load_registry
from app.cli import cli
from app.database import reset_caches


def _pg_tool(name: str) -> str:
    """Debian's newest pg_dump/pg_restore (they must be at least the server's version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        pytest.fail(f"{name} not found in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return str(found[-1])


def _seed() -> str:
    """City registry, the shipped plans and an admin key: returns the key's prefix."""
    from app.auth.service import Role, create_key
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.plans.service import load_plan_files
    from contingency_plans.loader import PLANS_DIR, plan_files

    now = datetime(2026, 12, 1, tzinfo=UTC)
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, plan_files(PLANS_DIR), now)
        created = create_key(session, name="backup test", role=Role.ADMIN, now=now)
        return created.row.prefix


def _serve_and_check(url: str, monkeypatch: pytest.MonkeyPatch, key_prefix: str) -> None:
    """Point the app at ``url`` and check the restored copy serves what was stored."""
    from app.auth.models import ApiKey
    from app.database import session_scope
    from app.main import create_app

    monkeypatch.setenv("HAZEWARN_DATABASE_URL", url)
    monkeypatch.setenv("HAZEWARN_HEALTH_REQUIRED", "database,outbox")
    reset_caches()
    with TestClient(create_app()) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["checks"]["database"]["revision"] == migrate.head_revision()
        assert client.get("/v1/plans/110000").status_code == 200
        assert client.get("/v1/cities").json()["total"] == len(load_registry())
    with session_scope() as session:
        stored = select(func.count()).select_from(ApiKey).where(ApiKey.prefix == key_prefix)
        assert session.scalar(stored) == 1
    reset_caches()


@pytest.fixture
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two new databases on the test server: (source, restore target)."""
    base = os.environ.get("HAZEWARN_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("HAZEWARN_TEST_POSTGRES_URL is not set (required under CI=true)")
        pytest.skip("HAZEWARN_TEST_POSTGRES_URL is not set")
    names = [f"hw_backup_{uuid.uuid4().hex[:8]}", f"hw_restore_{uuid.uuid4().hex[:8]}"]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [make_url(base).set(database=n).render_as_string(hide_password=False) for n in names]
    try:
        yield urls[0], urls[1]
    finally:
        reset_caches()
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as libpq wants it (no +psycopg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_postgres_pg_dump_and_pg_restore_then_serve(
    postgres_databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = postgres_databases
    migrate.upgrade(source)
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", source)
    reset_caches()
    prefix = _seed()
    reset_caches()
    dump = tmp_path / "hazewarn.dump"
    subprocess.run(
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}", _libpq(source)],
        check=True,
        timeout=300,
    )
    assert dump.stat().st_size > 0
    restore = [_pg_tool("pg_restore"), "--no-owner", "--exit-on-error"]
    subprocess.run([*restore, f"--dbname={_libpq(target)}", str(dump)], check=True, timeout=300)
    _serve_and_check(target, monkeypatch, prefix)


def test_sqlite_online_backup_while_writing_then_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path
) -> None:
    live = tmp_path / "live.db"
    shutil.copy(sqlite_template, live)
    url = f"sqlite:///{live}"
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", url)
    reset_caches()
    prefix = _seed()

    # A writer keeps committing while the backup runs: the copy must still be consistent.
    stop = threading.Event()
    enough = threading.Event()
    written: list[int] = []

    def write() -> None:
        engine = create_engine(url, connect_args={"timeout": 30})
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS backup_probe (n INTEGER)"))
            conn.commit()
            n = 0
            while not stop.is_set() or n < 50:
                n += 1
                conn.execute(text("INSERT INTO backup_probe (n) VALUES (:n)"), {"n": n})
                conn.commit()
                written.append(n)
                if n >= 10:
                    enough.set()
        engine.dispose()

    writer = threading.Thread(target=write)
    writer.start()
    copy = tmp_path / "backups" / "hazewarn.db"
    copy.parent.mkdir()
    try:
        assert enough.wait(60), "the writer did not get going"
        result = CliRunner().invoke(cli, ["db", "backup", str(copy)])
        assert result.exit_code == 0, result.output
    finally:
        stop.set()
        writer.join(timeout=60)
    check = create_engine(f"sqlite:///{copy}")
    with check.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        count, highest = conn.execute(text("SELECT count(*), max(n) FROM backup_probe")).one()
    check.dispose()
    assert count == highest >= 10  # a prefix of the writes, none torn
    assert count <= len(written)
    assert not list(copy.parent.glob(".*partial"))

    # Restore: the copy becomes the database file, and is served.
    restored = tmp_path / "restored.db"
    shutil.copy(copy, restored)
    _serve_and_check(f"sqlite:///{restored}", monkeypatch, prefix)


def test_db_backup_refuses_postgresql_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x")
    reset_caches()
    result = CliRunner().invoke(cli, ["db", "backup", "/tmp/x.db"])
    reset_caches()
    assert result.exit_code == 2
    assert "pg_dump" in result.output
