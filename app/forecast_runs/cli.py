"""`hazewarn forecast run|list|show` and `hazewarn verify`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import get_settings
from app.console import console, fail
from app.database import session_scope

forecast_cli = typer.Typer(
    help="PM2.5 forecast runs: sample a met grid for every city, predict, store.",
    no_args_is_help=True,
)

_STAGES = {"open": "opening grid", "sample": "sampling cities", "predict": "predicting"}


def parse_issue_time(text: str) -> datetime:
    """An ISO 8601 instant on the hour; no offset means UTC (``2026-01-15T12:00``,
    ``2026-01-15T20:00+08:00``, ``2026-01-15T12:00Z``). Fails (exit 2) otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        fail(f"--at {text!r} is not an ISO 8601 time (e.g. 2026-01-15T12:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment.minute or moment.second or moment.microsecond:
        fail(f"--at {text!r} is not on the hour (forecasts are issued at whole hours)")
    return moment


@forecast_cli.command("run")
def run(
    grid: list[Path] = typer.Option(
        ..., "--grid", help="met grid file(s): NetCDF, GRIB or Zarr (repeat for several)"
    ),
    at: str = typer.Option(..., "--at", help="issue time, ISO 8601 (no offset = UTC)"),
    model: Path | None = typer.Option(
        None, "--model", help="model artefact (default HAZEWARN_MODEL_PATH)"
    ),
    drill: bool = typer.Option(False, "--drill", help="exercise run: stored, never the latest"),
    lazy: bool = typer.Option(
        False, "--lazy", help="read the grid lazily through dask (grids larger than memory)"
    ),
) -> None:
    """Forecast every city with stations from GRID and store the run in one transaction.

    A grid that cannot be read or does not cover every city and forecast hour stores
    nothing (exit status 2); the previous run stays the latest.
    """
    from app.forecast_runs.service import (
        ForecastRunError,
        latest_run,
        load_model_file,
        run_forecast,
    )
    from forecasting.grids import GridError

    issued_at = parse_issue_time(at)
    model_path = model or get_settings().model_path
    try:
        loaded = load_model_file(model_path)
    except ForecastRunError as exc:
        fail(_one_line(exc))

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("starting", total=None)

    def report(stage: str, done: int, total: int) -> None:
        progress.update(task, description=_STAGES.get(stage, stage), completed=done, total=total)

    from app.forecast_runs.cluster import connect

    # A configured cluster computes the lazy read (the default when one is configured).
    client = connect()
    lazy = lazy or client is not None
    try:
        with progress, session_scope() as session:
            stored = run_forecast(
                session,
                grid,
                issued_at,
                loaded,
                drill=drill,
                chunks="auto" if lazy else None,
                progress=report,
            )
            run_id, cities, lead = stored.id, stored.city_count, stored.max_lead_h
            degraded = stored.degraded_variables
            current = latest_run(session)
            superseded = not drill and current is not None and current.id != run_id
            current_text = (
                f"{current.id} issued {current.issued_at.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
                if current is not None
                else ""
            )
    except GridError as exc:
        fail(f"bad grid: {_one_line(exc)} (nothing stored)")
    except (ForecastRunError, ValueError) as exc:
        fail(f"{_one_line(exc)} (nothing stored)")
    kind = "drill run" if drill else "run"
    console.print(
        f"forecast {kind} [bold]{run_id}[/] issued {issued_at:%Y-%m-%dT%H:%MZ}: "
        f"{cities} cities, leads 1..{lead} h, model {loaded.version}",
        highlight=False,
    )
    if degraded:
        console.print(f"DEGRADED: {_degraded_text(degraded)}", highlight=False)
    if superseded:
        console.print(
            f"older than the latest run {current_text}: stored, not the latest", highlight=False
        )


def _degraded_text(variables: list[str]) -> str:
    return (
        f"the grid lacks {', '.join(variables)} (the model can do without them); this run "
        "never withdraws, downgrades or lifts a warning by itself"
    )


def _one_line(exc: BaseException) -> str:
    """The error on one line, with any [brackets] kept literal for rich."""
    return escape(" ".join(str(exc).split()))


@forecast_cli.command("list")
def list_(limit: int = typer.Option(20, min=1, help="runs to show")) -> None:
    """Stored runs, latest issue time first."""
    from app.forecast_runs.service import latest_run, list_runs

    with session_scope() as session:
        runs, total = list_runs(session, limit=limit)
        latest = latest_run(session)
        latest_id = latest.id if latest else None
        table = Table(title=f"{total} forecast run(s)")
        for column in ("id", "issued (UTC)", "created (UTC)", "model", "cities", "lead h", ""):
            table.add_column(column)
        for r in runs:
            flags = " ".join(
                f for f, on in (("latest", r.id == latest_id), ("drill", r.drill)) if on
            )
            table.add_row(
                str(r.id),
                f"{r.issued_at:%Y-%m-%d %H:%M}",
                f"{r.created_at:%Y-%m-%d %H:%M}",
                r.model_version,
                str(r.city_count),
                str(r.max_lead_h),
                flags,
            )
    console.print(table)


@forecast_cli.command("show")
def show(
    run_id: int | None = typer.Argument(None, help="run id (default: the latest run)"),
    city: str | None = typer.Option(None, "--city", help="city code: show its daily rows"),
) -> None:
    """A run's inputs and each city's D+1..D+3 daily means and P(> 150)."""
    from app.forecast_runs.service import get_run, latest_run, run_daily

    with session_scope() as session:
        found = get_run(session, run_id) if run_id is not None else latest_run(session)
        if found is None:
            fail(f"no forecast run with id {run_id}" if run_id else "no forecast run stored yet")
        console.print(
            f"run [bold]{found.id}[/] issued {found.issued_at:%Y-%m-%dT%H:%MZ}, model "
            f"{found.model_version} ({found.model_sha256[:12]}), {found.city_count} cities"
            + (", drill" if found.drill else ""),
            highlight=False,
        )
        if found.degraded:
            console.print(
                f"  DEGRADED: {_degraded_text(found.degraded_variables)}", highlight=False
            )
        for item in found.inputs.get("grids", []):
            console.print(
                f"  grid {item['path']} ({item['bytes']:,} bytes, sha256 {item['sha256'][:12]})",
                highlight=False,
            )
        rows = run_daily(session, found.id, city_code=city)
        table = Table()
        for column in ("city", "date", "D+", "p10", "p50", "p90", "P>75", "P>150", "AQI p50"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row.city_code,
                row.local_date.isoformat(),
                str(row.lead_day),
                f"{row.p10:.0f}",
                f"{row.p50:.0f}",
                f"{row.p90:.0f}",
                f"{row.p_gt_75:.2f}",
                f"{row.p_gt_150:.2f}",
                "" if row.aqi_p50 is None else str(row.aqi_p50),
            )
    console.print(table)


def verify_command(
    run: int | None = typer.Option(None, "--run", help="score this run only"),
    days: int = typer.Option(
        90, "--days", min=1, help="pool the runs issued in the last DAYS days"
    ),
) -> None:
    """Score stored forecast runs against the observations that have arrived since.

    Stores RMSE, MAE, bias, CSI at 75/150 µg/m³ and the Brier score of P(> 150) per city
    and lead (shown by `GET /v1/cities/{code}/skill`).
    """
    from app.forecast_runs.service import ForecastRunError, verify_runs

    try:
        with session_scope() as session:
            summary = verify_runs(session, run_id=run, days=days)
    except ForecastRunError as exc:
        fail(_one_line(exc))
    console.print(
        f"verified {len(summary.run_ids)} run(s), window {summary.window}: "
        f"{summary.pairs_daily:,} daily and {summary.pairs_hourly:,} hourly pairs, "
        f"{summary.scores:,} scores for {summary.cities} cities",
        highlight=False,
    )
