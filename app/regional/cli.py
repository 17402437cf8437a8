"""`hazewarn regions list|show` and `hazewarn regional list|show|declare|approve|reject|
adjust|extend|lift`: thin over `app.regional.service`, one transaction per command.

The operator at the terminal acts as ``cli:<login>`` (or ``--by NAME``); bad input is one
line on stderr and exit code 2, with nothing written.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from alerts.levels import Level
from app.console import console, fail
from app.database import session_scope
from app.regional import evaluation, service
from app.regional.models import RegionalWarning
from app.timestamps import utcnow
from app.warnings.actors import Actor
from app.warnings.payloads import local_text

__all__ = ["regional_cli", "regions_cli"]

regions_cli = typer.Typer(
    help="Regions: members, criteria, warning in force.", no_args_is_help=True
)
regional_cli = typer.Typer(
    help="Regional warnings: list, show, declare, approve, reject, adjust, extend, lift.",
    no_args_is_help=True,
)


def _actor(name: str | None) -> Actor:
    if name is not None and not name.strip():
        fail("--by: give the name of who decides")
    return Actor(name=name.strip() if name else f"cli:{getpass.getuser()}", role="cli")


def _level(text: str | None, option: str = "--level") -> Level | None:
    if text is None:
        return None
    try:
        return Level.parse(text)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {text!r} is not an ISO 8601 time (e.g. 2026-12-07T20:00+08:00)")
    if moment.tzinfo is None:
        fail(f"{option}: give the UTC offset (e.g. 2026-12-07T20:00+08:00)")
    return moment


def _members(text: str | None) -> list[str] | None:
    if text is None:
        return None
    codes = [code.strip() for code in text.split(",") if code.strip()]
    if not codes:
        fail("--members: give comma-separated city codes")
    return codes


@regions_cli.command("list")
def regions_list() -> None:
    """Every region with its member count and the regional warning in force."""
    with session_scope() as session:
        table = Table()
        for column in ("region", "name", "members", "min cities", "in force"):
            table.add_column(column)
        for region in service.regions().values():
            active = service.active_warnings(session, region_id=region.id)
            shown = ", ".join(f"{row.id} {row.level}" for row in active) or "-"
            table.add_row(
                region.id,
                f"{region.region.name_en} {region.region.name_zh}",
                str(len(region.members)),
                str(region.criteria.required_count(len(region.members))),
                shown,
            )
    console.print(table)


@regions_cli.command("show")
def regions_show(region_id: str = typer.Argument(..., help="Region id, e.g. jjj-2+26")) -> None:
    """One region: criteria and members."""
    try:
        region = service.region_of(region_id)
    except service.RegionNotFoundError as exc:
        fail(f"REGION_ID: {exc.args[0]}")
    console.print(f"[bold]{region.id}[/] {region.region.name_en} {region.region.name_zh}")
    console.print(f"coordinator: {region.coordinator.en} / {region.coordinator.zh}")
    console.print(f"criteria: {region.criteria.model_dump(mode='json')}", highlight=False)
    console.print(
        "members: " + ", ".join(f"{m.code} {m.name_en}" for m in region.members), highlight=False
    )


def _print_row(session: Session, row: RegionalWarning) -> None:
    zone = service.region_zone(session, service.region_of(row.region_id))
    drill = " [EXERCISE]" if row.drill else ""
    console.print(
        f"[bold]regional warning {row.id}[/] {row.region_id}: {row.level} ({row.status}){drill}; "
        f"from {local_text(row.starts_at, zone)} to {local_text(row.ends_at, zone) or 'lifted'}",
        highlight=False,
    )


@regional_cli.command("list")
def regional_list(
    region: str | None = typer.Option(None, "--region", help="Only this region"),
    status: str | None = typer.Option(None, "--status", help="proposed, issued, lifted, rejected"),
) -> None:
    """Regional warnings, newest first."""
    if region is not None and region not in service.regions():
        fail(f"--region: unknown region {region!r}")
    if status is not None and status not in ("proposed", "issued", "lifted", "rejected"):
        fail(f"--status: {status!r} is not proposed, issued, lifted or rejected")
    with session_scope() as session:
        rows, total = service.list_warnings(
            session, utcnow(), region_ids=[region] if region else None, status=status, limit=200
        )
        table = Table(title=f"{total} regional warning(s)")
        for column in ("id", "region", "level", "status", "starts", "members", "drill"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                str(row.id),
                row.region_id,
                row.level,
                row.status,
                row.starts_at.isoformat(timespec="minutes"),
                str(len(row.members)),
                "yes" if row.drill else "",
            )
    console.print(table)


@regional_cli.command("show")
def regional_show(warning_id: int = typer.Argument(..., help="Regional warning id")) -> None:
    """One regional warning: members' compliance and the audit history."""
    with session_scope() as session:
        try:
            row = service.get_warning(session, warning_id)
        except service.RegionalNotFoundError as exc:
            fail(f"WARNING_ID: {exc.args[0]}")
        _print_row(session, row)
        console.print(row.reason, highlight=False)
        table = Table(title="members")
        for column in ("city", "status", "city level", "acknowledged", "why"):
            table.add_column(column)
        for item in evaluation.compliance_of(session, row, utcnow()):
            table.add_row(
                item.city,
                item.status,
                "" if item.city_level is None else Level(item.city_level).value,
                "" if item.acknowledged_at is None else item.acknowledged_at.isoformat(),
                item.reason,
            )
        console.print(table)
        for entry in service.history(session, row.id):
            console.print(
                f"{entry.at.isoformat(timespec='seconds')} {entry.kind} by {entry.actor}: "
                f"{entry.reason}",
                highlight=False,
            )


