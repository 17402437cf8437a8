"""API under load: `GET /v1/warnings?active=true` and `GET /v1/feeds/cap.atom`, each
against a bare Starlette endpoint answering the same bytes, same machine, same run.

For SQLite (a file in a temporary folder) and, when a server is given (``--postgres URL``,
else ``HAZEWARN_BENCH_POSTGRES_URL`` or ``HAZEWARN_TEST_POSTGRES_URL``), PostgreSQL (a
database of its own, created and dropped here):

1. migrate a fresh database, sync the city registry (34 cities) and load a contingency
   plan for every city: the 12 shipped plans, and for the 22 cities without one a plan
   derived from a shipped plan of the same province (names and codes replaced), so that
   ~30 cities can be under warning at once;
2. seed a realistic state through the warnings service itself (`evaluate_run` on stored
   forecast runs, then duty officers' `approve`, `upgrade`, `lift` and city offices'
   `acknowledge`): ``--history`` past episodes of ~30 cities each (all lifted, with their
   audit trail, outbox events and CAP chains), then a current one: ~30 active warnings
   with their actions, a few proposals still waiting;
3. count the SQL statements one request of each endpoint runs and time it (in-process,
   TestClient), when it renders the answer and when it is served from memory (the
   public-read cache, `app.warnings.public_reads`), and keep both response bodies;
4. start the real app (``uvicorn app.main:create_app --factory``) and a bare Starlette
   app that answers on the same paths with the very bytes of our two responses (read
   once at start, sent as they are) under uvicorn with the same settings: one worker
   each, 127.0.0.1, a free port, uvloop + httptools (uvicorn's automatic choice here), no
   access log;
5. load each endpoint with C concurrent keep-alive connections for N seconds after a
   warm-up, from a separate process: ``wrk`` (Debian package) when installed, else an
   ``httpx.AsyncClient`` generator (``--generator`` chooses); every latency is recorded
   (wrk's histogram, or every sample in the httpx generator). The bare endpoints are
   measured before and after ours, and our ratios use the mean of the two;
6. write the figures into ``## API load`` of docs/benchmarks.md (``--no-docs``: only print;
   runs with ``--seconds`` under 5 are smoke runs and never write).

Only 127.0.0.1 is ever contacted; every phase is bounded in time; every process and
database made here is stopped or dropped at the end, also after an error or Ctrl-C.

Command: ``.venv/bin/python bench/api_load.py [--postgres URL] [--seconds N] [--concurrency C]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from common import (  # noqa: E402
    REPO,
    cpu_seconds,
    load_average,
    machine_info,
    package_version,
    postgres_server,
    scratch_database,
    write_section,
)

SECTION = "API load"
HOST = "127.0.0.1"
LIST_PATH = "/v1/warnings?active=true"
FEED_PATH = "/v1/feeds/cap.atom"
#: The bare app answers on the same paths (the query string is ignored there).
BARE_PATHS = {LIST_PATH: "/v1/warnings", FEED_PATH: FEED_PATH}
BARE_BODY_ENV = {LIST_PATH: "HAZEWARN_BENCH_BARE_LIST", FEED_PATH: "HAZEWARN_BENCH_BARE_FEED"}
MEDIA_TYPES = {LIST_PATH: "application/json", FEED_PATH: "application/atom+xml"}
UVICORN_OPTIONS = ["--workers", "1", "--no-access-log", "--log-level", "warning"]

# PM2.5 per day (µg/m³) of the forecast paths the seed draws from: 200 is AQI 250,
# 300 is AQI 350. Depending on the plan's criteria set they give yellow, orange or red
# (a single heavy day gives blue under the older sets, nothing under mee-2024).
HEAVY, SEVERE = 200.0, 300.0
PATHS: tuple[tuple[float, ...], ...] = (
    (HEAVY, HEAVY),
    (HEAVY, SEVERE, HEAVY),
    (SEVERE, SEVERE, SEVERE, HEAVY),
    (HEAVY, HEAVY, HEAVY),
    (HEAVY,),
)
# A shipped plan per province prefix, used as the template of the cities without one.
TEMPLATES = {"13": "130600", "14": "140100", "37": "370100", "41": "410100"}
FALLBACK_TEMPLATE = "610100"
SHIPPED_REGIONS = ("jjj-2+26", "fenwei", "yrd")
FORECAST_HOURS = 120
SMOKE_SECONDS = 5  # shorter windows only check that everything runs: no docs written
CYCLE_DAYS = 6  # between past episodes: longer than an episode plus the 36 h merge gap


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    """What the seed wrote (counts of rows)."""

    cities: int = 0
    plans: int = 0
    derived_plans: int = 0
    runs: int = 0
    active: int = 0
    pending: int = 0
    lifted: int = 0
    warnings: int = 0
    events: int = 0
    outbox: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def plan_files(folder: Path) -> tuple[list[Path], int]:
    """The shipped plan files and, for every registry city without one, a derived file
    written into ``folder``; (all files, how many were derived)."""
    import yaml

    from app.cities.registry import DEFAULT_REGISTRY_PATH, load_registry
    from contingency_plans.loader import PLANS_DIR

    shipped = {path.name[:6]: path for path in sorted(PLANS_DIR.glob("*.yaml"))}
    files = list(shipped.values())
    derived = 0
    for city in load_registry(DEFAULT_REGISTRY_PATH):
        if city.code in shipped:
            continue
        template = shipped[TEMPLATES.get(city.code[:2], FALLBACK_TEMPLATE)]
        text = template.read_text(encoding="utf-8")
        original = yaml.safe_load(text)["city"]
        # The template's city names appear in titles, issuers and departments too.
        text = text.replace(original["name_zh"], city.name_zh)
        text = text.replace(original["name_en"], city.name_en)
        data = yaml.safe_load(text)
        data["city"].update(
            code=city.code,
            province_zh=city.province_zh,
            province_en=city.province_en,
            timezone=city.timezone,
        )
        data["regions"] = [r for r in city.regions if r in SHIPPED_REGIONS]
        data.setdefault("notes", []).append(
            f"Benchmark plan derived from {template.name}; not a real plan of {city.name_en}."
        )
        path = folder / f"{city.code}-bench.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
        files.append(path)
        derived += 1
    return files, derived


def store_run(session: Any, issued_at: datetime, days: dict[str, dict[Any, float]]) -> int:
    """A complete forecast run whose hourly p90 is the day's PM2.5 of ``days`` (clean
    elsewhere, 30 µg/m³), p50 70 % of it; returns its id (flushed)."""
    from app.forecast_runs.service import store_scenario_run

    return store_scenario_run(session, issued_at, days, hours=FORECAST_HOURS, model_version="bench")


def episode(
    session: Any, codes: list[str], issued: datetime, rng: random.Random, *, keep_pending: int
) -> list[int]:
    """One regional episode: a run forecasting heavy days (from two local days after
    ``issued``) for ~30 of ``codes``, evaluated; duty officers approve the proposals an
    hour later (all but ``keep_pending``), upgrade one in six and city offices acknowledge
    two in three. Returns the ids of the warnings issued (public, not yet lifted)."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from alerts.levels import Level
    from app.warnings import (
        actors,
        evaluation,
        service,
    )
    from app.warnings.models import CityWarning

    zone = ZoneInfo("Asia/Shanghai")
    officer = actors.Actor("duty officer Wang", None, "duty_officer")
    first_day = issued.astimezone(zone).date() + timedelta(days=2)
    heavy = rng.sample(codes, k=min(len(codes), 30))
    days = {
        code: (
            {first_day + timedelta(days=i): v for i, v in enumerate(rng.choice(PATHS))}
            if code in heavy
            else {}
        )
        for code in codes
    }
    run_id = store_run(session, issued, days)
    outcome = evaluation.evaluate_run(session, run_id, issued + timedelta(minutes=20))
    touched = [w for city in outcome.cities for w in city.warning_ids]
    warnings = list(session.scalars(select(CityWarning).where(CityWarning.id.in_(touched))))
    proposals = [w for w in warnings if w.state == "proposed"]
    rng.shuffle(proposals)
    at = issued + timedelta(hours=1)
    for warning in proposals[keep_pending:]:
        service.approve(session, warning.id, officer, at, reason="forecast confirmed")
    announced = [w for w in warnings if w.issued_at is not None and w.state != "lifted"]
    for n, warning in enumerate(announced):
        later = at + timedelta(hours=2, minutes=n)
        if n % 6 == 0 and warning.level in ("blue", "yellow", "orange"):
            higher = ("blue", "yellow", "orange", "red")[Level(warning.level).rank]
            service.upgrade(
                session, warning.id, officer, later, Level(higher), "stagnant air, worse than run"
            )
        if n % 3 != 2:
            office = actors.Actor(f"{warning.city_code} emergency office", None, "city_office")
            service.acknowledge(session, warning.id, office, later + timedelta(minutes=30))
    session.flush()
    return [w.id for w in announced]


