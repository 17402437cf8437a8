"""`/metrics`: Prometheus text format (process counters plus outbox figures from the DB)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app.outbox.metrics import outbox_registry

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Webhook attempts, latency histogram, deliveries and the outbox backlog."""
    body = generate_latest(REGISTRY) + generate_latest(outbox_registry())
    return Response(body, media_type=CONTENT_TYPE_LATEST)
