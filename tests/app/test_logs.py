"""Log lines: JSON with the bound ids when not at a terminal, readable text at one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from structlog.contextvars import bound_contextvars

from app.logs import configure_logging, wants_json


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    yield stream
    configure_logging("auto", "INFO")


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_log_record_is_one_json_line_with_the_bound_ids(log_stream: io.StringIO) -> None:
    log = logging.getLogger("hazewarn.test")
    with bound_contextvars(request_id="req-1", warning_id=42):
        log.info("warning %d issued for %s", 42, "110000", extra={"event_id": "evt-9"})
    log.info("after the request")
    first, second = _lines(log_stream)
    assert first["event"] == "warning 42 issued for 110000"
    assert first["level"] == "info"
    assert first["logger"] == "hazewarn.test"
    assert first["timestamp"].endswith("Z")
    assert (first["request_id"], first["warning_id"], first["event_id"]) == ("req-1", 42, "evt-9")
    assert "request_id" not in second  # unbound when the block ends


def test_an_exception_is_logged_as_structured_frames(log_stream: io.StringIO) -> None:
    try:
        raise ValueError("broken grid")
    except ValueError:
        logging.getLogger("hazewarn.test").exception("inbox failed")
    (line,) = _lines(log_stream)
    assert line["level"] == "error"
    assert line["exception"][0]["exc_type"] == "ValueError"
    assert line["exception"][0]["exc_value"] == "broken grid"


def test_debug_is_dropped_below_the_configured_level(log_stream: io.StringIO) -> None:
    logging.getLogger("hazewarn.test").debug("noise")
    assert _lines(log_stream) == []


def test_a_terminal_gets_readable_lines() -> None:
    terminal = _Terminal()
    assert wants_json("auto", terminal) is False
    assert wants_json("auto", io.StringIO()) is True
    assert wants_json("json", terminal) is True
    configure_logging("auto", "INFO", terminal)
    try:
        logging.getLogger("hazewarn.test").info("run %d stored", 7, extra={"run_id": 7})
    finally:
        configure_logging("auto", "INFO")
    text = terminal.getvalue()
    assert "run 7 stored" in text
    assert "run_id" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_each_request_is_logged_with_its_id_and_route(
    client: TestClient, log_stream: io.StringIO
) -> None:
    response = client.get("/v1/cities/999999", headers={"X-Request-ID": "probe-123"})
    assert response.headers["x-request-id"] == "probe-123"
    generated = client.get("/health/live").headers["x-request-id"]
    assert len(generated) == 32
    lines = [line for line in _lines(log_stream) if line["logger"] == "hazewarn.http"]
    probe = next(line for line in lines if line["request_id"] == "probe-123")
    assert probe["route"] == "/v1/cities/{code}"
    assert probe["status"] == response.status_code
    assert probe["event"] == f"GET /v1/cities/999999 {response.status_code}"
    assert probe["duration_ms"] >= 0
    assert any(line["request_id"] == generated for line in lines)


def test_an_unsafe_request_id_is_replaced(client: TestClient) -> None:
    sent = "x" * 65
    assert (
        client.get("/health/live", headers={"X-Request-ID": sent}).headers["x-request-id"] != sent
    )


def test_a_warning_transition_is_logged_with_its_warning_event_and_run_ids(
    database_url: str, log_stream: io.StringIO
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.outbox.models import OutboxEvent
    from app.plans.service import load_plan_files
    from app.warnings.evaluation import evaluate_run
    from app.warnings.models import CityWarning
    from contingency_plans.loader import PLANS_DIR

    now = datetime(2026, 1, 15, 1, tzinfo=UTC)
    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], now)
        run_id = store_scenario_run(session, now, {"110000": {}}, hours=96, default_pm25=360.0)
        evaluate_run(session, run_id, now)
        warning = session.query(CityWarning).one()
        event_ids = set(session.scalars(select(OutboxEvent.id)))
    lines = [line for line in _lines(log_stream) if line["logger"] == "hazewarn.warnings"]
    assert lines, "no warning transition logged"
    line = lines[0]
    assert line["warning_id"] == warning.id
    assert str(line["run_id"]) == str(run_id)
    assert line["event_id"] in event_ids
    assert line["city"] == "110000"
    assert line["event"].startswith(f"warning {warning.id} (110000): ")