def seed(folder: Path, history: int) -> Seeded:
    """Cities, plans and warnings as described in the module docstring."""
    from sqlalchemy import func, select

    from app.cities.models import City
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.outbox.models import OutboxEvent
    from app.plans.service import load_plan_files
    from app.timestamps import utcnow
    from app.warnings import (
        actors,
        queries,
        service,
    )
    from app.warnings.models import CityWarning, WarningEvent

    started = time.perf_counter()
    rng = random.Random(20161216)
    now = utcnow()
    officer = actors.Actor("duty officer Li", None, "duty_officer")
    files, derived = plan_files(folder)
    with session_scope() as session:
        sync_registry(session)
        outcomes = load_plan_files(session, files, now - timedelta(days=CYCLE_DAYS * history + 30))
        refused = [o for o in outcomes if o.status == "refused"]
        if refused:
            raise SystemExit(f"plan {refused[0].file} refused: {refused[0].problems[:2]}")
        codes = sorted(session.scalars(select(City.code)))
    # The current episode's run was issued six hours ago (on the hour), so that every
    # officer's and office's action on it (up to ~4 h after the run) lies in the past;
    # its heavy days start two local days after the run, so the windows reach days ahead.
    current = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    for cycle in range(history, 0, -1):
        issued = current - timedelta(days=CYCLE_DAYS * cycle)
        with session_scope() as session:
            for n, warning_id in enumerate(episode(session, codes, issued, rng, keep_pending=0)):
                lifted_at = issued + timedelta(days=3, hours=n % 12)
                service.lift(session, warning_id, officer, lifted_at, "air quality improved")
    with session_scope() as session:
        episode(session, codes, current, rng, keep_pending=2)
    with session_scope() as session:
        by_state = dict(
            session.execute(
                select(CityWarning.state, func.count()).group_by(CityWarning.state)
            ).all()
        )
        active_levels = session.execute(
            select(CityWarning.level, func.count())
            .where(CityWarning.state.in_(queries.ACTIVE_STATE_VALUES))
            .group_by(CityWarning.level)
        ).all()
        return Seeded(
            cities=len(codes),
            plans=len(files),
            derived_plans=derived,
            runs=history + 1,
            active=sum(by_state.get(s, 0) for s in queries.ACTIVE_STATE_VALUES),
            pending=by_state.get("proposed", 0),
            lifted=by_state.get("lifted", 0),
            warnings=sum(by_state.values()),
            events=session.scalar(select(func.count(WarningEvent.id))) or 0,
            outbox=session.scalar(select(func.count(OutboxEvent.id))) or 0,
            levels={level: n for level, n in sorted(active_levels)},
            seconds=time.perf_counter() - started,
        )


