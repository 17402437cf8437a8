"""The built wheel is complete and runs every container command outside the checkout.

No container engine runs on these machines, so this is what stands in for building and
running the image (docs/operations.md): build the wheel from a copy of the sources, install
it into a new virtual environment in a temporary folder, and from there run the commands
compose.yaml runs: ``db upgrade``, ``plans load``, ``serve`` (``/health/ready`` 200),
``scheduler`` and ``dispatcher`` (until their heartbeats are in the database).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "forecasting", "alerts", "contingency_plans")
BUILD_INPUTS = ("pyproject.toml", "README.md", *PACKAGES)

pytestmark = pytest.mark.slow


def _ignore(_folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in {"__pycache__", ".mypy_cache"} or n.endswith(".pyc")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (with this environment's setuptools, no index needed) from a copy
    of the sources, so nothing in the checkout is touched and no stray file gets in."""
    import shutil

    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=_ignore)
        else:
            shutil.copy(origin, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        timeout=600,
    )
    (built,) = dist.glob("hazewarn-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment outside the checkout with the wheel installed (its
    dependencies from the package index, through pip's cache)."""
    folder = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        timeout=1800,
    )
    return folder


def test_the_wheel_carries_every_data_file_of_the_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert expected - names == set()
    # The kinds the issue names, so the comparison above cannot pass on an empty tree.
    for must in (
        "app/migrations/env.py",
        "app/migrations/script.py.mako",
        "app/cities/registry.yaml",
        "app/dashboard/static/index.html",
        "app/dashboard/static/favicon.svg",
        "contingency_plans/plans/110000-beijing.yaml",
    ):
        assert must in names
    assert any(n.startswith("app/migrations/versions/") for n in names)
    assert any(n.startswith("contingency_plans/regions/") for n in names)
    assert any(n.startswith("alerts/criteria_sets/") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    with zipfile.ZipFile(wheel) as archive:
        text_ = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text_


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that was never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = os.environ.get("HAZEWARN_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("HAZEWARN_TEST_POSTGRES_URL is not set (required under CI=true)")
        pytest.skip("HAZEWARN_TEST_POSTGRES_URL is not set")
    name = f"hw_wheel_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: object, what: str, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.25)
    pytest.fail(f"gave up waiting for {what} after {limit:.0f} s")


def test_the_installed_wheel_runs_every_container_command(
    venv: Path, empty_database: str, tmp_path: Path
) -> None:
    work = tmp_path / "run"  # the working directory: outside the checkout, no sources in it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAZEWARN_", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
        PYTHONPATH="",
        HAZEWARN_DATABASE_URL=empty_database,
        HAZEWARN_GRID_INBOX=str(work / "grid-inbox"),
        HAZEWARN_MODEL_PATH=str(work / "models" / "pm25.joblib"),
        HAZEWARN_RANKINGS_DIR=str(work / "rankings"),
        HAZEWARN_HEARTBEAT_SECONDS="1",
        HAZEWARN_SCHEDULER_RUNS_DISPATCHER="false",
        HAZEWARN_LOG_FORMAT="json",
        # No model or forecast yet on a new deployment: readiness needs the rest.
        HAZEWARN_HEALTH_REQUIRED="database,outbox,scheduler,dispatcher",
    )
    hazewarn = str(venv / "bin" / "hazewarn")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [hazewarn, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )

    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import app.migrate as m; print(m.migrations_dir())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert located.startswith(str(venv)), located  # from the installed package
    assert run("--version").stdout.strip() == "hazewarn 0.1.0"

    early = run("keys", "create", "--role", "admin", "--name", "ops")
    assert early.returncode == 2
    assert early.stderr.strip().count("\n") == 0
    assert "run `hazewarn db upgrade`" in early.stderr

    upgrade = run("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    plans = run("plans", "load")
    assert plans.returncode == 0, plans.stderr
    assert "110000" in plans.stdout

    logs = work / "logs"
    logs.mkdir()
    port = _free_port()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for role, args in (
            ("scheduler", ["scheduler"]),
            ("dispatcher", ["dispatcher"]),
            ("api", ["serve", "--host", "127.0.0.1", "--port", str(port)]),
        ):
            with (logs / f"{role}.log").open("wb") as out:
                processes[role] = subprocess.Popen(
                    [hazewarn, *args], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        engine = create_engine(empty_database)

        def beats() -> set[str]:
            for role, process in processes.items():
                assert process.poll() is None, (role, (logs / f"{role}.log").read_text())
            with engine.connect() as conn:
                return set(conn.execute(text("SELECT role FROM heartbeats")).scalars())

        _wait(lambda: beats() == {"scheduler", "dispatcher"}, "scheduler and dispatcher beats")
        engine.dispose()
        for role in ("scheduler", "dispatcher"):
            check = run("health", "check", "--role", role)
            assert check.returncode == 0, check.stderr

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
            except httpx.TransportError:
                return False

        _wait(ready, "/health/ready 200")
        body = httpx.get(f"http://127.0.0.1:{port}/health/ready").json()
        assert body["status"] == "ready"
        assert body["checks"]["scheduler"]["ok"] and body["checks"]["dispatcher"]["ok"]
        assert body["checks"]["model"] == {
            **body["checks"]["model"],
            "ok": False,
            "required": False,
        }
        plans_api = httpx.get(f"http://127.0.0.1:{port}/v1/plans/110000")
        assert plans_api.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200  # dashboard assets
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {role: process.wait(timeout=60) for role, process in processes.items()}
    # uvicorn shuts down cleanly, then re-raises the signal it caught (exit by SIGTERM).
    clean = {"scheduler": 0, "dispatcher": 0, "api": codes["api"]}
    tails = {role: (logs / f"{role}.log").read_text()[-2000:] for role in processes}
    assert codes == clean and codes["api"] in (0, -signal.SIGTERM), tails
    assert "Finished server process" in tails["api"]
    assert all(json.loads(line) for line in tails["api"].splitlines()[1:])  # JSON log lines
