"""Crash cycles: grids → forecast → warnings → fan-out, with kill -9 of every process.

    .venv/bin/python bench/crash_cycle.py [--cycles 30] [--db sqlite|postgresql|both|none]
                                          [--no-pg-restart] [--seed 7] [--no-write]

Real processes on loopback: `hazewarn serve` (the API), `hazewarn scheduler` (grid inbox,
no dispatcher thread) and `hazewarn dispatcher`, against one scratch database (a SQLite
file, or a database of its own on the PostgreSQL server of ``HAZEWARN_TEST_POSTGRES_URL``).
Four loopback receivers verify every Standard Webhooks signature and count each
``webhook-id``. Beijing's plan, Dongsi's observations, the demo's small model (trained once,
cached in the temporary folder) and one grid per cycle (station weather around
consecutive days of December 2016, the red-alert month) are prepared first.

Each cycle drops the next grid into the scheduler's inbox, and a duty officer approves
every proposal through the API as they appear. Meanwhile one to three of the processes are
killed with SIGKILL at random (seeded) moments in the first 12 s of the cycle and started
again at once. The cycle ends when its grid has left the inbox and nothing waits for an
officer. After the last cycle the dispatcher drains the outbox, then:

- every (event, subscription) delivery of the outbox reached its receiver (by webhook-id,
  signature verified) — none lost;
- every grid became exactly one forecast run (none failed, none run twice);
- `app.integrity.check_database` finds nothing: no orphan rows, every warning audited and
  issued at most once, no half-stored forecast run, every delivery in a sound state.

Then, unless ``--no-pg-restart``, one more cycle on a PostgreSQL server this command starts
itself (``scripts/pg.sh``, a free port, its own data folder; never the shared server):
PostgreSQL is stopped in the middle of the cycle and started again 8 s later. The API's
``/health/ready`` must answer 503 while it is down and 200 again after, and the cycle must
complete without restarting any process (``--db none`` runs only this part). Figures go
into docs/reliability.md (``### Crash cycles``, ``### PostgreSQL restart``). Every wait is
bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from common import REPO, load_average, scratch_database, shared_data
from receivers import EndpointSpec, Receivers, url
from reliability_common import (
    free_port,
    kill_hard,
    machine,
    start_role,
    stop_gently,
    write_figure,
)
from sqlalchemy.exc import OperationalError
from webhook_common import make_subscriptions, wait_until

TITLE = "Crash cycles"
RESTART_TITLE = "PostgreSQL restart"
ROLES = ("api", "scheduler", "dispatcher")
DONGSI = "PRSA_Data_Dongsi_20130301-20170228.csv"
#: The first cycle's grid starts here, each next one `GRID_STEP` later: the runs are issued
#: 48 h after a grid's start (its last 72 h are the model's lead range), from the eve of
#: Beijing's December 2016 red alert on.
FIRST_GRID = datetime(2016, 12, 13, 4, tzinfo=UTC)
GRID_STEP = timedelta(hours=1)
GRID_TO_ISSUE = timedelta(hours=48)
#: The model's longest lead (h): the inbox issues a run this long before a grid's end.
MAX_LEAD_H = 72
#: Kills happen in the first this-many seconds of a cycle.
KILL_WINDOW = 12.0
RECEIVERS = 4


# --------------------------------------------------------------------------- preparation


def tiny_model(folder: Path) -> Path:
    """The demo's small model (`app.demo.train_demo_model`: three central Beijing stations,
    40 trees), trained once and cached in the temporary folder."""
    cached = Path(tempfile.gettempdir()) / "hazewarn-bench-demo-model.joblib"
    if cached.is_file():
        return cached
    from app.demo import BEIJING_DIR, train_demo_model

    scratch = folder / "model.joblib"
    train_demo_model(sorted((shared_data() / BEIJING_DIR).glob("PRSA_Data_*.csv")), scratch)
    shutil.copy(scratch, cached)
    return cached


def seed_database() -> str:
    """Cities, stations, Dongsi's observations, Beijing's plan and a duty officer key in
    the current database (``HAZEWARN_DATABASE_URL``); the key."""
    from app.auth.service import Role, create_key
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.observations.service import import_observations
    from app.plans.service import load_plan_files
    from app.stations.service import import_station_list
    from app.timestamps import utcnow
    from contingency_plans.loader import PLANS_DIR

    data = shared_data()
    with session_scope() as session:
        sync_registry(session)
    with session_scope() as session:
        import_station_list(session, data / "knowair_meta" / "station_info.csv")
    with session_scope() as session:
        import_observations(session, [data / "beijing_multisite" / DONGSI])
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], utcnow())
        return create_key(session, name="bench officer", role=Role.DUTY_OFFICER, now=utcnow()).key


def make_grids(folder: Path, count: int) -> list[Path]:
    """One station-weather grid per cycle (from the current database's observations):
    from `FIRST_GRID` + n × `GRID_STEP` to 48 + 72 h later."""
    from app.database import session_scope
    from app.demo import station_met_grid
    from app.forecast_runs.service import city_history, forecast_cities

    grids = []
    with session_scope() as session:
        beijing = [c for c in forecast_cities(session) if c.code == "110000"]
        for n in range(count):
            start = FIRST_GRID + n * GRID_STEP
            path = folder / f"beijing-{start:%Y%m%d%H}.nc"
            if not path.exists():
                end = start + GRID_TO_ISSUE + timedelta(hours=MAX_LEAD_H)
                weather = city_history(session, beijing, start, end)
                station_met_grid(weather, 39.9042, 116.4074, path)
            grids.append(path)
    return grids


# --------------------------------------------------------------------------- the service


@dataclass
class Service:
    """The three hazewarn processes of one database, restartable one by one."""

    env: dict[str, str]
    folder: Path
    api_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, role: str) -> None:
        log = (self.folder / f"{role}.log").open("ab")
        extra = ["--port", str(self.api_port)] if role == "api" else []
        self.processes[role] = start_role(role, self.env, log, extra)
        log.close()

    def start_all(self) -> None:
        for role in ROLES:
            self.start(role)

    def kill_and_restart(self, role: str) -> None:
        with self.lock:
            kill_hard(self.processes[role])
            self.kills[role] += 1
            self.start(role)

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop_gently(process)

    def exited(self) -> dict[str, int]:
        """Roles whose process ended by itself, with the exit status."""
        return {role: code for role, p in self.processes.items() if (code := p.poll()) is not None}


def allow_loopback_receivers() -> None:
    """The receivers are on loopback: let the webhook address checks (on save and at send
    time) allow private addresses, in this process and the ones it starts."""
    os.environ["HAZEWARN_ALLOW_PRIVATE_WEBHOOKS"] = "true"


def replay_clock(grids: int) -> None:
    """Set the service clock (``HAZEWARN_CLOCK_OFFSET_SECONDS``, as the demo does) to an
    hour after the last grid's issue time, for this process and the ones it starts: the
    runs are then recent, and their proposals still open for a duty officer."""
    now = FIRST_GRID + GRID_TO_ISSUE + grids * GRID_STEP
    offset = (now - datetime.now(UTC)).total_seconds()
    os.environ["HAZEWARN_CLOCK_OFFSET_SECONDS"] = f"{offset:.0f}"


def service_env(db_url: str, inbox: Path, model: Path) -> dict[str, str]:
    return {
        "HAZEWARN_CLOCK_OFFSET_SECONDS": os.environ["HAZEWARN_CLOCK_OFFSET_SECONDS"],
        "HAZEWARN_DATABASE_URL": db_url,
        "HAZEWARN_GRID_INBOX": str(inbox),
        "HAZEWARN_MODEL_PATH": str(model),
        "HAZEWARN_GRID_INBOX_POLL_SECONDS": "1",
        "HAZEWARN_GRID_SETTLE_SECONDS": "0.5",
        "HAZEWARN_SCHEDULER_RUNS_DISPATCHER": "false",
        "HAZEWARN_SCHEDULER_RETRY_SECONDS": "2",
        "HAZEWARN_HEARTBEAT_SECONDS": "2",
        "HAZEWARN_HEALTH_REQUIRED": "database",
        "HAZEWARN_LOG_FORMAT": "json",
        "HAZEWARN_ALLOW_PRIVATE_WEBHOOKS": "true",  # see allow_loopback_receivers
    }


def drop_grid(grid: Path, inbox: Path) -> None:
    """Copy under a dot name (ignored by the inbox), then rename: never half a file.

    The file's times are set a minute before the service clock: the inbox compares them
    with the (replay) service clock to decide whether a copy has settled."""
    partial = inbox / f".{grid.name}.part"
    shutil.copy(grid, partial)
    settled = time.time() + float(os.environ.get("HAZEWARN_CLOCK_OFFSET_SECONDS", "0")) - 60
    os.utime(partial, (settled, settled))
    os.replace(partial, inbox / grid.name)


def approve_all(client: httpx.Client, key: str) -> tuple[int, int]:
    """Approve every proposal waiting (one pass): (approved, refused with 4xx).

    Connection errors (the API being killed) propagate to the caller, which retries."""
    headers = {"Authorization": f"Bearer {key}"}
    answer = client.get("/v1/proposals", headers=headers)
    answer.raise_for_status()
    body = answer.json()
    items = body.get("items", body) if isinstance(body, dict) else body
    approved = refused = 0
    for item in items:
        result = client.post(f"/v1/proposals/{item['id']}/approve", headers=headers, json={})
        if result.status_code == 200:
            approved += 1
        elif 400 <= result.status_code < 500:
            refused += 1
        else:
            result.raise_for_status()
    return approved, refused


def proposals_waiting(client: httpx.Client, key: str) -> int:
    answer = client.get("/v1/proposals", headers={"Authorization": f"Bearer {key}"})
    answer.raise_for_status()
    body = answer.json()
    return len(body.get("items", body) if isinstance(body, dict) else body)


# --------------------------------------------------------------------------- one database


def run_cycles(args: argparse.Namespace, server: str | None, model: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from app.database import session_scope
    from app.forecast_runs.models import ForecastRun
    from app.integrity import check_database
    from app.outbox.models import Delivery, OutboxEvent
    from app.subscriptions.models import Subscription
    from app.warnings.models import WarningEvent

    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="hw-crash-cycle-"))
    receivers = Receivers(RECEIVERS)
    started = time.monotonic()
    database = "PostgreSQL" if server else "SQLite"
    try:
        with scratch_database(server, folder) as db_url:
            key = seed_database()
            grids = make_grids(args.grid_folder, args.cycles)
            subs = make_subscriptions([url(p) for p in receivers.ports])
            receivers.configure(
                {
                    port: EndpointSpec(secret=secret, kind="jitter", jitter_max=0.05)
                    for port, (_, secret) in zip(receivers.ports, subs, strict=True)
                }
            )
            inbox = folder / "inbox"
            inbox.mkdir()
            service = Service(service_env(db_url, inbox, model), folder, free_port())
            service.start_all()
            client = httpx.Client(base_url=f"http://127.0.0.1:{service.api_port}", timeout=20)
            approved = refused = api_errors = 0
            cycle_seconds = []
            try:
                for n, grid in enumerate(grids):
                    cycle_start = time.monotonic()
                    victims = rng.sample(ROLES, rng.randint(1, len(ROLES)))
                    timers = [
                        threading.Timer(
                            rng.uniform(0, KILL_WINDOW), service.kill_and_restart, (role,)
                        )
                        for role in victims
                    ]
                    drop_grid(grid, inbox)
                    for timer in timers:
                        timer.start()
                    deadline = time.monotonic() + args.cycle_timeout
                    while time.monotonic() < deadline:
                        try:
                            done = not (inbox / grid.name).exists()
                            a, r = approve_all(client, key)
                            approved += a
                            refused += r
                            if (
                                done
                                and not any(t.is_alive() for t in timers)
                                and proposals_waiting(client, key) == 0
                            ):
                                break
                        except (httpx.HTTPError, ValueError):
                            api_errors += 1  # the API is down (killed) or restarting
                        time.sleep(0.5)
                    else:
                        raise SystemExit(f"{database}: cycle {n + 1} did not finish in time")
                    for timer in timers:
                        timer.join()
                    cycle_seconds.append(time.monotonic() - cycle_start)
                    print(
                        f"{database} cycle {n + 1}/{len(grids)}: killed {', '.join(victims)}; "
                        f"{cycle_seconds[-1]:.0f} s",
                        flush=True,
                    )

                def drained() -> bool:
                    with session_scope() as session:
                        return not session.scalar(
                            select(func.count())
                            .select_from(Delivery)
                            .where(Delivery.status == "pending")
                        )

                outbox_drained = wait_until(drained, timeout=300, interval=0.5)
                exited = service.exited()
            finally:
                client.close()
                service.stop_all()
            stats = receivers.stats()["endpoints"]
            with session_scope() as session:
                port_of = {
                    s.id: int(s.url.rsplit(":", 1)[1].split("/")[0])
                    for s in session.scalars(select(Subscription))
                }
                pairs = session.execute(select(Delivery.event_id, Delivery.subscription_id)).all()
                lost = [(e, s) for e, s in pairs if stats[port_of[s]]["accepted"].get(e, 0) == 0]
                event_types = Counter(session.scalars(select(OutboxEvent.type)).all())
                undelivered = session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.status != "delivered")
                )
                runs = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
                officer_actions = Counter(
                    session.scalars(
                        select(WarningEvent.kind).where(WarningEvent.actor_role == "duty_officer")
                    ).all()
                )
                problems = check_database(session)
            accepted = sum(sum(s["accepted"].values()) for s in stats.values())
            return {
                "database": database,
                "cycles": len(grids),
                "kills": dict(service.kills),
                "exited": exited,
                "events": dict(event_types),
                "deliveries": len(pairs),
                "lost": len(lost),
                "duplicates": accepted - (len(pairs) - len(lost)),
                "invalid": sum(s["invalid"] for s in stats.values()),
                "undelivered": undelivered,
                "drained": outbox_drained,
                "runs": runs,
                "grids_done": len(list((inbox / "done").glob("*.nc"))),
                "grids_failed": len(list((inbox / "failed").glob("*.nc"))),
                "approved": approved,
                "officer_actions": dict(officer_actions),
                "refused": refused,
                "api_errors": api_errors,
                "problems": problems,
                "cycle_median": sorted(cycle_seconds)[len(cycle_seconds) // 2],
                "seconds": time.monotonic() - started,
            }
    finally:
        receivers.stop()
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- PostgreSQL restart


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    if not found:
        raise SystemExit("no PostgreSQL server binaries (scripts/pg.sh installs them)")
    return found[-1]


def pg_ctl(datadir: Path, *args: str) -> None:
    """pg_ctl as the data folder's owner (``postgres`` when we are root, as scripts/pg.sh)."""
    command = [str(_pg_bin() / "pg_ctl"), "-D", str(datadir), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def ready_status(client: httpx.Client) -> int | None:
    try:
        return client.get("/health/ready").status_code
    except httpx.HTTPError:
        return None


def pg_restart(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    """One cycle with PostgreSQL stopped in the middle of it and started again."""
    from sqlalchemy import func, select

    from app.database import session_scope
    from app.forecast_runs.models import ForecastRun
    from app.integrity import check_database
    from app.outbox.models import Delivery

    folder = Path(tempfile.mkdtemp(prefix="hw-crash-pg-"))
    os.chmod(folder, 0o755)  # the server runs as `postgres` when we are root
    datadir = folder / "pgdata"
    port = free_port()
    server = subprocess.run(
        ["bash", str(REPO / "scripts" / "pg.sh"), str(datadir), str(port)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.strip()
    receivers = Receivers(RECEIVERS)
    result: dict[str, Any] | None = None
    try:
        with scratch_database(server, folder) as db_url:
            key = seed_database()
            grids = make_grids(args.grid_folder, 2)
            subs = make_subscriptions([url(p) for p in receivers.ports])
            receivers.configure(
                {
                    p: EndpointSpec(secret=s, kind="jitter", jitter_max=0.05)
                    for p, (_, s) in zip(receivers.ports, subs, strict=True)
                }
            )
            inbox = folder / "inbox"
            inbox.mkdir()
            service = Service(service_env(db_url, inbox, model), folder, free_port())
            service.start_all()
            client = httpx.Client(base_url=f"http://127.0.0.1:{service.api_port}", timeout=10)
            try:
                ready_before = wait_until(lambda: ready_status(client) == 200, 180, 0.5)
                drop_grid(grids[0], inbox)
                # The middle of the cycle: the scheduler has picked the grid up.
                time.sleep(random.Random(args.seed).uniform(0.5, 3.0))
                down_at = time.monotonic()
                pg_ctl(datadir, "stop", "-m", "fast", "-w")
                print("PostgreSQL stopped in the middle of a cycle", flush=True)
                saw_503 = wait_until(lambda: ready_status(client) == 503, 60, 0.25)
                answer = client.get("/health/ready")
                failing = answer.json().get("failing") if answer.status_code == 503 else None
                time.sleep(8)
                pg_ctl(
                    datadir,
                    "start",
                    "-w",
                    "-l",
                    str(datadir / "server.log"),
                    "-o",
                    f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off",
                )
                up_at = time.monotonic()
                back = wait_until(lambda: ready_status(client) == 200, 180, 0.25)
                ready_after = time.monotonic() - up_at
                grid_done = wait_until(lambda: not (inbox / grids[0].name).exists(), 300, 0.5)
                # A second grid after the restart: the whole chain works again.
                drop_grid(grids[1], inbox)
                second_done = wait_until(lambda: not (inbox / grids[1].name).exists(), 300, 0.5)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        approve_all(client, key)
                        if proposals_waiting(client, key) == 0:
                            break
                    except (httpx.HTTPError, ValueError):
                        pass
                    time.sleep(0.5)

                def drained() -> bool:
                    with session_scope() as session:
                        return not session.scalar(
                            select(func.count())
                            .select_from(Delivery)
                            .where(Delivery.status == "pending")
                        )

                outbox_drained = wait_until(drained, 300, 0.5)
                exited = service.exited()
            finally:
                client.close()
                service.stop_all()
            with session_scope() as session:
                runs = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
                problems = check_database(session)
            result = {
                "ready_before": ready_before,
                "saw_503": saw_503,
                "failing": failing,
                "down_seconds": up_at - down_at,
                "back": back,
                "ready_after": ready_after,
                "grid_done": grid_done,
                "second_done": second_done,
                "runs": runs,
                "failed": len(list((inbox / "failed").glob("*.nc"))),
                "drained": outbox_drained,
                "exited": exited,
                "problems": problems,
            }
            print(f"PostgreSQL restart: {result}", flush=True)
    except OperationalError:
        # Dropping the scratch database on the way out can meet the admin connection the
        # restart cut; the whole server and its data folder go below anyway.
        if result is None:
            raise
    finally:
        receivers.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(datadir, "stop", "-m", "immediate", "-w")
        shutil.rmtree(folder, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def report(results: list[dict[str, Any]], args: argparse.Namespace, load_start: str) -> str:
    command = f"`.venv/bin/python bench/crash_cycle.py --cycles {args.cycles} --db {args.db}`"
    lines = [
        f"{args.cycles} cycles per database (command: {command}; the issue asks for 30, "
        "`--cycles` sets it): a grid arrives in the scheduler's inbox → forecast run → "
        "warnings evaluation → a duty officer approves each proposal through the API → "
        f"fan-out to {RECEIVERS} loopback receivers that verify every signature. In each "
        f"cycle one to three of API, scheduler and dispatcher are killed with `kill -9` at "
        f"random (seed {args.seed}) moments in the first {KILL_WINDOW:.0f} s and started again.",
        "",
        "| database | cycles | kills (api / scheduler / dispatcher) | forecast runs | grids "
        "failed | outbox events | deliveries | lost | duplicates (deduped) | bad signatures "
        "| officer decisions (audit) | consistency problems | median cycle | wall time |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        kills = " / ".join(str(r["kills"].get(role, 0)) for role in ROLES)
        events = ", ".join(f"{t} {c}" for t, c in sorted(r["events"].items())) or "none"
        officer = ", ".join(f"{k} {c}" for k, c in sorted(r["officer_actions"].items())) or "0"
        lines.append(
            f"| {r['database']} | {r['cycles']} | {kills} | {r['runs']} | {r['grids_failed']} "
            f"| {events} | {r['deliveries']} | **{r['lost']}** | {r['duplicates']} "
            f"| {r['invalid']} | {officer} | **{len(r['problems'])}** "
            f"| {r['cycle_median']:.0f} s | {r['seconds']:.0f} s |"
        )
    lines.append("")
    for r in results:
        notes = []
        if r["problems"]:
            notes.append("problems: " + "; ".join(r["problems"]))
        if r["exited"]:
            notes.append(f"processes that exited by themselves: {r['exited']}")
        if not r["drained"]:
            notes.append("the outbox was not drained within 300 s")
        notes.append(f"{r['undelivered']} deliveries not delivered at the end")
        notes.append(f"{r['api_errors']} officer requests hit a killed API and were retried")
        lines.append(f"- {r['database']}: " + "; ".join(notes) + ".")
    lines.append(
        "\nLost = a delivery row of the outbox (event × subscription) whose `webhook-id` its "
        "receiver never answered with a 2xx. Consistency = `app.integrity.check_database`: "
        "foreign keys, audit lines of every warning, no warning issued twice, no half-stored "
        "forecast run, every delivery in a sound state. Forecast runs = grids: a scheduler "
        "killed during a run leaves nothing (one transaction) and the grid is run again; one "
        "killed after the commit but before moving the file finds the run by the grid's "
        "SHA-256 and does not run it twice."
    )
    lines += ["", machine(load_start)]
    return "\n".join(lines)


def restart_report(r: dict[str, Any], args: argparse.Namespace, load_start: str) -> str:
    return "\n".join(
        [
            "A PostgreSQL server of the command's own (`scripts/pg.sh`, a free port, its own "
            "data folder), `pg_ctl stop -m fast` a few seconds after a grid arrived in the "
            f"inbox, `pg_ctl start` {r['down_seconds']:.0f} s later; no hazewarn process "
            "restarted. Command: `.venv/bin/python bench/crash_cycle.py --db none` (it also "
            "runs after the crash cycles).",
            "",
            "| check | result |",
            "|---|---|",
            f"| `/health/ready` before | {'200' if r['ready_before'] else 'not 200'} |",
            f"| `/health/ready` while down | {'503' if r['saw_503'] else 'never 503'} "
            f"(failing: {', '.join(r['failing'] or []) or '-'}) |",
            f"| `/health/ready` after the start | {'200' if r['back'] else 'not 200'} "
            f"within {r['ready_after']:.1f} s |",
            f"| the grid caught by the outage | {'run' if r['runs'] >= 2 else 'NOT run'} "
            f"({r['failed']} grid(s) in failed/) |",
            f"| a second grid after the restart | {'run' if r['second_done'] else 'NOT run'} |",
            f"| forecast runs stored | {r['runs']} of 2 |",
            f"| outbox drained | {r['drained']} |",
            f"| processes that exited by themselves | {r['exited'] or 'none'} |",
            f"| consistency problems | {len(r['problems'])}"
            + (f": {'; '.join(r['problems'])}" if r["problems"] else "")
            + " |",
            "",
            machine(load_start),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both", "none"),
        default="both",
        help="where to run the cycles (none: only the PostgreSQL restart)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cycle-timeout", type=float, default=300)
    parser.add_argument("--no-pg-restart", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args()
    load_start = load_average()
    folder = Path(tempfile.mkdtemp(prefix="hw-crash-model-"))
    args.grid_folder = folder
    server = os.environ.get("HAZEWARN_TEST_POSTGRES_URL") or os.environ.get(
        "HAZEWARN_BENCH_POSTGRES_URL"
    )
    if args.db in ("postgresql", "both") and not server:
        raise SystemExit("PostgreSQL: set HAZEWARN_TEST_POSTGRES_URL (the server to use)")
    replay_clock(args.cycles + 2)
    allow_loopback_receivers()
    try:
        model = tiny_model(folder)
        results = []
        if args.db in ("sqlite", "both"):
            results.append(run_cycles(args, None, model))
        if args.db in ("postgresql", "both"):
            results.append(run_cycles(args, server, model))
        restart = None if args.no_pg_restart else pg_restart(args, model)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"results": results, "restart": restart}, default=str)[:4000])
    if results:
        text = report(results, args, load_start)
        print(text)
        if not args.no_write:
            write_figure(TITLE, text)
    if restart:
        text = restart_report(restart, args, load_start)
        print(text)
        if not args.no_write:
            write_figure(RESTART_TITLE, text)
    bad = any(r["lost"] or r["problems"] or r["grids_failed"] for r in results)
    restart_bad = restart and (restart["problems"] or not restart["back"] or restart["failed"])
    if bad or restart_bad:
        raise SystemExit("crash cycles found a problem (see above)")


if __name__ == "__main__":
    main()
