"""Crash-safe dispatch: kill -9 the dispatcher mid fan-out, 20 times; nothing is lost.

    .venv/bin/python bench/crash_dispatch.py [--postgres URL] [--kills 20] [--no-write]

300 loopback receiver endpoints (one port each) answer after a random 20-200 ms; 20 of
them fail three times before recovering. Each cycle commits two more `warning.issued`
events to the outbox, starts a real `hazewarn dispatcher` process, waits until it is
sending, lets it run a random 0-1 s more and kills it with SIGKILL (no clean-up at all:
requests in flight, claims held, results unwritten). After the last kill one dispatcher
runs until the outbox is empty. Then every endpoint must have every event id (verified
signature, 2xx answered); duplicates are expected (a request answered just before the
kill is sent again: at-least-once) and counted, since receivers dedupe by `webhook-id`.

Claims are leases of 3 s here (60 s by default) so the next dispatcher takes over a killed
one's work quickly. Results go into `## Crash-safe dispatch` of docs/benchmarks.md.
Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine_info, scratch_database, write_section
from receivers import EndpointSpec, Receivers, url
from webhook_common import enqueue, make_subscriptions, start_dispatcher, wait_until

SECTION = "Crash-safe dispatch"
DISPATCHER_ARGS = [
    "--concurrency", "100",
    "--lease", "3",
    "--timeout", "2",
    "--poll", "0.05",
    "--backoff-scale", "0.01",
]  # fmt: skip


def pending_deliveries() -> int:
    from sqlalchemy import func, select

    from app.database import session_scope
    from app.outbox.models import Delivery

    with session_scope() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
            )
            or 0
        )


def measure(args: argparse.Namespace, postgres: str | None) -> dict[str, Any]:
    from sqlalchemy import func, select

    from app.database import session_scope
    from app.outbox.models import Delivery, DeliveryAttempt

    rng = random.Random(11)
    receivers = Receivers(args.endpoints)
    folder = Path(tempfile.mkdtemp(prefix="hw-crash-"))
    started = time.monotonic()
    try:
        with scratch_database(postgres, folder) as db_url:
            subs = make_subscriptions([url(p) for p in receivers.ports])
            specs = {}
            for n, (port, (_, secret)) in enumerate(zip(receivers.ports, subs, strict=True)):
                kind = "flaky" if n < args.flaky else "jitter"
                specs[port] = EndpointSpec(
                    secret=secret, kind=kind, fail_times=3, jitter_min=0.02, jitter_max=0.2
                )
            receivers.configure(specs)
            events: list[str] = []
            kills = []
            log = (folder / "dispatcher.log").open("wb")
            try:
                for cycle in range(args.kills):
                    events += [enqueue(2 * cycle), enqueue(2 * cycle + 1)]
                    before = sum(e["requests"] for e in receivers.stats()["endpoints"].values())
                    process = start_dispatcher(db_url, DISPATCHER_ARGS, log)
                    sending = wait_until(
                        lambda before=before: (
                            sum(e["requests"] for e in receivers.stats()["endpoints"].values())
                            > before
                        ),
                        timeout=30,
                        interval=0.02,
                    )
                    time.sleep(rng.uniform(0.0, 1.0))
                    in_flight = receivers.stats()["in_flight"]
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
                    kills.append(
                        {
                            "sending": sending,
                            "in_flight": in_flight,
                            "pending": pending_deliveries(),
                        }
                    )
                final = start_dispatcher(
                    db_url, [*DISPATCHER_ARGS, "--until-idle", "--max-seconds", "240"], log
                )
                final.wait(300)
            finally:
                log.close()
            stats = receivers.stats()["endpoints"]
            lost = sum(
                1 for port in receivers.ports for e in events if e not in stats[port]["accepted"]
            )
            accepted = sum(sum(s["accepted"].values()) for s in stats.values())
            invalid = sum(s["invalid"] for s in stats.values())
            with session_scope() as session:
                statuses = dict(
                    session.execute(
                        select(Delivery.status, func.count()).group_by(Delivery.status)
                    ).all()
                )
                attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
            expected = len(events) * len(receivers.ports)
            return {
                "database": "PostgreSQL" if postgres else "SQLite",
                "events": len(events),
                "endpoints": len(receivers.ports),
                "expected": expected,
                "lost": lost,
                "duplicates": accepted - (expected - lost),
                "invalid": invalid,
                "kills": kills,
                "statuses": statuses,
                "attempts_logged": int(attempts or 0),
                "seconds": time.monotonic() - started,
            }
    finally:
        receivers.stop()


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.kills} cycles of: commit 2 more `warning.issued` events, start a "
        "`hazewarn dispatcher` process, wait until it is sending, let it run 0-1 s more, "
        f"`kill -9` it. Then one dispatcher drains the outbox. {args.endpoints} loopback "
        f"endpoints answering after 20-200 ms, {args.flaky} of them failing three times "
        "first; dispatcher concurrency 100, claim lease 3 s, request timeout 2 s, retry "
        "schedule scaled by 1/100. Command: `.venv/bin/python bench/crash_dispatch.py"
        + (" --postgres URL" if any(r["database"] == "PostgreSQL" for r in results) else "")
        + "`.",
        "",
        "| database | events × endpoints | kills while sending | kills with requests in flight "
        "| lost | duplicates (deduped by receivers) | bad signatures | deliveries not delivered "
        "| wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        sending = sum(1 for k in r["kills"] if k["sending"])
        in_flight = sum(1 for k in r["kills"] if k["in_flight"] > 0)
        not_delivered = sum(v for k, v in r["statuses"].items() if k != "delivered")
        lines.append(
            f"| {r['database']} | {r['events']} × {r['endpoints']} = {r['expected']:,} "
            f"| {sending}/{len(r['kills'])} | {in_flight}/{len(r['kills'])} "
            f"| **{r['lost']}** | {r['duplicates']} ({r['duplicates'] / r['expected']:.1%}) "
            f"| {r['invalid']} | {not_delivered} | {r['seconds']:.0f} s |"
        )
    lines.append("")
    for r in results:
        backlog = [k["pending"] for k in r["kills"]]
        lines.append(
            f"- {r['database']}: deliveries still pending at each kill: "
            f"{', '.join(str(b) for b in backlog)}; attempts logged {r['attempts_logged']:,}."
        )
    lines.append("")
    lines.append(
        "Lost = (endpoint, event id) pairs the receiver never handled with a 2xx. A "
        "duplicate is a second handling of the same pair: the receiver had handled the "
        "request but the dispatcher was killed before it saw or wrote the answer (about one "
        "per request in flight at the kill), the claim's lease expired and the next "
        "dispatcher sent it again with the same `webhook-id`, which receivers dedupe."
    )
    lines.append("")
    databases = ", ".join(r["database"] for r in results)
    lines.append(machine_info(("httpx", "SQLAlchemy"), extra=[f"database {databases}"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--endpoints", type=int, default=300)
    parser.add_argument("--flaky", type=int, default=20)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("HAZEWARN_TEST_POSTGRES_URL"),
        help="also run on this PostgreSQL server (default: HAZEWARN_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch the docs")
    args = parser.parse_args()
    results = [measure(args, None)]
    if args.postgres:
        results.append(measure(args, args.postgres))
    text = report(results, args)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    if any(r["lost"] for r in results):
        raise SystemExit("events were lost")


if __name__ == "__main__":
    main()
