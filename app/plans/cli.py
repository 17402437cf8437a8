"""`hazewarn plans ...`: validate plan files and load them into the database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from app.console import console, err_console, fail
from contingency_plans.loader import (
    PLANS_DIR,
    REGIONS_DIR,
    Problem,
    load_file,
    plan_files,
    plan_version,
    validate_files,
)
from contingency_plans.schema import Region

plans_cli = typer.Typer(
    help="City contingency plans: validate the YAML files, load them as versions.",
    no_args_is_help=True,
)


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        err_console.print(str(problem), highlight=False, markup=False, soft_wrap=True)


@plans_cli.command("validate")
def validate(
    files: list[Path] = typer.Argument(
        None, help="Plan or region YAML files (default: every shipped plan and region)"
    ),
) -> None:
    """Check plan files; print every problem with its file, line and path (exit 2 if any)."""
    paths = list(files) if files else [*plan_files(PLANS_DIR), *plan_files(REGIONS_DIR)]
    if not paths:
        fail("no plan files given or found")
    problems = validate_files(paths)
    if problems:
        _print_problems(problems)
        broken = sorted({problem.file for problem in problems})
        fail(f"{len(problems)} problem(s) in {len(broken)} of {len(paths)} file(s)")

    table = Table(title=f"{len(paths)} valid file(s)")
    for column in ("file", "kind", "code", "name", "criteria set", "levels", "version"):
        table.add_column(column)
    for path in paths:
        parsed = load_file(path)
        if isinstance(parsed, Region):
            region = parsed
            table.add_row(
                path.name,
                "region",
                region.region.id,
                region.region.name_en,
                "",
                "",
                f"{len(region.members)} members",
            )
        else:
            plan = parsed
            table.add_row(
                path.name,
                "plan",
                plan.code,
                plan.city.name_en,
                plan.criteria_set,
                ", ".join(plan.levels.defined()),
                plan_version(plan),
            )
    console.print(table)


@plans_cli.command("load")
def load(
    directory: Path = typer.Argument(
        None, help="Folder of plan YAML files, or one file (default: the shipped plans)"
    ),
) -> None:
    """Validate every plan and store new versions; a broken file never replaces a good one."""
    from app.database import session_scope
    from app.plans.service import load_plan_files
    from app.timestamps import utcnow

    source = directory or PLANS_DIR
    if not source.exists():
        fail(f"{source}: no such file or folder")
    paths = [source] if source.is_file() else plan_files(source)
    if not paths:
        fail(f"{source}: no *.yaml plan files")
    with session_scope() as session:
        outcomes = load_plan_files(session, paths, utcnow())

    table = Table(title=f"plans from {source}")
    for column in ("file", "city", "status", "version"):
        table.add_column(column)
    for outcome in outcomes:
        style = "red" if outcome.status == "refused" else None
        table.add_row(
            Path(outcome.file).name,
            outcome.city_code or "",
            outcome.status,
            outcome.version or "",
            style=style,
        )
    console.print(table)
    refused = [outcome for outcome in outcomes if outcome.status == "refused"]
    if refused:
        _print_problems([problem for outcome in refused for problem in outcome.problems])
        names = ", ".join(Path(outcome.file).name for outcome in refused)
        fail(f"refused {names}; those cities keep their current plan version")
