"""`/metrics` exposes every family an on-call engineer needs, with values that fit the
database and the requests made."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.timestamps import utcnow


def _samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    matches = [v for got, v in samples.get(name, []) if labels.items() <= got.items()]
    assert matches, f"{name}{labels} not exposed"
    return sum(matches)


@pytest.fixture
def seeded(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A city registry, a forecast run stored an hour ago (12.5 s long), an issued Beijing
    warning, a pending webhook delivery due 5 minutes ago, heartbeats 30 s old, and a model
    file written two hours ago."""
    from app.cities.service import sync_registry
    from app.config import get_settings
    from app.database import session_scope
    from app.forecast_runs.models import ForecastRun
    from app.forecast_runs.service import store_scenario_run
    from app.health.service import record_heartbeat
    from app.outbox.models import Delivery, OutboxEvent
    from app.plans.service import load_plan_files
    from app.subscriptions.models import Subscription
    from app.warnings.actors import Actor
    from app.warnings.evaluation import evaluate_run
    from app.warnings.models import CityWarning
    from app.warnings.service import approve
    from contingency_plans.loader import PLANS_DIR

    model = tmp_path / "pm25.joblib"
    model.write_bytes(b"model bytes")
    two_hours_ago = time.time() - 7200
    os.utime(model, (two_hours_ago, two_hours_ago))
    monkeypatch.setenv("HAZEWARN_MODEL_PATH", str(model))
    get_settings.cache_clear()

    now = utcnow()
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], now)
        issued = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        run_id = store_scenario_run(session, issued, {"110000": {}}, hours=96, default_pm25=360.0)
        run = session.get(ForecastRun, run_id)
        assert run is not None
        run.created_at = now - timedelta(hours=1)
        run.inputs = {**(run.inputs or {}), "duration_seconds": 12.5}
        evaluate_run(session, run_id, now)
        proposal = session.query(CityWarning).filter(CityWarning.state == "proposed").one()
        approve(session, proposal.id, Actor("Officer", role="duty_officer"), now)
        due = now - timedelta(minutes=5)
        subscription = Subscription(
            url="https://receiver.example/hook", owner_role="admin", created_at=due, updated_at=due
        )
        session.add(subscription)
        session.add(OutboxEvent(id="evt-metrics", type="test.ping", payload="{}", created_at=due))
        session.flush()
        session.add(
            Delivery(
                event_id="evt-metrics",
                subscription_id=subscription.id,
                status="pending",
                attempts=0,
                next_attempt_at=due,
                created_at=due,
            )
        )
        for role in ("scheduler", "dispatcher"):
            record_heartbeat(session, role, f"{role}-1", now - timedelta(seconds=30), now)


def test_every_family_is_exposed_with_sensible_values(client: TestClient, seeded: None) -> None:
    from app.scheduling import call_with_retries

    assert client.get("/v1/cities/110000").status_code == 200
    assert client.get("/v1/cities/999999").status_code == 404
    call_with_retries("metrics_probe", lambda: None, retries=0, first_delay=1)

    def broken() -> None:
        raise RuntimeError("probe")

    call_with_retries("metrics_broken", broken, retries=0, first_delay=1)
    samples = _samples(client)

    # HTTP by route template and status
    route = "/v1/cities/{code}"
    assert _value(samples, "hazewarn_http_requests_total", route=route, status="200") >= 1
    assert _value(samples, "hazewarn_http_requests_total", route=route, status="404") >= 1
    assert not any(
        "110000" in labels.get("route", "") for labels, _ in samples["hazewarn_http_requests_total"]
    )
    count = _value(samples, "hazewarn_http_request_duration_seconds_count", route=route)
    assert count >= 2
    assert _value(samples, "hazewarn_http_request_duration_seconds_sum", route=route) > 0

    # forecast runs
    age = _value(samples, "hazewarn_forecast_latest_run_age_seconds")
    assert 3600 <= age < 3600 + 300
    assert _value(samples, "hazewarn_forecast_latest_run_points") == 1
    assert _value(samples, "hazewarn_forecast_latest_run_duration_seconds") == 12.5
    assert _value(samples, "hazewarn_forecast_runs") == 1
    assert "hazewarn_forecast_run_seconds_count" in samples

    # warnings by level and state
    issued = [
        (labels["level"], value)
        for labels, value in samples["hazewarn_warnings"]
        if labels["state"] == "issued"
    ]
    assert len(issued) == 1 and issued[0][0] in {"orange", "red"} and issued[0][1] == 1

    # outbox depth and oldest age, deliveries by outcome
    assert _value(samples, "hazewarn_outbox_backlog") == 1
    assert 300 <= _value(samples, "hazewarn_outbox_oldest_pending_age_seconds") < 600
    assert _value(samples, "hazewarn_deliveries", status="pending") == 1
    assert _value(samples, "hazewarn_deliveries", status="delivered") == 0

    # scheduler jobs, model, heartbeats
    runs = "hazewarn_scheduler_job_runs_total"
    assert _value(samples, runs, job="metrics_probe", outcome="ok") >= 1
    assert _value(samples, runs, job="metrics_broken", outcome="error") >= 1
    assert _value(samples, "hazewarn_scheduler_job_failures_total", job="metrics_broken") >= 1
    assert 7200 <= _value(samples, "hazewarn_model_age_seconds") < 7200 + 300
    assert _value(samples, "hazewarn_model_present") == 1
    assert 30 <= _value(samples, "hazewarn_heartbeat_age_seconds", role="dispatcher") < 330


def test_an_empty_database_exposes_zeros_not_errors(client: TestClient) -> None:
    samples = _samples(client)
    assert _value(samples, "hazewarn_forecast_runs") == 0
    assert "hazewarn_forecast_latest_run_age_seconds" not in samples
    assert _value(samples, "hazewarn_outbox_backlog") == 0
    assert _value(samples, "hazewarn_outbox_oldest_pending_age_seconds") == 0
    assert _value(samples, "hazewarn_model_present") == 0
    assert datetime.now(UTC)  # the scrape itself did not raise
