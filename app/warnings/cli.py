"""`hazewarn warnings ...`: list, show, evaluate a run, approve, reject, lift.

Thin over the warnings modules, in one transaction per command. Importing this module
imports `app.warnings.evaluation`, which registers the evaluation of every city into the
forecast runs' after-run hooks, so `hazewarn forecast run` and `hazewarn scheduler` warn.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from alerts.levels import Level
from app.console import console, fail
from app.database import session_scope
from app.timestamps import utcnow
from app.warnings import (
    actors,
    errors,
    evaluation,
    payloads,
    queries,
    service,
)
from app.warnings.models import CityWarning

warnings_cli = typer.Typer(
    help="Warnings: list, show, evaluate a forecast run, approve, reject, lift.",
    no_args_is_help=True,
)


def _level(text: str | None) -> Level | None:
    if text is None:
        return None
    try:
        return Level.parse(text)
    except ValueError as exc:
        fail(f"--level: {exc}")


def _actor(name: str | None) -> actors.Actor:
    """The operator at the terminal (``cli:<login>`` unless --by names someone)."""
    if name is not None and not name.strip():
        fail("--by: give the name of who decides")
    return actors.Actor(name=name.strip() if name else f"cli:{getpass.getuser()}", role="cli")


def _local(moment: object, zone: ZoneInfo) -> str:
    if not isinstance(moment, datetime):
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M%z")


def _state_text(warning: CityWarning, now: datetime) -> str:
    """The state, marked ``expired`` for an issued warning whose window has ended."""
    if warning.state in queries.ACTIVE_STATE_VALUES and not queries.is_active(warning, now):
        return f"{warning.state}, expired"
    return warning.state


@warnings_cli.command("list")
def list_(
    city: str = typer.Option(None, help="GB/T 2260 city code"),
    level: str = typer.Option(None, help="blue, yellow, orange or red"),
    state: str = typer.Option(None, help="proposed, issued, upgraded, …, lifted"),
    active: bool = typer.Option(False, "--active", help="Only warnings in force"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """Warnings and proposals, newest first (times on the city clock)."""
    filters = queries.WarningFilters(
        city=city,
        level=_level(level),
        state=state,
        active=True if active else None,
        published_only=False,
    )
    now = utcnow()
    with session_scope() as session:
        rows, total = queries.list_warnings(session, filters, now, limit, 0)
        table = Table(title=f"{len(rows)} of {total} warning(s)")
        for column in ("id", "city", "level", "state", "from", "to", "acknowledged", "drill"):
            table.add_column(column)
        for warning, city_row in rows:
            zone = ZoneInfo(city_row.timezone)
            level_text = warning.level + (
                f" → {warning.pending_level}?" if warning.pending_level else ""
            )
            table.add_row(
                str(warning.id),
                f"{city_row.code} {city_row.name_en}",
                level_text,
                _state_text(warning, now),
                _local(warning.effective, zone),
                _local(warning.expires, zone),
                warning.acknowledged_by or "",
                "yes" if warning.drill else "",
            )
    console.print(table)


@warnings_cli.command("show")
def show(warning_id: int = typer.Argument(..., help="Warning id")) -> None:
    """One warning: window, reasons, the plan's actions and the audit history."""
    with session_scope() as session:
        try:
            warning = service.get_warning(session, warning_id)
        except errors.WarningNotFoundError as exc:
            fail(f"WARNING_ID: {exc}")
        from app.cities.models import City

        city = session.get(City, warning.city_code)
        assert city is not None
        zone = ZoneInfo(city.timezone)
        drill = " [EXERCISE]" if warning.drill else ""
        console.print(
            f"[bold]warning {warning.id}[/] {city.name_en} {city.name_zh}: "
            f"{warning.level} ({_state_text(warning, utcnow())}){drill}"
        )
        console.print(
            f"window {_local(warning.effective, zone)} → {_local(warning.expires, zone)}; "
            f"forecast AQI up to {warning.aqi_forecast}; run {warning.forecast_run_id}, "
            f"plan {warning.plan_version}"
        )
        if warning.pending_level:
            console.print(
                f"waiting for a duty officer: {warning.pending_kind} to {warning.pending_level}"
            )
        console.print(warning.reason_en, highlight=False)
        console.print(warning.reason_zh, highlight=False)
        if warning.cap_identifier:
            console.print(f"CAP {warning.cap_msg_type} {warning.cap_identifier}")
        plan = queries.warning_plan(session, warning)
        actions = payloads.warning_actions(warning, plan) if plan is not None else []
        table = Table(title=f"{len(actions)} action(s) at {warning.level}")
        for column in ("#", "from", "sector", "department", "action"):
            table.add_column(column)
        for action in actions:
            table.add_row(
                str(action.order),
                _local(action.effective_at, zone),
                action.sector,
                action.department_en,
                action.text_en,
            )
        console.print(table)
        history = Table(title="history")
        for column in ("at", "who", "what", "why"):
            history.add_column(column)
        for entry in queries.history(session, warning.id):
            history.add_row(_local(entry.at, zone), entry.actor, entry.kind, entry.reason)
        console.print(history)


