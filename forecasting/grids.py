"""Met grids: open NetCDF, GRIB and Zarr files in one canonical layout and sample them at points.

Pure: reads only the files it is handed (GRIB index files are not written), no clock, no network.

Canonical layout (see docs/grids.md for the full story):

* dims ``time`` (valid time, naive ``datetime64[ns]`` meaning UTC), then either ``lat``, ``lon``
  (regular grid: 1-D, ``lat`` ascending, ``lon`` ascending in −180..180) or ``y``, ``x``
  (curvilinear grid such as WRF: 2-D ``lat(y, x)`` and ``lon(y, x)`` coordinates).
* optional coordinate ``reference_time(time)``: the run (analysis) time of forecast layouts.
* data variables, each a subset of :data:`CANONICAL_UNITS` in those units.
* attrs ``grid`` (``"regular"``/``"curvilinear"``), ``layout``, ``sources`` (list of file
  paths), ``source_attrs`` (JSON of the first file's global attributes),
  ``missing_variables`` and ``ignored_variables`` (lists of names).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import xarray as xr

# Canonical variable names and their units, agreed with the model engineer.
CANONICAL_UNITS: dict[str, str] = {
    "t2m": "degC",  # 2 m temperature
    "d2m": "degC",  # 2 m dew point
    "rh": "%",  # 2 m relative humidity
    "u10": "m s-1",  # 10 m eastward wind (earth-relative)
    "v10": "m s-1",  # 10 m northward wind (earth-relative)
    "wspd": "m s-1",  # 10 m wind speed
    "wdir": "degree",  # 10 m wind direction, meteorological (where the wind comes FROM)
    "sp": "hPa",  # surface pressure
    "blh": "m",  # boundary-layer height
    "tp": "mm h-1",  # precipitation rate, mean over the hour (or step) ending at the valid time
}
CANONICAL_VARIABLES: tuple[str, ...] = tuple(CANONICAL_UNITS)

LONG_NAMES: dict[str, str] = {
    "t2m": "2 m temperature",
    "d2m": "2 m dew point temperature",
    "rh": "2 m relative humidity",
    "u10": "10 m eastward wind",
    "v10": "10 m northward wind",
    "wspd": "10 m wind speed",
    "wdir": "10 m wind direction (from, clockwise from north)",
    "sp": "surface pressure",
    "blh": "boundary-layer height",
    "tp": "precipitation rate",
}

# Source names per canonical variable, in order of preference (the first present wins).
# ERA5 (CDS NetCDF and cfgrib names), GFS as written by wgrib2 -netcdf (NAME_level) and by
# cfgrib, WRF (wrfout). WRF's Q2+PSFC (humidity) and RAINC+RAINNC (precipitation) are
# composites handled in code, as are the derived rh/d2m/wspd/wdir.
SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    "t2m": ("t2m", "2t", "TMP_2maboveground", "T2"),
    "d2m": ("d2m", "2d", "DPT_2maboveground"),
    "rh": ("rh", "r2", "2r", "RH_2maboveground"),
    "u10": ("u10", "10u", "UGRD_10maboveground", "U10"),
    "v10": ("v10", "10v", "VGRD_10maboveground", "V10"),
    "wspd": ("wspd", "si10", "10si"),
    "wdir": ("wdir", "wdir10"),
    "sp": ("sp", "PRES_surface", "PSFC"),
    "blh": ("blh", "hpbl", "HPBL_surface", "PBLH"),
    # Rates first: they need no differencing.
    "tp": ("tp", "prate", "PRATE_surface", "APCP_surface"),
}
WRF_PRECIP_PARTS: tuple[str, ...] = ("RAINC", "RAINNC")  # accumulated mm since the run start

# Physically plausible range of each canonical variable, in canonical units, checked after
# unit conversion (`check_plausible`). Generous on purpose: they catch a wrong unit label
# (temperatures in K labelled degC, pressure in Pa labelled hPa), never real weather.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "t2m": (-90.0, 60.0),  # records: -89.2 °C (Vostok), 56.7 °C (Death Valley)
    "d2m": (-100.0, 40.0),  # dew point never above ~35 °C
    "rh": (0.0, 105.0),  # a few % of supersaturation from model humidity
    "u10": (-100.0, 100.0),
    "v10": (-100.0, 100.0),
    "wspd": (0.0, 100.0),  # 10 m gust record ~113 m/s; hourly means far below
    "wdir": (0.0, 360.0),
    "sp": (300.0, 1100.0),  # Everest's summit ~330 hPa; sea-level record 1084 hPa
    "blh": (0.0, 10000.0),
    "tp": (-0.1, 500.0),  # hourly record ~305 mm; -0.1 allows packing noise around 0
}

_QUANTITY: dict[str, str] = {
    "t2m": "temperature",
    "d2m": "temperature",
    "rh": "humidity",
    "u10": "speed",
    "v10": "speed",
    "wspd": "speed",
    "wdir": "direction",
    "sp": "pressure",
    "blh": "height",
    "tp": "precipitation",
}

PrecipKind = Literal["state", "rate", "hour_total", "running_total"]


@dataclass(frozen=True)
class UnitRule:
    """value_canonical = value_source * scale + offset; ``kind`` says how precipitation is held."""

    scale: float
    offset: float = 0.0
    kind: PrecipKind = "state"
    note: str = ""


def _rules(keys: Iterable[str], rule: UnitRule) -> dict[str, UnitRule]:
    return {key: rule for key in keys}


_SAME = UnitRule(1.0, note="unchanged")
# Unit spellings are compared after _unit_key(): lower case, '**' and '^' removed, one space.
UNIT_RULES: dict[str, dict[str, UnitRule]] = {
    "temperature": {
        **_rules(
            ("k", "kelvin", "degk", "deg k", "degrees k", "degree_kelvin"),
            UnitRule(1.0, -273.15, note="K - 273.15"),
        ),
        **_rules(
            (
                "degc",
                "deg c",
                "°c",
                "c",
                "celsius",
                "deg_c",
                "degree_celsius",
                "degrees_celsius",
                "degree c",
                "degrees c",
            ),
            _SAME,
        ),
    },
    "humidity": {
        **_rules(("%", "percent", "pct"), _SAME),
        **_rules(("1", "fraction", "0-1"), UnitRule(100.0, note="fraction x 100")),
    },
    "speed": {
        **_rules(
            (
                "m s-1",
                "m/s",
                "ms-1",
                "m.s-1",
                "meter second-1",
                "metre second-1",
                "meters/second",
                "metres/second",
                "m sec-1",
            ),
            _SAME,
        ),
        **_rules(("knot", "knots", "kt", "kn"), UnitRule(0.514444, note="knots x 0.514444")),
        **_rules(("km h-1", "km/h"), UnitRule(1 / 3.6, note="km/h / 3.6")),
    },
    "direction": _rules(("degree", "degrees", "deg", "°", "degree_true", "degrees_true"), _SAME),
    "pressure": {
        **_rules(("pa", "pascal", "pascals"), UnitRule(0.01, note="Pa / 100")),
        **_rules(("hpa", "mb", "mbar", "millibar", "millibars"), _SAME),
        **_rules(("kpa",), UnitRule(10.0, note="kPa x 10")),
    },
    "height": {
        **_rules(("m", "meter", "meters", "metre", "metres"), _SAME),
        **_rules(("km",), UnitRule(1000.0, note="km x 1000")),
    },
    "precipitation": {
        # ERA5 tp is metres of water accumulated over the hour ending at the valid time.
        "m": UnitRule(1000.0, kind="hour_total", note="m per hour x 1000 (ERA5 hourly total)"),
        # kg m-2 and mm are running totals since the run start (GFS APCP, WRF RAINC/RAINNC).
        **_rules(
            ("mm", "kg m-2", "kg/m2", "kg.m-2"),
            UnitRule(1.0, kind="running_total", note="running total differenced per hour"),
        ),
        **_rules(
            ("kg m-2 s-1", "kg/m2/s", "kg/m2s", "mm s-1", "mm/s"),
            UnitRule(3600.0, kind="rate", note="per second x 3600"),
        ),
        **_rules(
            ("mm h-1", "mm/h", "mm hr-1", "mm/hr"),
            UnitRule(1.0, kind="rate", note="unchanged"),
        ),
    },
}
_MIXING_RATIO_RULES: dict[str, float] = {
    "kg kg-1": 1.0,
    "kg/kg": 1.0,
    "1": 1.0,
    "g kg-1": 1e-3,
    "g/kg": 1e-3,
}

GRIB_SUFFIXES = {".grib", ".grib1", ".grib2", ".grb", ".grb2", ".gr2"}
NETCDF_SUFFIXES = {".nc", ".nc4", ".cdf", ".netcdf", ".h5", ".hdf5"}

# Magnus formula over water, Alduchov & Eskridge (1996): e_s = 6.1094 exp(17.625 T / (T + 243.04)),
# T in °C, e_s in hPa.
MAGNUS_A_HPA = 6.1094
MAGNUS_B = 17.625
MAGNUS_C_DEGC = 243.04


class GridError(ValueError):
    """A grid cannot be read or used; the message names the file and the variable."""


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------

Chunks = None | Literal["auto"] | Mapping[str, int]


def open_grid(
    paths: str | Path | Sequence[str | Path],
    *,
    chunks: Chunks = None,
    engine: str | None = None,
    skip: Collection[str] = (),
) -> xr.Dataset:
    """Open one or many met grid files and return them in the canonical layout.

    ``paths``: a file, a Zarr store directory, a glob pattern, or a sequence of these. Formats
    are recognised by suffix, then by magic bytes: NetCDF 3/4 (netCDF4 or h5netcdf), GRIB 1/2
    (cfgrib) and Zarr. ``engine`` forces an xarray engine for every file.

    ``chunks``: ``None`` reads a single file eagerly into numpy arrays; ``"auto"`` or a dict
    gives dask arrays (lazy). Several files are always opened lazily with dask and combined
    along ``time`` (``xr.open_mfdataset``; one dask chunk per file unless ``chunks`` says
    otherwise).

    ``skip``: canonical variables the caller does not need (a forecast run skips ``wdir``):
    they are not derived, and are left out of the result. Their source variables are still
    checked, so the same files are accepted or refused whatever is skipped; the attribute
    ``skipped_variables`` lists what the grid has but was not kept (never counted as
    missing).

    Raises :class:`GridError` on a missing file, an unknown format, missing coordinates, a
    variable with unknown units or with no finite value, a file with no known variable, or
    (in-memory grids) a value outside the variable's `PLAUSIBLE_RANGES` after conversion.
    """
    files = _as_path_list(paths)
    engines = {path: engine or _detect_engine(path) for path in files}
    sources = [str(path) for path in files]
    first_attrs: dict[str, Any] = {}

    if len(files) == 1:
        path = files[0]
        raw = _open_one(path, engines[path], chunks)
        first_attrs = dict(raw.attrs)
        raw = _normalise_layout(raw, str(path))
    else:
        if len(set(engines.values())) > 1:
            raise GridError(f"{sources}: files mix formats ({sorted(set(engines.values()))})")
        file_engine = engines[files[0]]
        mf_chunks: Any = {} if chunks is None else chunks
        first_attrs = _peek_attrs(files[0], file_engine)
        try:
            if file_engine == "cfgrib":
                parts = [
                    _normalise_layout(_open_one(path, file_engine, mf_chunks), str(path))
                    for path in files
                ]
                raw = xr.combine_by_coords(
                    parts,
                    data_vars="minimal",
                    coords="minimal",
                    compat="override",
                    join="exact",
                    combine_attrs="override",
                )  # type: ignore[assignment]
            else:
                raw = xr.open_mfdataset(
                    files,
                    engine=_xarray_engine(file_engine),
                    chunks=mf_chunks,
                    preprocess=_preprocess_for_mf,
                    combine="by_coords",
                    data_vars="minimal",
                    coords="minimal",
                    compat="override",
                    join="exact",
                    combine_attrs="override",
                    **_open_kwargs(file_engine),
                )
        except GridError:
            raise
        except (ValueError, KeyError, OSError) as exc:
            raise GridError(f"{sources}: the files do not combine into one grid: {exc}") from exc
        if not isinstance(raw, xr.Dataset):
            raise GridError(f"{sources}: the files do not combine into one dataset")
        raw = raw.sortby("time")

    canonical = _canonical_variables(raw, sources, frozenset(skip))
    canonical.attrs.update(
        {
            "sources": sources,
            "source_attrs": json.dumps({k: _plain(v) for k, v in first_attrs.items()}),
        }
    )
    if chunks is None and len(files) == 1:
        canonical = canonical.load()
    # In-memory grids are checked whole here; lazy ones where they are sampled.
    check_plausible(canonical, sources[0] if len(sources) == 1 else str(sources), lazy=False)
    return canonical


def _as_path_list(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items: list[str | Path] = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise GridError("no grid files given")
    files: list[Path] = []
    for item in items:
        text = str(item)
        if any(char in text for char in "*?[") and not Path(text).exists():
            matches = sorted(glob(text))
            if not matches:
                raise GridError(f"{text}: no file matches this pattern")
            files.extend(Path(match) for match in matches)
        else:
            path = Path(item)
            if not path.exists():
                raise GridError(f"{path}: no such file")
            files.append(path)
    return files


def _detect_engine(path: Path) -> str:
    """'netcdf', 'cfgrib' or 'zarr' from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    if path.is_dir():
        markers = ("zarr.json", ".zgroup", ".zmetadata", ".zattrs")
        if suffix == ".zarr" or any((path / marker).exists() for marker in markers):
            return "zarr"
        raise GridError(f"{path}: a directory that is not a Zarr store")
    if suffix == ".zarr":
        return "zarr"
    if suffix in GRIB_SUFFIXES:
        return "cfgrib"
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(b"GRIB"):
        return "cfgrib"
    if head[:3] == b"CDF" or head.startswith(b"\x89HDF"):
        return "netcdf"
    raise GridError(f"{path}: not a NetCDF, GRIB or Zarr file (suffix {suffix!r})")


