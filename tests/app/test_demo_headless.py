"""`scripts/run.sh` from a copy of the checkout with no shared data beside it: the demo comes
up headless on a free port, and its subscribed local receiver gets signed deliveries.

The copy runs its own code (run.sh puts it first on the path) in this test's virtual
environment (``HAZEWARN_VENV``, ``HAZEWARN_SKIP_INSTALL=1``: installing would take minutes).
Every wait is on a condition with a generous limit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_LIMIT = 900.0  # seconds: the setup trains a model; two busy cores are slow
LIMIT = 120.0


def copy_checkout(into: Path) -> None:
    """The checkout's files as a clone would have them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        source = REPO_ROOT / raw.decode()
        if not source.is_file():
            continue  # deleted in the working tree
        target = into / raw.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        target.chmod(source.stat().st_mode)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], Any], process: subprocess.Popen[bytes], log: Path, limit: float
) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited ({process.returncode}) before {what}:\n{log.read_text()}")
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"no {what} within {limit:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_run_sh_without_shared_data_brings_the_demo_up_and_delivers_signed_webhooks(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "machine" / "hazewarn"
    copy_checkout(clone)
    assert not (clone.parent / "shared").exists()
    # Compose's credentials file (as the operations docs have one make it) stays as it is:
    # the demo writes its own environment beside it.
    compose_env = (clone / ".env.example").read_text()
    (clone / ".env").write_text(compose_env)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAZEWARN_")}
    env.pop("PYTHONPATH", None)
    env.update(
        HAZEWARN_SHARED_DATA=str(clone.parent / "shared" / "data"),  # missing
        HAZEWARN_VENV=sys.prefix,
        HAZEWARN_SKIP_INSTALL="1",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh", "--port", str(port)],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_for(
                "readiness",
                lambda: http.get("/health").status_code == 200,
                process,
                log,
                SETUP_LIMIT,
            )

            def receiver() -> dict[str, Any]:
                stats: dict[str, Any] = http.get("/demo/receiver/stats").json()["duty-desk"]
                return stats

            # The ping of the start and the proposal of the second run, both verified.
            stats = wait_for(
                "signed deliveries",
                lambda: (
                    (s := receiver())["event_types"].get("warning.proposed")
                    and s["event_types"].get("endpoint.ping")
                    and s
                ),
                process,
                log,
                LIMIT,
            )
            assert stats["invalid"] == 0
            assert stats["accepted"] == stats["verified"] >= 2

            # A duty officer approves the proposal with the printed key: the warning is
            # issued, delivered too, and the CLI run in the demo's folder sees it active,
            # as the API does (one clock for every command).
            key = next(line for line in log.read_text().splitlines() if line.startswith("hw_"))
            auth = {"Authorization": f"Bearer {key}"}
            proposals = http.get("/v1/proposals", headers=auth).json()["items"]
            assert len(proposals) == 1
            approved = http.post(
                f"/v1/proposals/{proposals[0]['id']}/approve", headers=auth, json={}
            )
            assert approved.status_code == 200, approved.text
            wait_for(
                "the issued warning's delivery",
                lambda: receiver()["event_types"].get("warning.issued"),
                process,
                log,
                LIMIT,
            )
            active = http.get("/v1/warnings", params={"active": "true"}).json()
            assert active["total"] == 1
        hazewarn = [sys.executable, "-c", "from app.cli import main; main()"]
        cli = subprocess.run(
            [*hazewarn, "warnings", "list", "--active"],
            cwd=clone,
            env={**env, "PYTHONPATH": str(clone), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=LIMIT,
        )
        assert cli.returncode == 0, cli.stderr
        assert "1 of 1 warning(s)" in cli.stdout
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]

    # The outbox recorded the deliveries the dashboard shows: every one 200.
    env_file = (clone / "hazewarn-demo.env").read_text()
    assert "HAZEWARN_CLOCK_OFFSET_SECONDS=" in env_file
    assert (clone / ".env").read_text() == compose_env
    with closing(sqlite3.connect(clone / "hazewarn.db")) as conn:
        rows = conn.execute("SELECT status, last_status FROM deliveries").fetchall()
        types = {
            json.loads(payload)["type"]
            for (payload,) in conn.execute(
                "SELECT e.payload FROM outbox_events e JOIN deliveries d ON d.event_id = e.id"
            )
        }
    assert len(rows) >= 3
    assert set(rows) == {("delivered", 200)}
    assert {"endpoint.ping", "warning.proposed", "warning.issued"} <= types