# --------------------------------------------------------------------------- in-process probe


@dataclass
class Probe:
    """One request of an endpoint, in-process (TestClient, no server, no concurrency):
    rendered (the public-read cache emptied first) and then served from memory."""

    status: int
    body_bytes: int
    statements: int
    median_ms: float
    items: int | None = None
    cached_statements: int = 0
    cached_median_ms: float = float("nan")


def probe(folder: Path) -> tuple[dict[str, Probe], dict[str, Path]]:
    """SQL statements, body size and single-request time of both endpoints, rendered and
    cached; writes each response body to a file for the bare app (their paths by path)."""
    import warnings as python_warnings

    from sqlalchemy import event

    with python_warnings.catch_warnings():
        # Starlette's note that its TestClient will move to httpx2: not ours to act on.
        python_warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from app.database import get_engine
    from app.main import create_app
    from app.warnings.public_reads import public_cache

    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    engine = get_engine()
    found: dict[str, Probe] = {}
    body_files: dict[str, Path] = {}

    def timed(client: Any, path: str, render: bool) -> float:
        if render:
            public_cache.clear()
        start = time.perf_counter()
        client.get(path)
        return time.perf_counter() - start

    with TestClient(create_app()) as client:
        event.listen(engine, "before_cursor_execute", count)
        try:
            for path in (LIST_PATH, FEED_PATH):
                client.get(path)  # warm: plan cache, compiled statements, pool
                public_cache.clear()
                statements = 0
                response = client.get(path)
                used = statements
                statements = 0
                client.get(path)
                cached = statements
                rendered_ms = statistics.median(timed(client, path, True) for _ in range(15))
                cached_ms = statistics.median(timed(client, path, False) for _ in range(15))
                items = response.json().get("total") if path == LIST_PATH else None
                found[path] = Probe(
                    response.status_code,
                    len(response.content),
                    used,
                    rendered_ms * 1000,
                    items,
                    cached,
                    cached_ms * 1000,
                )
                body_files[path] = folder / f"bare-{len(body_files)}.body"
                body_files[path].write_bytes(response.content)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return found, body_files


