"""`hazewarn dispatcher` (send the outbox) and `hazewarn outbox status`."""

from __future__ import annotations

import typer

from app.console import console, fail

outbox_cli = typer.Typer(help="The webhook outbox.", no_args_is_help=True)


def dispatcher(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit"),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Run until no delivery is pending (waits for retries)"
    ),
    concurrency: int = typer.Option(200, min=1, help="Requests in flight at once"),
    batch_size: int = typer.Option(500, min=1, help="Deliveries claimed per query"),
    clients: int = typer.Option(64, min=1, help="httpx client shards (small pools each)"),
    pool: int = typer.Option(8, min=1, help="Connections per client shard"),
    lease: float = typer.Option(60.0, min=1, help="Claim lease, seconds"),
    timeout: float = typer.Option(15.0, min=0.1, help="Request timeout, seconds"),
    poll: float = typer.Option(0.1, min=0.005, help="Poll interval when idle, seconds"),
    backoff_scale: float = typer.Option(
        1.0, min=0.0001, help="Multiply the retry schedule (benchmarks: 0.01)", hidden=True
    ),
    max_seconds: float = typer.Option(None, help="Stop after this many seconds"),
    metrics_port: int = typer.Option(
        None, help="Serve Prometheus metrics of this process on 127.0.0.1:PORT"
    ),
) -> None:
    """Send webhooks from the outbox: signed, retried with backoff, every attempt logged.

    Several dispatchers may run against PostgreSQL (rows are claimed with SKIP LOCKED);
    run one on SQLite. SIGTERM stops it gracefully; after a kill its claims expire after
    LEASE seconds and are sent again.
    """
    from app.outbox.dispatcher import DispatcherConfig, run_dispatcher

    try:
        config = DispatcherConfig(
            concurrency=concurrency,
            batch_size=batch_size,
            client_shards=clients,
            connections_per_client=pool,
            lease_seconds=lease,
            request_timeout=timeout,
            poll_interval=poll,
            backoff_scale=backoff_scale,
        )
    except ValueError as exc:
        fail(str(exc))
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stats = run_dispatcher(config, once=once, until_idle=until_idle, max_seconds=max_seconds)
    console.print(
        f"dispatcher stopped after {stats.seconds:.1f} s: {stats.attempts} attempts, "
        f"{stats.delivered} delivered, {stats.retrying} to retry, {stats.failed} failed, "
        f"{len(stats.disabled_endpoints)} endpoints disabled"
    )


@outbox_cli.command("status")
def status() -> None:
    """Deliveries by status, how many are due, and the next retry."""
    from app.database import session_scope
    from app.outbox.service import pending_summary, status_counts
    from app.timestamps import utcnow

    with session_scope() as session:
        counts = status_counts(session)
        due, pending, earliest = pending_summary(session, utcnow())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no deliveries"
    console.print(f"deliveries: {parts}")
    console.print(f"pending {pending}, due now {due}, next attempt {earliest or '-'}")
