"""The `hazewarn` command line: one root with a sub-command group per domain."""

from __future__ import annotations

import typer

from app.config import get_settings
from app.console import console

cli = typer.Typer(
    name="hazewarn",
    help="Heavy-pollution early warning: forecasts, warnings, contingency actions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision")) -> None:
    """Apply the Alembic migrations up to REVISION (default: head)."""
    from app import migrate

    url = get_settings().database_url
    migrate.upgrade(url, revision)
    console.print(f"database at [bold]{_safe_url(url)}[/] is at {revision}")


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
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# Domain command groups register themselves below, one line each.


def main() -> None:
    cli()