def _act(warning_id: int, action: str, run: Callable[[Session], RegionalWarning]) -> None:
    with session_scope() as session:
        try:
            row = run(session)
        except service.RegionalNotFoundError as exc:
            fail(f"WARNING_ID: {exc.args[0]}")
        except service.RegionalConflictError as exc:
            fail(f"{action}: {exc}")
        _print_row(session, row)


@regional_cli.command("declare")
def regional_declare(
    region: str = typer.Option(..., "--region", help="Region id"),
    level: str = typer.Option(..., "--level", help="yellow, orange or red"),
    start: str = typer.Option(..., "--start", help="Members start then (ISO 8601 with offset)"),
    end: str | None = typer.Option(None, "--end", help="Expected end (default: until lifted)"),
    members: str | None = typer.Option(None, "--members", help="Comma-separated city codes"),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)"),
    by: str | None = typer.Option(None, "--by", help="Who decides (default cli:<login>)"),
) -> None:
    """Declare a regional warning by hand: issued at once, members raised at once."""
    chosen = _level(level)
    assert chosen is not None
    starts, ends = _time(start, "--start"), _time(end, "--end")
    assert starts is not None
    if region not in service.regions():
        fail(f"--region: unknown region {region!r}")
    if not reason.strip():
        fail("--reason: give a reason")
    with session_scope() as session:
        try:
            row = service.declare(
                session,
                region,
                _actor(by),
                utcnow(),
                level=chosen,
                starts_at=starts,
                ends_at=ends,
                member_codes=_members(members),
                reason=reason,
            )
        except service.RegionalConflictError as exc:
            fail(f"declare: {exc}")
        _print_row(session, row)


@regional_cli.command("approve")
def regional_approve(
    warning_id: int = typer.Argument(..., help="Regional warning id"),
    reason: str = typer.Option("", "--reason"),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Approve a proposed regional warning; members are raised at once."""
    actor = _actor(by)
    _act(warning_id, "approve", lambda s: service.approve(s, warning_id, actor, utcnow(), reason))


@regional_cli.command("reject")
def regional_reject(
    warning_id: int = typer.Argument(..., help="Regional warning id"),
    reason: str = typer.Option(..., "--reason", help="Why (required)"),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Reject a proposed regional warning (a reason is required)."""
    actor = _actor(by)
    _act(warning_id, "reject", lambda s: service.reject(s, warning_id, actor, utcnow(), reason))


@regional_cli.command("adjust")
def regional_adjust(
    warning_id: int = typer.Argument(..., help="Regional warning id"),
    level: str | None = typer.Option(None, "--level"),
    members: str | None = typer.Option(None, "--members", help="Comma-separated city codes"),
    reason: str = typer.Option(..., "--reason"),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Change the level and/or the member list."""
    actor, chosen, codes = _actor(by), _level(level), _members(members)
    _act(
        warning_id,
        "adjust",
        lambda s: service.adjust(
            s, warning_id, actor, utcnow(), reason, level=chosen, member_codes=codes
        ),
    )


@regional_cli.command("extend")
def regional_extend(
    warning_id: int = typer.Argument(..., help="Regional warning id"),
    until: str = typer.Option(..., "--until", help="New end (ISO 8601 with offset)"),
    reason: str = typer.Option(..., "--reason"),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Move the end later."""
    actor, ends = _actor(by), _time(until, "--until")
    assert ends is not None
    _act(
        warning_id,
        "extend",
        lambda s: service.extend(s, warning_id, actor, utcnow(), ends, reason),
    )


@regional_cli.command("lift")
def regional_lift(
    warning_id: int = typer.Argument(..., help="Regional warning id"),
    reason: str = typer.Option(..., "--reason"),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Lift it; members are released and re-evaluated from their own latest forecast."""
    actor = _actor(by)
    _act(warning_id, "lift", lambda s: service.lift(s, warning_id, actor, utcnow(), reason))
