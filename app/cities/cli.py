"""`hazewarn cities ...`: sync the registry into the database and list the cities."""

from __future__ import annotations

import typer
from rich.table import Table

from app.cities.registry import RegistryError, load_regions
from app.console import console, fail
from app.database import session_scope

cities_cli = typer.Typer(help="The city registry (GB/T 2260 codes, regions).", no_args_is_help=True)


@cities_cli.command("sync")
def sync() -> None:
    """Upsert the city registry and the built-in extra stations (US posts, Dongsihuan)."""
    from app.cities.service import sync_registry
    from app.stations.service import StationFileError, sync_extra_stations

    try:
        with session_scope() as session:
            cities = sync_registry(session)
            extras = sync_extra_stations(session)
    except (RegistryError, StationFileError) as exc:
        fail(str(exc))
    console.print(
        f"cities: [bold]{cities.total}[/] in registry, {cities.inserted} added, "
        f"{cities.updated} updated, {cities.unchanged} unchanged"
    )
    console.print(
        f"extra stations: [bold]{extras.rows}[/], {extras.inserted} added, "
        f"{extras.updated} updated, {extras.unchanged} unchanged"
    )


@cities_cli.command("list")
def list_(
    region: str = typer.Option(None, help="Only members of this region code, e.g. jjj-2+26"),
) -> None:
    """Show the cities in the database with their regions and number of stations."""
    from app.cities.service import list_cities, station_counts

    if region is not None:
        try:
            known = {r.code for r in load_regions()}
        except RegistryError as exc:
            fail(str(exc))
        if region not in known:
            fail(f"--region: unknown region {region!r} (known: {', '.join(sorted(known))})")
    with session_scope() as session:
        cities = list_cities(session, region=region)
        counts = station_counts(session)
    if not cities:
        console.print("no cities in the database; run [bold]hazewarn cities sync[/]")
        return
    table = Table(title=f"{len(cities)} cities")
    for column in ("code", "name", "province", "lat", "lon", "zone", "regions", "stations"):
        table.add_column(
            column, justify="right" if column in {"lat", "lon", "stations"} else "left"
        )
    for city in cities:
        table.add_row(
            city.code,
            f"{city.name_en} {city.name_zh}",
            f"{city.province_en} {city.province_zh}",
            f"{city.lat:.4f}",
            f"{city.lon:.4f}",
            city.timezone,
            ", ".join(city.regions or []),
            str(counts.get(city.code, 0)),
        )
    console.print(table)