@warnings_cli.command("evaluate")
def evaluate(
    run: int = typer.Option(..., "--run", help="Forecast run id"),
    drill: bool = typer.Option(False, "--drill", help="Evaluate as an exercise"),
) -> None:
    """Evaluate every city with a plan on a stored forecast run (normally the run's hook
    does this); re-evaluating a run announces nothing again."""
    with session_scope() as session:
        try:
            result = evaluation.evaluate_run(session, run, utcnow(), drill=drill or None)
        except errors.WarningNotFoundError as exc:
            fail(f"--run: {exc}")
    table = Table(title=f"run {result.run_id}" + (" (drill)" if result.drill else ""))
    for column in ("city", "status", "forecast level", "transitions", "warnings", "note"):
        table.add_column(column)
    for outcome in result.cities:
        table.add_row(
            outcome.city_code,
            outcome.status,
            outcome.level.value if outcome.level else "",
            ", ".join(outcome.transitions),
            ", ".join(str(i) for i in outcome.warning_ids),
            outcome.note,
        )
    console.print(table)


def _act(action: str, call: object) -> None:
    assert callable(call)
    try:
        with session_scope() as session:
            warning = call(session)
            console.print(f"warning {warning.id}: {action}; now {warning.level} ({warning.state})")
    except errors.WarningNotFoundError as exc:
        fail(f"WARNING_ID: {exc}")
    except errors.WarningConflictError as exc:
        fail(str(exc))


@warnings_cli.command("approve")
def approve(
    warning_id: int = typer.Argument(..., help="Warning id of the proposal"),
    level: str = typer.Option(None, help="Approve at another level"),
    reason: str = typer.Option("", help="Note for the audit trail"),
    by: str = typer.Option(None, "--by", help="Who decides (default cli:<login>)"),
) -> None:
    """Approve a proposal: the warning is issued (or its level changed) and announced."""
    chosen, actor = _level(level), _actor(by)
    _act(
        "approved",
        lambda s: service.approve(s, warning_id, actor, utcnow(), reason=reason, level=chosen),
    )


@warnings_cli.command("reject")
def reject(
    warning_id: int = typer.Argument(..., help="Warning id of the proposal"),
    reason: str = typer.Option(..., help="Why (required)"),
    by: str = typer.Option(None, "--by", help="Who decides (default cli:<login>)"),
) -> None:
    """Reject a proposal, with a reason."""
    if not reason.strip():
        fail("--reason: say why the proposal is rejected")
    actor = _actor(by)
    _act("rejected", lambda s: service.reject(s, warning_id, actor, utcnow(), reason.strip()))


@warnings_cli.command("lift")
def lift(
    warning_id: int = typer.Argument(..., help="Warning id"),
    reason: str = typer.Option(..., help="Why (required)"),
    by: str = typer.Option(None, "--by", help="Who decides (default cli:<login>)"),
) -> None:
    """Lift an active warning by hand (announced as a CAP Cancel)."""
    if not reason.strip():
        fail("--reason: say why the warning is lifted")
    actor = _actor(by)
    _act("lifted", lambda s: service.lift(s, warning_id, actor, utcnow(), reason.strip()))
