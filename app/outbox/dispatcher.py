"""The webhook dispatcher: claim due deliveries, send them signed, record every attempt.

One asyncio loop keeps up to ``concurrency`` requests in flight. Database work (claims and
result batches) runs on one dedicated thread so the loop never blocks on it and this
process never contends with itself for SQLite's write lock.

- Claims are leases (``claimed_by``/``claimed_until``). PostgreSQL takes them with
  ``FOR UPDATE SKIP LOCKED``, so several dispatchers share the work without overlap;
  on SQLite run one dispatcher. A killed dispatcher's leases expire and its deliveries are
  sent again: at-least-once, and receivers dedupe by ``webhook-id`` (the event id, the
  same on every attempt), which makes it exactly-once in effect.
- A delivery is marked delivered only after a 2xx; every attempt is logged with status,
  latency and error; the retry schedule, jitter, ``Retry-After``, 410 and sustained-failure
  rules are ``alerts.delivery_policy``; headers and signatures are ``alerts.signing``.
- HTTP: httpx slows down as one client's pool grows, so requests are spread over several
  ``AsyncClient`` shards with small pools; an endpoint always uses the same shard, so its
  connection is kept alive between deliveries. Redirects are never followed; every new
  connection goes to an address checked against the SSRF rules at that moment
  (``app.outbox.transport``), and an answer's body is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from alerts.delivery_policy import (
    REQUEST_TIMEOUT_SECONDS,
    Outcome,
    UniformSource,
    classify,
    next_attempt_at,
    parse_retry_after,
    should_disable,
)
from alerts.signing import sign
from app.config import get_settings
from app.database import get_sessionmaker
from app.outbox import metrics
from app.outbox.service import (
    AttemptResult,
    ClaimedDelivery,
    claim_due,
    pending_summary,
    record_results,
)
from app.outbox.transport import checked_transport
from app.subscriptions.destinations import Resolver, resolve_host
from app.timestamps import utcnow

log = logging.getLogger("hazewarn.dispatcher")

T = TypeVar("T")
NextAttempt = Callable[[int, datetime, UniformSource, str | None], datetime | None]
USER_AGENT = "hazewarn-webhooks/0.1"
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class DispatcherConfig:
    """Tuning of one dispatcher process. Times in seconds."""

    concurrency: int = 200  # requests in flight at once
    batch_size: int = 500  # deliveries claimed per query
    client_shards: int = 64  # httpx.AsyncClient instances
    connections_per_client: int = 8  # pool size of each client
    per_endpoint: int = 4  # requests in flight to one endpoint at once
    lease_seconds: float = 60.0  # claim lease; must exceed request_timeout comfortably
    request_timeout: float = REQUEST_TIMEOUT_SECONDS
    poll_interval: float = 0.1  # how often to look for due work when idle
    heartbeat_seconds: float = field(default_factory=lambda: get_settings().heartbeat_seconds)
    flush_interval: float = 0.05  # how long results may wait before being written
    flush_size: int = 500  # write at once when this many results wait
    backoff_scale: float = 1.0  # < 1 shortens the retry schedule (tests, benchmarks)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.batch_size < 1 or self.client_shards < 1:
            raise ValueError("concurrency, batch_size and client_shards must be >= 1")
        if self.lease_seconds <= self.request_timeout:
            raise ValueError("lease_seconds must exceed request_timeout")
        if self.backoff_scale <= 0:
            raise ValueError("backoff_scale must be > 0")


@dataclass
class DispatchStats:
    """What one run did."""

    attempts: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled_endpoints: list[int] = field(default_factory=list)
    claims: int = 0
    claim_seconds: float = 0.0  # time spent claiming (database thread)
    record_seconds: float = 0.0  # time spent writing results (database thread)
    seconds: float = 0.0


def _record_beat(session: Session, instance: str, now: datetime, started: datetime) -> None:
    from app.health.service import record_heartbeat

    record_heartbeat(session, "dispatcher", instance, now, started)
    session.commit()


def _real_now() -> datetime:
    return datetime.now(UTC)


def dispatcher_name() -> str:
    """host-pid-random, unique per process run (goes into ``claimed_by``)."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(3)}"


