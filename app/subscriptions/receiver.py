"""A local webhook receiver that verifies Standard Webhooks signatures.

The demo subscribes one (mounted on its own server at ``/demo/receiver``) so deliveries
really happen, and the outbox tests serve one on loopback. Each endpoint path
(``/hook/{name}``) verifies every request with ``standardwebhooks.Webhook(secret).verify``
against the endpoint's secrets, counts deliveries per event id and answers from a script
(e.g. 500, 500, then 200); a request that fails verification gets 400. ``GET /stats``
returns what each endpoint saw, as JSON.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field

from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Endpoint", "Receiver", "receiver_app"]


@dataclass
class Endpoint:
    """One receiver path: its secrets, its scripted answers and what it saw."""

    secrets: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    delay: float = 0.0
    received: Counter[str] = field(default_factory=Counter)  # verified, by event id
    accepted: Counter[str] = field(default_factory=Counter)  # answered 2xx, by event id
    invalid: int = 0
    requests: list[tuple[str, int]] = field(default_factory=list)  # (webhook-id, status)
    event_types: Counter[str] = field(default_factory=Counter)  # verified, by event type


class Receiver:
    """The endpoints and what they received; ``base_url`` is where the app is served."""

    def __init__(self, base_url: str = "") -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.Lock()
        self.base_url = base_url.rstrip("/")
        self.port = 0

    def url(self, name: str) -> str:
        base = self.base_url or f"http://127.0.0.1:{self.port}"
        return f"{base}/hook/{name}"

    def add(self, name: str, secret: str, script: list[int] | None = None) -> Endpoint:
        endpoint = Endpoint(secrets=[secret], script=list(script or []))
        self.endpoints[name] = endpoint
        return endpoint

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return Response(status_code=404)
        body = await request.body()
        headers = dict(request.headers)
        verified = False
        for secret in endpoint.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
                break
            except Exception:
                continue
        if endpoint.delay:
            await asyncio.sleep(endpoint.delay)
        event_id = headers.get("webhook-id", "")
        with self.lock:
            status = endpoint.script.pop(0) if endpoint.script else 200
            endpoint.requests.append((event_id, status))
            if not verified:
                endpoint.invalid += 1
                status = 400
            else:
                endpoint.received[event_id] += 1
                endpoint.event_types[_event_type(body)] += 1
                if 200 <= status < 300:
                    endpoint.accepted[event_id] += 1
        return Response(status_code=status)

    def stats(self) -> dict[str, dict[str, object]]:
        """Per endpoint: requests, verified, accepted, invalid, event types."""
        with self.lock:
            return {
                name: {
                    "requests": len(e.requests),
                    "verified": sum(e.received.values()),
                    "accepted": sum(e.accepted.values()),
                    "invalid": e.invalid,
                    "event_types": dict(e.event_types),
                }
                for name, e in self.endpoints.items()
            }

    async def stats_view(self, request: Request) -> JSONResponse:
        return JSONResponse(self.stats())


def _event_type(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body).get("type", ""))
    except (ValueError, AttributeError):
        return ""


def receiver_app(receiver: Receiver) -> Starlette:
    """The receiver as an ASGI app: ``POST /hook/{name}``, ``GET /stats``."""
    return Starlette(
        routes=[
            Route("/hook/{name}", receiver.handle, methods=["POST"]),
            Route("/stats", receiver.stats_view, methods=["GET"]),
        ]
    )
