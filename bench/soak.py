"""Soak: minutes of mixed API traffic against a real `hazewarn serve` while forecast runs
and fan-outs happen.

    .venv/bin/python bench/soak.py [--minutes 10] [--clients 4] [--db sqlite|postgresql]
                                   [--grid-every 60] [--no-write]

A scratch database (SQLite file, or a database of its own on the PostgreSQL server of
``HAZEWARN_TEST_POSTGRES_URL``) with Beijing's plan, Dongsi's observations and the small
model of `crash_cycle.py`; `hazewarn serve`, `hazewarn scheduler` and `hazewarn dispatcher`
as real processes on loopback, four loopback receivers verifying every signature. Every
``--grid-every`` seconds the next December 2016 grid drops into the inbox (a forecast run,
its warnings evaluation and the fan-out). ``--clients`` threads send, each in a bounded
loop until the time is up:

- public reads (70 %): cities, a city, latest forecasts, Beijing's forecast, its AQI,
  warnings, a warning, stations, the CAP feed, `/health/live`;
- duty-officer actions (20 %): list the proposals and approve one when there is one;
- acknowledgements (10 %): Beijing's city office acknowledges a warning in force.

Figures: requests/s, p50 and p99 latency by kind, errors (5xx or no answer; a 409 from
acknowledging an already acknowledged change is an answer, counted apart), and the API
process's resident memory after a 30 s warm-up and at the end. Results go into
docs/reliability.md (``### Soak``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
from common import load_average, scratch_database
from crash_cycle import (
    RECEIVERS,
    Service,
    allow_loopback_receivers,
    drop_grid,
    make_grids,
    replay_clock,
    seed_database,
    service_env,
    tiny_model,
)
from receivers import EndpointSpec, Receivers, url
from reliability_common import free_port, machine, rss_bytes, write_figure
from webhook_common import make_subscriptions, wait_until

TITLE = "Soak"
WARM_UP = 30.0
PUBLIC = (
    "/v1/cities",
    "/v1/cities/110000",
    "/v1/forecasts/latest",
    "/v1/cities/110000/forecast",
    "/v1/cities/110000/aqi?date=2016-12-10",
    "/v1/warnings",
    "/v1/stations?city=110000",
    "/v1/feeds/cap.atom",
    "/health/live",
)


def city_office_key() -> str:
    from app.auth.service import Role, create_key
    from app.database import session_scope
    from app.timestamps import utcnow

    with session_scope() as session:
        return create_key(
            session,
            name="Beijing office",
            role=Role.CITY_OFFICE,
            now=utcnow(),
            city_codes=["110000"],
        ).key


class Traffic:
    """The clients' shared tallies (one lock; the work per request dwarfs it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: Counter[tuple[str, int]] = Counter()
        self.errors: Counter[str] = Counter()
        self.warning_ids: list[int] = []
        self.refusals: Counter[tuple[str, int]] = Counter()  # (route, 4xx status)

    def record(self, kind: str, started: float, answer: httpx.Response | None) -> None:
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latency[kind].append(elapsed)
            if answer is None:
                self.errors[kind] += 1
            else:
                self.status[(kind, answer.status_code)] += 1
                if 400 <= answer.status_code < 500:
                    route = re.sub(r"/\d+", "/{id}", answer.request.url.path)
                    self.refusals[(f"{answer.request.method} {route}", answer.status_code)] += 1
                if answer.status_code >= 500:
                    self.errors[kind] += 1


