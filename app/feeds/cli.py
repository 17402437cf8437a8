"""`hazewarn grids fetch`: the latest cycle of a weather feed into the grid inbox."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.markup import escape

from app.config import get_settings
from app.console import console, fail
from app.timestamps import utcnow

grids_cli = typer.Typer(
    help="Weather grids: fetch feeds into the grid inbox.", no_args_is_help=True
)


def feed_leads(max_lead: int, step: int) -> list[int]:
    """Lead hours fetched: 0, step, 2·step … up to ``max_lead`` (included when on a step)."""
    return list(range(0, max_lead + 1, step))


@grids_cli.command("fetch")
def fetch(
    source: str = typer.Option(
        None, "--source", help="gfs or ifs (default HAZEWARN_FEED_SOURCE, else gfs)"
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="mirror in the publisher's layout (default HAZEWARN_FEED_BASE_URL)"
    ),
    at: str = typer.Option(
        None, "--at", help="look for the newest cycle before this time (ISO 8601; default now)"
    ),
) -> None:
    """Download the newest published cycle, cut to HAZEWARN_FEED_DOMAIN, the lead hours
    and the variables the model reads, into HAZEWARN_GRID_INBOX (once per cycle)."""
    from app.feeds.service import FeedError, fetch_latest, parse_domain

    settings = get_settings()
    chosen = source or settings.feed_source or "gfs"
    now = utcnow()
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 time")
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    try:
        outcome = fetch_latest(
            chosen,
            inbox=settings.grid_inbox,
            domain=parse_domain(settings.feed_domain),
            leads=feed_leads(settings.feed_max_lead_hours, settings.feed_step_hours),
            now=now,
            base_url=base_url or settings.feed_base_url,
        )
    except (FeedError, ValueError) as exc:
        fail(" ".join(str(exc).split()))
    cycle = f"{outcome.cycle:%Y-%m-%dT%HZ}"
    if outcome.status == "already":
        console.print(f"{chosen} cycle {cycle}: already fetched ({escape(str(outcome.path))})")
        return
    console.print(
        f"{chosen} cycle {cycle}: {escape(str(outcome.path))} (sha256 {outcome.sha256})",
        highlight=False,
    )
