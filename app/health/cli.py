"""`hazewarn health check`: readiness from the command line (container health checks)."""

from __future__ import annotations

from datetime import timedelta

import typer

from app.console import console, fail

__all__ = ["health_cli"]

health_cli = typer.Typer(help="Health of this deployment.", no_args_is_help=True)


@health_cli.command("check")
def check(
    role: str = typer.Option(
        None,
        "--role",
        help="scheduler or dispatcher: only that role's heartbeat (its container's check); "
        "default: every readiness check, as /health/ready",
    ),
) -> None:
    """Exit 0 when healthy; otherwise print the failing check in one line and exit 2."""
    from sqlalchemy.orm import Session

    from app.config import get_settings
    from app.database import get_engine
    from app.health.service import ROLES, database_check, heartbeat_check, readiness
    from app.timestamps import utcnow

    settings = get_settings()
    engine = get_engine()
    now = utcnow()
    if role is None:
        result = readiness(engine, settings, now)
        for item in result.checks:
            mark = "ok  " if item.ok else ("FAIL" if item.required else "warn")
            console.print(f"{mark} {item.name:<11} {item.detail}", highlight=False, markup=False)
        if not result.ready:
            fail(f"not ready: {', '.join(result.failing)}")
        return
    if role not in ROLES:
        fail(f"--role: must be one of {', '.join(ROLES)}, not {role!r}")
    database = database_check(engine)
    if not database.ok:
        fail(f"database: {database.detail}")
    with Session(engine) as session:
        beat = heartbeat_check(
            session, role, now, timedelta(seconds=settings.heartbeat_stale_seconds)
        )
    if not beat.ok:
        fail(f"{role}: {beat.detail}")
    console.print(f"{role}: {beat.detail}", highlight=False, markup=False)
