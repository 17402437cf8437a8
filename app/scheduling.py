"""Scheduling helpers of `hazewarn scheduler`: cron on the service clock, retries with
backoff, and the job metrics.

APScheduler reads the wall clock; hazewarn's jobs live on the service clock
(`app.timestamps.utcnow`, shifted by ``HAZEWARN_CLOCK_OFFSET_SECONDS`` when the demo replays
a past episode). `ServiceClockTrigger` wraps a trigger so that "01:30 in Europe/Berlin"
means 01:30 on the service clock, daylight-saving changes included (the zone's rules are
the inner `CronTrigger`'s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from apscheduler.triggers.base import BaseTrigger
from prometheus_client import Counter, Gauge, Histogram

from app.config import get_settings

__all__ = [
    "JOB_FAILURES",
    "JOB_RUNS",
    "JOB_SECONDS",
    "STOPPING",
    "ServiceClockTrigger",
    "call_with_retries",
]

log = logging.getLogger("hazewarn.scheduler")
T = TypeVar("T")

JOB_RUNS = Counter(
    "hazewarn_scheduler_job_runs_total",
    "Scheduled job attempts by job and outcome (ok, error); retries count as attempts",
    ["job", "outcome"],
)
JOB_FAILURES = Counter(
    "hazewarn_scheduler_job_failures_total",
    "Scheduled jobs given up after every retry failed",
    ["job"],
)
JOB_SECONDS = Histogram(
    "hazewarn_scheduler_job_seconds",
    "Duration of scheduled job attempts, seconds",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
)
JOB_LAST_SUCCESS = Gauge(
    "hazewarn_scheduler_job_last_success_timestamp_seconds",
    "Wall-clock time of each job's last successful run (Unix seconds)",
    ["job"],
)

#: Set when the scheduler stops: a job waiting to retry gives up at once.
STOPPING = threading.Event()


class ServiceClockTrigger(BaseTrigger):
    """``inner``'s fire times read on the service clock, returned as wall-clock times."""

    def __init__(self, inner: BaseTrigger) -> None:
        self.inner = inner

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Shift in UTC: aware arithmetic in a zone with DST keeps the wall time, not the
        # elapsed time (03:00 CET + 10 days would be 03:00 CEST, an hour short).
        offset = timedelta(seconds=get_settings().clock_offset_seconds)
        previous = (
            previous_fire_time.astimezone(UTC) + offset if previous_fire_time is not None else None
        )
        fire: datetime | None = self.inner.get_next_fire_time(
            previous, now.astimezone(UTC) + offset
        )
        return None if fire is None else fire.astimezone(UTC) - offset

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "inner": self.inner}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.inner = state["inner"]

    def __str__(self) -> str:
        return f"{self.inner} (service clock)"

    def __repr__(self) -> str:
        return f"<ServiceClockTrigger {self.inner!r}>"


def call_with_retries(
    job: str,
    fn: Callable[[], T],
    *,
    retries: int,
    first_delay: float,
    stop: threading.Event = STOPPING,
) -> T | None:
    """Run ``fn``; when it raises, try again up to ``retries`` times, waiting
    ``first_delay`` seconds and twice as long before each further try. Every failed attempt
    is logged with its traceback and counted; a job that fails every time is logged at
    ERROR, counted in ``hazewarn_scheduler_job_failures_total`` and returns None (the
    scheduler runs it again at its next time)."""
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:
            JOB_SECONDS.labels(job).observe(time.perf_counter() - started)
            JOB_RUNS.labels(job, "error").inc()
            if attempt > retries or stop.is_set():
                JOB_FAILURES.labels(job).inc()
                log.error(
                    "job %s failed after %d attempt(s): %s: %s",
                    job,
                    attempt,
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                    extra={"job": job, "attempt": attempt},
                )
                return None
            delay = first_delay * 2 ** (attempt - 1)
            log.warning(
                "job %s attempt %d failed (%s: %s); retrying in %.3g s",
                job,
                attempt,
                type(exc).__name__,
                exc,
                delay,
                exc_info=exc,
                extra={"job": job, "attempt": attempt},
            )
            if stop.wait(delay):
                JOB_FAILURES.labels(job).inc()
                log.error("job %s: scheduler stopping, retry abandoned", job)
                return None
            continue
        JOB_SECONDS.labels(job).observe(time.perf_counter() - started)
        JOB_RUNS.labels(job, "ok").inc()
        JOB_LAST_SUCCESS.labels(job).set(time.time())
        return result
