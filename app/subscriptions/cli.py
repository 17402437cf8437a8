"""`hazewarn subscriptions ...`: see endpoints and their health, re-enable, replay."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.table import Table

from app.console import console, fail
from app.database import session_scope
from app.timestamps import utcnow

subscriptions_cli = typer.Typer(help="Webhook subscriptions (endpoints).", no_args_is_help=True)


@subscriptions_cli.command("list")
def list_(
    disabled: bool = typer.Option(False, "--disabled", help="Only disabled endpoints"),
) -> None:
    """Every endpoint with its owner, filters and health (disabled flag, failing since)."""
    from sqlalchemy import select

    from app.subscriptions.models import Subscription

    with session_scope() as session:
        query = select(Subscription).order_by(Subscription.id)
        if disabled:
            query = query.where(Subscription.disabled_at.is_not(None))
        rows = list(session.scalars(query))
    if not rows:
        console.print("no subscriptions")
        return
    table = Table(title=f"{len(rows)} subscriptions")
    for column in ("id", "url", "owner", "cities", "levels", "types", "state"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for row in rows:
        if row.disabled_at is not None:
            state = f"[red]disabled {row.disabled_at:%Y-%m-%d %H:%M}Z ({row.disabled_reason})[/]"
        elif row.failing_since is not None:
            state = f"[yellow]failing since {row.failing_since:%Y-%m-%d %H:%M}Z[/]"
        else:
            state = "active"
        table.add_row(
            str(row.id),
            escape(row.url),
            escape(f"{row.owner_name} ({row.owner_role})"),
            ", ".join(row.city_codes or []) or "all",
            ", ".join(row.levels or []) or "all",
            ", ".join(row.event_types or []) or "all",
            state,
        )
    console.print(table)


@subscriptions_cli.command("enable")
def enable(subscription_id: int = typer.Argument(..., help="Subscription id")) -> None:
    """Re-enable a disabled endpoint (then `replay` what it missed)."""
    from app.outbox.service import enable_subscription
    from app.subscriptions.models import Subscription

    with session_scope() as session:
        row = session.get(Subscription, subscription_id)
        if row is None:
            fail(f"SUBSCRIPTION_ID: no subscription {subscription_id}")
        enable_subscription(session, row, utcnow())
    console.print(f"subscription {subscription_id} enabled")


@subscriptions_cli.command("replay")
def replay_(
    subscription_id: int = typer.Argument(..., help="Subscription id"),
    since: datetime = typer.Option(..., help="Resend events since this time (UTC if no offset)"),
) -> None:
    """Send again every matching event since SINCE, with the same event ids."""
    from app.outbox.service import replay
    from app.subscriptions.models import Subscription

    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    with session_scope() as session:
        row = session.get(Subscription, subscription_id)
        if row is None:
            fail(f"SUBSCRIPTION_ID: no subscription {subscription_id}")
        if row.disabled_at is not None:
            fail(f"subscription {subscription_id} is disabled; run `subscriptions enable` first")
        ids = replay(session, row, since.astimezone(UTC), utcnow())
    console.print(f"{len(ids)} events re-enqueued for subscription {subscription_id}")