def _xarray_engine(kind: str) -> str | None:
    # For NetCDF let xarray choose netCDF4, falling back to h5netcdf/scipy.
    return None if kind == "netcdf" else kind


def _open_kwargs(kind: str) -> dict[str, Any]:
    if kind == "cfgrib":
        # indexpath="" stops cfgrib writing .idx files next to the data (we only read).
        return {"backend_kwargs": {"indexpath": ""}}
    return {"decode_timedelta": True}


def _peek_attrs(path: Path, kind: str) -> dict[str, Any]:
    if kind == "cfgrib":
        return {}
    with xr.open_dataset(path, engine=_xarray_engine(kind), decode_times=False) as ds:
        return dict(ds.attrs)


def _open_one(path: Path, kind: str, chunks: Any) -> xr.Dataset:
    try:
        if kind == "cfgrib":
            return _open_grib(path, chunks)
        return xr.open_dataset(
            path, engine=_xarray_engine(kind), chunks=chunks, **_open_kwargs(kind)
        )
    except GridError:
        raise
    except Exception as exc:  # any backend failure becomes one clear error naming the file
        raise GridError(f"{path}: cannot be opened as {kind}: {exc}") from exc


def _open_grib(path: Path, chunks: Any) -> xr.Dataset:
    """Open a GRIB file; cfgrib splits it into hypercubes, which are merged here.

    cfgrib opens one "hypercube" per (typeOfLevel, stepType, ...); GFS files hold many.
    Only hypercubes with a variable we map are kept, and their scalar level coordinates
    (heightAboveGround=2 vs 10, surface) are dropped so they merge.
    """
    import cfgrib  # imported here: eccodes loads a C library

    wanted = {name for names in SOURCE_NAMES.values() for name in names}
    # Always split: cfgrib's single-cube open silently skips variables that clash (it only
    # logs them), e.g. 10 m winds next to 2 m temperature.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        cubes = cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": ""}, chunks=chunks)
    keep: list[xr.Dataset] = []
    seen: set[Hashable] = set()
    for cube in cubes:
        names = [name for name in cube.data_vars if name in wanted and name not in seen]
        if not names:
            continue
        seen.update(names)
        cube = cube[names]
        scalar_levels = [
            name
            for name, coord in cube.coords.items()
            if coord.ndim == 0 and name not in ("time", "step", "valid_time")
        ]
        keep.append(cube.drop_vars(scalar_levels))
    if not keep:
        names = sorted(str(name) for cube in cubes for name in cube.data_vars)
        raise GridError(f"{path}: no known met variable in this GRIB file (found {names})")
    merged = xr.merge(keep, compat="override", join="outer", combine_attrs="override")
    return merged


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an attribute value."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# --------------------------------------------------------------------------------------------
# Layout: time, lat, lon
# --------------------------------------------------------------------------------------------