def client_loop(
    base: str, officer: str, office: str, until: float, traffic: Traffic, seed: int
) -> None:
    rng = random.Random(seed)
    officer_h = {"Authorization": f"Bearer {officer}"}
    office_h = {"Authorization": f"Bearer {office}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < until:
            pick = rng.random()
            started = time.perf_counter()
            answer: httpx.Response | None = None
            try:
                if pick < 0.7:
                    kind = "public read"
                    path = rng.choice(PUBLIC)
                    if path == "/v1/warnings" and traffic.warning_ids and rng.random() < 0.5:
                        path = f"/v1/warnings/{rng.choice(traffic.warning_ids)}"
                    answer = client.get(path)
                    if path == "/v1/warnings" and answer.status_code == 200:
                        ids = [int(w["id"]) for w in answer.json().get("items", [])]
                        with traffic.lock:
                            traffic.warning_ids = ids
                elif pick < 0.9:
                    kind = "officer"
                    answer = client.get("/v1/proposals", headers=officer_h)
                    items = answer.json().get("items", []) if answer.status_code == 200 else []
                    if items:
                        traffic.record(kind, started, answer)
                        started = time.perf_counter()
                        answer = client.post(
                            f"/v1/proposals/{items[0]['id']}/approve", headers=officer_h, json={}
                        )
                else:
                    kind = "acknowledge"
                    ids = traffic.warning_ids
                    if not ids:  # nothing to acknowledge yet: a read instead
                        kind = "public read"
                        answer = client.get("/v1/warnings?active=true", headers=office_h)
                    else:
                        answer = client.post(
                            f"/v1/warnings/{rng.choice(ids)}/ack", headers=office_h
                        )
            except httpx.HTTPError:
                answer = None
            traffic.record(kind, started, answer)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    server = None
    if args.db == "postgresql":
        server = os.environ.get("HAZEWARN_TEST_POSTGRES_URL")
        if not server:
            raise SystemExit("PostgreSQL: set HAZEWARN_TEST_POSTGRES_URL")
    folder = Path(tempfile.mkdtemp(prefix="hw-soak-"))
    receivers = Receivers(RECEIVERS)
    try:
        model = tiny_model(folder)
        grid_count = int(args.minutes * 60 / args.grid_every) + 2
        replay_clock(grid_count)
        allow_loopback_receivers()
        with scratch_database(server, folder) as db_url:
            officer = seed_database()
            office = city_office_key()
            grids = make_grids(folder / "grids", grid_count) if grid_count else []
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
            base = f"http://127.0.0.1:{service.api_port}"
            try:
                with httpx.Client(base_url=base, timeout=5) as probe:

                    def live() -> bool:
                        try:
                            return probe.get("/health/live").status_code == 200
                        except httpx.HTTPError:
                            return False

                    if not wait_until(live, 180, 0.5):
                        raise SystemExit("the API did not start")
                pid = service.processes["api"].pid
                traffic = Traffic()
                started = time.monotonic()
                until = started + args.minutes * 60
                threads = [
                    threading.Thread(
                        target=client_loop, args=(base, officer, office, until, traffic, n)
                    )
                    for n in range(args.clients)
                ]
                for thread in threads:
                    thread.start()
                rss_start = 0
                dropped = 0
                next_grid = started
                while time.monotonic() < until:
                    now = time.monotonic()
                    if not rss_start and now - started >= min(WARM_UP, args.minutes * 20):
                        rss_start = rss_bytes(pid)
                    if now >= next_grid and dropped < len(grids):
                        drop_grid(grids[dropped], inbox)
                        dropped += 1
                        next_grid += args.grid_every
                    time.sleep(0.5)
                for thread in threads:
                    thread.join(120)
                elapsed = time.monotonic() - started
                rss_end = rss_bytes(pid)
                exited = service.exited()
            finally:
                service.stop_all()
            from sqlalchemy import func, select

            from app.database import session_scope
            from app.forecast_runs.models import ForecastRun
            from app.outbox.models import Delivery

            with session_scope() as session:
                runs = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
                delivered = (
                    session.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .where(Delivery.status == "delivered")
                    )
                    or 0
                )
            requests = sum(len(v) for v in traffic.latency.values())
            return {
                "database": "PostgreSQL" if server else "SQLite",
                "seconds": elapsed,
                "requests": requests,
                "rps": requests / elapsed,
                "latency": {
                    k: (percentile(v, 0.5), percentile(v, 0.99), len(v))
                    for k, v in traffic.latency.items()
                },
                "all_p99": percentile([x for v in traffic.latency.values() for x in v], 0.99),
                "errors": dict(traffic.errors),
                "status": {f"{k} {s}": c for (k, s), c in sorted(traffic.status.items())},
                "refusals": {f"{r} {s}": c for (r, s), c in sorted(traffic.refusals.items())},
                "rss_start": rss_start,
                "rss_end": rss_end,
                "grids": dropped,
                "runs": runs,
                "delivered": delivered,
                "exited": exited,
            }
    finally:
        receivers.stop()
        shutil.rmtree(folder, ignore_errors=True)


def report(r: dict[str, Any], args: argparse.Namespace, load_start: str) -> str:
    growth = (r["rss_end"] - r["rss_start"]) / r["rss_start"] if r["rss_start"] else float("nan")
    minutes = r["seconds"] / 60
    lines = [
        f"{minutes:.1f} minutes of mixed traffic from {args.clients} client threads against "
        f"one `hazewarn serve` process ({r['database']}), while {r['grids']} grids arrived "
        f"(one every {args.grid_every:.0f} s: {r['runs']} forecast runs, warnings, "
        f"{r['delivered']} webhook deliveries to {RECEIVERS} loopback receivers). Command: "
        f"`.venv/bin/python bench/soak.py --minutes {args.minutes:g} --db {args.db}`.",
        "",
        "| kind | requests | p50 | p99 |",
        "|---|---:|---:|---:|",
    ]
    for kind, (p50, p99, n) in sorted(r["latency"].items()):
        lines.append(f"| {kind} | {n:,} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms |")
    lines += [
        "",
        f"- **{r['rps']:.1f} requests/s** overall, p99 {r['all_p99'] * 1000:.0f} ms; "
        f"**errors (5xx or no answer): {sum(r['errors'].values())}**"
        + (f" ({r['errors']})" if r["errors"] else "")
        + ".",
        "- Answers: " + ", ".join(f"{k}: {c:,}" for k, c in r["status"].items()) + ".",
        "- 4xx answers by route (expected refusals, not errors: no forecast before the first "
        "run, a change already acknowledged or decided): "
        + (", ".join(f"{k}: {c:,}" for k, c in r["refusals"].items()) or "none")
        + ".",
        f"- API resident memory: {r['rss_start'] / 2**20:.0f} MiB after a "
        f"{WARM_UP:.0f} s warm-up, {r['rss_end'] / 2**20:.0f} MiB at the end: "
        f"**{growth:+.1%}** (aim: under 10 %).",
        f"- Processes that exited by themselves: {r['exited'] or 'none'}.",
        "",
        machine(load_start),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--grid-every", type=float, default=60)
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args()
    load_start = load_average()
    result = measure(args)
    text = report(result, args, load_start)
    print(text)
    if not args.no_write:
        write_figure(TITLE, text)


if __name__ == "__main__":
    main()