# --------------------------------------------------------------------------- servers


def bare_app() -> Any:
    """The yardstick (uvicorn ``--factory``): Starlette, one route per read answering with
    the very bytes our endpoint answered (read once from the files the probe wrote, sent
    as they are with the same media type), plus ``/health/live``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def endpoint(path: str) -> Any:
        body = Path(os.environ[BARE_BODY_ENV[path]]).read_bytes()
        media_type = MEDIA_TYPES[path]

        async def answer(_request: Request) -> Response:
            return Response(body, media_type=media_type)

        return answer

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [Route(BARE_PATHS[path], endpoint(path)) for path in (LIST_PATH, FEED_PATH)]
    return Starlette(routes=[*routes, Route("/health/live", health)])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM to the process's own group (it was started in a new session), SIGKILL if
    it has not exited after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


def _ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@contextmanager
def uvicorn_server(
    name: str, target: list[str], env: dict[str, str], folder: Path
) -> Iterator[Server]:
    """``python -m uvicorn TARGET`` on a free loopback port, in a session of its own;
    stopped on the way out. A port taken between choosing and binding is retried."""
    log = folder / f"{name}.log"
    for _attempt in range(3):
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", *target]
        command += ["--host", HOST, "--port", str(port), *UVICORN_OPTIONS]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=os.environ | env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # Liveness: readiness also wants a scheduler and a dispatcher, which a load test lacks.
            if _ready(f"http://{HOST}:{port}/health/live", process, timeout=60):
                yield Server(name, process, port, log)
                return
        finally:
            stop(process)
    tail = log.read_text(errors="replace")[-2000:]
    raise SystemExit(f"{name} server did not start; its log ends:\n{tail}")


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    """One measured window of one endpoint."""

    generator: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float = float("nan")
    generator_cpu_s: float = float("nan")
    load_start: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / self.requests if self.requests else float("nan")


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def run_child(command: list[str], timeout: float) -> str:
    """Run a load generator process (its own session: Ctrl-C reaches us, and we stop it)
    and return its stdout."""
    with subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:
            stop(process, timeout=2)
            raise
    if process.returncode != 0:
        said = (err or out).decode(errors="replace")[-2000:]
        raise SystemExit(f"load generator {command[0]} failed ({process.returncode}): {said}")
    return out.decode()


def wrk_load(url: str, seconds: float, concurrency: int, script: Path) -> Load:
    # wrk takes whole seconds only; its own measured duration is what the rate uses.
    whole = max(1, math.ceil(seconds))
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{whole}s", "--timeout", "10s"]
    before = _children_cpu()
    out = run_child([*command, "-s", str(script), url], timeout=whole + 60)
    used = _children_cpu() - before
    line = next(line for line in reversed(out.splitlines()) if line.startswith("{"))
    data = json.loads(line)
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        generator="wrk",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        generator_cpu_s=used,
    )


def httpx_load(url: str, seconds: float, concurrency: int) -> Load:
    command = [sys.executable, str(Path(__file__).resolve()), "--load-child", url]
    command += ["--seconds", f"{seconds:g}", "--concurrency", str(concurrency)]
    before = _children_cpu()
    out = run_child(command, timeout=seconds + 60)
    used = _children_cpu() - before
    data = json.loads(out.strip().splitlines()[-1])
    return Load(generator="httpx", generator_cpu_s=used, **data)


def _children_cpu() -> float:
    """User + system CPU seconds of our waited-for children so far."""
    usage = os.times()
    return usage.children_user + usage.children_system


def load_child(url: str, seconds: float, concurrency: int) -> None:
    """The httpx generator (its own process): ``concurrency`` workers, one keep-alive
    connection each, request after request for ``seconds``; prints one JSON line."""
    import asyncio

    import httpx

    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    try:
                        response = await client.get(url)
                        await response.aread()
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - start)
                    errors += not ok

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()

        def pct(q: float) -> float:
            if not latencies:
                return float("nan")
            return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

        return {
            "requests": len(latencies),
            "seconds": elapsed,
            "errors": errors,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": 1000 * latencies[-1] if latencies else float("nan"),
        }

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    print(json.dumps(result))


def wait_idle(pid: int, timeout: float = 60) -> None:
    """Wait until the process uses under 5 % of a core (checked every 0.25 s)."""
    deadline = time.monotonic() + timeout
    used = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if not now - used > 0.0125:  # also stops on NaN (process gone)
            return
        used = now


def measure(server: Server, path: str, args: argparse.Namespace, wrk_script: Path | None) -> Load:
    """Warm up, then one measured window; the server's CPU is read around the window."""
    url = server.url(path)

    def once(seconds: float) -> Load:
        if args.generator == "wrk":
            assert wrk_script is not None
            return wrk_load(url, seconds, args.concurrency, wrk_script)
        return httpx_load(url, seconds, args.concurrency)

    once(args.warmup)
    # wrk and httpx drop their connections at the end of a window, but the server still
    # finishes the requests in flight: let it, so that neither their CPU nor their delay
    # lands in the measured window.
    wait_idle(server.process.pid)
    load_start = load_average()
    cpu_before = cpu_seconds(server.process.pid)
    result = once(args.seconds)
    result.server_cpu_s = cpu_seconds(server.process.pid) - cpu_before
    result.load_start = load_start
    return result


