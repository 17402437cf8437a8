"""Retry schedule, jitter, Retry-After and the response classification table."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from alerts.delivery_policy import (
    DISABLE_AFTER_FAILING_FOR,
    JITTER_FRACTION,
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    RETRY_SCHEDULE,
    Outcome,
    classify,
    next_attempt_at,
    parse_retry_after,
    should_disable,
)

NOW = datetime(2026, 1, 4, 8, 0, 0, tzinfo=UTC)


class FixedDraw:
    """A random source that always returns one end of the range (or the middle)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def uniform(self, a: float, b: float) -> float:
        return {"low": a, "high": b, "mid": (a + b) / 2}[self.where]


def test_schedule_is_the_standard_webhooks_example() -> None:
    assert [d.total_seconds() for d in RETRY_SCHEDULE] == [
        0,
        5,
        5 * 60,
        30 * 60,
        2 * 3600,
        5 * 3600,
        10 * 3600,
        14 * 3600,
        20 * 3600,
        24 * 3600,
    ]
    assert MAX_ATTEMPTS == 10
    total = sum(RETRY_SCHEDULE, timedelta())
    assert timedelta(hours=75) < total < timedelta(hours=76)


def test_without_jitter_each_step_follows_the_schedule() -> None:
    for attempts_made, delay in enumerate(RETRY_SCHEDULE):
        assert next_attempt_at(attempts_made, NOW, FixedDraw("mid")) == NOW + delay
    assert next_attempt_at(MAX_ATTEMPTS, NOW, FixedDraw("mid")) is None
    assert next_attempt_at(MAX_ATTEMPTS + 3, NOW, FixedDraw("mid")) is None


def test_jitter_stays_within_bounds_with_a_seeded_rng() -> None:
    rng = random.Random(20260104)
    for attempts_made, delay in enumerate(RETRY_SCHEDULE):
        seen = []
        for _ in range(200):
            when = next_attempt_at(attempts_made, NOW, rng)
            assert when is not None
            seen.append(when - NOW)
        low, high = delay * (1 - JITTER_FRACTION), delay * (1 + JITTER_FRACTION)
        assert all(low <= d <= high for d in seen), (attempts_made, min(seen), max(seen))
        if delay:  # jitter actually spreads the retries
            assert max(seen) - min(seen) > delay * JITTER_FRACTION
    assert next_attempt_at(1, NOW, FixedDraw("low")) == NOW + timedelta(seconds=4)
    assert next_attempt_at(1, NOW, FixedDraw("high")) == NOW + timedelta(seconds=6)


def test_same_seed_gives_the_same_schedule() -> None:
    first = [next_attempt_at(n, NOW, random.Random(7)) for n in range(MAX_ATTEMPTS)]
    again = [next_attempt_at(n, NOW, random.Random(7)) for n in range(MAX_ATTEMPTS)]
    assert first == again


def test_retry_after_seconds_is_never_undercut() -> None:
    # Schedule says ~5 s; the receiver asks for 120 s.
    assert next_attempt_at(1, NOW, FixedDraw("high"), "120") == NOW + timedelta(seconds=120)
    # Schedule says ~2 h, longer than Retry-After: the schedule wins.
    assert next_attempt_at(4, NOW, FixedDraw("mid"), "60") == NOW + timedelta(hours=2)


def test_retry_after_http_date() -> None:
    header = "Sun, 04 Jan 2026 08:10:00 GMT"  # 10 minutes after NOW
    assert parse_retry_after(header, NOW) == timedelta(minutes=10)
    assert next_attempt_at(1, NOW, FixedDraw("high"), header) == NOW + timedelta(minutes=10)
    # Obsolete RFC 850 and asctime forms are still HTTP-dates.
    assert parse_retry_after("Sunday, 04-Jan-26 08:10:00 GMT", NOW) == timedelta(minutes=10)
    assert parse_retry_after("Sun Jan  4 08:10:00 2026", NOW) == timedelta(minutes=10)
    # A date in the past asks for no wait.
    assert parse_retry_after("Sun, 04 Jan 2026 07:00:00 GMT", NOW) == timedelta(0)


@pytest.mark.parametrize("header", ["", "soon", "-5", "1.5", "٣", None])
def test_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None
    assert next_attempt_at(1, NOW, FixedDraw("mid"), header) == NOW + timedelta(seconds=5)


def test_retry_after_is_capped() -> None:
    assert parse_retry_after("999999999999999999999", NOW) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", NOW) == MAX_RETRY_AFTER
    assert next_attempt_at(1, NOW, FixedDraw("mid"), str(7 * 86400)) == NOW + MAX_RETRY_AFTER


def test_retry_after_does_not_extend_an_exhausted_schedule() -> None:
    assert next_attempt_at(MAX_ATTEMPTS, NOW, FixedDraw("mid"), "5") is None


def test_next_attempt_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="attempt_number"):
        next_attempt_at(-1, NOW, FixedDraw("mid"))
    with pytest.raises(ValueError, match="timezone"):
        next_attempt_at(1, datetime(2026, 1, 4), FixedDraw("mid"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (201, Outcome.SUCCESS),
        (202, Outcome.SUCCESS),
        (204, Outcome.SUCCESS),
        (299, Outcome.SUCCESS),
        (101, Outcome.RETRY),
        (301, Outcome.RETRY),
        (302, Outcome.RETRY),
        (307, Outcome.RETRY),
        (308, Outcome.RETRY),
        (400, Outcome.RETRY),
        (401, Outcome.RETRY),
        (403, Outcome.RETRY),
        (404, Outcome.RETRY),
        (410, Outcome.DISABLE_ENDPOINT),
        (413, Outcome.RETRY),
        (429, Outcome.THROTTLE),
        (500, Outcome.RETRY),
        (502, Outcome.THROTTLE),
        (503, Outcome.RETRY),
        (504, Outcome.THROTTLE),
    ],
)
def test_classification_table(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_errors_without_a_response_are_retried() -> None:
    assert classify(None, TimeoutError("read timed out")) is Outcome.RETRY
    assert classify(None, ConnectionRefusedError("refused")) is Outcome.RETRY
    assert classify(None, "ssl: certificate verify failed") is Outcome.RETRY
    with pytest.raises(ValueError, match="error"):
        classify(None)
    with pytest.raises(ValueError, match="status"):
        classify(999)


def test_outcome_values_are_storable_strings() -> None:
    assert {o.value for o in Outcome} == {"success", "retry", "throttle", "disable_endpoint"}


def test_should_disable_after_five_days_of_failure() -> None:
    assert not should_disable(failing_since=None, now=NOW)
    assert not should_disable(failing_since=NOW - timedelta(days=4, hours=23), now=NOW)
    assert should_disable(failing_since=NOW - DISABLE_AFTER_FAILING_FOR, now=NOW)
    assert should_disable(failing_since=NOW - timedelta(days=9), now=NOW)


def test_should_disable_when_a_schedule_is_exhausted_without_any_success() -> None:
    first_attempt = NOW - timedelta(hours=76)
    # Failing since before the message's first attempt: every attempt of it failed.
    assert should_disable(
        failing_since=first_attempt, now=NOW, exhausted_message_first_attempt_at=first_attempt
    )
    # Another message succeeded meanwhile (failing_since reset later): one bad message only.
    assert not should_disable(
        failing_since=NOW - timedelta(hours=1),
        now=NOW,
        exhausted_message_first_attempt_at=first_attempt,
    )
    # Exhausted message, but the endpoint's latest attempt succeeded.
    assert not should_disable(
        failing_since=None, now=NOW, exhausted_message_first_attempt_at=first_attempt
    )