def _preprocess_for_mf(ds: xr.Dataset) -> xr.Dataset:
    return _normalise_layout(ds, str(ds.encoding.get("source", "?")))


def _normalise_layout(ds: xr.Dataset, source: str) -> xr.Dataset:
    """Rename and reorder coordinates to (time, lat, lon) or (time, y, x); data unchanged."""
    if "XLAT" in ds.variables and "XLONG" in ds.variables:
        ds = _wrf_layout(ds, source)
    else:
        ds = _time_layout(ds, source)
        ds = _horizontal_layout(ds, source)
    ds.attrs["layout"] = ds.attrs.get("_hazewarn_layout", "")
    ds.attrs.pop("_hazewarn_layout", None)
    ds.attrs["grid"] = "curvilinear" if ds["lat"].ndim == 2 else "regular"
    return ds


def _set_layout(ds: xr.Dataset, name: str) -> xr.Dataset:
    ds.attrs["_hazewarn_layout"] = name
    return ds


def _time_layout(ds: xr.Dataset, source: str) -> xr.Dataset:
    ds = _drop_member_and_expver(ds, source)
    renames = {
        old: new
        for old, new in (("forecast_reference_time", "time"), ("forecast_period", "step"))
        if old in ds.variables and new not in ds.variables
    }
    ds = ds.rename(renames)

    if "valid_time" in ds.dims:
        if "time" in ds.variables:
            ds = ds.rename({"time": "reference_time"})
            if ds["reference_time"].ndim > 1 or (
                ds["reference_time"].ndim == 1 and ds["reference_time"].dims != ("valid_time",)
            ):
                raise GridError(f"{source}: both valid_time and time are dimensions")
        ds = ds.drop_vars([name for name in ("step",) if name in ds.variables])
        ds = ds.rename({"valid_time": "time"})
        if "reference_time" in ds.coords and ds["reference_time"].ndim == 0:
            ds = ds.drop_vars("reference_time")
        ds = _set_layout(ds, "valid_time (CDS 2024+)")
    elif "time" in ds.variables and "step" in ds.variables:
        ds = _forecast_layout(ds, source)
    elif "time" in ds.variables:
        if ds["time"].ndim == 0:
            ds = ds.expand_dims("time")
            ds = _set_layout(ds, "time scalar (ERA5 CDS legacy)")
        elif ds["time"].dims != ("time",):
            raise GridError(f"{source}: coordinate 'time' is not one-dimensional")
        else:
            ds = _set_layout(ds, "time (ERA5 CDS legacy)")
        if "valid_time" in ds.variables:
            ds = ds.drop_vars("valid_time")
    else:
        dims = dict(ds.sizes)
        extra = ""
        if "month" in ds.dims:
            extra = (
                "; 'month' holds calendar months of a climatology (monthly means), not dates,"
                " and a forecast grid needs valid times"
            )
        levels = [d for d in ("level", "pressure_level", "isobaricInhPa") if d in ds.dims]
        if levels:
            extra += f"; its fields are on pressure levels ('{levels[0]}'), not at the surface"
        raise GridError(
            f"{source}: no time coordinate (expected time, valid_time or time+step; found dims"
            f" {dims} and variables {sorted(str(v) for v in ds.data_vars)}){extra}"
        )
    ds = _ensure_datetime(ds, "time", source)
    if "reference_time" in ds.coords:
        ds = _ensure_datetime(ds, "reference_time", source)
    return ds.sortby("time")


def _drop_member_and_expver(ds: xr.Dataset, source: str) -> xr.Dataset:
    if "number" in ds.dims:
        if ds.sizes["number"] > 1:
            raise GridError(
                f"{source}: {ds.sizes['number']} ensemble members ('number'); select one member"
                " before opening"
            )
        ds = ds.isel(number=0)
    if "expver" in ds.dims:
        # Old CDS files mix ERA5 (expver 1) and ERA5T (expver 5) along an extra dim, each NaN
        # where the other holds data: keep the first non-NaN value.
        combined = ds.isel(expver=0)
        for index in range(1, ds.sizes["expver"]):
            combined = combined.combine_first(ds.isel(expver=index))
        ds = combined
    return ds.drop_vars([name for name in ("number", "expver") if name in ds.variables])