# --------------------------------------------------------------------------- report


@dataclass
class DatabaseResult:
    database: str
    seeded: Seeded
    probes: dict[str, Probe]
    bare: dict[str, list[Load]]  # by our path: the bare windows before and after ours
    ours: dict[str, Load]


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float) -> str:
    if value != value:  # NaN
        return "–"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def report(results: list[DatabaseResult], args: argparse.Namespace, command: str) -> str:
    first = results[0]
    seeded = first.seeded
    levels = ", ".join(f"{n} {level}" for level, n in seeded.levels.items())
    recheck = _recheck_seconds()
    lines = [
        f"Requests per second and latency of the public warning list "
        f"(`GET {LIST_PATH}`) and the CAP Atom index (`GET {FEED_PATH}`) under "
        f"{args.concurrency} concurrent keep-alive connections, {args.seconds:g} s per "
        f"endpoint after a {args.warmup:g} s warm-up, each compared with a bare Starlette "
        f"endpoint answering with the very bytes of ours (read once at start, sent as they "
        f"are with the same media type), measured in the same run just before and after "
        f"ours (the ratios use the mean of the two). Both apps run under uvicorn "
        f"{package_version('uvicorn')} in a process of their own: one worker, 127.0.0.1, "
        f"uvloop + httptools (uvicorn's automatic choice here), no access log; our app is "
        f"`app.main:create_app` with default settings (anonymous reads served from memory "
        f"while the warnings are unchanged, the database version checked at most every "
        f"{recheck:g} s: `app.warnings.public_reads`). Load generator: "
        + (
            "`wrk -t1` (one thread, Debian package; latencies from its histogram of every request)"
            if args.generator == "wrk"
            else "an `httpx.AsyncClient` process, one connection per worker, every latency recorded"
        )
        + f", sharing the machine's cores with the servers. Command: `{command}`.",
        "",
        f"Data: {seeded.cities} cities, each with a plan ({seeded.plans - seeded.derived_plans} "
        f"shipped, {seeded.derived_plans} derived from a shipped plan of the same province for "
        f"this benchmark); written through the warnings service (`evaluate_run` on stored "
        f"forecast runs, then officers' `approve`/`upgrade`/`lift` and offices' "
        f"`acknowledge`): {seeded.warnings} warnings — {seeded.active} active ({levels}), "
        f"{seeded.pending} proposals waiting (not public), {seeded.lifted} lifted from "
        f"{seeded.runs - 1} past episodes — with {seeded.events:,} audit lines and "
        f"{seeded.outbox:,} outbox events.",
        "",
        "| database | endpoint | body | req/s | p50 ms | p99 ms | errors | server CPU ms/req "
        "| req/s × bare | p50 × bare | p99 × bare | SQL per request (render / cached) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for path, load in result.ours.items():
            bare = result.bare[path]
            probe_ = result.probes[path]
            size = f"{probe_.body_bytes / 1024:.1f} KB"
            for n, window in enumerate(bare):
                lines.append(
                    f"| {result.database} | bare Starlette, same bytes "
                    f"({'before' if n == 0 else 'after'}) | {size} | {window.rps:,.0f} "
                    f"| {_ms(window.p50_ms)} | {_ms(window.p99_ms)} | {window.errors} "
                    f"| {window.cpu_ms_per_request:.2f} | | | | 0 |"
                )
            bare_rps = statistics.mean(b.rps for b in bare)
            bare_p50 = statistics.mean(b.p50_ms for b in bare)
            bare_p99 = statistics.mean(b.p99_ms for b in bare)
            lines.append(
                f"| {result.database} | **`{path}`** | {size} "
                f"| **{load.rps:,.0f}** | {_ms(load.p50_ms)} | {_ms(load.p99_ms)} "
                f"| {load.errors} | {load.cpu_ms_per_request:.2f} "
                f"| **{_ratio(load.rps / bare_rps)}** | {_ratio(load.p50_ms / bare_p50)} "
                f"| {_ratio(load.p99_ms / bare_p99)} "
                f"| {probe_.statements} / {probe_.cached_statements} |"
            )
    lines += [
        "",
        "Server CPU ms/req: CPU seconds the server process used during the window divided "
        "by the requests it answered; unlike req/s it hardly depends on how busy the shared "
        "machine is. SQL per request: statements one request runs (counted in-process) when "
        "it renders the answer (the database version, then the rows) and when it is served "
        "from memory. Single request in-process (TestClient, no concurrency), rendered / "
        "from memory: "
        + "; ".join(
            f"{r.database} list {_ms(r.probes[LIST_PATH].median_ms)} / "
            f"{_ms(r.probes[LIST_PATH].cached_median_ms)} ms, Atom "
            f"{_ms(r.probes[FEED_PATH].median_ms)} / "
            f"{_ms(r.probes[FEED_PATH].cached_median_ms)} ms"
            for r in results
        )
        + ". Load average at the start of each window (bare list, bare Atom, list, Atom, "
        "bare list, bare Atom): "
        + "; ".join(
            f"{r.database} "
            + ", ".join(
                f"[{load.load_start}]"
                for load in (
                    r.bare[LIST_PATH][0],
                    r.bare[FEED_PATH][0],
                    *r.ours.values(),
                    r.bare[LIST_PATH][1],
                    r.bare[FEED_PATH][1],
                )
            )
            for r in results
        )
        + ". Load generator CPU in the bare windows: "
        + ", ".join(
            f"{100 * b.generator_cpu_s / b.seconds:.0f} %"
            for r in results
            for windows in r.bare.values()
            for b in windows
        )
        + " of one core. Seeding took "
        + ", ".join(f"{r.seeded.seconds:.0f} s ({r.database})" for r in results)
        + ".",
        "",
        *reading(results),
        machine_info(["fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg", "httpx"])
        + (f" wrk {_wrk_version()}." if args.generator == "wrk" else ""),
    ]
    return "\n".join(lines)


def _recheck_seconds() -> float:
    from app.config import get_settings

    return get_settings().public_read_recheck_seconds


def reading(results: list[DatabaseResult]) -> list[str]:
    """What the figures say, as far as it follows from this run (paragraphs + blank)."""
    first = results[0]
    active = first.seeded.active
    list_kb = first.probes[LIST_PATH].body_bytes / 1024
    out = [
        f"Reading: the list answers {active} warnings in {list_kb:.0f} KB "
        f"({list_kb / max(1, active):.1f} KB each: every warning carries its plan's actions "
        "in both languages). Rendering it means decoding every warning's stored JSON "
        "payload, validating and serialising the whole answer (the in-process render time "
        "above); the Atom index also builds every entry's CAP summary. Both are rendered "
        "once per change and then served as bytes by `PublicReadMiddleware` before routing: "
        "what remains per request is one lookup in memory and the send, against the bare "
        "endpoint's send alone. Before this cache (2026-11-25, `wrk`, a bare "
        "endpoint encoding the list's JSON per request) the list served 0.16–0.17× and the "
        "Atom index 0.11–0.12× of its bare endpoint.",
        "",
    ]
    busiest = max(
        float(load.load_start.split(",")[0])
        for r in results
        for load in (*r.ours.values(), *(b for windows in r.bare.values() for b in windows))
    )
    cores = os.cpu_count() or 1
    if busiest > cores:
        out += [
            f"The machine was busy (load average up to {busiest:.1f} on {cores} cores at the "
            "start of a window): every rate above is low and the load generator shares the "
            "cores, so compare each read only with its bare endpoint in the same run, or by "
            "server CPU per request.",
            "",
        ]
    for result in results:
        for path, windows in result.bare.items():
            tails = [b.p99_ms for b in windows]
            if max(tails) > 2 * min(tails):
                out += [
                    f"{result.database}: the bare p99 of `{path}` changed "
                    f"{max(tails) / min(tails):.1f}× between its two windows (other work on "
                    "the shared machine), so that p99 ratio says little; server CPU per "
                    "request is the steadier figure.",
                    "",
                ]
    return out


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).split()
    return text[1] if len(text) > 1 else "?"


