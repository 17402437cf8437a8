"""`/v1/subscriptions`: roles and scopes, URL safety, secrets and rotation, ping, history,
replay (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.database import session_scope
from app.outbox.dispatcher import Dispatcher, DispatcherConfig
from app.outbox.service import active_secrets, enqueue_event
from app.subscriptions.service import SubscriptionInputError, check_webhook_url
from app.timestamps import utcnow

REPO_ROOT = Path(__file__).resolve().parents[3]
PUBLIC_URL = "https://93.184.216.34/hooks/hazewarn"  # an IP literal: no DNS in tests


def create(client: TestClient, headers: dict[str, str], **body: object) -> httpx.Response:
    return client.post("/v1/subscriptions", json={"url": PUBLIC_URL, **body}, headers=headers)


def send_all(answers: list[httpx.Request]) -> None:
    """Run the dispatcher once over a mock transport that records requests and says 200."""

    def handler(request: httpx.Request) -> httpx.Response:
        answers.append(request)
        return httpx.Response(200)

    config = DispatcherConfig(concurrency=10, client_shards=1, request_timeout=5)
    dispatcher = Dispatcher(config, rng=random.Random(1), transport=httpx.MockTransport(handler))
    asyncio.run(dispatcher.run(once=True))


def test_create_shows_the_secret_once_and_fills_a_city_office_scope(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    response = create(client, headers["beijing"], description="BJ EOC", levels=["red", "orange"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["cities"] == ["110000"]  # empty filter = the office's own cities
    assert body["levels"] == ["orange", "red"]  # in severity order
    assert body["owner_role"] == "city_office" and body["active"] is True
    assert len(body["signing_secrets"]) == 1
    again = client.get(f"/v1/subscriptions/{body['id']}", headers=headers["beijing"]).json()
    assert "secret" not in again
    listed = client.get("/v1/subscriptions", headers=headers["beijing"]).json()
    assert [s["id"] for s in listed["items"]] == [body["id"]]
    assert body["secret"] not in client.get("/v1/subscriptions", headers=headers["admin"]).text


def test_refusals_say_why_without_showing_other_cities(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    assert create(client, {}).status_code == 401
    bad_key = create(client, {"Authorization": "Bearer hw_not-a-key"})
    assert bad_key.status_code == 401 and bad_key.json()["detail"] == "unknown or revoked API key"

    other_city = create(client, headers["beijing"], cities=["120000"])
    assert other_city.status_code == 403
    detail = other_city.json()["detail"]
    assert "scoped to cities 110000" in detail and "120000" in detail

    tianjin = create(client, headers["tianjin"], description="TJ secret ops room").json()
    for path in ("", "/deliveries"):
        refused = client.get(f"/v1/subscriptions/{tianjin['id']}{path}", headers=headers["beijing"])
        assert refused.status_code == 403
        assert "belongs to another owner" in refused.json()["detail"]
        assert "TJ secret" not in refused.text and PUBLIC_URL not in refused.text
    for method, path in (
        ("post", "/rotate-secret"),
        ("post", "/ping"),
        ("post", "/replay?since=2026-01-01T00:00:00Z"),
        ("patch", ""),
        ("delete", ""),
    ):
        kwargs = {"json": {}} if method == "patch" else {}
        refused = client.request(
            method, f"/v1/subscriptions/{tianjin['id']}{path}", headers=headers["beijing"], **kwargs
        )
        assert refused.status_code == 403, (method, path)
    assert client.get("/v1/subscriptions", headers=headers["beijing"]).json()["total"] == 0
    # Staff see and manage everything.
    assert (
        client.get(f"/v1/subscriptions/{tianjin['id']}", headers=headers["duty"]).status_code == 200
    )
    # A coordinator acts for its region's member cities only.
    xian = create(client, headers["fenwei"], cities=["610100"])
    assert xian.status_code == 201, xian.text
    assert create(client, headers["fenwei"], cities=["110000"]).status_code == 403
    assert "110000" not in create(client, headers["fenwei"]).json()["cities"]
    # Only staff may subscribe to operational events.
    ops = create(client, headers["beijing"], event_types=["endpoint.disabled"])
    assert ops.status_code == 422 and ops.json()["errors"][0]["field"] == "body.event_types"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "https://240.0.0.1/hook",
        "http://224.0.0.1/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pw@93.184.216.34/hook",
        "https:///no-host",
        "http://93.184.216.34:99999/",
    ],
)
def test_private_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(SubscriptionInputError) as refused:
        check_webhook_url(url, allow_private=False)
    assert refused.value.field == "body.url"


def test_public_addresses_pass_the_url_check() -> None:
    for url in (PUBLIC_URL, "http://[2606:2800:220:1:248:1893:25c8:1946]/h"):
        assert check_webhook_url(url, allow_private=False) == url
    assert check_webhook_url("http://10.0.0.1/h", allow_private=True) == "http://10.0.0.1/h"


def test_a_private_url_is_refused_with_422_naming_the_field(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    response = create(client, headers["admin"], url="http://localhost:9000/hook")
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body.url" and "loopback" in error["message"]


def test_private_urls_are_accepted_when_the_setting_allows(
    client: TestClient, headers: dict[str, dict[str, str]], allow_private: None
) -> None:
    assert create(client, headers["admin"], url="http://127.0.0.1:9000/hook").status_code == 201
    bad = create(client, headers["admin"], url="ftp://127.0.0.1/hook")
    assert bad.status_code == 422  # the scheme is still checked


def test_rotation_signs_with_old_and_new_during_the_overlap(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    created = create(client, headers["beijing"]).json()
    old = created["secret"]
    rotated = client.post(
        f"/v1/subscriptions/{created['id']}/rotate-secret", headers=headers["beijing"]
    )
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    shown = client.get(f"/v1/subscriptions/{created['id']}", headers=headers["beijing"]).json()
    assert len(shown["signing_secrets"]) == 2

    ping = client.post(f"/v1/subscriptions/{created['id']}/ping", headers=headers["beijing"])
    assert ping.status_code == 202
    sent: list[httpx.Request] = []
    send_all(sent)
    [request] = sent
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # the receiver may hold either
        payload = Webhook(secret).verify(request.content, dict(request.headers))
        assert payload["type"] == "endpoint.ping" and payload["id"] == ping.json()["event_id"]
    # The ping is an event type of the published schema like any other.
    schema = json.loads((REPO_ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(request.content), schema)
    assert json.loads(request.content)["data"] == {
        "endpoint_id": str(created["id"]),
        "url": PUBLIC_URL,
    }

    # After the overlap (24 h by default) only the new secret signs.
    later = utcnow() + timedelta(hours=24, minutes=1)
    with session_scope() as session:
        assert active_secrets(session, [created["id"]], later) == {created["id"]: [new]}


def test_zero_overlap_retires_the_old_secret_at_once(
    client: TestClient, headers: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_SECRET_OVERLAP_HOURS", "0")
    get_settings.cache_clear()
    created = create(client, headers["admin"]).json()
    new = client.post(
        f"/v1/subscriptions/{created['id']}/rotate-secret", headers=headers["admin"]
    ).json()["secret"]
    client.post(f"/v1/subscriptions/{created['id']}/ping", headers=headers["admin"])
    sent: list[httpx.Request] = []
    send_all(sent)
    [request] = sent
    Webhook(new).verify(request.content, dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(request.content, dict(request.headers))


def test_delivery_history_and_replay_with_the_same_ids(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    created = create(client, headers["beijing"]).json()
    since = utcnow() - timedelta(seconds=1)
    with session_scope() as session:
        issued = enqueue_event(
            session, "warning.issued", {"warning": {}}, now=utcnow(), city_code="110000"
        ).id
    sent: list[httpx.Request] = []
    send_all(sent)
    history = client.get(
        f"/v1/subscriptions/{created['id']}/deliveries", headers=headers["beijing"]
    ).json()
    [delivery] = history["items"]
    assert delivery["event_id"] == issued and delivery["status"] == "delivered"
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["outcome"] == "success"
    assert attempt["latency_ms"] >= 0 and attempt["error"] is None

    replayed = client.post(
        f"/v1/subscriptions/{created['id']}/replay",
        params={"since": since.isoformat()},
        headers=headers["beijing"],
    )
    assert replayed.status_code == 202 and replayed.json()["event_ids"] == [issued]
    send_all(sent)
    assert [r.headers["webhook-id"] for r in sent] == [issued, issued]
    [again] = client.get(
        f"/v1/subscriptions/{created['id']}/deliveries", headers=headers["beijing"]
    ).json()["items"]
    assert again["status"] == "delivered" and len(again["attempt_log"]) == 2
    future = client.post(
        f"/v1/subscriptions/{created['id']}/replay",
        params={"since": (utcnow() + timedelta(hours=1)).isoformat()},
        headers=headers["beijing"],
    )
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "query.since"


def test_disable_by_hand_then_enable_and_delete(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    created = create(client, headers["admin"]).json()
    path = f"/v1/subscriptions/{created['id']}"
    off = client.patch(path, json={"active": False}, headers=headers["admin"]).json()
    assert off["active"] is False and off["disabled_reason"] == "manual"
    assert client.post(f"{path}/ping", headers=headers["admin"]).status_code == 409
    on = client.patch(
        path, json={"active": True, "levels": ["red"]}, headers=headers["admin"]
    ).json()
    assert on["active"] is True and on["disabled_at"] is None and on["levels"] == ["red"]
    bad = client.patch(path, json={"levels": ["purple"]}, headers=headers["admin"])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.levels"
    assert client.delete(path, headers=headers["admin"]).status_code == 204
    assert client.get(path, headers=headers["admin"]).status_code == 404