def _forecast_layout(ds: xr.Dataset, source: str) -> xr.Dataset:
    """time (run) + step (lead) -> valid time; several runs keep the newest per valid time."""
    if "time" not in ds.dims:
        ds = ds.expand_dims("time") if ds["time"].ndim == 0 else ds
    if "step" not in ds.dims:
        ds = ds.expand_dims("step") if ds["step"].ndim == 0 else ds
    if ds["time"].dims != ("time",) or ds["step"].dims != ("step",):
        raise GridError(f"{source}: 'time' and 'step' must be one-dimensional")
    if not np.issubdtype(ds["step"].dtype, np.timedelta64):
        raise GridError(f"{source}: coordinate 'step' is not a time interval (units missing?)")
    ds = _ensure_datetime(ds, "time", source)
    runs = ds["time"].values.astype("datetime64[ns]")
    steps = ds["step"].values.astype("timedelta64[ns]")
    valid = runs[:, None] + steps[None, :]
    # For each valid time the newest run wins (largest run index = shortest lead).
    order = np.lexsort((-np.repeat(np.arange(runs.size), steps.size), valid.ravel()))
    flat_valid = valid.ravel()[order]
    first = np.concatenate([[True], flat_valid[1:] != flat_valid[:-1]])
    chosen = order[first]
    run_index, step_index = np.unravel_index(chosen, valid.shape)
    ds = ds.drop_vars([name for name in ("valid_time",) if name in ds.variables])
    picked = ds.isel(
        time=xr.DataArray(run_index, dims="_valid"), step=xr.DataArray(step_index, dims="_valid")
    )
    picked = picked.drop_vars(["time", "step"]).rename({"_valid": "time"})
    picked = picked.assign_coords(
        time=("time", valid.ravel()[chosen]), reference_time=("time", runs[run_index])
    )
    return _set_layout(picked, "forecast time+step")


def _ensure_datetime(ds: xr.Dataset, name: str, source: str) -> xr.Dataset:
    values = ds[name].values
    if np.issubdtype(values.dtype, np.datetime64):
        converted = values.astype("datetime64[ns]")
    else:
        try:  # cftime objects (non-standard calendars) or strings
            index = xr.CFTimeIndex(values.ravel()) if values.dtype == object else None
            if index is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    converted = np.asarray(index.to_datetimeindex(), dtype="datetime64[ns]")
            else:
                raise TypeError(values.dtype)
        except (TypeError, ValueError) as exc:
            raise GridError(
                f"{source}: coordinate '{name}' is not a date-time (dtype {values.dtype}; are"
                " its CF units missing?)"
            ) from exc
        converted = converted.reshape(values.shape)
    attrs = {"long_name": "valid time (UTC)" if name == "time" else "forecast run time (UTC)"}
    return ds.assign_coords({name: (ds[name].dims, converted, attrs)})


def _horizontal_layout(ds: xr.Dataset, source: str) -> xr.Dataset:
    renames = {
        old: new
        for old, new in (("latitude", "lat"), ("longitude", "lon"))
        if old in ds.variables and new not in ds.variables
    }
    ds = ds.rename(renames)
    for name in ("lat", "lon"):
        if name not in ds.variables:
            raise GridError(f"{source}: missing coordinate '{name}' (or its long name)")
    lat, lon = ds["lat"], ds["lon"]
    if lat.ndim == 1 and lon.ndim == 1:
        for coord in (lat, lon):
            if coord.dims[0] != coord.name:
                ds = ds.swap_dims({coord.dims[0]: coord.name})
        lon_values = ds["lon"].values.astype("float64")
        if (lon_values > 180).any():
            lon_values = (lon_values + 180.0) % 360.0 - 180.0
        ds = ds.assign_coords(
            lat=("lat", ds["lat"].values.astype("float64"), {"units": "degrees_north"}),
            lon=("lon", lon_values, {"units": "degrees_east"}),
        )
        ds = ds.sortby(["lat", "lon"])
        ds = ds.drop_duplicates(["lat", "lon"])
        return ds
    if lat.ndim == 2 and lon.ndim == 2 and lat.dims == lon.dims:
        return _curvilinear(ds, lat.values, lon.values, lat.dims, source)
    raise GridError(f"{source}: coordinates lat{lat.dims} and lon{lon.dims} do not form a grid")


def _curvilinear(
    ds: xr.Dataset,
    lat: np.ndarray,
    lon: np.ndarray,
    dims: tuple[Hashable, ...],
    source: str,
) -> xr.Dataset:
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise GridError(f"{source}: 2-D lat/lon coordinates contain NaN")
    ds = ds.drop_vars([name for name in ("lat", "lon") if name in ds.variables])
    ds = ds.rename({old: new for old, new in zip(dims, ("y", "x"), strict=True) if old != new})
    lon = (lon.astype("float64") + 180.0) % 360.0 - 180.0
    return ds.assign_coords(
        lat=(("y", "x"), lat.astype("float64"), {"units": "degrees_north"}),
        lon=(("y", "x"), lon, {"units": "degrees_east"}),
    )


def _wrf_layout(ds: xr.Dataset, source: str) -> xr.Dataset:
    """wrfout: Times char array on dim Time, XLAT/XLONG on (south_north, west_east)."""
    lat2d, lon2d = ds["XLAT"], ds["XLONG"]
    if "Time" in lat2d.dims:  # raw wrfout repeats the (static) grid at every time
        lat2d, lon2d = lat2d.isel(Time=0), lon2d.isel(Time=0)
    if "Times" in ds.variables:
        raw = np.asarray(ds["Times"].values)
        if raw.ndim == 2:  # undecoded char array (Time, DateStrLen)
            raw = np.array([b"".join(row) for row in raw])
        text = [item.decode() if isinstance(item, bytes) else str(item) for item in raw.ravel()]
        try:
            times = pd.to_datetime(text, format="%Y-%m-%d_%H:%M:%S").to_numpy("datetime64[ns]")
        except ValueError as exc:
            raise GridError(f"{source}: WRF 'Times' are not YYYY-MM-DD_hh:mm:ss: {exc}") from exc
    elif "XTIME" in ds.variables and np.issubdtype(ds["XTIME"].dtype, np.datetime64):
        times = ds["XTIME"].values.astype("datetime64[ns]")
    else:
        raise GridError(f"{source}: WRF file without 'Times' (or decoded XTIME)")
    drop = [
        name
        for name in ("Times", "XTIME", "XLAT", "XLONG", "XLAT_U", "XLONG_U", "XLAT_V", "XLONG_V")
        if name in ds.variables
    ]
    ds = ds.drop_vars(drop)
    if "Time" not in ds.dims:
        ds = ds.expand_dims("Time")
    ds = ds.rename({"Time": "time"}).assign_coords(
        time=("time", times, {"long_name": "valid time (UTC)"})
    )
    for name in ("SINALPHA", "COSALPHA"):
        if name in ds.variables and "time" in ds[name].dims:
            ds[name] = ds[name].isel(time=0)
    ds = _curvilinear(ds, lat2d.values, lon2d.values, lat2d.dims, source)
    ds = ds.sortby("time")
    return _set_layout(ds, "WRF (curvilinear)")


# --------------------------------------------------------------------------------------------
# Variables: names, units, derived quantities
# --------------------------------------------------------------------------------------------


def _unit_key(units: str) -> str:
    return " ".join(units.strip().lower().replace("**", "").replace("^", "").split())


def _unit_rule(da: xr.DataArray, canonical: str, where: str) -> UnitRule:
    units = da.attrs.get("units")
    name = da.name
    if units is None or str(units).strip() == "":
        raise GridError(f"{where}: variable '{name}' (for {canonical}) has no units attribute")
    rules = UNIT_RULES[_QUANTITY[canonical]]
    rule = rules.get(_unit_key(str(units)))
    if rule is None:
        raise GridError(
            f"{where}: variable '{name}' (for {canonical}) has unknown units {units!r};"
            f" known: {sorted(rules)}"
        )
    return rule


