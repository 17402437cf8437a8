"""Shared by the reliability benchmarks (`crash_cycle.py`, `soak.py`, `audit.py`).

Their figures go into ``### title`` subsections of the ``## Figures`` section at the end of
docs/reliability.md (the section is created when missing), with the machine noted: CPU,
cores, and the load average at the start and at the end (the machine is shared).
Also: the hazewarn processes (API, scheduler, dispatcher) as real child processes, each in
its own process group so ``kill -9`` takes it down without clean-up, and a free port.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from common import REPO, cpu_model, load_average

RELIABILITY = REPO / "docs" / "reliability.md"
FIGURES = "## Figures"
#: How each role is started (arguments after ``hazewarn``).
ROLE_ARGS: dict[str, list[str]] = {
    "api": ["serve", "--host", "127.0.0.1"],
    "scheduler": ["scheduler"],
    # Short claim leases and a scaled-down retry schedule, so a killed dispatcher's claims
    # are taken over within seconds (the defaults are 60 s and minutes).
    "dispatcher": ["dispatcher", "--lease", "3", "--timeout", "2", "--poll", "0.1",
                   "--backoff-scale", "0.01"],
}  # fmt: skip


def machine(load_at_start: str) -> str:
    """The machine sentence: CPU, cores, load at start and end, OS, Python, UTC time."""
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (nproc), load average "
        f"{load_at_start} at the start and {load_average()} at the end (shared with other "
        f"work); {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}. Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC."
    )


def write_figure(title: str, body: str, path: Path = RELIABILITY) -> None:
    """Replace the ``### title`` subsection of ``## Figures`` (at the end of ``path``) with
    ``body``, or append it; the rest of the file stays as it was. Serialised by a lock in
    the temporary folder, written beside and renamed."""
    heading = f"### {title}"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"hazewarn-reliability-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = path.read_text(encoding="utf-8") if path.exists() else "# Reliability\n"
        if not re.search(rf"^{re.escape(FIGURES)}[ \t]*$", current, re.M):
            current = current.rstrip() + f"\n\n{FIGURES}\n\nEach figure comes from one "
            current += "`bench/` command, named with it.\n"
        block = f"{heading}\n\n{body.strip()}\n"
        pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^### |^## |\Z)", re.S | re.M)
        if pattern.search(current):
            updated = pattern.sub(lambda _: block + "\n", current, count=1).rstrip() + "\n"
        else:
            updated = current.rstrip() + "\n\n" + block
        scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        scratch.write_text(updated, encoding="utf-8")
        os.replace(scratch, path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_role(
    role: str, env: dict[str, str], log: IO[bytes], extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """``hazewarn <role's command>`` as a child in its own process group."""
    command = [sys.executable, "-c", "from app.cli import main; main()", *ROLE_ARGS[role]]
    return subprocess.Popen(
        [*command, *(extra or [])],
        cwd=REPO,
        env=os.environ | env | {"PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's whole group (no clean-up at all) and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def stop_gently(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_hard(process)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
