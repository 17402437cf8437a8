"""Fixtures shared by the whole suite.

Database tests take the `database_url` fixture, which runs each of them on SQLite and on
PostgreSQL. PostgreSQL comes from HAZEWARN_TEST_POSTGRES_URL (scripts/test.sh starts a
private server and sets it); without it the PostgreSQL half is skipped locally and fails
under CI=true. Data tests take `shared_data`, which fails under CI=true when ../shared/data
is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

# Rich fixes its console width when app.console is first imported: make CLI output in tests
# wide enough that file names and messages are never cut, whichever test imports it first.
os.environ.setdefault("COLUMNS", "200")
# Tests never read a .env in the working folder (`hazewarn demo` writes one there).
os.environ["HAZEWARN_ENV_FILE"] = ""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import migrate
from app.database import get_sessionmaker, reset_caches

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public datasets, read in place (HAZEWARN_SHARED_DATA, default ../shared/data)."""
    path = Path(os.environ.get("HAZEWARN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        _missing(f"shared data folder {path} is missing")
    return path


@pytest.fixture(scope="session")
def shared_domain(shared_data: Path) -> Path:
    """../shared/domain (standards note, CAP XSD)."""
    return shared_data.parent / "domain"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """Name of a migrated template database on the test PostgreSQL server."""
    base = os.environ.get("HAZEWARN_TEST_POSTGRES_URL")
    if not base:
        _missing("HAZEWARN_TEST_POSTGRES_URL is not set")
    assert base is not None
    name = f"hw_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate.upgrade(make_url(base).set(database=name).render_as_string(hide_password=False))
    admin.dispose()
    return name


@contextmanager
def _postgres_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test PostgreSQL server (a copy of ``template`` if given),
    dropped afterwards; yields its URL."""
    base = os.environ.get("HAZEWARN_TEST_POSTGRES_URL")
    if not base:
        _missing("HAZEWARN_TEST_POSTGRES_URL is not set")
    assert base is not None
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _current(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Make ``url`` the app's database (settings and engine) while in the block."""
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", url)
    reset_caches()
    try:
        yield url
    finally:
        reset_caches()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A freshly migrated, empty database, made current for the app (settings and engine)."""
    if request.param == "sqlite":
        db_file = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db_file)
        with _current(f"sqlite:///{db_file}", monkeypatch) as url:
            yield url
    else:
        template = request.getfixturevalue("postgres_template")
        with _postgres_database("hw_", template) as pg, _current(pg, monkeypatch) as url:
            yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database that was never migrated, made current for the app."""
    if request.param == "sqlite":
        with _current(f"sqlite:///{tmp_path / 'empty.db'}", monkeypatch) as url:
            yield url
    else:
        with _postgres_database("hw_empty_") as pg, _current(pg, monkeypatch) as url:
            yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    """A session on the test database."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@contextmanager
def _served_in_thread(app: Any, **config: Any) -> Iterator[int]:
    """Serve the ASGI ``app`` with uvicorn (``config``: more `uvicorn.Config` options) in a
    daemon thread on a free loopback port; yields the port once the server has started and
    stops it on the way out."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = {"log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # generous: a busy machine starts slowly
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serve_in_thread() -> Callable[..., AbstractContextManager[int]]:
    """``with serve_in_thread(app, **uvicorn_config) as port:`` a real uvicorn server on
    127.0.0.1 for tests that need real HTTP (webhook receivers, the browser test)."""
    return _served_in_thread