def check_plausible(ds: xr.Dataset, where: str, *, lazy: bool = True) -> None:
    """Raise `GridError` when a canonical variable of ``ds`` has a value outside its
    `PLAUSIBLE_RANGES` (±inf included; NaN is missing, not implausible). The message names
    the variable, the range and the minimum and maximum found. ``lazy=False`` skips
    dask-backed variables (they are checked where they are sampled, not read whole)."""
    for name in CANONICAL_VARIABLES:
        if name not in ds.data_vars or name not in PLAUSIBLE_RANGES:
            continue
        da = ds[name]
        if da.chunks is not None and not lazy:
            continue
        values = np.asarray(da.values if da.chunks is None else da.compute().values, dtype=float)
        present = values[~np.isnan(values)]
        if present.size == 0:
            continue
        low, high = PLAUSIBLE_RANGES[name]
        found_low, found_high = float(present.min()), float(present.max())
        if found_low >= low and found_high <= high:
            continue
        source = da.attrs.get("source", "")
        raise GridError(
            f"{where}: {name} ({LONG_NAMES[name]}) outside its plausible range "
            f"{low:g}..{high:g} {CANONICAL_UNITS[name]}: found {found_low:.6g}..{found_high:.6g}"
            + (f" after converting {source}" if source else "")
            + " (wrong units label?)"
        )


def _check_not_all_nan(da: xr.DataArray, where: str) -> None:
    """Raise if a field holds no finite value.

    Fields are probed on their first and last time step (cheap); only when both are empty
    is the whole field checked, so large lazy grids are not read here and a whole
    in-memory grid is not scanned.
    """
    if "time" in da.dims and da.sizes["time"] > 1:
        probe = da.isel(time=[0, -1]).notnull().any()
        if bool(probe.compute() if probe.chunks is not None else probe):
            return
    if not bool(da.notnull().any()):
        raise GridError(f"{where}: variable '{da.name}' has no finite value (all NaN)")


def _grid_field(raw: xr.Dataset, name: str, where: str) -> xr.DataArray:
    """The source variable on (time, horizontal...) dims; extra size-1 dims dropped."""
    da = raw[name]
    horizontal = ("y", "x") if raw.attrs.get("grid") == "curvilinear" else ("lat", "lon")
    for dim in horizontal:
        if dim not in da.dims:
            raise GridError(f"{where}: variable '{name}' is not on the grid (dims {da.dims})")
    for dim in [str(d) for d in da.dims]:
        if dim in ("time", *horizontal):
            continue
        if da.sizes[dim] != 1:
            raise GridError(
                f"{where}: variable '{name}' has extra dimension '{dim}' of size"
                f" {da.sizes[dim]} (pressure levels or members are not surface fields)"
            )
        da = da.isel({dim: 0}, drop=True)
    if "time" not in da.dims:
        da = da.expand_dims(time=raw["time"])
    extra_coords = [c for c in da.coords if c not in ("time", "reference_time", "lat", "lon")]
    return da.drop_vars(extra_coords).transpose("time", *horizontal)


def _canonical_variables(
    raw: xr.Dataset, sources: list[str], skip: frozenset[str] = frozenset()
) -> xr.Dataset:
    where = sources[0] if len(sources) == 1 else f"{sources[0]} (+{len(sources) - 1} files)"
    out: dict[str, xr.DataArray] = {}
    used: set[str] = set()
    reference = raw["reference_time"] if "reference_time" in raw.coords else None

    for canonical in CANONICAL_VARIABLES:
        name = next((n for n in SOURCE_NAMES[canonical] if n in raw.data_vars), None)
        if name is None:
            continue
        da = _grid_field(raw, name, where)
        rule = _unit_rule(da, canonical, where)
        _check_not_all_nan(da, where)
        converted = _apply_rule(da, rule, reference)
        out[canonical] = _finish(converted, canonical, f"{name} [{da.attrs['units']}]", rule.note)
        used.add(name)

    if "tp" not in out:
        parts = [name for name in WRF_PRECIP_PARTS if name in raw.data_vars]
        if parts:
            fields = [_grid_field(raw, name, where) for name in parts]
            for field in fields:
                rule = _unit_rule(field, "tp", where)
                if rule.kind != "running_total":
                    raise GridError(f"{where}: WRF '{field.name}' is not an accumulated total")
                _check_not_all_nan(field, where)
            total = sum(fields[1:], fields[0])
            total.attrs["units"] = fields[0].attrs["units"]
            rule = _unit_rule(fields[0], "tp", where)
            converted = _apply_rule(total, rule, reference)
            out["tp"] = _finish(converted, "tp", "+".join(parts) + " [mm]", rule.note)
            used.update(parts)

    if raw.attrs.get("layout", "").startswith("WRF"):
        _wrf_derived(raw, out, used, where, reference)
    skipped = _derived(out, skip)
    for name in skip & set(out):
        # Checked and converted above (lazily where possible), but not kept.
        del out[name]
        skipped.add(name)

    if not out:
        known = sorted({n for names in SOURCE_NAMES.values() for n in names})
        raise GridError(
            f"{where}: no known met variable (found {sorted(str(v) for v in raw.data_vars)};"
            f" known source names: {known})"
        )
    coords: dict[str, Any] = {"time": raw["time"], "lat": raw["lat"], "lon": raw["lon"]}
    if reference is not None:
        coords["reference_time"] = reference
    ds = xr.Dataset({name: out[name] for name in CANONICAL_VARIABLES if name in out}, coords=coords)
    ds.attrs = {
        "grid": raw.attrs["grid"],
        "layout": raw.attrs.get("layout", ""),
        "missing_variables": [
            name for name in CANONICAL_VARIABLES if name not in out and name not in skipped
        ],
        "skipped_variables": [name for name in CANONICAL_VARIABLES if name in skipped],
        "ignored_variables": sorted(str(v) for v in raw.data_vars if v not in used),
        "Conventions": "CF-1.8",
    }
    return ds


def _apply_rule(da: xr.DataArray, rule: UnitRule, reference: xr.DataArray | None) -> xr.DataArray:
    if rule.kind == "running_total":
        return _running_total_to_rate(da * rule.scale, reference)
    result = da * rule.scale + rule.offset if (rule.scale, rule.offset) != (1.0, 0.0) else da
    return result


def _running_total_to_rate(total: xr.DataArray, reference: xr.DataArray | None) -> xr.DataArray:
    """Accumulated mm since the run start -> mm/h over each step ending at the valid time.

    A drop in the total means the bucket restarted at the previous step (GFS 6-hourly
    buckets), so the value itself is the accumulation over the step. The first step uses the
    run start (``reference_time``) when known, else it is NaN; so is a step at the run start.
    """
    time = total["time"]
    hours = ((time - time.shift(time=1)) / np.timedelta64(1, "h")).astype("float64")
    increase = total - total.shift(time=1)
    rate = xr.where(increase < 0, total / hours, increase / hours)
    if reference is not None:
        since_run = ((time - reference) / np.timedelta64(1, "h")).astype("float64")
        new_run = (reference != reference.shift(time=1)).fillna(True)
        since_run = since_run.where(since_run > 0)
        rate = xr.where(new_run, total / since_run, rate)
    return rate.transpose(*total.dims)


def _finish(da: xr.DataArray, canonical: str, source: str, conversion: str) -> xr.DataArray:
    da = da.copy()
    da.attrs = {
        "units": CANONICAL_UNITS[canonical],
        "long_name": LONG_NAMES[canonical],
        "source": source,
        "conversion": conversion,
    }
    da.name = canonical
    return da


