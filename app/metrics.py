"""Prometheus metrics of the API process and figures read from the database at scrape time.

- HTTP: requests and latency by method, route template (``/v1/cities/{code}``, never the
  raw path) and status, counted by `RequestMiddleware`, which also gives every request a
  ``request_id`` (logged, and returned as ``X-Request-ID``).
- From the database (`ServiceCollector`, read when ``/metrics`` is scraped, so they are
  right whichever process did the work): the latest forecast run's age, points and
  duration; warnings by level and state; the model file's age; heartbeats by role.
- The outbox families are `app.outbox.metrics`; scheduler jobs are `app.scheduling`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from structlog.contextvars import bound_contextvars

from app.config import get_settings
from app.database import get_sessionmaker
from app.timestamps import utcnow

__all__ = [
    "FORECAST_RUN_SECONDS",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "RequestMiddleware",
    "ServiceCollector",
]

log = logging.getLogger("hazewarn.http")

HTTP_REQUESTS = Counter(
    "hazewarn_http_requests_total",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "hazewarn_http_request_duration_seconds",
    "Time to answer an HTTP request, seconds, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FORECAST_RUN_SECONDS = Histogram(
    "hazewarn_forecast_run_seconds",
    "Duration of forecast runs made by this process, seconds",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
#: Route label of requests no route matched (one label, whatever the path).
UNMATCHED = "<unmatched>"


class RequestMiddleware:
    """Pure ASGI middleware: a request id bound for the request's log lines, one access
    log line, and the HTTP metrics (a `BaseHTTPMiddleware` would cost a task per request)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        with bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
                method = scope.get("method", "")
                labels = (method, route, str(status))
                HTTP_REQUESTS.labels(*labels).inc()
                HTTP_SECONDS.labels(*labels).observe(seconds)
                if get_settings().access_log:
                    log.info(
                        "%s %s %d",
                        method,
                        scope.get("path", ""),
                        status,
                        extra={
                            "route": route,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 2),
                        },
                    )


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text = value.decode("latin-1").strip()
            # An id from outside goes into every log line: keep it short and plain.
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


class ServiceCollector(Collector):
    """Forecast runs, warnings, model and heartbeats, read from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        from app.forecast_runs.models import ForecastRun
        from app.health.models import Heartbeat
        from app.warnings.models import CityWarning

        now = utcnow()
        settings = get_settings()
        with get_sessionmaker()() as session:
            latest = session.execute(
                select(ForecastRun.created_at, ForecastRun.city_count, ForecastRun.inputs)
                .order_by(ForecastRun.created_at.desc())
                .limit(1)
            ).first()
            runs = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
            warnings = session.execute(
                select(CityWarning.level, CityWarning.state, func.count()).group_by(
                    CityWarning.level, CityWarning.state
                )
            ).all()
            beats = session.execute(
                select(Heartbeat.role, func.max(Heartbeat.beat_at)).group_by(Heartbeat.role)
            ).all()

        total = GaugeMetricFamily("hazewarn_forecast_runs", "Forecast runs stored")
        total.add_metric([], runs)
        yield total
        if latest is not None:
            created, points, inputs = latest
            age = GaugeMetricFamily(
                "hazewarn_forecast_latest_run_age_seconds",
                "Time since the latest forecast run was stored (service clock), seconds",
            )
            age.add_metric([], (now - created).total_seconds())
            yield age
            cities = GaugeMetricFamily(
                "hazewarn_forecast_latest_run_points", "Cities the latest forecast run covers"
            )
            cities.add_metric([], points)
            yield cities
            duration = (inputs or {}).get("duration_seconds")
            if duration is not None:
                took = GaugeMetricFamily(
                    "hazewarn_forecast_latest_run_duration_seconds",
                    "How long the latest forecast run took, seconds",
                )
                took.add_metric([], float(duration))
                yield took

        by_level = GaugeMetricFamily(
            "hazewarn_warnings", "City warnings by level and state", labels=["level", "state"]
        )
        for level, state, count in sorted(warnings):
            by_level.add_metric([level, state], count)
        yield by_level

        model = Path(settings.model_path)
        present = GaugeMetricFamily("hazewarn_model_present", "1 when the model file exists")
        present.add_metric([], 1 if model.is_file() else 0)
        yield present
        if model.is_file():
            model_age = GaugeMetricFamily(
                "hazewarn_model_age_seconds", "Time since the model file was written, seconds"
            )
            model_age.add_metric([], time.time() - model.stat().st_mtime)
            yield model_age

        heartbeat = GaugeMetricFamily(
            "hazewarn_heartbeat_age_seconds",
            "Time since the latest heartbeat of each process role (service clock), seconds",
            labels=["role"],
        )
        for role, beat_at in sorted(beats):
            if beat_at.tzinfo is None:  # max() on SQLite bypasses the column type
                from datetime import UTC

                beat_at = beat_at.replace(tzinfo=UTC)
            heartbeat.add_metric([role], (now - beat_at).total_seconds())
        yield heartbeat
