"""`/metrics`: Prometheus text format (process counters plus outbox figures from the DB)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app.metrics import ServiceCollector
from app.outbox.metrics import outbox_registry

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """This process's counters (HTTP, webhook attempts), the outbox backlog and deliveries,
    and the forecast, warning, model and heartbeat figures of the database."""
    registry = outbox_registry()
    registry.register(ServiceCollector())
    body = generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
