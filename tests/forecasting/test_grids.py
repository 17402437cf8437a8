"""forecasting.grids: every real layout in shared/data/gridded_met, synthetic GFS, forecast,
multi-file, Zarr and GRIB grids, point sampling and the errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting.grids import (
    CANONICAL_UNITS,
    GridError,
    check_coverage,
    open_grid,
    relative_humidity,
    sample_points,
    saturation_vapour_pressure,
)

BEIJING = ("beijing", 39.9042, 116.4074)


@pytest.fixture(scope="module")
def gridded(shared_data: Path) -> Path:
    return shared_data / "gridded_met"


def assert_canonical(ds: xr.Dataset) -> None:
    """The layout every opened grid must have."""
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert ds.sizes["time"] >= 1
    assert bool((np.diff(ds["time"].values) > np.timedelta64(0)).all())
    if ds.attrs["grid"] == "regular":
        assert ds["lat"].dims == ("lat",) and ds["lon"].dims == ("lon",)
        assert bool((np.diff(ds["lat"].values) > 0).all()), "lat must ascend"
        assert bool((np.diff(ds["lon"].values) > 0).all()), "lon must ascend"
        horizontal: tuple[str, ...] = ("lat", "lon")
    else:
        assert ds["lat"].dims == ("y", "x") and ds["lon"].dims == ("y", "x")
        horizontal = ("y", "x")
    assert float(ds["lon"].min()) >= -180 and float(ds["lon"].max()) <= 180
    for name, da in ds.data_vars.items():
        assert name in CANONICAL_UNITS
        assert da.dims == ("time", *horizontal)
        assert da.attrs["units"] == CANONICAL_UNITS[str(name)]
    assert sorted([*ds.data_vars, *ds.attrs["missing_variables"]]) == sorted(CANONICAL_UNITS)
    assert isinstance(ds.attrs["sources"], list) and ds.attrs["sources"]


# ------------------------------------------------------------------------------------------
# The five real files
# ------------------------------------------------------------------------------------------


def test_era5_legacy_layout_conus(gridded: Path) -> None:
    path = gridded / "era5_1995-07-14T12_conus.nc"
    ds = open_grid(path)
    assert_canonical(ds)
    assert ds.attrs["grid"] == "regular"
    assert ds["time"].values.tolist() == [np.datetime64("1995-07-14T12:00", "ns").astype(int)]
    assert ds["lat"].values[0] == 24.0 and ds["lat"].values[-1] == 50.0
    assert ds["lon"].values[0] == -125.0 and ds["lon"].values[-1] == -66.0
    assert ds.attrs["missing_variables"] == ["blh", "tp"]
    assert ds.attrs["ignored_variables"] == ["d2m_C", "t2m_C"]
    assert ds.attrs["sources"] == [str(path)]

    with xr.open_dataset(path) as raw:
        # The file carries its own Celsius copies: ours must agree with them.
        expected = raw["t2m_C"].sortby("latitude").values
        np.testing.assert_allclose(ds["t2m"].isel(time=0).values, expected, atol=1e-3)
        raw_sp = float(raw["sp"].sel(latitude=40.0, longitude=-105.0))
        raw_u = float(raw["u10"].sel(latitude=40.0, longitude=-105.0))
        raw_v = float(raw["v10"].sel(latitude=40.0, longitude=-105.0))
    cell = ds.sel(lat=40.0, lon=-105.0).isel(time=0)
    assert float(cell["sp"]) == pytest.approx(raw_sp / 100)
    assert float(cell["wspd"]) == pytest.approx(np.hypot(raw_u, raw_v))
    assert 5 < float(ds["t2m"].mean()) < 35
    assert float(ds["sp"].min()) > 500 and float(ds["sp"].max()) < 1100
    assert float(ds["rh"].min()) > 0 and float(ds["rh"].max()) < 100.5


def test_era5_new_cds_layout_jeju(gridded: Path) -> None:
    path = gridded / "era5_u10v10_jeju_20250501-03.nc"
    ds = open_grid(path)
    assert_canonical(ds)
    assert ds.attrs["layout"].startswith("valid_time")
    assert ds.sizes == {"time": 72, "lat": 5, "lon": 5}
    assert ds["time"].values[0] == np.datetime64("2025-05-01T00:00")
    assert ds["time"].values[-1] == np.datetime64("2025-05-03T23:00")
    assert "expver" not in ds.variables and "number" not in ds.variables
    assert set(ds.data_vars) == {"u10", "v10", "wspd", "wdir"}

    with xr.open_dataset(path) as raw:
        raw_cell = raw.isel(valid_time=5, latitude=0, longitude=0)  # northernmost row in file
        u, v = float(raw_cell["u10"]), float(raw_cell["v10"])
    cell = ds.isel(time=5, lat=-1, lon=0)  # ...is the last row once lat ascends
    assert float(cell["u10"]) == pytest.approx(u)
    # Meteorological direction: where the wind comes from, clockwise from north.
    expected = (np.degrees(np.arctan2(-u, -v)) + 360) % 360
    assert float(cell["wdir"]) == pytest.approx(expected, abs=1e-3)


def test_h5netcdf_engine_reads_the_same(gridded: Path) -> None:
    path = gridded / "era5_u10v10_jeju_20250501-03.nc"
    xr.testing.assert_identical(open_grid(path, engine="h5netcdf"), open_grid(path))


def test_era_interim_tibet(gridded: Path) -> None:
    path = gridded / "era_interim_tibet.nc"
    ds = open_grid(path)
    assert_canonical(ds)
    assert ds.sizes == {"time": 4, "lat": 55, "lon": 68}
    assert [str(t)[:13] for t in ds["time"].values] == [
        "2012-06-01T00",
        "2012-06-01T06",
        "2012-06-01T12",
        "2012-06-01T18",
    ]
    with xr.open_dataset(path) as raw:
        kelvin = float(raw["t2m"].isel(time=2).sel(latitude=30.75, longitude=104.25))
    assert float(ds["t2m"].isel(time=2).sel(lat=30.75, lon=104.25)) == pytest.approx(
        kelvin - 273.15
    )
    assert float(ds["t2m"].min()) > -40 and float(ds["t2m"].max()) < 55


@pytest.mark.filterwarnings("ignore:variable .* has non-conforming '_FillValue'")
def test_eraint_monthly_pressure_levels_refused(gridded: Path) -> None:
    path = gridded / "eraint_uvz.nc"
    with pytest.raises(GridError) as caught:
        open_grid(path)
    message = str(caught.value)
    assert str(path) in message
    assert "month" in message and "climatology" in message
    assert "pressure levels" in message


def test_wrf_curvilinear(gridded: Path) -> None:
    path = gridded / "wrf_tip_d1.nc"
    ds = open_grid(path)
    assert_canonical(ds)
    assert ds.attrs["grid"] == "curvilinear"
    assert ds.sizes == {"time": 2, "y": 200, "x": 200}
    assert ds["time"].values.tolist() == [
        np.datetime64("2005-09-21T00:00", "ns").astype(int),
        np.datetime64("2005-09-21T03:00", "ns").astype(int),
    ]
    assert ds.attrs["ignored_variables"] == ["roi"]
    with xr.open_dataset(path) as raw:
        np.testing.assert_allclose(ds["lat"].values, raw["XLAT"].values)
        np.testing.assert_allclose(ds["t2m"].values, raw["T2"].values - 273.15, rtol=1e-6)


def test_wrf_sampling_beijing(gridded: Path) -> None:
    ds = open_grid(gridded / "wrf_tip_d1.nc")
    bilinear = sample_points(ds, [BEIJING])
    nearest = sample_points(ds, [BEIJING], method="nearest")
    assert bilinear["t2m"].dims == ("point", "time")
    assert bilinear["point"].values.tolist() == ["beijing"]
    assert float(bilinear["lat"][0]) == BEIJING[1]

    # Nearest: the node closest on the sphere, found here by brute force (haversine).
    lat, lon = np.radians(ds["lat"].values), np.radians(ds["lon"].values)
    plat, plon = np.radians(BEIJING[1]), np.radians(BEIJING[2])
    haversine = (
        np.sin((lat - plat) / 2) ** 2 + np.cos(lat) * np.cos(plat) * np.sin((lon - plon) / 2) ** 2
    )
    row, col = np.unravel_index(np.argmin(haversine), haversine.shape)
    np.testing.assert_allclose(nearest["t2m"].values[0], ds["t2m"].values[:, row, col])

    # Bilinear lies within the values of the nodes around Beijing, and is plausible for a
    # late-September morning (08 and 11 h local time).
    block = ds["t2m"].values[:, row - 1 : row + 2, col - 1 : col + 2]
    values = bilinear["t2m"].values[0]
    assert (values >= block.min(axis=(1, 2)) - 1e-6).all()
    assert (values <= block.max(axis=(1, 2)) + 1e-6).all()
    assert 5 < values[0] < 30 and 5 < values[1] < 30
    assert values[1] > values[0]  # warmer by late morning


# ------------------------------------------------------------------------------------------
# Synthetic grids
# ------------------------------------------------------------------------------------------


def hours(*values: int, start: str = "2024-01-05T00:00") -> np.ndarray:
    return np.datetime64(start, "ns") + np.array(values) * np.timedelta64(1, "h")


def era5_like(times: np.ndarray, lat: np.ndarray, lon: np.ndarray, seed: int = 0) -> xr.Dataset:
    """ERA5 CDS legacy layout: time, latitude (descending), longitude; K, Pa, m."""
    rng = np.random.default_rng(seed)
    shape = (times.size, lat.size, lon.size)
    fields = {
        "t2m": ("K", 270 + 10 * rng.random(shape)),
        "d2m": ("K", 260 + 5 * rng.random(shape)),
        "u10": ("m s**-1", rng.normal(0, 3, shape)),
        "v10": ("m s**-1", rng.normal(0, 3, shape)),
        "sp": ("Pa", 100_000 + 500 * rng.random(shape)),
        "blh": ("m", 1000 * rng.random(shape)),
        "tp": ("m", 0.002 * rng.random(shape)),
    }
    return xr.Dataset(
        {
            name: (("time", "latitude", "longitude"), values, {"units": units})
            for name, (units, values) in fields.items()
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    )


def test_gfs_wgrib2_names_lon_0_360_and_running_precipitation(tmp_path: Path) -> None:
    lat = np.arange(90.0, -90.1, -30.0)  # GFS: north to south
    lon = np.arange(0.0, 360.0, 30.0)  # GFS: 0..330
    times = hours(0, 3, 6, 9)
    shape = (times.size, lat.size, lon.size)
    t_kelvin = 280.0 + np.broadcast_to(lon / 100, shape)
    apcp = np.broadcast_to(np.array([0.0, 3.0, 9.0, 2.0])[:, None, None], shape)  # reset at 9 h
    ds = xr.Dataset(
        {
            "TMP_2maboveground": (("time", "lat", "lon"), t_kelvin, {"units": "K"}),
            "DPT_2maboveground": (("time", "lat", "lon"), t_kelvin - 5, {"units": "K"}),
            "RH_2maboveground": (("time", "lat", "lon"), np.full(shape, 70.0), {"units": "%"}),
            "UGRD_10maboveground": (("time", "lat", "lon"), np.full(shape, 3.0), {"units": "m/s"}),
            "VGRD_10maboveground": (("time", "lat", "lon"), np.full(shape, 0.0), {"units": "m/s"}),
            "PRES_surface": (("time", "lat", "lon"), np.full(shape, 101_300.0), {"units": "Pa"}),
            "HPBL_surface": (("time", "lat", "lon"), np.full(shape, 650.0), {"units": "m"}),
            "APCP_surface": (("time", "lat", "lon"), apcp, {"units": "kg/m^2"}),
        },
        coords={"time": times, "lat": lat, "lon": lon},
    )
    path = tmp_path / "gfs.nc"
    ds.to_netcdf(path)

    grid = open_grid(path)
    assert_canonical(grid)
    assert grid.attrs["missing_variables"] == []
    assert grid["lon"].values.tolist() == [
        -180.0,
        -150.0,
        -120,
        -90,
        -60,
        -30,
        0,
        30,
        60,
        90,
        120,
        150,
    ]
    # The value that sat at 330°E now sits at -30°.
    assert float(grid["t2m"].isel(time=0).sel(lat=0.0, lon=-30.0)) == pytest.approx(
        280 + 3.3 - 273.15
    )
    assert float(grid["d2m"].isel(time=0).sel(lat=0.0, lon=-30.0)) == pytest.approx(
        275 + 3.3 - 273.15
    )
    assert float(grid["sp"].max()) == pytest.approx(1013.0)
    assert float(grid["blh"].max()) == 650.0
    assert float(grid["rh"].max()) == 70.0
    # Westerly wind (u > 0) comes from 270°.
    assert float(grid["wdir"].max()) == pytest.approx(270.0)
    # Running totals 0, 3, 9, 2 mm at 0, 3, 6, 9 h: 3 mm/3 h, 6 mm/3 h, then a reset: 2 mm/3 h.
    rate = grid["tp"].isel(lat=0, lon=0).values
    assert np.isnan(rate[0])
    np.testing.assert_allclose(rate[1:], [1.0, 2.0, 2 / 3])


def cfgrib_forecast(run: str, steps_h: list[int], seed: int = 0) -> xr.Dataset:
    """A cfgrib-style GFS forecast: scalar time (run), dim step, cfgrib variable names."""
    rng = np.random.default_rng(seed)
    lat = np.array([41.0, 40.0, 39.0])
    lon = np.array([115.0, 116.0, 117.0])
    shape = (len(steps_h), lat.size, lon.size)
    steps = np.array(steps_h) * np.timedelta64(1, "h")
    fields = {
        "t2m": ("K", 275 + rng.random(shape)),
        "r2": ("%", 40 + 50 * rng.random(shape)),
        "u10": ("m s**-1", rng.normal(0, 2, shape)),
        "v10": ("m s**-1", rng.normal(0, 2, shape)),
        "sp": ("Pa", np.full(shape, 100_500.0)),
        "hpbl": ("m", np.full(shape, 420.0)),
        "prate": ("kg m**-2 s**-1", np.full(shape, 1e-3)),
    }
    return xr.Dataset(
        {
            name: (("step", "latitude", "longitude"), values, {"units": units})
            for name, (units, values) in fields.items()
        },
        coords={
            "time": np.datetime64(run, "ns"),
            "step": steps,
            "latitude": lat,
            "longitude": lon,
            "valid_time": ("step", np.datetime64(run, "ns") + steps),
            "heightAboveGround": 2.0,
        },
    )


def test_forecast_time_plus_step_with_cfgrib_names(tmp_path: Path) -> None:
    path = tmp_path / "gfs_forecast.nc"
    cfgrib_forecast("2024-01-05T06:00", [0, 1, 2, 3]).to_netcdf(path)
    grid = open_grid(path)
    assert_canonical(grid)
    assert grid.attrs["layout"] == "forecast time+step"
    np.testing.assert_array_equal(grid["time"].values, hours(6, 7, 8, 9))
    assert (grid["reference_time"].values == np.datetime64("2024-01-05T06:00")).all()
    assert float(grid["tp"].max()) == pytest.approx(3.6)  # 1e-3 kg m-2 s-1 = 3.6 mm/h
    assert float(grid["sp"].max()) == pytest.approx(1005.0)
    assert float(grid["blh"].min()) == 420.0
    # d2m is derived from t2m and rh, and turning it back gives the rh we started with.
    back = relative_humidity(grid["t2m"], grid["d2m"])
    np.testing.assert_allclose(back.values, grid["rh"].values, rtol=1e-9)
    assert grid["d2m"].attrs["source"] == "t2m, rh"


def test_forecast_several_runs_keep_the_newest_and_difference_per_run(tmp_path: Path) -> None:
    runs = np.array(["2024-01-05T00:00", "2024-01-05T06:00"], dtype="datetime64[ns]")
    steps = np.array([0, 3, 6, 9]) * np.timedelta64(1, "h")
    shape = (2, 4, 2, 2)
    # The value says which run it came from (run index * 10 + step hours / 10, in °C).
    marker = (np.arange(2)[:, None] * 10 + np.array([0, 0.3, 0.6, 0.9])[None, :]).astype(float)
    total = np.array([[0.0, 3.0, 6.0, 12.0], [0.0, 6.0, 9.0, 9.0]])  # kg m-2 since each run
    ds = xr.Dataset(
        {
            "t2m": (
                ("time", "step", "lat", "lon"),
                np.broadcast_to(marker[..., None, None], shape),
                {"units": "degC"},
            ),
            "tp": (
                ("time", "step", "lat", "lon"),
                np.broadcast_to(total[..., None, None], shape),
                {"units": "kg m**-2"},
            ),
        },
        coords={"time": runs, "step": steps, "lat": [10.0, 11.0], "lon": [20.0, 21.0]},
    )
    path = tmp_path / "runs.nc"
    ds.to_netcdf(path)
    grid = open_grid(path)
    # Valid times 00, 03 from run 00; 06..15 from run 06 (newest wins at 06 and 09).
    np.testing.assert_array_equal(grid["time"].values, hours(0, 3, 6, 9, 12, 15))
    np.testing.assert_allclose(grid["t2m"].values[:, 0, 0], [0, 0.3, 10, 10.3, 10.6, 10.9])
    np.testing.assert_array_equal(grid["reference_time"].values, np.repeat(runs, [2, 4]))
    # tp: run 00 step 0 -> NaN (no time since the run start); 3 mm in 3 h -> 1 mm/h; run 06
    # restarts: step 0 NaN, then 6/3, 3/3, 0/3.
    rate = grid["tp"].values[:, 0, 0]
    assert np.isnan(rate[0]) and np.isnan(rate[2])
    np.testing.assert_allclose(rate[[1, 3, 4, 5]], [1.0, 2.0, 1.0, 0.0])


def test_forecast_one_file_per_step_opens_as_one_run(tmp_path: Path) -> None:
    whole = cfgrib_forecast("2024-01-05T00:00", [0, 1, 2])
    paths = []
    for index in range(3):
        path = tmp_path / f"gfs.f00{index}.nc"
        whole.isel(step=index).to_netcdf(path)  # scalar time and step, like one GFS file
        paths.append(path)
    grid = open_grid(paths)
    assert isinstance(grid["t2m"].data, dask.array.Array)
    np.testing.assert_array_equal(grid["time"].values, hours(0, 1, 2))
    assert (grid["reference_time"].values == np.datetime64("2024-01-05T00:00")).all()
    np.testing.assert_allclose(grid["t2m"].values, whole["t2m"].sortby("latitude").values - 273.15)


def test_old_cds_expver_dim_merged_and_ensembles_refused(tmp_path: Path) -> None:
    lat, lon = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    era5 = era5_like(hours(0, 1, 2), lat, lon)[["t2m"]]
    final = era5.where(era5["time"] < hours(2)[0])  # ERA5 (expver 1) ends at 01 h
    early = era5.where(era5["time"] >= hours(2)[0])  # ERA5T (expver 5) holds 02 h
    mixed = xr.concat([final, early], dim=xr.DataArray([1, 5], dims="expver", name="expver"))
    path = tmp_path / "expver.nc"
    mixed.transpose("time", "expver", ...).to_netcdf(path)
    grid = open_grid(path)
    assert "expver" not in grid.variables
    np.testing.assert_allclose(grid["t2m"].values, era5["t2m"].sortby("latitude").values - 273.15)

    members = xr.concat([era5, era5], dim="number").assign_coords(number=[0, 1])
    path = tmp_path / "members.nc"
    members.to_netcdf(path)
    with pytest.raises(GridError, match=rf"{path}: 2 ensemble members"):
        open_grid(path)


def test_time_units_with_an_offset_are_read_as_utc(tmp_path: Path) -> None:
    ds = era5_like(hours(0, 1), np.array([1.0, 0.0]), np.array([0.0, 1.0]))[["t2m"]]
    ds = ds.assign_coords(time=("time", [0, 1], {"units": "hours since 2024-01-05 08:00:00+08:00"}))
    path = tmp_path / "beijing_time.nc"
    ds.to_netcdf(path)
    np.testing.assert_array_equal(open_grid(path)["time"].values, hours(0, 1))


def test_many_files_open_lazily_with_dask(tmp_path: Path) -> None:
    lat = np.array([42.0, 41.0, 40.0, 39.0])
    lon = np.array([115.0, 116.0, 117.0])
    paths = []
    parts = []
    for index, start in enumerate((0, 2, 4)):
        part = era5_like(hours(start, start + 1), lat, lon, seed=index)
        path = tmp_path / f"era5_{index}.nc"
        part.to_netcdf(path)
        paths.append(path)
        parts.append(part)
    grid = open_grid(list(reversed(paths)))  # order given does not matter
    assert_canonical(grid)
    assert isinstance(grid["t2m"].data, dask.array.Array)
    assert isinstance(grid["wdir"].data, dask.array.Array)
    np.testing.assert_array_equal(grid["time"].values, hours(0, 1, 2, 3, 4, 5))
    assert grid.attrs["sources"] == [str(p) for p in reversed(paths)]

    eager = xr.concat(parts, dim="time").sortby("latitude")
    np.testing.assert_allclose(grid["t2m"].values, eager["t2m"].values - 273.15)
    np.testing.assert_allclose(grid["tp"].values, eager["tp"].values * 1000)  # m/h -> mm/h

    points = [("a", 40.5, 115.5), ("b", 41.2, 116.9)]
    lazy = sample_points(grid, points)
    assert isinstance(lazy["t2m"].data, dask.array.Array)
    in_memory = sample_points(grid.load(), points)
    xr.testing.assert_allclose(lazy.compute(), in_memory)


def test_chunks_auto_gives_dask_for_one_file(tmp_path: Path) -> None:
    path = tmp_path / "one.nc"
    era5_like(hours(0, 1), np.array([1.0, 0.0]), np.array([0.0, 1.0])).to_netcdf(path)
    assert isinstance(open_grid(path, chunks="auto")["t2m"].data, dask.array.Array)
    assert isinstance(open_grid(path)["t2m"].data, np.ndarray)


# zarr 3 warns about fixed-width strings (expver) and consolidated metadata when writing.
@pytest.mark.filterwarnings("ignore:The data type:Warning", "ignore:Consolidated metadata:Warning")
def test_zarr_store(tmp_path: Path) -> None:
    source = era5_like(hours(0, 1, 2), np.array([31.0, 30.5, 30.0]), np.array([120.0, 120.5]))
    source = source.rename({"time": "valid_time"}).assign_coords(
        number=0, expver=("valid_time", ["0001"] * 3)
    )
    store = tmp_path / "era5.zarr"
    source.to_zarr(store)
    grid = open_grid(store)
    assert_canonical(grid)
    assert grid.attrs["missing_variables"] == []
    np.testing.assert_allclose(grid["blh"].values, source["blh"].sortby("latitude").values)


def write_grib(path: Path, steps: tuple[int, ...] = (0, 3, 6)) -> None:
    """A GFS-like GRIB2 file (run 2024-01-05 06 UTC): 2 m, 10 m and surface fields.

    Each field is base + 10*row + col + step (precipitation rate: that ramp in 1e-6
    kg m-2 s-1), kept physically plausible after conversion."""
    import eccodes

    fields = [
        ("2t", "heightAboveGround", 2, 270.0),
        ("2r", "heightAboveGround", 2, 55.0),
        ("10u", "heightAboveGround", 10, 3.0),
        ("10v", "heightAboveGround", 10, -4.0),
        ("sp", "surface", 0, 101_325.0),
        ("prate", "surface", 0, 0.0005),
    ]
    with path.open("wb") as out:
        for step in steps:
            for short_name, level_type, level, base in fields:
                handle = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
                eccodes.codes_set(handle, "centre", "kwbc")
                eccodes.codes_set_key_vals(
                    handle,
                    {
                        "Ni": 5,
                        "Nj": 4,
                        "latitudeOfFirstGridPointInDegrees": 41.0,
                        "latitudeOfLastGridPointInDegrees": 38.0,
                        "longitudeOfFirstGridPointInDegrees": 115.0,
                        "longitudeOfLastGridPointInDegrees": 119.0,
                        "iDirectionIncrementInDegrees": 1.0,
                        "jDirectionIncrementInDegrees": 1.0,
                        "dataDate": 20240105,
                        "dataTime": 600,
                    },
                )
                eccodes.codes_set(handle, "typeOfLevel", level_type)
                eccodes.codes_set(handle, "level", level)
                eccodes.codes_set(handle, "shortName", short_name)
                eccodes.codes_set(handle, "stepUnits", 1)
                eccodes.codes_set(handle, "forecastTime", step)
                # Row-major from the north-west corner: value = base + 10*row + col + step.
                ramp = 10 * np.arange(4)[:, None] + np.arange(5)[None, :] + step
                values = base + ramp * (1e-6 if short_name == "prate" else 1.0)
                eccodes.codes_set_values(handle, values.ravel().astype(float))
                eccodes.codes_write(handle, out)
                eccodes.codes_release(handle)


def test_grib_via_cfgrib(tmp_path: Path) -> None:
    path = tmp_path / "gfs.grib2"
    write_grib(path)
    grid = open_grid(path)
    assert_canonical(grid)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gfs.grib2"]  # no .idx written
    np.testing.assert_array_equal(grid["time"].values, hours(6, 9, 12))
    assert grid["lat"].values.tolist() == [38.0, 39.0, 40.0, 41.0]
    # North-west corner (41N, 115E) at step 3: base + 0 + 3.
    corner = grid.isel(time=1).sel(lat=41.0, lon=115.0)
    assert float(corner["t2m"]) == pytest.approx(270.0 + 3 - 273.15, abs=1e-3)
    assert float(corner["rh"]) == pytest.approx(58.0, abs=1e-3)
    assert float(corner["sp"]) == pytest.approx((101_325.0 + 3) / 100, abs=1e-3)
    assert float(grid["tp"].isel(time=0).sel(lat=38.0, lon=115.0)) == pytest.approx(
        (0.0005 + 30e-6) * 3600, rel=1e-4
    )
    assert grid.attrs["missing_variables"] == ["blh"]


def test_grib_many_files(tmp_path: Path) -> None:
    first, second = tmp_path / "gfs_f000.grib2", tmp_path / "gfs_f009.grib2"
    write_grib(first, steps=(0, 3, 6))
    write_grib(second, steps=(9, 12))
    grid = open_grid([second, first])
    assert isinstance(grid["t2m"].data, dask.array.Array)
    np.testing.assert_array_equal(grid["time"].values, hours(6, 9, 12, 15, 18))
    corner = grid.sel(lat=41.0, lon=115.0)
    np.testing.assert_allclose(
        corner["t2m"].values, 270.0 - 273.15 + np.array([0, 3, 6, 9, 12]), atol=1e-3
    )


def wrf_like(times: list[str], *, stand_lon: float = 116.0) -> xr.Dataset:
    """A small wrfout: Lambert grid around Beijing, Times chars, T2 Q2 PSFC U10 V10 PBLH RAIN*."""
    ny, nx = 6, 7
    rows, cols = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    # A gently curved grid: latitude rises with row, longitude with column and a little skew.
    xlat = 37.0 + 1.0 * rows + 0.05 * (cols - 3) ** 2 * 0.2
    xlong = 113.0 + 1.2 * cols + 0.1 * (rows - 2)
    shape = (len(times), ny, nx)
    accumulated = np.cumsum(np.ones(shape), axis=0) * 2.0  # +2 mm per step in each part
    return xr.Dataset(
        {
            "Times": ("Time", np.array([t.encode() for t in times], dtype="S19")),
            "XLAT": (("south_north", "west_east"), xlat.astype("float32")),
            "XLONG": (("south_north", "west_east"), xlong.astype("float32")),
            "T2": (("Time", "south_north", "west_east"), np.full(shape, 293.15), {"units": "K"}),
            "Q2": (
                ("Time", "south_north", "west_east"),
                np.full(shape, 0.01),
                {"units": "kg kg-1"},
            ),
            "PSFC": (
                ("Time", "south_north", "west_east"),
                np.full(shape, 100_000.0),
                {"units": "Pa"},
            ),
            "U10": (("Time", "south_north", "west_east"), np.zeros(shape), {"units": "m s-1"}),
            "V10": (("Time", "south_north", "west_east"), np.full(shape, 5.0), {"units": "m s-1"}),
            "PBLH": (("Time", "south_north", "west_east"), np.full(shape, 300.0), {"units": "m"}),
            "RAINC": (("Time", "south_north", "west_east"), accumulated, {"units": "mm"}),
            "RAINNC": (("Time", "south_north", "west_east"), accumulated, {"units": "mm"}),
        },
        attrs={"MAP_PROJ": 1, "TRUELAT1": 30.0, "TRUELAT2": 60.0, "STAND_LON": stand_lon},
    )


def test_wrf_humidity_precipitation_and_wind_turning(tmp_path: Path) -> None:
    path = tmp_path / "wrfout_d01.nc"
    wrf_like(["2024-01-05_00:00:00", "2024-01-05_01:00:00", "2024-01-05_03:00:00"]).to_netcdf(path)
    grid = open_grid(path)
    assert_canonical(grid)
    assert grid.attrs["missing_variables"] == []
    # Q2 = 0.01 kg/kg at 1000 hPa: e = w p / (0.622 + w) = 15.823 hPa; e_s(20 °C) = 23.37 hPa.
    vapour = 0.01 * 1000.0 / 0.632
    expected_rh = 100 * vapour / float(saturation_vapour_pressure(20.0))
    assert float(grid["rh"].max()) == pytest.approx(expected_rh, rel=1e-6)
    assert float(grid["d2m"].max()) == pytest.approx(13.86, abs=0.05)  # dew point of 15.8 hPa
    assert float(grid["sp"].max()) == pytest.approx(1000.0)
    assert float(grid["blh"].max()) == 300.0
    # RAINC + RAINNC: 4 mm per step; steps of 1 h then 2 h.
    rate = grid["tp"].values[:, 0, 0]
    assert np.isnan(rate[0])
    np.testing.assert_allclose(rate[1:], [4.0, 2.0])
    # Grid-relative southerly wind: turned to earth axes, speed kept; west of STAND_LON the
    # grid's "up" leans west of true north, so the earth u is negative.
    assert float(abs(grid["wspd"] - 5.0).max()) < 1e-9
    west = grid.isel(time=0, y=3, x=0)
    assert float(west["lon"]) < 116.0
    assert float(west["u10"]) < 0


def test_wrf_many_files_difference_across_files(tmp_path: Path) -> None:
    whole = wrf_like(["2024-01-05_00:00:00", "2024-01-05_01:00:00", "2024-01-05_03:00:00"])
    paths = []
    for index, times in enumerate(([0, 1], [2])):
        path = tmp_path / f"wrfout_{index}.nc"
        whole.isel(Time=times).to_netcdf(path)
        paths.append(path)
    grid = open_grid(paths)
    assert grid.attrs["grid"] == "curvilinear"
    assert isinstance(grid["tp"].data, dask.array.Array)
    rate = grid["tp"].values[:, 2, 3]
    assert np.isnan(rate[0])
    np.testing.assert_allclose(rate[1:], [4.0, 2.0])  # the 01 -> 03 h step spans both files


def test_wrf_wind_unturned_on_the_standard_meridian(tmp_path: Path) -> None:
    path = tmp_path / "wrfout_stand.nc"
    data = wrf_like(["2024-01-05_00:00:00"])
    data["XLONG"][:] = 116.0  # every node on the standard longitude
    data.to_netcdf(path)
    grid = open_grid(path)
    np.testing.assert_allclose(grid["u10"].values, 0.0, atol=1e-12)
    np.testing.assert_allclose(grid["v10"].values, 5.0)
    np.testing.assert_allclose(grid["wdir"].values, 180.0)  # southerly: from the south


def test_generic_curvilinear_grid_with_0_360_longitudes(tmp_path: Path) -> None:
    rows, cols = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    latitude = 30.0 + rows + 0.1 * cols
    longitude = 358.0 + cols - 0.1 * rows  # crosses 0°E
    ds = xr.Dataset(
        {"t2m": (("time", "y", "x"), np.broadcast_to(20.0 + cols, (1, 3, 4)), {"units": "degC"})},
        coords={
            "time": hours(0),
            "latitude": (("y", "x"), latitude),
            "longitude": (("y", "x"), longitude),
        },
    )
    path = tmp_path / "curvilinear.nc"
    ds.to_netcdf(path)
    grid = open_grid(path)
    assert_canonical(grid)
    assert grid.attrs["grid"] == "curvilinear"
    np.testing.assert_allclose(grid["lon"].values[0], [-2.0, -1.0, 0.0, 1.0])
    # Halfway between columns 1 and 2 of row 1 (lat 31.15, lon -0.6): t2m 21.5.
    sampled = sample_points(grid, [("p", 31.15, -0.6)])
    assert float(sampled["t2m"][0, 0]) == pytest.approx(21.5)


# ------------------------------------------------------------------------------------------
# Sampling
# ------------------------------------------------------------------------------------------


def small_grid() -> xr.Dataset:
    """Corners f(10,100)=0, f(10,104)=8, f(12,100)=4, f(12,104)=20 at two times (second x2)."""
    values = np.array([[0.0, 8.0], [4.0, 20.0]])
    direction = np.array([[350.0, 10.0], [350.0, 10.0]])
    return xr.Dataset(
        {
            "t2m": (("time", "lat", "lon"), np.stack([values, 2 * values]), {"units": "degC"}),
            "wdir": (("time", "lat", "lon"), np.stack([direction, direction]), {"units": "degree"}),
        },
        coords={"time": hours(0, 1), "lat": [10.0, 12.0], "lon": [100.0, 104.0]},
        attrs={"grid": "regular", "sources": ["synthetic"]},
    )


def test_bilinear_matches_hand_computation() -> None:
    ds = small_grid()
    result = sample_points(ds, [("p", 10.5, 101.0), ("node", 12.0, 104.0)])
    assert result["t2m"].dims == ("point", "time")
    assert result["point"].values.tolist() == ["p", "node"]
    # Weights: lat 0.25 up, lon 0.25 across:
    # 0.75*0.75*0 + 0.75*0.25*8 + 0.25*0.75*4 + 0.25*0.25*20 = 1.5 + 0.75 + 1.25 = 3.5.
    np.testing.assert_allclose(result["t2m"].values, [[3.5, 7.0], [20.0, 40.0]])
    np.testing.assert_allclose(result["lat"].values, [10.5, 12.0])
    # Directions 350° and 10° average through north, not through south.
    mid = sample_points(ds, [("m", 11.0, 102.0)])
    assert float(mid["wdir"][0, 0]) % 360 == pytest.approx(0.0, abs=1e-9)


def test_nearest_picks_the_closest_node() -> None:
    ds = small_grid()
    result = sample_points(ds, [("p", 10.5, 101.0), ("q", 11.6, 103.5)], method="nearest")
    np.testing.assert_allclose(result["t2m"].values, [[0.0, 0.0], [20.0, 40.0]])


def test_bilinear_agrees_with_xarray_interp_on_a_random_grid() -> None:
    rng = np.random.default_rng(3)
    lat, lon = np.linspace(15, 55, 41), np.linspace(70, 140, 57)
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), rng.random((3, 41, 57)), {"units": "degC"})},
        coords={"time": hours(0, 1, 2), "lat": lat, "lon": lon},
    )
    plat, plon = rng.uniform(15, 55, 50), rng.uniform(70, 140, 50)
    ours = sample_points(ds, pd.DataFrame({"id": range(50), "lat": plat, "lon": plon}))
    theirs = ds.interp(lat=xr.DataArray(plat, dims="point"), lon=xr.DataArray(plon, dims="point"))
    np.testing.assert_allclose(ours["t2m"].values, theirs["t2m"].transpose().values, atol=1e-12)
    assert ours["point"].values.tolist() == list(range(50))


def test_nan_corner_is_left_out() -> None:
    ds = small_grid()
    ds["t2m"][:, 1, 1] = np.nan
    result = sample_points(ds, [("p", 10.5, 101.0)])
    # Remaining weights 0.5625 (0), 0.1875 (8), 0.1875 (4) -> (1.5 + 0.75) / 0.9375 = 2.4.
    assert float(result["t2m"][0, 0]) == pytest.approx(2.4)


def test_uncovered_points_are_listed() -> None:
    ds = small_grid()
    points = [("in", 11.0, 101.0), ("north", 12.5, 101.0), ("west", 11.0, 99.0)]
    with pytest.raises(GridError, match=r"does not cover 2 point\(s\): \['north', 'west'\]"):
        sample_points(ds, points)
    with pytest.raises(GridError, match="north"):
        check_coverage(ds, pd.DataFrame(points, columns=["id", "lat", "lon"]))
    check_coverage(ds, points[:1])


def test_wrf_point_outside_the_curvilinear_grid(gridded: Path) -> None:
    ds = open_grid(gridded / "wrf_tip_d1.nc")
    with pytest.raises(GridError, match=r"\['london'\]"):
        check_coverage(ds, [BEIJING, ("london", 51.5, -0.1)])


def test_duplicate_point_ids_refused() -> None:
    with pytest.raises(GridError, match="duplicate ids"):
        sample_points(small_grid(), [("a", 11.0, 101.0), ("a", 11.5, 101.0)])


class RecordingArray:
    """A numpy-like array that records which slices dask reads from it."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.shape = values.shape
        self.dtype = values.dtype
        self.ndim = values.ndim
        self.reads: list[tuple[slice, ...]] = []

    def __getitem__(self, key: Any) -> np.ndarray:
        picked = self.values[key]
        if picked.size:  # dask probes empty slices for the array's meta: not a read
            self.reads.append(key)
        return picked


