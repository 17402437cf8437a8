"""`hazewarn keys ...`: create (shown once), list and revoke API keys."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from app.console import console, fail
from app.database import session_scope
from app.timestamps import utcnow

keys_cli = typer.Typer(help="API keys: roles and scopes.", no_args_is_help=True)


@keys_cli.command("create")
def create(
    role: str = typer.Option(..., help="admin, duty_officer, city_office, coordinator or ingest"),
    name: str = typer.Option(..., help="Who holds the key, e.g. 'Beijing emergency office'"),
    city: list[str] = typer.Option(
        [], "--city", help="City code a city_office key acts for (repeat for several)"
    ),
    region: list[str] = typer.Option(
        [], "--region", help="Region code a coordinator key acts for (repeat for several)"
    ),
    station: list[str] = typer.Option(
        [],
        "--station",
        help="Station id an ingest key may push observations for (repeat for several)",
    ),
) -> None:
    """Issue a key and print it once; only its hash is stored."""
    from app.auth.service import KeyRequestError, create_key

    try:
        with session_scope() as session:
            created = create_key(
                session,
                name=name,
                role=role,
                now=utcnow(),
                city_codes=city,
                region_codes=region,
                station_ids=station,
            )
            key_id, prefix = created.row.id, created.row.prefix
    except KeyRequestError as exc:
        fail(str(exc))
    console.print(f"key {key_id} ({role}, prefix {escape(prefix)}) created for {escape(name)}.")
    console.print("Store it now; it is not shown again:")
    # Plain print so the key is one unwrapped line a script can capture.
    print(created.key)


@keys_cli.command("list")
def list_(
    active: bool = typer.Option(False, "--active", help="Leave out revoked keys"),
) -> None:
    """Show every key: id, prefix, name, role, scope, created, revoked (never the key)."""
    from app.auth.service import list_keys

    with session_scope() as session:
        rows = list_keys(session, include_revoked=not active)
    if not rows:
        console.print("no API keys; create one with [bold]hazewarn keys create[/]")
        return
    table = Table(title=f"{len(rows)} API keys")
    for column in ("id", "prefix", "name", "role", "scope", "created (UTC)", "revoked (UTC)"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for row in rows:
        scope = (
            ", ".join(row.city_codes or row.region_codes or row.station_ids or []) or "all cities"
        )
        table.add_row(
            str(row.id),
            escape(row.prefix),
            escape(row.name),
            row.role,
            scope,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    console.print(table)


@keys_cli.command("revoke")
def revoke(key_id: int = typer.Argument(..., help="Key id from `hazewarn keys list`")) -> None:
    """Revoke a key: requests with it are refused (401) from now on."""
    from app.auth.service import revoke_key

    with session_scope() as session:
        row = revoke_key(session, key_id, utcnow())
        if row is None:
            fail(f"KEY_ID: no API key with id {key_id}")
        name = row.name
    console.print(f"key {key_id} ({escape(name)}) revoked")