def saturation_vapour_pressure(temperature_c: Any) -> Any:
    """Magnus saturation vapour pressure over water, hPa, for temperature in °C."""
    return MAGNUS_A_HPA * np.exp(MAGNUS_B * temperature_c / (temperature_c + MAGNUS_C_DEGC))


def dew_point_from_vapour_pressure(vapour_pressure_hpa: Any) -> Any:
    """Inverse Magnus: dew point in °C from vapour pressure in hPa."""
    gamma = np.log(vapour_pressure_hpa / MAGNUS_A_HPA)
    return MAGNUS_C_DEGC * gamma / (MAGNUS_B - gamma)


def relative_humidity(t2m_c: Any, d2m_c: Any) -> Any:
    """RH in % from temperature and dew point in °C (Magnus; may exceed 100 by rounding)."""
    return 100.0 * saturation_vapour_pressure(d2m_c) / saturation_vapour_pressure(t2m_c)


def dew_point(t2m_c: Any, rh_percent: Any) -> Any:
    """Dew point in °C from temperature in °C and RH in % (Magnus)."""
    return dew_point_from_vapour_pressure(saturation_vapour_pressure(t2m_c) * rh_percent / 100.0)


def wind_speed(u: Any, v: Any) -> Any:
    """Speed in the units of u and v."""
    return np.hypot(u, v)


def wind_direction(u: Any, v: Any) -> Any:
    """Meteorological direction in degrees (0..360, where the wind comes FROM); calm -> 0."""
    direction = np.degrees(np.arctan2(-u, -v)) % 360.0
    return (
        xr.where(np.hypot(u, v) > 0, direction, 0.0)
        if isinstance(u, xr.DataArray)
        else (np.where(np.hypot(u, v) > 0, direction, 0.0))
    )


def _derived(out: dict[str, xr.DataArray], skip: frozenset[str] = frozenset()) -> set[str]:
    """Add the variables derivable from the others; returns those derivable but skipped."""
    skipped: set[str] = set()

    def wanted(name: str) -> bool:
        if name in skip:
            skipped.add(name)
            return False
        return True

    if "rh" not in out and "t2m" in out and "d2m" in out and wanted("rh"):
        rh = relative_humidity(out["t2m"], out["d2m"])
        out["rh"] = _finish(rh, "rh", "t2m, d2m", "Magnus (Alduchov & Eskridge 1996)")
    if "d2m" not in out and "t2m" in out and "rh" in out and wanted("d2m"):
        d2m = dew_point(out["t2m"], out["rh"].clip(min=0.1))
        out["d2m"] = _finish(d2m, "d2m", "t2m, rh", "inverse Magnus (Alduchov & Eskridge 1996)")
    if "u10" in out and "v10" in out:
        if "wspd" not in out and wanted("wspd"):
            out["wspd"] = _finish(
                wind_speed(out["u10"], out["v10"]), "wspd", "u10, v10", "hypot(u, v)"
            )
        if "wdir" not in out and wanted("wdir"):
            out["wdir"] = _finish(
                wind_direction(out["u10"], out["v10"]),
                "wdir",
                "u10, v10",
                "atan2(-u, -v), degrees from north",
            )
    return skipped


def _wrf_derived(
    raw: xr.Dataset,
    out: dict[str, xr.DataArray],
    used: set[str],
    where: str,
    reference: xr.DataArray | None,
) -> None:
    """WRF extras: humidity from Q2+PSFC+T2, and grid-relative U10/V10 turned to earth axes."""
    if "t2m" in out and "Q2" in raw.data_vars and "PSFC" in raw.data_vars:
        q2 = _grid_field(raw, "Q2", where)
        units = _unit_key(str(q2.attrs.get("units", "")))
        if units not in _MIXING_RATIO_RULES:
            raise GridError(f"{where}: variable 'Q2' has unknown units {q2.attrs.get('units')!r}")
        _check_not_all_nan(q2, where)
        mixing_ratio = (q2 * _MIXING_RATIO_RULES[units]).clip(min=1e-8)
        psfc = _grid_field(raw, "PSFC", where)
        pressure_hpa = _apply_rule(psfc, _unit_rule(psfc, "sp", where), reference)
        # Vapour pressure from the mixing ratio: e = w p / (0.622 + w).
        vapour = mixing_ratio * pressure_hpa / (0.622 + mixing_ratio)
        if "d2m" not in out:
            out["d2m"] = _finish(
                dew_point_from_vapour_pressure(vapour),
                "d2m",
                "Q2, PSFC",
                "inverse Magnus of e = w p / (0.622 + w)",
            )
        if "rh" not in out:
            rh = (100.0 * vapour / saturation_vapour_pressure(out["t2m"])).clip(0.0, 100.0)
            out["rh"] = _finish(rh, "rh", "Q2, PSFC, T2", "e / e_s(T2) x 100, clipped to 0..100")
        used.update({"Q2", "PSFC"})
    if "u10" in out and "v10" in out and out["u10"].attrs["source"].startswith("U10"):
        sin_a, cos_a, how = _wrf_rotation(raw)
        u, v = out["u10"], out["v10"]
        u_earth = u * cos_a - v * sin_a
        v_earth = v * cos_a + u * sin_a
        out["u10"] = _finish(u_earth, "u10", u.attrs["source"] + ", V10", how)
        out["v10"] = _finish(v_earth, "v10", v.attrs["source"] + ", U10", how)
        used.update({"SINALPHA", "COSALPHA"} & {str(v) for v in raw.data_vars})


def _wrf_rotation(raw: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray, str]:
    """sin/cos of the angle turning WRF grid-relative winds to earth-relative.

    Uses SINALPHA/COSALPHA when the file has them (WRF user's guide: U_earth = U cos a - V sin
    a, V_earth = V cos a + U sin a); otherwise computes them from the map projection as
    wrf-python's uvmet does (Lambert conformal cone from TRUELAT1/2, polar stereographic
    cone 1, Mercator and lat-lon need no turning).
    """
    if "SINALPHA" in raw.data_vars and "COSALPHA" in raw.data_vars:
        return raw["SINALPHA"], raw["COSALPHA"], "turned to earth axes with SINALPHA/COSALPHA"
    attrs = raw.attrs
    map_proj = int(attrs.get("MAP_PROJ", 0))
    lat, lon = raw["lat"], raw["lon"]
    if map_proj == 1:
        t1 = math.radians(float(attrs["TRUELAT1"]))
        t2 = math.radians(float(attrs["TRUELAT2"]))
        if abs(t1 - t2) > math.radians(0.1):
            cone = (math.log10(math.cos(t1)) - math.log10(math.cos(t2))) / (
                math.log10(math.tan(math.pi / 4 - abs(t1) / 2))
                - math.log10(math.tan(math.pi / 4 - abs(t2) / 2))
            )
        else:
            cone = math.sin(abs(t1))
    elif map_proj == 2:
        cone = 1.0
    else:
        zero = xr.zeros_like(lat)
        return zero, zero + 1.0, "no turning needed (MAP_PROJ not Lambert/polar)"
    diff = (lon - float(attrs["STAND_LON"]) + 180.0) % 360.0 - 180.0
    # wrf-python: u_e = u cos(alpha) + v sin(alpha), v_e = v cos(alpha) - u sin(alpha), i.e.
    # the WRF-guide form with sin a = -sin(alpha).
    alpha = np.radians(diff * cone) * xr.where(lat < 0, -1.0, 1.0)
    return -np.sin(alpha), np.cos(alpha), f"turned to earth axes (MAP_PROJ={map_proj}, cone)"