def test_lazy_sampling_reads_only_the_chunks_holding_the_points() -> None:
    values = np.arange(4 * 40 * 40, dtype="float64").reshape(4, 40, 40)
    recording = RecordingArray(values)
    lazy = dask.array.from_array(recording, chunks=(1, 10, 10), asarray=False)
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), lazy, {"units": "degC"})},
        coords={"time": hours(0, 1, 2, 3), "lat": np.arange(40.0), "lon": np.arange(40.0)},
    )
    result = sample_points(ds, [("a", 2.5, 3.5), ("b", 12.5, 13.25)])
    assert isinstance(result["t2m"].data, dask.array.Array)
    assert recording.reads == []  # nothing read until computed
    computed = result.compute()
    blocks = {(key[1].start, key[2].start) for key in recording.reads}
    # Point a lies in block (0, 0); point b in block (10, 10): 2 of the 16 blocks per step.
    assert blocks == {(0, 0), (10, 10)}
    assert len(recording.reads) == 2 * 4
    expected = sample_points(ds.compute(), [("a", 2.5, 3.5), ("b", 12.5, 13.25)])
    xr.testing.assert_allclose(computed, expected)


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def test_all_nan_field_is_an_error_naming_file_and_variable(tmp_path: Path) -> None:
    ds = era5_like(hours(0, 1), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    ds["blh"][:] = np.nan
    path = tmp_path / "nan.nc"
    ds.to_netcdf(path)
    with pytest.raises(GridError, match=rf"{path}.*'blh'.*all NaN"):
        open_grid(path)
    with pytest.raises(GridError, match=r"'blh'.*all NaN"):
        open_grid(path, chunks={})


def test_unknown_or_missing_units_are_errors(tmp_path: Path) -> None:
    ds = era5_like(hours(0), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    ds["t2m"].attrs["units"] = "furlongs"
    path = tmp_path / "units.nc"
    ds.to_netcdf(path)
    with pytest.raises(GridError, match=rf"{path}.*'t2m'.*unknown units 'furlongs'"):
        open_grid(path)

    del ds["t2m"].attrs["units"]
    path = tmp_path / "no_units.nc"
    ds.to_netcdf(path)
    with pytest.raises(GridError, match=r"'t2m'.*no units"):
        open_grid(path)


def test_missing_coordinates_are_errors(tmp_path: Path) -> None:
    ds = era5_like(hours(0), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    no_lon = ds.drop_vars("longitude")
    path = tmp_path / "no_lon.nc"
    no_lon.to_netcdf(path)
    with pytest.raises(GridError, match=rf"{path}.*missing coordinate 'lon'"):
        open_grid(path)

    no_time = ds.isel(time=0, drop=True)
    path = tmp_path / "no_time.nc"
    no_time.to_netcdf(path)
    with pytest.raises(GridError, match=rf"{path}: no time coordinate"):
        open_grid(path)


def test_files_without_known_variables_and_missing_files(tmp_path: Path) -> None:
    ds = era5_like(hours(0), np.array([1.0, 0.0]), np.array([0.0, 1.0]))[["t2m"]]
    path = tmp_path / "other.nc"
    ds.rename({"t2m": "ozone"}).to_netcdf(path)
    with pytest.raises(GridError, match=r"no known met variable \(found \['ozone'\]"):
        open_grid(path)
    with pytest.raises(GridError, match="no such file"):
        open_grid(tmp_path / "absent.nc")
    text = tmp_path / "notes.txt"
    text.write_text("not a grid")
    with pytest.raises(GridError, match="not a NetCDF, GRIB or Zarr"):
        open_grid(text)


# ------------------------------------------------------------------------------------------
# Plausibility after unit conversion (issue 10)
# ------------------------------------------------------------------------------------------


def _labelled_grid(path: Path, t2m: np.ndarray, t_units: str, sp_units: str = "hPa") -> Path:
    lat = np.array([39.0, 40.0, 41.0])
    lon = np.array([116.0, 117.0])
    times = pd.date_range("2017-01-10", periods=len(t2m), freq="h")
    shape = (len(times), 3, 2)
    ds = xr.Dataset(
        {
            "t2m": (
                ("time", "lat", "lon"),
                np.broadcast_to(t2m[:, None, None], shape),
                {"units": t_units},
            ),
            "sp": (("time", "lat", "lon"), np.full(shape, 1020.0), {"units": sp_units}),
        },
        coords={"time": times.to_numpy(), "lat": lat, "lon": lon},
    )
    ds.to_netcdf(path)
    return path


def test_kelvin_labelled_degc_is_refused_with_variable_range_and_found(tmp_path: Path) -> None:
    """Issue 10 case: a grid whose temperatures are in kelvin but labelled degC was
    accepted; it is refused naming the variable, the range and what was found."""
    path = _labelled_grid(tmp_path / "k.nc", np.array([268.2, 271.5, 275.0]), "degC")
    with pytest.raises(GridError) as caught:
        open_grid(path)
    message = str(caught.value)
    assert "t2m (2 m temperature) outside its plausible range -90..60 degC" in message
    assert "found 268.2..275" in message and str(path) in message
    # The same values labelled K are fine (-5 .. 1.85 °C).
    good = open_grid(_labelled_grid(tmp_path / "ok.nc", np.array([268.2, 271.5, 275.0]), "K"))
    assert float(good["t2m"].max()) == pytest.approx(1.85)


def test_pressure_in_pa_labelled_hpa_and_infinity_are_refused(tmp_path: Path) -> None:
    path = _labelled_grid(tmp_path / "p.nc", np.array([1.0, 2.0]), "degC")
    ds = xr.open_dataset(path).load()
    ds["sp"] = ds["sp"] * 100  # 102000 "hPa"
    ds.close()
    ds.to_netcdf(tmp_path / "pa.nc")
    with pytest.raises(GridError, match=r"sp \(surface pressure\) outside .* 300..1100 hPa"):
        open_grid(tmp_path / "pa.nc")
    infinite = _labelled_grid(tmp_path / "inf.nc", np.array([1.0, np.inf]), "degC")
    with pytest.raises(GridError, match=r"t2m .* found 1..inf"):
        open_grid(infinite)


def test_a_lazy_grid_is_checked_where_it_is_sampled(tmp_path: Path) -> None:
    from forecasting.runs import sample_met

    path = _labelled_grid(tmp_path / "k.nc", np.linspace(268.0, 275.0, 80), "degC")
    opened = open_grid(path, chunks="auto")  # not read whole: not checked yet
    assert opened["t2m"].chunks is not None
    points = pd.DataFrame({"id": ["bj"], "lat": [40.0], "lon": [116.5], "tz": ["Asia/Shanghai"]})
    with pytest.raises(GridError, match=r"t2m \(2 m temperature\) outside"):
        sample_met(path, points, pd.Timestamp("2017-01-10T02:00Z"), 72, chunks="auto")
