"""Standard Webhooks signatures: interoperable with the reference library, rotation-safe."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from alerts.signing import new_secret, secret_key, sign, verify

BODY = json.dumps(
    {"id": "evt_1", "type": "warning.issued", "data": {"city": "北京市"}}, ensure_ascii=False
).encode("utf-8")
FIXED_TIME = datetime(2026, 1, 4, 8, 0, 0, tzinfo=UTC)


def test_new_secret_is_prefixed_random_and_long_enough() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert 24 <= len(secret_key(secret)) <= 64


def test_signature_verifies_with_the_reference_library() -> None:
    # Webhook.verify checks the timestamp against the wall clock, so sign "now" here.
    secret = new_secret()
    headers = sign([secret], "evt_1", datetime.now(UTC), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_each_secret_of_a_rotated_pair_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign([old, new], "evt_2", datetime.now(UTC), BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        verify(secret, headers, BODY, now=datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_tampered_body_or_id_fails() -> None:
    secret = new_secret()
    headers = sign([secret], "evt_3", datetime.now(UTC), BODY)
    tampered = BODY.replace(b"issued", b"lifted")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers, tampered, now=datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        verify(secret, {**headers, "webhook-id": "evt_4"}, BODY, now=datetime.now(UTC))
    # Re-serialising the JSON (even equivalently) breaks the signature: raw bytes only.
    reserialised = json.dumps(json.loads(BODY)).encode()
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers, reserialised, now=datetime.now(UTC))


def test_headers_are_stable_for_the_same_id_time_and_body() -> None:
    secret = new_secret()
    first = sign([secret], "evt_5", FIXED_TIME, BODY)
    again = sign([secret], "evt_5", FIXED_TIME, BODY)
    assert first == again
    assert first["webhook-id"] == "evt_5"
    assert first["webhook-timestamp"] == str(int(FIXED_TIME.timestamp())) == "1767513600"
    # A retry keeps the id and gets a new timestamp and therefore a new signature.
    retry = sign([secret], "evt_5", FIXED_TIME + timedelta(seconds=5), BODY)
    assert retry["webhook-id"] == "evt_5"
    assert retry["webhook-signature"] != first["webhook-signature"]


def test_timestamp_zone_is_converted_not_relabelled() -> None:
    # The library relabels tzinfo as UTC; a +08:00 time must still sign the same instant.
    secret = new_secret()
    beijing = FIXED_TIME.astimezone(timezone(timedelta(hours=8)))
    assert sign([secret], "evt_6", beijing, BODY) == sign([secret], "evt_6", FIXED_TIME, BODY)
    assert (
        Webhook(secret).sign("evt_6", FIXED_TIME, BODY.decode())
        == (sign([secret], "evt_6", beijing, BODY)["webhook-signature"])
    )


def test_known_answer() -> None:
    # Fixed key and message: HMAC-SHA256 over "{id}.{timestamp}.{body}", base64.
    import hashlib
    import hmac

    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    body = b'{"a":1}'
    expected = base64.b64encode(
        hmac.new(key, b"msg_1.1767513600." + body, hashlib.sha256).digest()
    ).decode()
    headers = sign([secret], "msg_1", FIXED_TIME, body)
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_verify_uses_the_given_clock_and_tolerance() -> None:
    secret = new_secret()
    headers = sign([secret], "evt_7", FIXED_TIME, BODY)
    assert verify(secret, headers, BODY, now=FIXED_TIME + timedelta(minutes=4)) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, headers, BODY, now=FIXED_TIME + timedelta(minutes=6))
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(secret, headers, BODY, now=FIXED_TIME - timedelta(minutes=6))


def test_verify_skips_malformed_and_foreign_signatures() -> None:
    secret = new_secret()
    headers = sign([secret], "evt_8", FIXED_TIME, BODY)
    noisy = {
        "Webhook-Id": headers["webhook-id"],
        "Webhook-Timestamp": headers["webhook-timestamp"],
        "Webhook-Signature": "garbage v1a,AAAA v1,!!notbase64 " + headers["webhook-signature"],
    }
    verify(secret, noisy, BODY, now=FIXED_TIME)
    with pytest.raises(WebhookVerificationError, match="Missing"):
        verify(secret, {"webhook-id": "evt_8"}, BODY, now=FIXED_TIME)
    with pytest.raises(WebhookVerificationError):
        verify(secret, {**headers, "webhook-timestamp": "soon"}, BODY, now=FIXED_TIME)


@pytest.mark.parametrize(
    ("secrets", "msg_id", "timestamp", "body", "message"),
    [
        ([], "evt", FIXED_TIME, BODY, "at least one secret"),
        (["nope"], "evt", FIXED_TIME, BODY, "whsec_"),
        (["whsec_" + base64.b64encode(b"short").decode()], "evt", FIXED_TIME, BODY, "bytes"),
        (["whsec_***"], "evt", FIXED_TIME, BODY, "base64"),
        ([new_secret()], "", FIXED_TIME, BODY, "webhook id"),
        ([new_secret()], "evt 1", FIXED_TIME, BODY, "webhook id"),
        ([new_secret()], "evt\n1", FIXED_TIME, BODY, "webhook id"),
        ([new_secret()], "evt", datetime(2026, 1, 4), BODY, "timezone"),
        ([new_secret()], "evt", FIXED_TIME, b"\xff\xfe", "UTF-8"),
    ],
)
def test_sign_refuses_bad_input(
    secrets: list[str], msg_id: str, timestamp: datetime, body: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign(secrets, msg_id, timestamp, body)


def test_duplicate_secrets_are_signed_once() -> None:
    secret = new_secret()
    headers = sign([secret, secret], "evt_9", FIXED_TIME, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 1
