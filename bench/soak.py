"""Soak: mixed API traffic for ten minutes while forecast runs and webhook fan-outs happen.

1. a scratch database (SQLite, or PostgreSQL with ``--postgres URL``) seeded like
   bench/api_load.py: 34 cities with plans, past episodes, ~30 active warnings;
2. the real app under uvicorn (one worker, loopback), a dispatcher process and four
   signature-verifying receivers (bench/receivers.py) subscribed to every event;
3. for ``--seconds`` (600): C concurrent clients send a mix of public reads (active
   warnings, one warning, the CAP feed, cities), duty officers' extensions of active
   warnings and city offices' acknowledgements; every ``--run-every`` seconds a forecast
   run is stored and evaluated (in this process), so warnings change and fan out;
4. report requests/s, p50/p99 latency, errors (5xx, transport errors, or any answer other
   than the one expected), the server's resident memory after warm-up and at the end, and
   the webhooks the receivers verified; write them into ``## Soak`` of docs/reliability.md
   (``--no-docs``: only print).

Loopback only; every process and database made here is stopped or dropped at the end.

Command: ``.venv/bin/python bench/soak.py [--postgres URL] [--seconds 600] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from api_load import free_port, seed, stop  # noqa: E402
from common import REPO, machine_info, postgres_server, scratch_database, write_section  # noqa: E402
from receivers import EndpointSpec, Receivers, url  # noqa: E402
from webhook_common import make_subscriptions, start_dispatcher, stop_dispatcher  # noqa: E402

DOC = REPO / "docs" / "reliability.md"
HOST = "127.0.0.1"


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    runs: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning"]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=os.environ | env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health/live", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise SystemExit(f"the app did not start; see {log}")


def keys_and_targets() -> tuple[str, dict[str, str], list[tuple[int, str]]]:
    """A duty officer's key, a key per city office with an active warning, and the
    active warnings as (id, city)."""
    from sqlalchemy import select

    from app.auth.service import create_key
    from app.database import session_scope
    from app.timestamps import utcnow
    from app.warnings import queries
    from app.warnings.models import CityWarning

    with session_scope() as session:
        now = utcnow()
        duty = create_key(session, name="soak duty", role="duty_officer", now=now).key
        active = session.execute(
            select(CityWarning.id, CityWarning.city_code).where(
                CityWarning.state.in_(queries.ACTIVE_STATE_VALUES)
            )
        ).all()
        offices = {
            city: create_key(
                session, name=f"soak {city}", role="city_office", now=now, city_codes=[city]
            ).key
            for _, city in active
        }
    return duty, offices, [(int(i), str(c)) for i, c in active]


def forecast_run(rng: random.Random, cities: list[str]) -> None:
    """Store a scenario run with a heavy spell for a few cities and evaluate it."""
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.timestamps import utcnow
    from app.warnings.evaluation import evaluate_run

    now = utcnow()
    issued = now.replace(second=0, microsecond=0)
    first = issued.date() + timedelta(days=2)
    days: dict[str, dict[date, float]] = {}
    for city in rng.sample(cities, k=min(6, len(cities))):
        heavy = rng.choice([160.0, 220.0, 320.0])
        days[city] = {first + timedelta(days=i): heavy for i in range(3)}
    with session_scope() as session:
        run_id = store_scenario_run(session, issued, days, model_version="soak")
        evaluate_run(session, run_id, now)


async def client_loop(
    base: str, stop_at: float, rng: random.Random, tally: Tally, world: dict[str, Any]
) -> None:
    import httpx

    duty = {"Authorization": f"Bearer {world['duty']}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < stop_at:
            warning_id, city = rng.choice(world["active"])
            roll = rng.random()
            if roll < 0.6:
                kind = "read"
                path = rng.choice(
                    [
                        "/v1/warnings?active=true",
                        f"/v1/warnings/{warning_id}",
                        "/v1/feeds/cap.atom",
                        "/v1/cities",
                    ]
                )
                request = client.get(path)
                expected = {200}
            elif roll < 0.8:
                kind = "extend"
                world["extend"] += 1
                until = world["until"] + timedelta(minutes=world["extend"])
                body = {"until": until.isoformat(), "reason": "soak: episode goes on"}
                request = client.post(f"/v1/warnings/{warning_id}/extend", json=body, headers=duty)
                expected = {200, 409}  # 409 once a run has lifted or replaced the warning
            else:
                kind = "ack"
                office = {"Authorization": f"Bearer {world['offices'][city]}"}
                request = client.post(f"/v1/warnings/{warning_id}/ack", headers=office)
                expected = {200, 409}
            started = time.perf_counter()
            try:
                response = await request
            except httpx.HTTPError as exc:
                tally.error(f"{kind}: {type(exc).__name__}")
                continue
            tally.latencies.append(time.perf_counter() - started)
            tally.by_kind[kind] = tally.by_kind.get(kind, 0) + 1
            if response.status_code not in expected:
                tally.error(f"{kind}: HTTP {response.status_code}")


async def runs_loop(stop_at: float, every: float, rng: random.Random, tally: Tally) -> None:
    from app.cities.registry import load_registry

    cities = [c.code for c in load_registry()]
    while time.monotonic() + every < stop_at:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(forecast_run, rng, cities)
            tally.runs += 1
        except Exception as exc:  # counted, and the soak goes on
            tally.error(f"forecast run: {type(exc).__name__}: {str(exc)[:80]}")


def soak(name: str, postgres: str | None, args: argparse.Namespace, folder: Path) -> str:
    from app.timestamps import utcnow

    with scratch_database(postgres, folder) as db_url:
        print(f"[{name}] seeding ...", flush=True)
        seed(folder, history=2)
        duty, offices, active = keys_and_targets()
        receivers = Receivers(4)
        try:
            subs = make_subscriptions([url(port) for port in receivers.ports])
            receivers.configure(
                {
                    port: EndpointSpec(secret)
                    for port, (_, secret) in zip(receivers.ports, subs, strict=True)
                }
            )
            env = {"HAZEWARN_DATABASE_URL": db_url}
            server, port = start_server(env, folder / f"{name}-app.log")
            dispatcher_log = (folder / f"{name}-dispatcher.log").open("ab")
            dispatcher = start_dispatcher(db_url, [], dispatcher_log)
            try:
                tally = Tally()
                world = {
                    "duty": duty,
                    "offices": offices,
                    "active": active,
                    "extend": 0,
                    "until": utcnow() + timedelta(days=7),
                }
                base = f"http://{HOST}:{port}"
                rng = random.Random(20161216)
                # Warm-up, then the memory baseline.
                asyncio.run(client_loop(base, time.monotonic() + 10, rng, Tally(), world))
                rss_start = rss_kib(server.pid)
                started = time.monotonic()
                stop_at = started + args.seconds

                async def main() -> None:
                    loops = [
                        client_loop(base, stop_at, random.Random(n), tally, world)
                        for n in range(args.concurrency)
                    ]
                    await asyncio.gather(*loops, runs_loop(stop_at, args.run_every, rng, tally))

                asyncio.run(main())
                elapsed = time.monotonic() - started
                rss_end = rss_kib(server.pid)
                time.sleep(5)  # let the last fan-out arrive
                stats = receivers.stats()
            finally:
                stop_dispatcher(dispatcher)
                dispatcher_log.close()
                stop(server)
        finally:
            receivers.stop()
    received = sum(sum(e["accepted"].values()) for e in stats["endpoints"].values())
    invalid = sum(e["invalid"] for e in stats["endpoints"].values())
    lat = sorted(tally.latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000
    errors = sum(tally.errors.values())
    growth = 100 * (rss_end - rss_start) / rss_start if rss_start else float("nan")
    mix = ", ".join(f"{k} {v}" for k, v in sorted(tally.by_kind.items()))
    line = (
        f"| {name} | {elapsed:.0f} s | {len(lat)} ({mix}) | {len(lat) / elapsed:.1f} | "
        f"{p50:.1f} | {p99:.1f} | {errors} | {tally.runs} | {received} ({invalid} invalid) | "
        f"{rss_start / 1024:.0f} → {rss_end / 1024:.0f} MiB ({growth:+.1f} %) |"
    )
    print(line, flush=True)
    if tally.errors:
        print(f"[{name}] errors: {tally.errors}", flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (also run it)")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--run-every", type=float, default=60, help="seconds between runs")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hazewarn-soak-") as scratch:
        folder = Path(scratch)
        if args.sqlite:
            rows.append(soak("SQLite", None, args, folder))
        postgres = postgres_server(args.postgres) if args.postgres else None
        if postgres:
            rows.append(soak("PostgreSQL", postgres, args, folder))
    command = "`.venv/bin/python bench/soak.py" + (" --postgres URL`" if args.postgres else "`")
    body = "\n".join(
        [
            f"{args.concurrency} concurrent clients for {args.seconds:.0f} s: 60 % public reads "
            "(active warnings, one warning, the CAP feed, cities), 20 % duty officers' "
            "extensions, 20 % city offices' acknowledgements; a forecast run stored and "
            f"evaluated every {args.run_every:.0f} s, its changes fanned out by a dispatcher "
            "process to four receivers verifying every signature. Errors: 5xx, transport "
            "errors or any other unexpected answer. Memory: the server's resident set after a "
            f"10 s warm-up and at the end. Command: {command}.",
            "",
            "| database | time | requests (mix) | requests/s | p50 ms | p99 ms | errors | runs "
            "| webhooks verified | server memory |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            machine_info(["uvicorn", "sqlalchemy", "httpx"]),
        ]
    )
    print(body)
    if not args.no_docs and args.seconds >= 60:
        write_section("Soak", body, DOC)


if __name__ == "__main__":
    main()