# --------------------------------------------------------------------------- main


def run_database(
    name: str, postgres: str | None, folder: Path, args: argparse.Namespace
) -> DatabaseResult:
    wrk_script = None
    if args.generator == "wrk":
        wrk_script = folder / "report.lua"
        wrk_script.write_text(WRK_SCRIPT)
    with scratch_database(postgres, folder) as url:
        print(f"[{name}] seeding ...", flush=True)
        seeded = seed(folder, args.history)
        print(f"[{name}] {json.dumps(asdict(seeded))}", flush=True)
        probes, body_files = probe(folder)
        for path, found in probes.items():
            if found.status != 200:
                raise SystemExit(f"{path} answered {found.status} in-process")
            print(f"[{name}] {path}: {found}", flush=True)
        with ExitStack() as servers:
            ours = servers.enter_context(
                uvicorn_server(
                    f"{name}-app",
                    ["app.main:create_app", "--factory"],
                    {"HAZEWARN_DATABASE_URL": url},
                    folder,
                )
            )
            bare = servers.enter_context(
                uvicorn_server(
                    f"{name}-bare",
                    ["--app-dir", str(BENCH_DIR), "api_load:bare_app", "--factory"],
                    {BARE_BODY_ENV[path]: str(body_files[path]) for path in body_files},
                    folder,
                )
            )
            paths = (LIST_PATH, FEED_PATH)
            bare_loads: dict[str, list[Load]] = {path: [] for path in paths}
            our_loads: dict[str, Load] = {}
            for path in paths:
                bare_loads[path].append(measure(bare, BARE_PATHS[path], args, wrk_script))
                print(f"[{name}] bare {path}: {bare_loads[path][0]}", flush=True)
            for path in paths:
                our_loads[path] = measure(ours, path, args, wrk_script)
                print(f"[{name}] {path}: {our_loads[path]}", flush=True)
            for path in paths:
                bare_loads[path].append(measure(bare, BARE_PATHS[path], args, wrk_script))
                print(f"[{name}] bare {path}: {bare_loads[path][1]}", flush=True)
    return DatabaseResult(name, seeded, probes, bare_loads, our_loads)


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created on it)")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up s (N/5, 1-3)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "httpx"), default="auto", help="load generator"
    )
    parser.add_argument("--history", type=int, default=10, help="past episodes to seed")
    parser.add_argument("--no-docs", action="store_true", help="print, do not write the docs")
    parser.add_argument("--load-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_child:
        load_child(args.load_child, args.seconds, args.concurrency)
        return
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be positive and --concurrency at least 1")
    if args.warmup is None:
        args.warmup = float(min(3, max(1, round(args.seconds / 5))))
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "httpx"
    signal.signal(signal.SIGTERM, _terminate)

    postgres = postgres_server(args.postgres)
    databases = [("SQLite", None)] + ([("PostgreSQL", postgres)] if postgres else [])
    command = " ".join(
        [".venv/bin/python bench/api_load.py"]
        + (["--postgres URL"] if postgres else [])
        + [f"--seconds {args.seconds:g}", f"--concurrency {args.concurrency}"]
    )
    print(f"generator {args.generator}, load average {load_average()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="hw-api-load-") as tmp:
        try:
            for name, server in databases:
                results.append(run_database(name, server, Path(tmp), args))
        except KeyboardInterrupt:
            sys.exit("interrupted: servers stopped, scratch databases dropped")
    body = report(results, args, command)
    print()
    print(body)
    if args.seconds < SMOKE_SECONDS:
        print(f"\nsmoke run (--seconds < {SMOKE_SECONDS}): docs/benchmarks.md left alone")
    elif not args.no_docs:
        write_section(SECTION, body)
        print(f"\nwrote ## {SECTION} of docs/benchmarks.md")


if __name__ == "__main__":
    main()