# --------------------------------------------------------------------------------------------
# Points: coverage and sampling
# --------------------------------------------------------------------------------------------

PointsLike = Sequence[tuple[Any, float, float]] | pd.DataFrame


@dataclass(frozen=True)
class _Points:
    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


@dataclass(frozen=True)
class _Stencil:
    """Grid cells and weights per point: rows/cols (n, k) index the two horizontal dims."""

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    covered: np.ndarray


def _as_points(points: PointsLike) -> _Points:
    if isinstance(points, pd.DataFrame):
        missing = {"id", "lat", "lon"} - set(points.columns)
        if missing:
            raise GridError(f"points: DataFrame lacks columns {sorted(missing)}")
        ids = points["id"].to_numpy()
        lat = points["lat"].to_numpy(dtype="float64")
        lon = points["lon"].to_numpy(dtype="float64")
    else:
        rows = list(points)
        if any(len(row) != 3 for row in rows):
            raise GridError("points: each point must be (id, lat, lon)")
        ids = np.array([row[0] for row in rows])
        lat = np.array([row[1] for row in rows], dtype="float64")
        lon = np.array([row[2] for row in rows], dtype="float64")
    if ids.size == 0:
        raise GridError("points: no points given")
    if pd.Index(ids).has_duplicates:
        duplicated = sorted({str(i) for i in pd.Index(ids)[pd.Index(ids).duplicated()]})
        raise GridError(f"points: duplicate ids {duplicated}")
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90))
    if bad.any():
        raise GridError(f"points: invalid lat/lon for ids {[str(i) for i in ids[bad]]}")
    lon = (lon + 180.0) % 360.0 - 180.0
    return _Points(ids=ids, lat=lat, lon=lon)


def _stencil(ds: xr.Dataset, points: _Points, method: str) -> _Stencil:
    if method not in ("bilinear", "nearest"):
        raise GridError(f"sample method must be 'bilinear' or 'nearest', not {method!r}")
    if ds["lat"].ndim == 1:
        rows, row_w, row_ok = _axis_weights(ds["lat"].values, points.lat)
        cols, col_w, col_ok = _axis_weights(ds["lon"].values, points.lon)
        covered = row_ok & col_ok
        # Corners (r, c), (r, c+1), (r+1, c), (r+1, c+1).
        corner_rows = np.stack([rows, rows, rows + 1, rows + 1], axis=1)
        corner_cols = np.stack([cols, cols + 1, cols, cols + 1], axis=1)
        weights = np.stack(
            [(1 - row_w) * (1 - col_w), (1 - row_w) * col_w, row_w * (1 - col_w), row_w * col_w],
            axis=1,
        )
        n_lat, n_lon = ds.sizes["lat"], ds.sizes["lon"]
        corner_rows = np.minimum(corner_rows, n_lat - 1)
        corner_cols = np.minimum(corner_cols, n_lon - 1)
    else:
        corner_rows, corner_cols, weights, covered, nearest = _curvilinear_weights(
            ds["lat"].values, ds["lon"].values, points.lat, points.lon
        )
        if method == "nearest":  # the closest node on the sphere, not in index space
            ones = np.ones((weights.shape[0], 1))
            return _Stencil(
                rows=nearest[0][:, None], cols=nearest[1][:, None], weights=ones, covered=covered
            )
    if method == "nearest":
        best = np.argmax(weights, axis=1)
        pick = np.arange(weights.shape[0])
        corner_rows = corner_rows[pick, best][:, None]
        corner_cols = corner_cols[pick, best][:, None]
        weights = np.ones((weights.shape[0], 1))
    return _Stencil(rows=corner_rows, cols=corner_cols, weights=weights, covered=covered)


