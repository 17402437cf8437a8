"""Webhook retry policy: when to try again, what a response means, when to give up.

Pure: ``now`` and the random source are parameters. Follows Standard Webhooks (standards
note §6): exponential backoff with jitter over a fixed schedule, ``Retry-After`` honoured,
2xx success, 3xx failure (redirects are not followed), 410 disables the endpoint, 429/502/504
throttle, and sustained failure disables the endpoint. ``docs/publishing.md`` explains it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol

# Delay before attempt 1, 2, ... 10, counted from the end of the previous attempt
# (attempt 1 is immediate). Sums to about 75 h 35 min, as in the Standard Webhooks example.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
# Each delay is stretched or shrunk by a uniform factor in [1 - 20 %, 1 + 20 %] so that
# endpoints that failed together (an outage at a city office) do not all retry in lockstep.
JITTER_FRACTION = 0.2
# Longest wait a Retry-After can impose. A larger request is clamped to this: a warning is
# worthless if held back for days, and the receiver can answer 429 again.
MAX_RETRY_AFTER = timedelta(hours=24)
# An endpoint whose every attempt has failed for this long is disabled (as Svix does).
DISABLE_AFTER_FAILING_FOR = timedelta(days=5)
# Per-request timeout for the dispatcher, seconds (the spec suggests 15-30 s).
REQUEST_TIMEOUT_SECONDS = 15.0

THROTTLE_STATUSES = frozenset({429, 502, 504})
GONE_STATUS = 410

_DELAY_SECONDS = re.compile(r"^[0-9]+$")
# Larger Retry-After seconds are clamped before building a timedelta (which overflows).
_RETRY_AFTER_SECONDS_LIMIT = int(MAX_RETRY_AFTER.total_seconds())


class UniformSource(Protocol):
    """What the policy needs from a random source (``random.Random`` fits)."""

    def uniform(self, a: float, b: float) -> float: ...


class Outcome(StrEnum):
    """What one delivery attempt means for the message and the endpoint."""

    SUCCESS = "success"  # 2xx: delivered, stop
    RETRY = "retry"  # failed: try again on the schedule
    THROTTLE = "throttle"  # 429/502/504: receiver overloaded; back off, honour Retry-After
    DISABLE_ENDPOINT = "disable_endpoint"  # 410 Gone: the receiver asks us to stop for good


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for, or None if absent or unreadable.

    RFC 9110 allows delay-seconds (digits only) or an HTTP-date; a date in the past means
    no wait (zero). Waits are clamped to ``MAX_RETRY_AFTER``.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.match(text):
        return timedelta(seconds=min(int(text), _RETRY_AFTER_SECONDS_LIMIT))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are always GMT (asctime form has no zone)
    wait = when - _aware(now)
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def next_attempt_at(
    attempt_number: int,
    now: datetime,
    rng: UniformSource,
    retry_after_header: str | None = None,
) -> datetime | None:
    """When to make the next attempt, or None when the schedule is used up.

    ``attempt_number`` is how many attempts have been made so far (0 before the first,
    which is immediate; 1 after the first failed; ...). ``now`` is the end of the last
    attempt. The next delay is ``RETRY_SCHEDULE[attempt_number]`` times a jitter factor in
    ``[1 - JITTER_FRACTION, 1 + JITTER_FRACTION]`` drawn from ``rng``, and never shorter than
    what ``retry_after_header`` asks (seconds or an HTTP-date, at most ``MAX_RETRY_AFTER``).
    After ``MAX_ATTEMPTS`` attempts it returns None: mark the message failed.
    """
    if attempt_number < 0:
        raise ValueError(f"attempt_number {attempt_number} must be >= 0")
    _aware(now)
    if attempt_number >= MAX_ATTEMPTS:
        return None
    factor = 1.0 + rng.uniform(-JITTER_FRACTION, JITTER_FRACTION)
    delay = RETRY_SCHEDULE[attempt_number] * factor
    requested = parse_retry_after(retry_after_header, now)
    if requested is not None:
        delay = max(delay, requested)
    return now + delay


def classify(status_code: int | None, error: BaseException | str | None = None) -> Outcome:
    """The outcome of one attempt from its HTTP status, or from the error when none came.

    ``status_code`` None means no response: a timeout, refused or reset connection, TLS or
    DNS failure (``error`` says which); all of these are retried. Any other non-2xx status,
    3xx included (we never follow redirects), is a failure to retry, except 410 (disable the
    endpoint) and 429/502/504 (throttle).
    """
    if status_code is None:
        if error is None:
            raise ValueError("an attempt without a status code must carry its error")
        return Outcome.RETRY
    if not 100 <= status_code <= 599:
        raise ValueError(f"HTTP status {status_code} is outside 100-599")
    if 200 <= status_code <= 299:
        return Outcome.SUCCESS
    if status_code == GONE_STATUS:
        return Outcome.DISABLE_ENDPOINT
    if status_code in THROTTLE_STATUSES:
        return Outcome.THROTTLE
    return Outcome.RETRY


def should_disable(
    *,
    failing_since: datetime | None,
    now: datetime,
    exhausted_message_first_attempt_at: datetime | None = None,
) -> bool:
    """Whether an endpoint has failed for long enough to be disabled.

    ``failing_since`` is the time of the first failed attempt since the endpoint's last
    success (None when its latest attempt succeeded or it has never been tried).
    ``exhausted_message_first_attempt_at`` is set when a message to the endpoint has just
    used up its schedule: the time of that message's first attempt.

    Disable when every attempt has failed for ``DISABLE_AFTER_FAILING_FOR`` (5 days), or
    when a message exhausted its ~75 h schedule with no success at the endpoint since that
    message's first attempt. An endpoint that rejects one message but accepts others is not
    disabled (its ``failing_since`` keeps being reset). 410 disables at once via ``classify``.
    """
    _aware(now)
    if failing_since is None:
        return False
    if now - failing_since >= DISABLE_AFTER_FAILING_FOR:
        return True
    return (
        exhausted_message_first_attempt_at is not None
        and failing_since <= exhausted_message_first_attempt_at
    )
