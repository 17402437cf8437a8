"""`hazewarn obs ...`: import station observation files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.console import console, fail
from app.database import session_scope

obs_cli = typer.Typer(
    help="Station observations (hourly pollutants and weather).", no_args_is_help=True
)


@obs_cli.command("import")
def import_(
    paths: list[Path] = typer.Argument(
        ..., help="Observation files: Beijing multi-site, five-cities, StateAir or long CSV"
    ),
) -> None:
    """Import observation files all or nothing; re-importing a file adds nothing.

    Every file is parsed and every station resolved before anything is written; a bad
    file or an unknown station refuses the whole import (exit status 2).
    """
    from app.observations.service import import_observations
    from forecasting.observations import ObservationFileError

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("importing", total=2 * len(paths))

    def report(description: str, completed: int, total: int) -> None:
        progress.update(task, description=description, completed=completed, total=total)

    try:
        with progress, session_scope() as session:
            summary = import_observations(session, paths, progress=report)
    except ObservationFileError as exc:
        fail(f"{exc} (nothing imported)")
    table = Table(title=f"{len(summary.files)} file(s), {summary.rows_read:,} station-hours")
    table.add_column("file", overflow="fold")
    table.add_column("source")
    for column in ("station-hours", "new", "updated", "unchanged"):
        table.add_column(column, justify="right")
    for f in summary.files:
        table.add_row(
            Path(f.path).name,
            f.source,
            f"{f.rows_read:,}",
            f"{f.inserted:,}",
            f"{f.updated:,}",
            f"{f.unchanged:,}",
        )
    if len(summary.files) > 1:
        table.add_row(
            "total",
            "",
            f"{summary.rows_read:,}",
            f"{summary.inserted:,}",
            f"{summary.updated:,}",
            f"{summary.unchanged:,}",
        )
    console.print(table)
