"""Standard Webhooks signatures (spec v1.0.0, symmetric ``v1``) using ``standardwebhooks``.

Pure: the timestamp is a parameter. Signing many secrets at once gives one ``v1,<base64>``
per secret in a space-separated ``webhook-signature`` header, which is how a subscription
rotates its secret without downtime: during the overlap the dispatcher signs with the old
and the new secret and a receiver accepts whichever it knows.

Two quirks of the library that this module shields callers from:
- ``Webhook.sign`` replaces the datetime's tzinfo with UTC instead of converting, so an
  aware time in +08:00 would be signed 8 h off. We convert to UTC first.
- ``Webhook.sign`` takes ``str``; the signed bytes are ``body.decode("utf-8")`` re-encoded,
  identical to the raw body only if it is valid UTF-8. Non-UTF-8 bodies are refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from secrets import token_bytes
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # 256 bits: within the spec's 192..512 bits
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE = timedelta(minutes=5)  # what the reference libraries accept

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"

__all__ = [
    "HEADER_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "WebhookVerificationError",
    "new_secret",
    "secret_key",
    "sign",
    "verify",
]


def new_secret() -> str:
    """A fresh random signing secret, ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The raw HMAC key of a ``whsec_`` secret; ValueError if malformed or of bad length."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as error:
        raise ValueError(f"webhook secret is not valid base64: {error}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"webhook secret has {len(key)} bytes; the spec wants "
            f"{MIN_SECRET_BYTES}-{MAX_SECRET_BYTES}"
        )
    return key


def _check_msg_id(msg_id: str) -> None:
    # The id travels in an HTTP header and is the receiver's idempotency key.
    if not msg_id or not msg_id.isascii() or not msg_id.isprintable() or " " in msg_id:
        raise ValueError(f"webhook id {msg_id!r} must be non-empty printable ASCII, no spaces")


def _utc(timestamp: datetime) -> datetime:
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("webhook timestamp must be timezone-aware")
    return timestamp.astimezone(UTC)


def _body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"webhook body is not UTF-8: {error}") from None


def sign(secrets: Sequence[str], msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for sending ``body`` (the exact bytes) as ``msg_id``.

    ``secrets`` are the endpoint's active ``whsec_`` secrets, e.g. ``[old, new]`` during a
    rotation; each gives one ``v1,<base64>`` signature, in the order given (duplicates are
    signed once). ``msg_id`` is the event id and must be the same on every retry;
    ``timestamp`` is the time of this attempt (``webhook-timestamp`` = whole Unix seconds).
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    _check_msg_id(msg_id)
    when = _utc(timestamp)
    text = _body_text(body)
    signatures: list[str] = []
    for secret in dict.fromkeys(secrets):  # ordered, without repeats
        secret_key(secret)  # validate before the library's laxer parsing
        signatures.append(Webhook(secret).sign(msg_id, when, text))
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(math.floor(when.timestamp())),
        HEADER_SIGNATURE: " ".join(signatures),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> Any:
    """Check a delivery as a receiver would and return the parsed JSON body.

    Accepts when any ``v1`` signature in ``webhook-signature`` matches ``secret`` and the
    timestamp is within ``tolerance`` of ``now``. Raises ``WebhookVerificationError``
    otherwise (missing headers, stale or future timestamp, no matching signature). Header
    names are case-insensitive. Unlike ``Webhook.verify``, which reads the wall clock and
    raises ValueError on a malformed signature entry, this takes ``now`` and skips entries
    it cannot parse. The expected signature still comes from ``Webhook.sign``.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    raw_timestamp = lowered.get(HEADER_TIMESTAMP)
    signature_header = lowered.get(HEADER_SIGNATURE)
    if not (msg_id and raw_timestamp and signature_header):
        raise WebhookVerificationError("Missing required headers")
    try:
        sent_at = datetime.fromtimestamp(int(raw_timestamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookVerificationError("Invalid Signature Headers") from None
    current = _utc(now)
    if sent_at < current - tolerance:
        raise WebhookVerificationError("Message timestamp too old")
    if sent_at > current + tolerance:
        raise WebhookVerificationError("Message timestamp too new")
    try:
        text = _body_text(body)
    except ValueError:
        raise WebhookVerificationError("Body is not UTF-8") from None
    expected = base64.b64decode(Webhook(secret).sign(msg_id, sent_at, text).split(",", 1)[1])
    for entry in signature_header.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # v1a (ed25519) or unknown schemes are not ours
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(expected, candidate):
            return json.loads(text)
    raise WebhookVerificationError("No matching signature found")
