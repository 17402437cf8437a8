"""The `hazewarn` command line: one root with a sub-command group per domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from app import __version__
from app.config import get_settings
from app.console import console, fail


def schema_problem() -> str | None:
    """One line saying to run `hazewarn db upgrade` when the configured database is not at
    the package's head revision; None when it is (or cannot be read at all)."""
    from app import migrate
    from app.database import get_engine

    url = get_settings().database_url
    try:
        current = migrate.current_revision(get_engine())
    except Exception:  # unreachable database: not a schema problem, let the error stand
        return None
    head = migrate.head_revision()
    if current == head:
        return None
    where = f"the database at {_safe_url(url)}"
    if current is None:
        return f"{where} has no hazewarn schema yet: run `hazewarn db upgrade`"
    return (
        f"{where} is at revision {current}, this hazewarn needs {head}: run `hazewarn db upgrade`"
    )


class HazewarnGroup(TyperGroup):
    """The root group: a command that meets a missing table or column says to migrate
    (one line, exit 2) instead of printing SQLAlchemy's traceback."""

    def invoke(self, ctx: Any) -> Any:  # click.Context (typer may bundle its own click)
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError):
            problem = schema_problem()
            if problem is None:
                raise
            fail(problem)


cli = typer.Typer(
    name="hazewarn",
    cls=HazewarnGroup,
    help="Heavy-pollution early warning: forecasts, warnings, contingency actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"hazewarn {__version__}", highlight=False)
        raise typer.Exit()


@cli.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version"
    ),
) -> None:
    """Heavy-pollution early warning: forecasts, warnings, contingency actions."""
    from app.logs import configure_logging
    from app.warnings.evaluation import register_run_hook

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    # Forecast runs stored by any command are evaluated for warnings (explicit wiring).
    register_run_hook()


db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision")) -> None:
    """Apply the Alembic migrations up to REVISION (default: head)."""
    from app import migrate

    url = get_settings().database_url
    migrate.upgrade(url, revision)
    console.print(f"database at [bold]{_safe_url(url)}[/] is at {revision}")
    if revision == "head":
        # The registry is reference data every other table points at: load it with the schema.
        from app.cities.service import sync_registry
        from app.database import session_scope
        from app.stations.service import sync_extra_stations

        with session_scope() as session:
            cities = sync_registry(session)
            sync_extra_stations(session)
        console.print(f"city registry synced: {cities.total} cities, {cities.inserted} added")


@db_cli.command("backup")
def db_backup(
    target: Path = typer.Argument(..., help="File to write the copy to (replaced if present)"),
) -> None:
    """Copy a SQLite database while the service runs (SQLite's online backup API).
    PostgreSQL: use pg_dump (docs/operations.md)."""
    from app.database import sqlite_backup

    url = get_settings().database_url
    if not url.startswith("sqlite"):
        fail("db backup copies SQLite files; use pg_dump -Fc for PostgreSQL (docs/operations.md)")
    if target.is_dir() or not target.parent.is_dir():
        fail(f"{target}: give a file in an existing folder")
    sqlite_backup(url, target)
    console.print(f"database at [bold]{_safe_url(url)}[/] copied to {target}")


@cli.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default from HAZEWARN_HOST)"),
    port: int = typer.Option(None, help="Port (default from HAZEWARN_PORT)"),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes"),
) -> None:
    """Run the HTTP API and dashboard under uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # Our handler (app.logs) formats uvicorn's records; its access log is ours.
        log_config=None,
        access_log=False,
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# Domain command groups register themselves below, one line each.
from app.cities.cli import cities_cli  # noqa: E402

cli.add_typer(cities_cli, name="cities")
from app.stations.cli import stations_cli  # noqa: E402

cli.add_typer(stations_cli, name="stations")
from app.observations.cli import obs_cli  # noqa: E402

cli.add_typer(obs_cli, name="obs")

from app.plans.cli import plans_cli  # noqa: E402

cli.add_typer(plans_cli, name="plans")
from app.auth.cli import keys_cli  # noqa: E402

cli.add_typer(keys_cli, name="keys")
from app.subscriptions.cli import subscriptions_cli  # noqa: E402

cli.add_typer(subscriptions_cli, name="subscriptions")
from app.outbox.cli import dispatcher, outbox_cli  # noqa: E402

cli.add_typer(outbox_cli, name="outbox")
cli.command("dispatcher")(dispatcher)
from app.warnings.cli import warnings_cli  # noqa: E402

cli.add_typer(warnings_cli, name="warnings")
from app.regional.cli import regional_cli, regions_cli  # noqa: E402

cli.add_typer(regions_cli, name="regions")
cli.add_typer(regional_cli, name="regional")

from app.forecast_runs.cli import forecast_cli, verify_command  # noqa: E402

cli.add_typer(forecast_cli, name="forecast")
cli.command("verify")(verify_command)
from app.forecasts.cli import MultiValueCommand, backtest_command, model_cli  # noqa: E402

cli.add_typer(model_cli, name="model")
cli.command("backtest", cls=MultiValueCommand)(backtest_command)
from app.scheduler import scheduler_command  # noqa: E402

cli.command("scheduler")(scheduler_command)
from app.health.cli import health_cli  # noqa: E402

cli.add_typer(health_cli, name="health")
from app.demo import demo_command  # noqa: E402

cli.command("demo")(demo_command)
from app.data.cli import data_cli  # noqa: E402

cli.add_typer(data_cli, name="data")


def main() -> None:
    cli()
