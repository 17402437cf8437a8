"""Prometheus metrics of webhook delivery.

The dispatcher process counts attempts and latencies in the default registry (exposed by
``hazewarn dispatcher --metrics-port`` or by ``/metrics`` when it runs inside the API or
scheduler process). ``/metrics`` also reads the outbox tables at scrape time, so the backlog
and delivery totals are right whichever process does the sending.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.database import get_sessionmaker
from app.outbox.models import Delivery, DeliveryAttempt
from app.outbox.service import DeliveryStatus
from app.subscriptions.models import Subscription
from app.timestamps import utcnow

ATTEMPTS = Counter(
    "hazewarn_webhook_attempts_total",
    "Webhook delivery attempts made by this process, by outcome",
    ["outcome"],
)
DELIVERIES_SENT = Counter(
    "hazewarn_webhook_deliveries_sent_total", "Deliveries that got a 2xx (this process)"
)
DELIVERIES_FAILED = Counter(
    "hazewarn_webhook_deliveries_failed_total",
    "Deliveries given up: retry schedule used up or endpoint gone (this process)",
)
ATTEMPT_SECONDS = Histogram(
    "hazewarn_webhook_attempt_seconds",
    "Time from sending a webhook to its response or error, seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)


class OutboxCollector(Collector):
    """Backlog and totals read from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with get_sessionmaker()() as session:
            by_status: dict[str, int] = {
                status: count
                for status, count in session.execute(
                    select(Delivery.status, func.count()).group_by(Delivery.status)
                )
            }
            due = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.status == DeliveryStatus.PENDING.value,
                    Delivery.next_attempt_at <= now,
                )
            )
            oldest = session.scalar(
                select(func.min(Delivery.created_at)).where(
                    Delivery.status == DeliveryStatus.PENDING.value
                )
            )
            by_outcome: dict[str, int] = {
                outcome: count
                for outcome, count in session.execute(
                    select(DeliveryAttempt.outcome, func.count()).group_by(DeliveryAttempt.outcome)
                )
            }
            disabled = session.scalar(
                select(func.count())
                .select_from(Subscription)
                .where(Subscription.disabled_at.is_not(None))
            )
        backlog = GaugeMetricFamily(
            "hazewarn_outbox_backlog", "Deliveries waiting to be sent (pending)"
        )
        backlog.add_metric([], by_status.get(DeliveryStatus.PENDING.value, 0))
        yield backlog
        oldest_age = GaugeMetricFamily(
            "hazewarn_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending delivery (0 when none), seconds",
        )
        if oldest is not None and oldest.tzinfo is None:  # min() on SQLite comes back naive
            oldest = oldest.replace(tzinfo=UTC)
        oldest_age.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
        yield oldest_age
        due_now = GaugeMetricFamily("hazewarn_outbox_due", "Pending deliveries already due")
        due_now.add_metric([], int(due or 0))
        yield due_now
        deliveries = GaugeMetricFamily(
            "hazewarn_deliveries", "Deliveries in the database by status", labels=["status"]
        )
        for status in DeliveryStatus:
            deliveries.add_metric([status.value], by_status.get(status.value, 0))
        yield deliveries
        attempts = GaugeMetricFamily(
            "hazewarn_delivery_attempts_logged",
            "Attempts in the delivery log by outcome (all dispatchers)",
            labels=["outcome"],
        )
        for outcome, count in sorted(by_outcome.items()):
            attempts.add_metric([outcome], count)
        yield attempts
        endpoints = GaugeMetricFamily(
            "hazewarn_endpoints_disabled", "Subscriptions disabled (dashboard flag)"
        )
        endpoints.add_metric([], int(disabled or 0))
        yield endpoints


def outbox_registry() -> CollectorRegistry:
    """A registry holding only the database collector (made per scrape; cheap)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector())
    return registry
