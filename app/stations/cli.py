"""`hazewarn stations ...`: import a national station list and look at stations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from app.console import console, fail
from app.database import session_scope

stations_cli = typer.Typer(help="Monitoring stations and their source names.", no_args_is_help=True)


@stations_cli.command("import")
def import_(
    file: Path = typer.Argument(..., help="Station list CSV (e.g. knowair_meta/station_info.csv)"),
    extras: bool = typer.Option(
        True, "--extras/--no-extras", help="Also load the built-in extra stations and aliases"
    ),
) -> None:
    """Import FILE all or nothing: link stations to our cities, upsert by ID.

    Columns: ID, stations_name, stations_en_name, area, area_en_name, lon, lat.
    """
    from app.cities.registry import RegistryError
    from app.stations.service import StationFileError, import_station_list

    try:
        with session_scope() as session:
            summary = import_station_list(session, file, with_extras=extras)
    except (StationFileError, RegistryError) as exc:
        fail(f"{exc} (nothing imported)")
    table = Table(title=f"{file.name}: {summary.rows} stations")
    for column in ("", "rows", "new", "updated", "unchanged", "linked to our cities"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row(
        "station list",
        str(summary.rows),
        str(summary.inserted),
        str(summary.updated),
        str(summary.unchanged),
        str(summary.linked),
    )
    if summary.extras is not None:
        e = summary.extras
        table.add_row(
            "built-in extras",
            str(e.rows),
            str(e.inserted),
            str(e.updated),
            str(e.unchanged),
            str(e.linked),
        )
    console.print(table)


@stations_cli.command("list")
def list_(
    city: str = typer.Option(None, help="GB/T 2260 code of the city, e.g. 110000"),
    limit: int = typer.Option(50, min=1, help="Rows to show"),
) -> None:
    """Show stations ordered by id, optionally of one city."""
    from app.stations.service import list_stations

    with session_scope() as session:
        stations, total = list_stations(session, city_code=city, limit=limit)
    table = Table(title=f"{len(stations)} of {total} stations")
    for column in ("id", "name", "city", "area", "lat", "lon", "aliases"):
        table.add_column(column, justify="right" if column in {"lat", "lon"} else "left")
    for s in stations:
        table.add_row(
            s.id,
            f"{s.name_en} {s.name_zh or ''}".strip(),
            s.city_code or "",
            f"{s.area_en or ''} {s.area_zh or ''}".strip(),
            f"{s.lat:.4f}",
            f"{s.lon:.4f}",
            ", ".join(s.aliases or []),
        )
    console.print(table)


@stations_cli.command("resolve")
def resolve(
    name: str = typer.Argument(..., help="Name a source file uses, e.g. 'US Post'"),
    city: str = typer.Option(None, help="City (English or Chinese name, or code)"),
) -> None:
    """Show which station a source name maps to (exit 2 when none or ambiguous)."""
    from app.stations.service import resolve_station

    with session_scope() as session:
        station = resolve_station(session, name, city)
        if station is None:
            where = f" in {city}" if city else ""
            fail(f"no single station answers to {name!r}{where} (none, or several: give --city)")
        console.print(f"{name!r} → [bold]{station.id}[/] {station.name_en} ({station.city_code})")
