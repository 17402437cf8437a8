"""`hazewarn dispatcher`, `hazewarn outbox status` and `hazewarn subscriptions ...`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.service import Principal
from app.cli import cli
from app.database import session_scope
from app.outbox.models import Delivery, DeliveryAttempt
from app.outbox.service import enqueue_event
from app.subscriptions.models import Subscription
from app.timestamps import utcnow

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_dispatcher_once_sends_logs_and_reports(
    db: Session,
    principals: dict[str, Principal],
    make_sub: Any,
    receiver: Any,
    allow_private: None,
) -> None:
    endpoint = receiver.add("bj", "")
    sub_id, endpoint.secrets[0] = make_sub(principals["beijing"], receiver.url("bj"))
    # A second endpoint nobody listens on: the connection is refused and logged.
    refused_id, _ = make_sub(principals["beijing"], "http://127.0.0.1:9/nobody")
    with session_scope() as session:
        event_id = enqueue_event(
            session, "warning.issued", {"warning": {}}, now=utcnow(), city_code="110000"
        ).id

    status = runner.invoke(cli, ["outbox", "status"], env=WIDE)
    assert status.exit_code == 0 and "pending 2, due now 2" in status.output

    result = runner.invoke(cli, ["dispatcher", "--once", "--timeout", "5"])
    assert result.exit_code == 0, result.output
    assert "2 attempts, 1 delivered, 1 to retry" in result.output
    assert endpoint.accepted == {event_id: 1} and endpoint.invalid == 0
    [attempt] = db.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.subscription_id == refused_id)
    ).all()
    assert attempt.status_code is None and "ConnectError" in (attempt.error or "")
    status = runner.invoke(cli, ["outbox", "status"], env=WIDE)
    assert "delivered 1, pending 1" in status.output
    assert db.scalar(select(Delivery.status).where(Delivery.subscription_id == sub_id)) == (
        "delivered"
    )


def test_dispatcher_refuses_a_lease_shorter_than_the_timeout(db: Session) -> None:
    result = runner.invoke(cli, ["dispatcher", "--once", "--lease", "5", "--timeout", "10"])
    assert result.exit_code == 2
    assert "lease_seconds must exceed request_timeout" in result.output


def test_subscriptions_list_enable_and_replay(
    db: Session, principals: dict[str, Principal], make_sub: Any
) -> None:
    sub_id, _ = make_sub(principals["tianjin"], "https://tj.example.org/hook")
    start = utcnow()
    with session_scope() as session:
        enqueue_event(session, "warning.issued", {"warning": {}}, now=start, city_code="120000")
        session.get(Subscription, sub_id).disabled_at = start
        session.get(Subscription, sub_id).disabled_reason = "gone"
    listed = runner.invoke(cli, ["subscriptions", "list", "--disabled"], env=WIDE)
    assert listed.exit_code == 0 and "tj.example.org" in listed.output and "gone" in listed.output

    refused = runner.invoke(
        cli, ["subscriptions", "replay", str(sub_id), "--since", start.isoformat()]
    )
    assert refused.exit_code == 2 and "is disabled" in refused.output
    assert runner.invoke(cli, ["subscriptions", "enable", str(sub_id)]).exit_code == 0
    replayed = runner.invoke(
        cli, ["subscriptions", "replay", str(sub_id), "--since", start.isoformat()]
    )
    assert replayed.exit_code == 0 and "1 events re-enqueued" in replayed.output
    assert runner.invoke(cli, ["subscriptions", "enable", "999"]).exit_code == 2