def _axis_weights(
    axis: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, fractional weight of the upper neighbour, and inside-ness, per value."""
    axis = np.asarray(axis, dtype="float64")
    tolerance = 1e-9
    if axis.size == 1:
        inside = np.abs(values - axis[0]) <= tolerance
        return np.zeros(values.size, dtype=np.intp), np.zeros(values.size), inside
    inside = (values >= axis[0] - tolerance) & (values <= axis[-1] + tolerance)
    lower = np.clip(np.searchsorted(axis, values, side="right") - 1, 0, axis.size - 2)
    fraction = (values - axis[lower]) / (axis[lower + 1] - axis[lower])
    return lower, np.clip(fraction, 0.0, 1.0), inside


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    lat_r, lon_r = np.radians(lat), np.radians(lon)
    return np.stack(
        [np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r), np.sin(lat_r)], axis=-1
    )


def _curvilinear_weights(
    grid_lat: np.ndarray, grid_lon: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Bilinear weights on a curvilinear grid by inverting the bilinear map of each cell.

    The nearest node (scipy cKDTree on unit vectors) is a corner of the cell holding the
    point; each of the (up to) four cells around it is tried. Positions are taken in a plane
    tangent at the point (east = Δlon·cos(lat), north = Δlat, degrees), and (s, t) solved by
    Newton's method. A point in no cell is not covered.
    """
    from scipy.spatial import cKDTree

    n_rows, n_cols = grid_lat.shape
    tree = cKDTree(_unit_vectors(grid_lat, grid_lon).reshape(-1, 3))
    _, nearest = tree.query(_unit_vectors(lat, lon))
    near_row, near_col = np.unravel_index(nearest, grid_lat.shape)

    n = lat.size
    best_rows = np.zeros((n, 4), dtype=np.intp)
    best_cols = np.zeros((n, 4), dtype=np.intp)
    best_weights = np.zeros((n, 4))
    covered = np.zeros(n, dtype=bool)
    coslat = np.cos(np.radians(lat))
    for d_row in (0, -1):
        for d_col in (0, -1):
            r0 = near_row + d_row
            c0 = near_col + d_col
            valid = (r0 >= 0) & (r0 <= n_rows - 2) & (c0 >= 0) & (c0 <= n_cols - 2) & ~covered
            if not valid.any():
                continue
            r0c = np.clip(r0, 0, n_rows - 2)
            c0c = np.clip(c0, 0, n_cols - 2)
            rows = np.stack([r0c, r0c, r0c + 1, r0c + 1], axis=1)
            cols = np.stack([c0c, c0c + 1, c0c, c0c + 1], axis=1)
            east = ((grid_lon[rows, cols] - lon[:, None] + 180.0) % 360.0 - 180.0) * coslat[:, None]
            north = grid_lat[rows, cols] - lat[:, None]
            s, t, ok = _invert_bilinear(east, north)
            accept = valid & ok
            weights = np.stack([(1 - s) * (1 - t), s * (1 - t), (1 - s) * t, s * t], axis=1)
            best_rows[accept] = rows[accept]
            best_cols[accept] = cols[accept]
            best_weights[accept] = weights[accept]
            covered |= accept
    return best_rows, best_cols, best_weights, covered, (near_row, near_col)


def _invert_bilinear(
    east: np.ndarray, north: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, t) with the origin = bilinear blend of corners 00, 01 (s), 10 (t), 11; inside-ness."""
    p00 = np.stack([east[:, 0], north[:, 0]], axis=1)
    p01 = np.stack([east[:, 1], north[:, 1]], axis=1)
    p10 = np.stack([east[:, 2], north[:, 2]], axis=1)
    p11 = np.stack([east[:, 3], north[:, 3]], axis=1)
    s = np.full(east.shape[0], 0.5)
    t = np.full(east.shape[0], 0.5)
    for _ in range(12):
        s_, t_ = s[:, None], t[:, None]
        position = (
            (1 - s_) * (1 - t_) * p00 + s_ * (1 - t_) * p01 + (1 - s_) * t_ * p10 + (s_ * t_ * p11)
        )
        d_s = (1 - t_) * (p01 - p00) + t_ * (p11 - p10)
        d_t = (1 - s_) * (p10 - p00) + s_ * (p11 - p01)
        det = d_s[:, 0] * d_t[:, 1] - d_s[:, 1] * d_t[:, 0]
        det = np.where(np.abs(det) < 1e-18, 1e-18, det)
        # Solve [d_s d_t] [ds dt]^T = -position.
        step_s = (-position[:, 0] * d_t[:, 1] + position[:, 1] * d_t[:, 0]) / det
        step_t = (-d_s[:, 0] * position[:, 1] + d_s[:, 1] * position[:, 0]) / det
        s = np.clip(s + step_s, -2.0, 3.0)
        t = np.clip(t + step_t, -2.0, 3.0)
    s_, t_ = s[:, None], t[:, None]
    residual = (1 - s_) * (1 - t_) * p00 + s_ * (1 - t_) * p01 + (1 - s_) * t_ * p10 + s_ * t_ * p11
    size = np.abs(p11 - p00).max(axis=1) + 1e-12
    tolerance = 1e-6
    ok = (
        (np.abs(residual).max(axis=1) <= 1e-6 * size)
        & (s >= -tolerance)
        & (s <= 1 + tolerance)
        & (t >= -tolerance)
        & (t <= 1 + tolerance)
    )
    return np.clip(s, 0.0, 1.0), np.clip(t, 0.0, 1.0), ok


def check_coverage(ds: xr.Dataset, points: PointsLike) -> None:
    """Raise :class:`GridError` listing the ids of points the grid does not cover.

    Regular grids cover the closed box of their coordinates (no wrap across the
    antimeridian); curvilinear grids cover the union of their cells.
    """
    parsed = _as_points(points)
    stencil = _stencil(ds, parsed, "bilinear")
    _raise_uncovered(ds, parsed, stencil)


def _raise_uncovered(ds: xr.Dataset, points: _Points, stencil: _Stencil) -> None:
    if stencil.covered.all():
        return
    missing = [str(i) for i in points.ids[~stencil.covered]]
    lat, lon = ds["lat"].values, ds["lon"].values
    extent = f"lat {lat.min():.2f}..{lat.max():.2f}, lon {lon.min():.2f}..{lon.max():.2f}"
    sources = ds.attrs.get("sources", [])
    name = sources[0] if isinstance(sources, list) and sources else "grid"
    raise GridError(f"{name} ({extent}) does not cover {len(missing)} point(s): {missing}")


def sample_points(
    ds: xr.Dataset,
    points: PointsLike,
    method: Literal["bilinear", "nearest"] = "bilinear",
) -> xr.Dataset:
    """Values of every variable at the points, as a Dataset with dims (point, time).

    ``points``: ``(id, lat, lon)`` tuples or a DataFrame with columns ``id, lat, lon``. The
    ``point`` coordinate holds the ids; ``lat``/``lon`` per point are the requested positions.
    Bilinear weights are computed once (numpy) and applied to every variable and time step;
    a NaN corner is left out and the other weights rescaled. ``wdir`` is averaged as a unit
    vector. Dask-backed grids stay lazy: only the cells around the points are indexed, so
    ``.compute()`` reads just the chunks that hold them.

    Raises :class:`GridError` when a point is outside the grid.
    """
    parsed = _as_points(points)
    stencil = _stencil(ds, parsed, method)
    _raise_uncovered(ds, parsed, stencil)
    horizontal = ("lat", "lon") if ds["lat"].ndim == 1 else ("y", "x")

    result: dict[str, xr.DataArray] = {}
    for name, da in ds.data_vars.items():
        if not set(horizontal) <= set(da.dims):
            continue
        da = da.drop_vars([c for c in da.coords if c not in da.dims or c in horizontal])
        # Directions are averaged as unit vectors (359° and 1° give 0°, not 180°).
        sampled = _weighted(da, stencil, horizontal, circular=name == "wdir")
        sampled.attrs = dict(da.attrs)
        result[str(name)] = sampled.transpose("point", ...)

    coords: dict[str, Any] = {
        "point": ("point", parsed.ids),
        "lat": ("point", parsed.lat, {"units": "degrees_north"}),
        "lon": ("point", parsed.lon, {"units": "degrees_east"}),
        "time": ds["time"],
    }
    if "reference_time" in ds.coords:
        coords["reference_time"] = ds["reference_time"]
    sampled_ds = xr.Dataset(result, coords=coords)
    sampled_ds.attrs = {**ds.attrs, "sampling": method}
    return sampled_ds


def _weighted(
    da: xr.DataArray, stencil: _Stencil, horizontal: tuple[str, str], *, circular: bool = False
) -> xr.DataArray:
    """Weighted sum over each point's cells; NaN cells are left out and weights rescaled.

    ``circular``: the values are directions in degrees, averaged as unit vectors.
    """
    import dask.array

    other = [dim for dim in da.dims if dim not in horizontal]
    weights = stencil.weights
    if isinstance(da.data, dask.array.Array):
        # Lazy: vectorised isel becomes dask vindex, which touches only the chunks holding
        # the points' cells.
        corners = da.isel(
            {
                horizontal[0]: xr.DataArray(stencil.rows, dims=("point", "corner")),
                horizontal[1]: xr.DataArray(stencil.cols, dims=("point", "corner")),
            }
        )
        weight_da = xr.DataArray(weights, dims=("point", "corner"))

        def blend(field: xr.DataArray) -> xr.DataArray:
            numerator = (field.fillna(0.0) * weight_da).sum("corner")
            denominator = (field.notnull() * weight_da).sum("corner")
            return numerator / denominator.where(denominator > 0)

        if circular:
            radians = corners * (np.pi / 180.0)
            east = blend(cast(xr.DataArray, np.sin(radians)))
            north = blend(cast(xr.DataArray, np.cos(radians)))
            return cast(xr.DataArray, np.arctan2(east, north)) * (180.0 / np.pi) % 360.0
        return blend(corners)

    # In memory: plain numpy fancy indexing, (..., y, x) -> (..., point, corner).
    values = np.asarray(da.transpose(*other, *horizontal).values)
    picked = values[..., stencil.rows, stencil.cols]

    def blend_np(field: np.ndarray) -> np.ndarray:
        present = ~np.isnan(field)
        numerator = np.einsum("...pk,pk->...p", np.where(present, field, 0.0), weights)
        denominator = np.einsum("...pk,pk->...p", present.astype(weights.dtype), weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            return numerator / np.where(denominator > 0, denominator, np.nan)

    if circular:
        radians = np.radians(picked)
        out = np.degrees(np.arctan2(blend_np(np.sin(radians)), blend_np(np.cos(radians)))) % 360
    else:
        out = blend_np(picked)
    return xr.DataArray(
        out, dims=(*other, "point"), coords={dim: da[dim] for dim in other if dim in da.coords}
    )
