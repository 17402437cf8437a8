"""forecasting.grids.open_grid(skip=...): what a forecast run leaves out of the grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.grids import GridError, open_grid


def write_era5(path: Path, blh_all_nan: bool = False) -> Path:
    times = pd.date_range("2017-01-10", periods=6, freq="h")
    lats, lons = np.arange(38.0, 41.01, 0.5), np.arange(115.0, 118.01, 0.5)
    rng = np.random.default_rng(0)
    shape = (len(times), len(lats), len(lons))
    fields = {
        "t2m": (270 + rng.normal(0, 2, shape), "K"),
        "d2m": (262 + rng.normal(0, 2, shape), "K"),
        "u10": (rng.normal(0, 3, shape), "m s**-1"),
        "v10": (rng.normal(0, 3, shape), "m s**-1"),
        "blh": (np.full(shape, np.nan) if blh_all_nan else 300 + 0 * rng.random(shape), "m"),
    }
    xr.Dataset(
        {
            name: (("time", "latitude", "longitude"), values.astype("float32"), {"units": unit})
            for name, (values, unit) in fields.items()
        },
        coords={"time": times.to_numpy(), "latitude": lats, "longitude": lons},
    ).to_netcdf(path)
    return path


def test_skipped_variables_are_left_out_not_missing(tmp_path: Path) -> None:
    path = write_era5(tmp_path / "g.nc")
    full = open_grid(path)
    lean = open_grid(path, skip=("wdir", "blh"))
    assert "wdir" in full and "wdir" not in lean and "blh" not in lean
    assert lean.attrs["skipped_variables"] == ["wdir", "blh"]
    assert lean.attrs["missing_variables"] == full.attrs["missing_variables"]
    assert "wdir" not in full.attrs["missing_variables"]
    # Everything kept is exactly what the full open gives.
    for name in lean.data_vars:
        xr.testing.assert_identical(lean[name], full[name])


def test_a_skipped_variable_is_still_checked(tmp_path: Path) -> None:
    path = write_era5(tmp_path / "bad.nc", blh_all_nan=True)
    for skip in ((), ("blh",)):
        with pytest.raises(GridError, match="'blh' has no finite value"):
            open_grid(path, skip=skip)
