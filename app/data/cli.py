"""`hazewarn data list|fetch`: the public datasets and their download from the publishers."""

from __future__ import annotations

from pathlib import Path

import typer

from app.console import console, fail

__all__ = ["data_cli"]

data_cli = typer.Typer(
    help="Public datasets: list them, fetch them from their publishers (pinned hashes)",
    no_args_is_help=True,
)


@data_cli.command("list")
def list_command() -> None:
    """The datasets `hazewarn data fetch` knows: publisher, licence, cached or not."""
    from app.config import get_settings
    from app.data.service import DATASETS

    cache = get_settings().data_cache
    for dataset in DATASETS:
        state = "cached" if (cache / dataset.name).is_dir() else "not fetched"
        console.print(
            f"[bold]{dataset.name}[/] ({state}): {dataset.title}\n"
            f"    {dataset.publisher}; licence {dataset.licence}; {dataset.page}",
            highlight=False,
            soft_wrap=True,
        )


@data_cli.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="Dataset name (see `hazewarn data list`)"),
    cache: Path | None = typer.Option(
        None, "--cache", help="Cache folder (default HAZEWARN_DATA_CACHE, var/data)"
    ),
) -> None:
    """Download a public dataset from its publisher into the cache, hash-checked.

    Every file has a pinned SHA-256: other bytes are refused and nothing is left behind.
    The cache keeps the layout of ../shared/data (point HAZEWARN_SHARED_DATA at it).
    """
    from app.config import get_settings
    from app.data.service import DatasetError, fetch_dataset, get_dataset

    settings = get_settings()
    folder = cache or settings.data_cache
    try:
        dataset = get_dataset(name)
    except DatasetError as exc:
        fail(str(exc))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        result = fetch_dataset(
            dataset,
            folder,
            mirror=settings.data_mirror_url,
            say=lambda text: console.print(f"[dim]{text}[/]", highlight=False, soft_wrap=True),
        )
    except (DatasetError, OSError) as exc:
        fail(str(exc))
    what = "fetched" if result.fetched else "already cached"
    console.print(
        f"{dataset.name}: {what}, {len(result.files)} file(s) in {result.folder} "
        f"(licence {dataset.licence}; {dataset.page})",
        highlight=False,
        soft_wrap=True,
    )
