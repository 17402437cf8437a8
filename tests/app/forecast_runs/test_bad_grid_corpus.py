"""The grid half of the bad-input corpus: `hazewarn forecast run` refuses each bad grid in
one line naming the problem, stores nothing, and the last good run stays the latest
(SQLite and PostgreSQL). docs/reliability.md lists every case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import xarray as xr
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.database import session_scope
from app.forecast_runs.models import ForecastHourly, ForecastRun
from app.forecast_runs.service import latest_run

from .conftest import ISSUE, GridWriter

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
LATER = "2017-01-10T05:00Z"


def _variant(good: Path, path: Path, change: Callable[[xr.Dataset], xr.Dataset]) -> Path:
    with xr.open_dataset(good) as ds:
        change(ds.load()).to_netcdf(path)
    return path


def _all_nan_blh(ds: xr.Dataset) -> xr.Dataset:
    ds["blh"][:] = float("nan")
    return ds


def _units(value: str | None) -> Callable[[xr.Dataset], xr.Dataset]:
    def change(ds: xr.Dataset) -> xr.Dataset:
        if value is None:
            del ds["t2m"].attrs["units"]
        else:
            ds["t2m"].attrs["units"] = value
        return ds

    return change


def _cases(grid: GridWriter, tmp: Path) -> dict[str, tuple[Path, str]]:
    good = grid("base.nc", start=ISSUE + timedelta(hours=1))
    junk = tmp / "junk.nc"
    junk.write_bytes(b"CDF\x01 this is not really netcdf")
    empty = tmp / "empty.nc"
    empty.write_bytes(b"")
    notes = tmp / "notes.txt"
    notes.write_text("not a grid")
    return {
        "not really NetCDF": (junk, "bad grid:"),
        "empty file": (empty, "bad grid:"),
        "a text file": (notes, "not a NetCDF, GRIB or Zarr"),
        "missing file": (tmp / "absent.nc", "no such file"),
        "a variable all NaN": (_variant(good, tmp / "nan.nc", _all_nan_blh), "'blh'"),
        "unknown units": (
            _variant(good, tmp / "units.nc", _units("furlongs")),
            "unknown units 'furlongs'",
        ),
        "no units": (_variant(good, tmp / "nounits.nc", _units(None)), "no units"),
        "no longitude": (
            _variant(good, tmp / "nolon.nc", lambda ds: ds.drop_vars("longitude")),
            "missing coordinate 'lon'",
        ),
        "no time": (
            _variant(good, tmp / "notime.nc", lambda ds: ds.isel(time=0, drop=True)),
            "no time coordinate",
        ),
        "no known variable": (
            _variant(good, tmp / "ozone.nc", lambda ds: ds[["t2m"]].rename({"t2m": "ozone"})),
            "no known met variable",
        ),
        "too short for the horizon": (
            grid("short.nc", start=ISSUE + timedelta(hours=1), steps=40),
            "bad grid:",
        ),
        "a city outside the grid": (
            grid("narrow.nc", start=ISSUE + timedelta(hours=1), lon=(115.5, 117.0)),
            "does not cover 1 point(s): ['120000']",
        ),
    }


def _stored() -> tuple[int, int, int | None]:
    with session_scope() as session:
        runs = session.scalar(select(func.count()).select_from(ForecastRun)) or 0
        hours = session.scalar(select(func.count()).select_from(ForecastHourly)) or 0
        latest = latest_run(session)
        return runs, hours, latest.id if latest else None


def test_bad_grids_store_nothing_and_the_last_good_run_stays_latest(
    seeded: str, grid: GridWriter, tiny_model_path: Path, tmp_path: Path
) -> None:
    model = ["--model", str(tiny_model_path)]
    good = runner.invoke(
        cli, ["forecast", "run", "--grid", str(grid()), "--at", ISSUE.isoformat(), *model], env=WIDE
    )
    assert good.exit_code == 0, good.output
    before = _stored()
    assert before[0] == 1
    wrong = []
    for name, (path, message) in _cases(grid, tmp_path).items():
        result = runner.invoke(
            cli, ["forecast", "run", "--grid", str(path), "--at", LATER, *model], env=WIDE
        )
        lines = result.output.strip().splitlines()
        if result.exit_code != 2 or len(lines) != 1 or message not in result.output:
            wrong.append(f"{name}: exit {result.exit_code}: {result.output.strip()}")
        assert _stored() == before, name
    assert not wrong, "\n".join(wrong)