def _short_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        text = f"timeout after {timeout:g} s ({type(exc).__name__})"
    else:
        detail = str(exc)
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return text[:MAX_ERROR_LENGTH]


class Dispatcher:
    """Sends the outbox. ``clock``, ``rng``, ``next_attempt`` and ``transport`` are
    injectable so tests can run the policy on a fake clock or a mock HTTP transport."""

    def __init__(
        self,
        config: DispatcherConfig | None = None,
        *,
        session_factory: sessionmaker[Session] | None = None,
        clock: Callable[[], datetime] = utcnow,
        wall_clock: Callable[[], datetime] | None = None,
        rng: UniformSource | None = None,
        next_attempt: NextAttempt = next_attempt_at,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str | None = None,
        allow_private: bool | None = None,
        resolve: Resolver = resolve_host,
    ) -> None:
        self.config = config or DispatcherConfig()
        self._sessions = session_factory or get_sessionmaker()
        self._clock = clock
        # webhook-timestamp must be real time: receivers check it against their own clocks
        # (±5 min), even when the service clock is shifted (the demo replays 2016).
        self._wall_clock = wall_clock or (clock if clock is not utcnow else _real_now)
        self._rng: UniformSource = rng or random.Random()
        self._next_attempt = next_attempt
        self._transport = transport
        if allow_private is None:
            allow_private = get_settings().allow_private_webhooks
        self._allow_private = allow_private
        self._resolve = resolve
        self.name = (name or dispatcher_name())[:48]
        self._claim_seq = 0
        self._results: list[AttemptResult] = []
        self._flush_now = asyncio.Event()
        self._endpoint_locks: dict[int, asyncio.Semaphore] = {}
        self._endpoint_users: dict[int, int] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._db: ThreadPoolExecutor | None = None
        self.stats = DispatchStats()

    # --- database, on its own thread ---------------------------------------------------

    async def _in_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self._db is not None

        def call() -> T:
            with self._sessions() as session:
                return fn(session, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    async def _claim(self, limit: int) -> list[ClaimedDelivery]:
        self._claim_seq += 1
        claim = f"{self.name}:{self._claim_seq}"
        started = time.perf_counter()
        claimed = await self._in_db(
            claim_due,
            claim=claim,
            now=self._clock(),
            lease=timedelta(seconds=self.config.lease_seconds),
            limit=limit,
        )
        self.stats.claim_seconds += time.perf_counter() - started
        if claimed:
            self.stats.claims += 1
        return claimed

    async def _flush(self) -> None:
        """Write every finished attempt (retrying a transient database error)."""
        if not self._results:
            return
        batch, self._results = self._results, []
        self._flush_now.clear()
        for attempt in range(1, 4):
            started = time.perf_counter()
            try:
                summary = await self._in_db(
                    record_results, batch, now=self._clock(), should_disable=should_disable
                )
            except DBAPIError as exc:  # deadlock, serialisation failure, lost connection
                log.warning("recording %d results failed (try %d): %s", len(batch), attempt, exc)
                await asyncio.sleep(0.2 * attempt)
                continue
            except Exception:  # a bug must not stop the sending; the leases cover the loss
                log.exception("recording %d results failed; they will be resent", len(batch))
                return
            self.stats.record_seconds += time.perf_counter() - started
            self.stats.delivered += summary.delivered
            self.stats.retrying += summary.retrying
            self.stats.failed += summary.failed
            self.stats.disabled_endpoints.extend(summary.disabled_endpoints)
            for subscription_id in summary.disabled_endpoints:
                log.warning("endpoint %d disabled; duty officers notified", subscription_id)
            return
        # The claims stay leased; when the leases expire these deliveries are sent again.
        log.error("giving up recording %d results; they will be resent", len(batch))

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Record this dispatcher's heartbeat every ``heartbeat_seconds`` (health checks)."""
        started = self._clock()
        while not stop.is_set():
            try:
                await self._in_db(_record_beat, self.name, self._clock(), started)
            except Exception as exc:  # a missed beat shows in /health/ready, never stops sending
                log.warning("heartbeat not recorded: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_seconds)

    async def _writer(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.config.flush_interval)
            await self._flush()

    # --- HTTP ---------------------------------------------------------------------------

    def _make_clients(self) -> list[httpx.AsyncClient]:
        c = self.config
        limits = httpx.Limits(
            max_connections=c.connections_per_client,
            max_keepalive_connections=c.connections_per_client,
            keepalive_expiry=30.0,
        )
        # One TLS context for all shards: loading the CA bundle costs ~13 ms per context.
        tls = httpx.create_ssl_context()
        return [
            httpx.AsyncClient(
                timeout=httpx.Timeout(c.request_timeout),
                follow_redirects=False,
                trust_env=False,
                transport=self._transport or self._checked_transport(tls, limits),
                headers={"user-agent": USER_AGENT, "content-type": "application/json"},
            )
            for _ in range(c.client_shards if self._transport is None else 1)
        ]

    def _checked_transport(
        self, tls: ssl.SSLContext, limits: httpx.Limits
    ) -> httpx.AsyncHTTPTransport:
        return checked_transport(
            allow_private=self._allow_private, verify=tls, limits=limits, resolve=self._resolve
        )

    def _schedule(
        self, attempts_made: int, now: datetime, retry_after: str | None
    ) -> datetime | None:
        scale = self.config.backoff_scale
        if scale == 1.0:
            return self._next_attempt(attempts_made, now, self._rng, retry_after)
        planned = self._next_attempt(attempts_made, now, self._rng, None)
        if planned is None:
            return None
        planned = now + (planned - now) * scale
        asked = parse_retry_after(retry_after, now)  # Retry-After is never shortened
        return max(planned, now + asked) if asked is not None else planned

    async def _attempt(self, item: ClaimedDelivery) -> None:
        sub = item.subscription_id
        lock = self._endpoint_locks.get(sub)
        if lock is None:
            lock = self._endpoint_locks[sub] = asyncio.Semaphore(self.config.per_endpoint)
        self._endpoint_users[sub] = self._endpoint_users.get(sub, 0) + 1
        try:
            async with lock:
                result = await self._send(item)
        finally:
            self._endpoint_users[sub] -= 1
            if not self._endpoint_users[sub]:
                del self._endpoint_users[sub], self._endpoint_locks[sub]
        self._results.append(result)
        self.stats.attempts += 1
        metrics.ATTEMPTS.labels(result.outcome).inc()
        metrics.ATTEMPT_SECONDS.observe(result.latency_ms / 1000)
        if result.outcome == Outcome.SUCCESS:
            metrics.DELIVERIES_SENT.inc()
        elif result.next_attempt_at is None:
            metrics.DELIVERIES_FAILED.inc()
        if result.outcome != Outcome.SUCCESS:
            log.warning(
                "delivery %d of event %s to subscription %d: %s (%s)",
                item.delivery_id,
                item.event_id,
                sub,
                result.outcome,
                result.error,
                extra={
                    "event_id": item.event_id,
                    "delivery_id": item.delivery_id,
                    "subscription_id": sub,
                    "attempt": item.attempts + 1,
                    "retry_at": result.next_attempt_at.isoformat()
                    if result.next_attempt_at
                    else None,
                },
            )
        if len(self._results) >= self.config.flush_size:
            self._flush_now.set()

    async def _send(self, item: ClaimedDelivery) -> AttemptResult:
        attempted_at = self._clock()
        status: int | None = None
        error: str | None = None
        retry_after: str | None = None
        started = time.perf_counter()
        try:
            if not item.secrets:
                raise RuntimeError("endpoint has no active signing secret")
            # Signed per attempt: the timestamp is this attempt's, the id the event's.
            headers = sign(item.secrets, item.event_id, self._wall_clock(), item.body)
            client = self._clients[item.subscription_id % len(self._clients)]
            # The whole attempt has one deadline (a receiver trickling bytes cannot hold
            # it), and the answer's body is never read: only its status and headers count,
            # so a receiver answering megabytes costs nothing.
            async with asyncio.timeout(self.config.request_timeout):
                request = client.build_request("POST", item.url, content=item.body, headers=headers)
                response = await client.send(request, stream=True)
                await response.aclose()
            status = response.status_code
            retry_after = response.headers.get("retry-after")
        except Exception as exc:  # any failure to get a response is logged and retried
            error = _short_error(exc, self.config.request_timeout)
        latency_ms = (time.perf_counter() - started) * 1000
        finished_at = self._clock()
        outcome = classify(status, error)
        if status is not None and outcome != Outcome.SUCCESS:
            error = f"HTTP {status}"
        next_at = None
        if outcome in (Outcome.RETRY, Outcome.THROTTLE):
            next_at = self._schedule(item.attempts + 1, finished_at, retry_after)
        return AttemptResult(
            delivery=item,
            attempted_at=attempted_at,
            finished_at=finished_at,
            status_code=status,
            latency_ms=latency_ms,
            error=error,
            outcome=outcome.value,
            next_attempt_at=next_at,
        )

    # --- the loop -----------------------------------------------------------------------

    async def run(
        self,
        *,
        once: bool = False,
        until_idle: bool = False,
        stop: asyncio.Event | None = None,
        max_seconds: float | None = None,
    ) -> DispatchStats:
        """Dispatch until ``stop`` is set (forever by default).

        ``once``: send everything due now (and whatever falls due meanwhile), then return.
        ``until_idle``: keep going, waiting for retries, until no delivery is pending.
        ``max_seconds`` bounds the run. In-flight requests finish and every result is
        written before returning.
        """
        c = self.config
        stop = stop or asyncio.Event()
        started = time.perf_counter()
        writer_stop = asyncio.Event()
        inflight: set[asyncio.Task[None]] = set()
        slot_freed = asyncio.Event()

        def finished(task: asyncio.Task[None]) -> None:
            inflight.discard(task)
            slot_freed.set()

        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")
        self._clients = self._make_clients()
        writer = asyncio.create_task(self._writer(writer_stop))
        heartbeat = asyncio.create_task(self._heartbeat(writer_stop))
        last_short_claim = -1e9  # when a claim last came back short (nothing more due)
        try:
            while not stop.is_set():
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    break
                free = c.concurrency - len(inflight)
                recently_idle = time.perf_counter() - last_short_claim < c.poll_interval
                # Claim when a good share of the capacity is free, or when idle.
                worth_claiming = free >= max(1, min(c.batch_size, c.concurrency // 4)) or (
                    free > 0 and not inflight
                )
                if worth_claiming and not recently_idle:
                    want = min(free, c.batch_size)
                    try:
                        claimed = await self._claim(want)
                    except DBAPIError as exc:
                        log.warning("claiming failed: %s", exc)
                        claimed = []
                        await asyncio.sleep(c.poll_interval)
                    for item in claimed:
                        task = asyncio.create_task(self._attempt(item))
                        inflight.add(task)
                        task.add_done_callback(finished)
                    if len(claimed) < want:
                        last_short_claim = time.perf_counter()
                    elif free - len(claimed) > 0:
                        continue  # more may be due right now
                if inflight:
                    # Wake on a finished request (cheaper than asyncio.wait over every task).
                    slot_freed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(slot_freed.wait(), c.poll_interval)
                    continue
                if time.perf_counter() - last_short_claim >= c.poll_interval:
                    continue  # nothing in flight and not checked lately: claim again now
                await self._flush()
                if once:
                    break
                if until_idle:
                    _due, pending, _next = await self._in_db(pending_summary, self._clock())
                    if pending == 0:
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), c.poll_interval)
            if inflight:
                await asyncio.wait(inflight)
        finally:
            for task in inflight:
                task.cancel()
            writer_stop.set()
            self._flush_now.set()
            await writer
            await heartbeat
            await self._flush()
            for client in self._clients:
                await client.aclose()
            self._db.shutdown(wait=True)
            self.stats.seconds = time.perf_counter() - started
        return self.stats


def run_dispatcher(
    config: DispatcherConfig | None = None,
    *,
    once: bool = False,
    until_idle: bool = False,
    max_seconds: float | None = None,
    install_signal_handlers: bool = True,
) -> DispatchStats:
    """Run a dispatcher in this thread (uvloop when available). SIGTERM/SIGINT stop it
    gracefully: no new claims, in-flight requests finish, results are written."""
    import signal

    async def main() -> DispatchStats:
        stop = asyncio.Event()
        if install_signal_handlers:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        return await Dispatcher(config).run(
            once=once, until_idle=until_idle, stop=stop, max_seconds=max_seconds
        )

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())
