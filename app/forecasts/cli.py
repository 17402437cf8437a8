"""`hazewarn model train|show` and `hazewarn backtest`: thin shells over `forecasting`.

The work is in `forecasting.model` and `forecasting.backtest`; this module reads the
files, shows progress and writes the outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand

from app.console import console, fail

model_cli = typer.Typer(help="PM2.5 forecast models: train and inspect.", no_args_is_help=True)

MET_MODES = ("history", "perfect")


class MultiValueCommand(TyperCommand):
    """Lets ``--train A B C`` mean ``--train A --train B --train C`` (as a shell glob
    expands), for the options named in `MULTI_VALUE_OPTIONS`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi_value(args, MULTI_VALUE_OPTIONS))


MULTI_VALUE_OPTIONS: tuple[str, ...] = ("--train", "--test", "--obs")


def expand_multi_value(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """Repeat a multi-value option's name before each of its extra values."""
    out: list[str] = []
    current: str | None = None
    seen = 0
    for arg in args:
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            current = name if name in names else None
            seen = 1 if current and "=" in arg else 0
            out.append(arg)
            continue
        if current is not None:
            if seen:
                out.append(current)
            seen += 1
        out.append(arg)
    return out


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def _check_met(met: str) -> str:
    if met not in MET_MODES:
        fail(f"--met must be one of {', '.join(MET_MODES)}, not {met!r}")
    return met


def _check_timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone {name!r} is not an IANA time zone (e.g. Asia/Shanghai)")
    return name


def read_files(paths: Sequence[Path], option: str) -> Any:
    """Every observation file combined (`combine_observation_files`); a file we cannot
    read, or a station-hour given twice, fails in one line naming the file and line."""
    from forecasting.observations import (
        ObservationFileError,
        combine_observation_files,
        read_observation_file,
    )

    if not paths:
        fail(f"{option}: give at least one observation file")
    files = []
    for path in paths:
        if not path.is_file():
            fail(f"{option} {path}: no such file")
        try:
            files.append(read_observation_file(path))
        except ObservationFileError as exc:
            fail(f"{option} {exc}")
    try:
        return combine_observation_files(files)
    except ObservationFileError as exc:
        fail(f"{option} {exc}")


@contextmanager
def _progress(title: str) -> Iterator[Any]:
    """A spinner naming the current step, with elapsed time; yields ``step(message)``."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(title, total=None)
    started = time.monotonic()

    def step(message: str) -> None:
        progress.update(task, description=f"{title}: {message}")
        console.log(message, highlight=False)

    with progress:
        yield step
    console.print(f"{title} done in {time.monotonic() - started:.0f} s")


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Limit native (OpenMP/BLAS) threads; one is fastest on a busy shared machine."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=count):
        yield


THREADS_HELP = "native threads for gradient boosting (default: all cores)"
TREES_HELP = (
    "boosting iterations per hourly model (daily: 1.5×; default 300 with --met perfect, 200 "
    "with history); fewer is faster, less skilful"
)


def _training_config(met: str, trees: int | None) -> Any:
    from forecasting.model import TrainingConfig

    # trees None: the per-mode default; the daily model gets 1.5 × the hourly iterations.
    return TrainingConfig(met_mode=met, max_iter=trees)  # type: ignore[arg-type]


@model_cli.command("train", cls=MultiValueCommand)
def model_train(
    obs: list[Path] = typer.Option(..., "--obs", help="observation file(s) with station weather"),
    met: str = typer.Option("perfect", "--met", help="history or perfect (perfect prognosis)"),
    train_end: str = typer.Option(..., "--train-end", help="last training day (local date)"),
    out: Path = typer.Option(..., "--out", help="where to write the model artefact (joblib)"),
    timezone: str = typer.Option("Asia/Shanghai", "--timezone", help="the stations' IANA zone"),
    threads: int | None = typer.Option(None, "--threads", min=1, help=THREADS_HELP),
    trees: int | None = typer.Option(None, "--trees", min=1, help=TREES_HELP),
) -> None:
    """Train a PM2.5 model on OBS up to TRAIN_END and save it with its skill."""
    from forecasting.backtest import station_series, train_cutoff
    from forecasting.model import save_model, train_forecast_model

    met = _check_met(met)
    end = _parse_date(train_end, "--train-end")
    timezone = _check_timezone(timezone)
    observations = read_files(obs, "--obs")
    with _progress("training") as step, _threads(threads):
        series = station_series(observations, timezone, end=train_cutoff(end, timezone))
        try:
            model = train_forecast_model(
                series, train_end=end, config=_training_config(met, trees), progress=step
            )
        except ValueError as exc:
            fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, out)
    console.print(f"model [bold]{escape(model.version)}[/] written to {escape(str(out))}")
    _print_skill(model.skill)


@model_cli.command("show")
def model_show(
    path: Path = typer.Argument(..., help="model artefact written by `hazewarn model train`"),
    as_json: bool = typer.Option(False, "--json", help="print the full description as JSON"),
) -> None:
    """Show a model's version, training window, features, calibration and skill."""
    from forecasting.model import describe_model, load_model

    if not path.is_file():
        fail(f"{path}: no such model file")
    try:
        model = load_model(path)
    except (ValueError, EOFError, OSError) as exc:
        fail(f"{path}: cannot read model: {exc}")
    described = describe_model(model)
    if as_json:
        console.print_json(json.dumps(described))
        return
    training = described["training"]
    console.print(f"[bold]{escape(described['version'])}[/] (format {described['format_version']})")
    console.print(f"met mode: {described['met_mode']}")
    console.print(
        f"trained on {', '.join(training.get('points', []))} "
        f"from {training.get('first_issue', '?')} to {training.get('train_end', '?')} "
        f"(held out from {training.get('holdout_first_day', '?')})"
    )
    console.print(
        f"{len(described['features'])} hourly features: {', '.join(described['features'])}"
    )
    cutoffs = ", ".join(f"> {k} µg/m³: p ≥ {v:.2f}" for k, v in described["warn_cutoffs"].items())
    console.print(f"warning cut-offs: {cutoffs}")
    _print_skill(described["skill"])


def _print_skill(skill: dict[str, Any]) -> None:
    table = Table(title=f"skill ({skill.get('slice', 'held out')})")
    for column in (
        "lead",
        "n",
        "RMSE",
        "RMSE persistence",
        "CSI>75 warn",
        "CSI>150 warn",
        "Brier>150",
    ):
        table.add_column(column, justify="right")
    for lead, entry in skill.items():
        if not isinstance(entry, dict):
            continue
        table.add_row(
            lead,
            str(entry.get("n")),
            f"{entry['rmse']:.1f}",
            f"{entry['rmse_persistence']:.1f}",
            f"{entry['warn_csi_75']:.2f}",
            f"{entry['warn_csi_150']:.2f}",
            f"{entry['brier_150']:.3f}",
        )
    console.print(table)


def backtest_command(
    train: list[Path] = typer.Option(..., "--train", help="training station file(s)"),
    test: list[Path] = typer.Option(..., "--test", help="test station file(s)"),
    train_end: str = typer.Option("2016-02-29", "--train-end", help="last training day (local)"),
    test_start: str = typer.Option("2016-03-01", "--test-start", help="first issue day (local)"),
    test_end: str = typer.Option("2017-02-25", "--test-end", help="last issue day (local)"),
    met: str = typer.Option("perfect", "--met", help="history or perfect (perfect prognosis)"),
    out: Path = typer.Option(Path("metrics.json"), "--out", help="metrics JSON to write"),
    predictions: Path = typer.Option(
        Path("preds.csv"), "--predictions", help="predictions CSV to write"
    ),
    timezone: str = typer.Option("Asia/Shanghai", "--timezone", help="the stations' IANA zone"),
    save_model_to: Path | None = typer.Option(
        None, "--save-model", help="also save the trained model here"
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help=THREADS_HELP),
    trees: int | None = typer.Option(None, "--trees", min=1, help=TREES_HELP),
) -> None:
    """Train on TRAIN files, forecast TEST stations at 12:00 local every test day, score.

    Writes the metrics (model and persistence/climatology baselines, per lead, with
    95 % block-bootstrap intervals) and every prediction. See docs/forecasting.md.
    """
    from forecasting.backtest import BacktestConfig, run_backtest
    from forecasting.model import save_model

    config = BacktestConfig(
        train_end=_parse_date(train_end, "--train-end"),
        test_start=_parse_date(test_start, "--test-start"),
        test_end=_parse_date(test_end, "--test-end"),
        met_mode=_check_met(met),  # type: ignore[arg-type]
        timezone=_check_timezone(timezone),
        training=_training_config(met, trees),
    )
    if config.test_start <= config.train_end:
        fail("--test-start must come after --train-end")
    if config.test_end < config.test_start:
        fail("--test-end must not come before --test-start")
    train_obs = read_files(train, "--train")
    test_obs = read_files(test, "--test")
    started = time.monotonic()
    with _progress(f"backtest ({met})") as step, _threads(threads):
        try:
            result = run_backtest(train_obs, test_obs, config, progress=step)
        except ValueError as exc:
            fail(str(exc))
    result.metrics["meta"]["runtime_s"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.metrics, indent=2) + "\n")
    predictions.parent.mkdir(parents=True, exist_ok=True)
    result.predictions.to_csv(predictions, index=False, float_format="%.2f")
    if save_model_to is not None:
        save_model(result.model, save_model_to)
    _print_backtest(result.metrics)
    console.print(f"metrics: {escape(str(out))}; predictions: {escape(str(predictions))}")


def _print_backtest(metrics: dict[str, Any]) -> None:
    table = Table(title="daily mean PM2.5, pooled over test stations")
    for column in (
        "day",
        "n",
        "RMSE",
        "persistence",
        "climatology",
        "CSI>75 p50/warn",
        "CSI>150 p50/warn",
        "BSS>150",
    ):
        table.add_column(column, justify="right")
    for lead, entry in metrics["daily"].items():
        persistence = metrics["baselines"]["persistence"]["daily"][lead]
        climatology = metrics["baselines"]["climatology"]["daily"][lead]
        decisions = metrics["decisions"][lead]
        table.add_row(
            f"D+{lead}",
            str(entry["n"]),
            _fmt(entry["rmse"], ".1f"),
            _fmt(persistence["rmse"], ".1f"),
            _fmt(climatology["rmse"], ".1f"),
            f"{_fmt(entry['csi_75'])}/{_fmt(decisions['csi_75'])}",
            f"{_fmt(entry['csi_150'])}/{_fmt(decisions['csi_150'])}",
            _fmt(metrics["probabilities"][lead]["bss_150"]),
        )
    console.print(table)


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)
