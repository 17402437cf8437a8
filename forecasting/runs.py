"""A forecast run as one pure function: grid files + points + history + model → forecasts.

`forecast_points` is what `hazewarn forecast run` (through `app.forecast_runs.service`),
the scheduler and `bench/forecast_run.py` all call. It opens the grid files, checks that
they cover every point and every hour the model forecasts, samples the met at the points,
and predicts hourly PM2.5 quantiles and daily exceedance probabilities.

Pure in the project's sense: it reads only the grid files it is handed, no database, no
network, no clock (the issue time is a parameter).

Inputs
------
``points``: DataFrame with columns ``id``, ``lat``, ``lon`` (WGS 84 degrees) and optionally
``tz`` (IANA zone of the point's local calendar; default Asia/Shanghai), or a sequence of
``(id, lat, lon)`` / ``(id, lat, lon, tz)`` tuples.

``history``: observations of the points, one row per point-hour: columns ``point`` (the
point id), ``time`` (tz-aware UTC hour start) and any of the pollutant columns ``pm25
pm10 so2 no2 co o3`` (µg/m³, CO mg/m³) and station weather ``temp dewp rh pres rain wspd
wdir`` (°C, °C, %, hPa, mm/h, m/s, degrees). Rows after the issue hour are dropped: the
forecast sees history up to and including the issue hour only.

Outputs (`PointForecast`)
-------------------------
``hourly``: ``point, valid_time (UTC), lead (h), p10, p50, p90`` (µg/m³);
``daily``: ``point, local_date, lead_day, p10, p50, p90, p_gt_75, p_gt_115, p_gt_150,
p_gt_250`` (daily means in the point's local calendar; probabilities 0..1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits

from forecasting.grids import (
    CANONICAL_VARIABLES,
    Chunks,
    GridError,
    check_plausible,
    open_grid,
    sample_points,
)

#: progress(stage, done, total): stages "open", "sample", "predict".
ProgressCallback = Callable[[str, int, int], None]

DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Grid hours before the issue time that are kept (met at and before issue feeds the
#: issue-time features; station weather fills what the grid lacks).
MET_HOURS_BEFORE_ISSUE = 48
#: A grid coarser than this in time (h) cannot stand in for hourly weather.
MAX_GRID_STEP_H = 6
#: Points per prediction batch (and progress step). The trees walk every row of a batch
#: once per tree; 64 points (about 5,000 hourly rows, a few MB of inputs) stay in the
#: CPU cache, while all 1,498 stations at once ran the trees 3-4x slower (measured).
PREDICT_BATCH = 64
#: Canonical met variables no feature reads (the features use the u/v components, not the
#: direction): a run does not derive them from the grid, the costliest derivation.
UNUSED_MET: tuple[str, ...] = ("wdir",)

HOURLY_COLUMNS: tuple[str, ...] = ("point", "valid_time", "lead", "p10", "p50", "p90")
DAILY_COLUMNS: tuple[str, ...] = (
    "point",
    "local_date",
    "lead_day",
    "p10",
    "p50",
    "p90",
    "p_gt_75",
    "p_gt_115",
    "p_gt_150",
    "p_gt_250",
)


@dataclass(frozen=True)
class PointForecast:
    """What one run produced, plus a summary of the grid it read."""

    issued_at: pd.Timestamp
    hourly: pd.DataFrame
    daily: pd.DataFrame
    grid: dict[str, Any] = field(default_factory=dict)


def as_points(points: pd.DataFrame | Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Points as a DataFrame ``id, lat, lon, tz`` (tz defaults to Asia/Shanghai)."""
    if isinstance(points, pd.DataFrame):
        frame = points.copy()
    else:
        rows = [tuple(row) for row in points]
        if any(len(row) not in (3, 4) for row in rows):
            raise GridError("points: each point must be (id, lat, lon) or (id, lat, lon, tz)")
        frame = pd.DataFrame(
            [(*row, DEFAULT_TIMEZONE) if len(row) == 3 else row for row in rows],
            columns=["id", "lat", "lon", "tz"],
        )
    if "tz" not in frame:
        frame["tz"] = DEFAULT_TIMEZONE
    missing = {"id", "lat", "lon"} - set(frame.columns)
    if missing:
        raise GridError(f"points: DataFrame lacks columns {sorted(missing)}")
    return frame[["id", "lat", "lon", "tz"]].reset_index(drop=True)


def utc_hour(moment: Any) -> pd.Timestamp:
    """An aware instant as a UTC Timestamp on the hour; naive or mid-hour values refused."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise ValueError(f"issue time {stamp} has no UTC offset")
    stamp = stamp.tz_convert("UTC")
    if stamp != stamp.floor("h"):
        raise ValueError(f"issue time {stamp.isoformat()} is not on the hour")
    return stamp


def required_window(issued_at: pd.Timestamp, max_lead_h: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last valid times (UTC) a run issued at ``issued_at`` forecasts."""
    return issued_at + pd.Timedelta(hours=1), issued_at + pd.Timedelta(hours=max_lead_h)


def check_time_coverage(ds: xr.Dataset, issued_at: pd.Timestamp, max_lead_h: int) -> None:
    """Raise `GridError` unless the grid's valid times span every forecast hour.

    The grid must have a step at or before issue + 1 h and at or after issue + max lead,
    with no gap longer than `MAX_GRID_STEP_H` in between (coarser steps are interpolated
    to hourly, longer gaps are missing coverage).
    """
    first, last = required_window(issued_at, max_lead_h)
    times = pd.DatetimeIndex(ds["time"].values)
    name = _grid_name(ds)
    if len(times) == 0:
        raise GridError(f"{name}: the grid has no time steps")
    have = f"{_iso(times[0])}..{_iso(times[-1])}"
    need = f"{_iso(first)}..{_iso(last)}"
    start, end = first.tz_localize(None), last.tz_localize(None)
    if times[0] > start or times[-1] < end:
        raise GridError(
            f"{name}: valid times {have} do not cover the forecast hours {need} "
            f"(issue {_iso(issued_at)}, leads 1..{max_lead_h} h)"
        )
    # The steps from the last one at or before the first forecast hour to the first one
    # at or after the last: the steps hourly values are interpolated from.
    span = times[(times >= times[times <= start][-1]) & (times <= times[times >= end][0])]
    gaps = np.diff(span.asi8) / 3.6e12 if len(span) > 1 else np.array([0.0])
    if gaps.max() > MAX_GRID_STEP_H:
        raise GridError(
            f"{name}: a {gaps.max():.0f} h gap between valid times in {need} "
            f"(at most {MAX_GRID_STEP_H} h allowed)"
        )


def _iso(stamp: pd.Timestamp) -> str:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")


def _grid_name(ds: xr.Dataset) -> str:
    sources = ds.attrs.get("sources", [])
    if isinstance(sources, list) and sources:
        return str(sources[0]) if len(sources) == 1 else f"{sources[0]} (+{len(sources) - 1})"
    return "grid"


def sample_met(
    grid_paths: str | Path | Sequence[str | Path],
    points: pd.DataFrame,
    issued_at: pd.Timestamp,
    max_lead_h: int,
    *,
    horizon_h: int | None = None,
    chunks: Chunks = None,
    progress: ProgressCallback | None = None,
    needs: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> tuple[xr.Dataset, dict[str, Any]]:
    """Open the grid, check it covers the points and forecast hours, and sample it.

    The grid must cover issue + 1 h .. issue + ``max_lead_h``; it is used up to issue +
    ``horizon_h`` (default ``max_lead_h``; the end of the last local lead day) where it
    reaches. Returns the per-point met as a Dataset (point, time) on an hourly axis from
    up to `MET_HOURS_BEFORE_ISSUE` h before the issue (steps coarser than an hour
    interpolated linearly in time), and a JSON-able summary of the grid. The variables in
    `UNUSED_MET` are not derived (the summary lists them as skipped). Raises `GridError`
    for unreadable files, missing coverage or a point with no value.

    ``needs``: the model's (required, optional) met variables (`model_met_needs`). A grid
    without a required one is refused (`GridError` listing them); optional ones it lacks
    are listed in the summary's ``degraded_variables`` (the run is degraded).
    """
    if progress is not None:
        progress("open", 0, 1)
    ds = open_grid(grid_paths, chunks=chunks, skip=UNUSED_MET)
    required, optional = needs
    lacking = [name for name in required if name not in ds.data_vars]
    if lacking:
        raise GridError(
            f"{_grid_name(ds)}: the grid lacks weather the model needs: {', '.join(lacking)} "
            f"(needs {', '.join(required)}; has {', '.join(map(str, ds.data_vars)) or 'none'})"
        )
    degraded = [name for name in optional if name not in ds.data_vars]
    check_time_coverage(ds, issued_at, max_lead_h)
    if progress is not None:
        progress("open", 1, 1)
        progress("sample", 0, 1)
    naive_issue = issued_at.tz_localize(None)
    times = pd.DatetimeIndex(ds["time"].values)
    lo = naive_issue - pd.Timedelta(hours=MET_HOURS_BEFORE_ISSUE)
    wanted = naive_issue + pd.Timedelta(hours=max(horizon_h or 0, max_lead_h))
    hi = min(wanted, times[-1].floor("h"))
    # Keep the steps bracketing the window too, for interpolation at its edges.
    keep_from = times[times <= max(lo, times[0])][-1]
    keep_to = times[times >= hi][0]
    subset = ds.sel(time=slice(keep_from, keep_to))
    sampled = sample_points(subset, points[["id", "lat", "lon"]])
    sampled = sampled.compute()
    hourly_axis = pd.date_range(max(lo, times[0]).ceil("h"), hi, freq="h")
    if not pd.DatetimeIndex(sampled["time"].values).equals(hourly_axis):
        sampled = _to_hourly(sampled, hourly_axis)
    _check_points_have_values(sampled, issued_at, max_lead_h)
    # Lazy grids are not read whole: what the run uses is checked (eager ones already were).
    check_plausible(sampled, _grid_name(ds))
    if progress is not None:
        progress("sample", 1, 1)
    summary = {
        "files": [str(p) for p in ds.attrs.get("sources", [])],
        "layout": ds.attrs.get("layout", ""),
        "grid": ds.attrs.get("grid", ""),
        "time_first": _iso(times[0]),
        "time_last": _iso(times[-1]),
        "steps": len(times),
        "variables": [str(v) for v in ds.data_vars],
        "missing_variables": list(ds.attrs.get("missing_variables", [])),
        "skipped_variables": list(ds.attrs.get("skipped_variables", [])),
        "degraded_variables": degraded,
        "shape": {str(k): int(v) for k, v in ds.sizes.items()},
        "met_until": _iso(hi),
    }
    return sampled, summary


def _to_hourly(sampled: xr.Dataset, axis: pd.DatetimeIndex) -> xr.Dataset:
    """Linear interpolation in time of every variable (wind direction via u/v)."""
    out = sampled.drop_vars([v for v in ("wdir",) if v in sampled]).interp(
        time=axis.to_numpy(), method="linear"
    )
    if "wdir" in sampled:
        radians = sampled["wdir"] * (np.pi / 180.0)
        east = xr.apply_ufunc(np.sin, radians).interp(time=axis.to_numpy())
        north = xr.apply_ufunc(np.cos, radians).interp(time=axis.to_numpy())
        direction = xr.apply_ufunc(np.arctan2, east, north) * (180.0 / np.pi) % 360.0
        direction.attrs = dict(sampled["wdir"].attrs)
        out["wdir"] = direction
    return out


def _check_points_have_values(sampled: xr.Dataset, issued_at: pd.Timestamp, max_lead: int) -> None:
    """Refuse a grid where a variable has no value at all at some point over the forecast
    hours (a hole in the grid, e.g. a land-sea mask): that is missing coverage, and a
    forecast without it would be silently degraded."""
    first, last = required_window(issued_at, max_lead)
    window = sampled.sel(time=slice(first.tz_localize(None), last.tz_localize(None)))
    names = [n for n in CANONICAL_VARIABLES if n in window]
    if not names:
        raise GridError(f"{_grid_name(sampled)}: no met variable to sample")
    ids = window["point"].to_numpy()
    empty: dict[str, list[str]] = {}
    for name in names:
        values = window[name].transpose("point", "time").to_numpy()
        for point in ids[~np.isfinite(values).any(axis=1)]:
            empty.setdefault(str(point), []).append(name)
    if empty:
        listed = "; ".join(
            f"{point}: {', '.join(names)}" for point, names in list(empty.items())[:20]
        )
        raise GridError(
            f"{_grid_name(sampled)}: no met value at {len(empty)} point(s) over the forecast "
            f"hours ({listed})"
        )


def forecast_points(
    grid_paths: str | Path | Sequence[str | Path],
    points: pd.DataFrame | Sequence[tuple[Any, ...]],
    history: pd.DataFrame,
    model: Any,
    issued_at: Any,
    *,
    chunks: Chunks = None,
    progress: ProgressCallback | None = None,
    batch: int = PREDICT_BATCH,
) -> PointForecast:
    """Forecast PM2.5 at every point from the grid files and the points' history.

    ``model``: a fitted artefact of `forecasting.model` (its lead range decides how far
    the grid must reach). ``issued_at``: aware instant on the hour. ``chunks``: ``None``
    reads one file eagerly; ``"auto"`` or a dict reads lazily through dask (large grids:
    only the chunks holding the points are read, a chunk at a time).

    Raises `GridError` when the grid cannot be read or does not cover every point and
    forecast hour; nothing is predicted then.
    """
    issue = utc_hour(issued_at)
    frame = as_points(points)
    met, summary = sample_met(
        grid_paths,
        frame,
        issue,
        model_max_lead(model),
        horizon_h=model_horizon(model),
        chunks=chunks,
        progress=progress,
        needs=model_met_needs(model),
    )
    past = _history_until(history, issue)
    # Points without any history row are not forecast (as `predict_for_points`).
    chosen = frame[frame["id"].isin(past["point"].unique())].reset_index(drop=True)
    axis, values = point_arrays(chosen["id"].tolist(), past, met, issue, model_horizon(model))
    hourly_parts: list[pd.DataFrame] = [_empty(HOURLY_COLUMNS)]
    daily_parts: list[pd.DataFrame] = [_empty(DAILY_COLUMNS)]
    total = len(chosen)
    if progress is not None:
        progress("predict", 0, total)
    # One thread: a batch's prediction is a few thousand rows, too small for OpenMP to
    # pay off, and on a busy machine its spinning threads cost 5-20x the time (measured
    # when points were predicted one by one).
    with threadpool_limits(1):
        for start in range(0, total, batch):
            rows = slice(start, start + batch)
            hourly, daily = _forecast_rows(
                model, chosen.iloc[rows], axis, {k: v[rows] for k, v in values.items()}, issue
            )
            hourly_parts.append(hourly)
            daily_parts.append(daily)
            if progress is not None:
                progress("predict", min(start + batch, total), total)
    hourly_all = pd.concat(hourly_parts[1:] or hourly_parts, ignore_index=True)
    daily_all = pd.concat(daily_parts[1:] or daily_parts, ignore_index=True)
    return PointForecast(
        issued_at=issue,
        hourly=hourly_all[list(HOURLY_COLUMNS)],
        daily=daily_all[list(DAILY_COLUMNS)],
        grid=summary,
    )


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _history_until(history: pd.DataFrame, issue: pd.Timestamp) -> pd.DataFrame:
    """History rows at or before the issue hour, with a tz-aware UTC ``time`` column."""
    if "point" not in history.columns or "time" not in history.columns:
        raise ValueError("history needs columns 'point' and 'time'")
    times = pd.to_datetime(history["time"], utc=True)
    keep = (times <= issue).to_numpy()
    # Copy-on-write: `assign` leaves the caller's frame alone without copying every
    # column (the history of 1,498 stations × 30 days is a million rows).
    out = history if keep.all() else history[keep]
    return out.assign(time=times.array[keep])


# --------------------------------------------------------------------------- model adapter
# The only place that knows `forecasting.model`'s calling convention.


def load_model(path: str | Path) -> Any:
    """A model artefact written by `forecasting.model.save_model`."""
    from forecasting.model import load_model as load

    return load(path)


def model_version(model: Any) -> str:
    return str(model.version)


def model_met_needs(model: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The forecast-weather variables the model needs and those it can do without."""
    from forecasting.model import MET_OPTIONAL, MET_REQUIRED

    required = tuple(getattr(model, "met_required", MET_REQUIRED))
    optional = tuple(getattr(model, "met_optional", MET_OPTIONAL))
    return required, optional


def model_max_lead(model: Any) -> int:
    """The longest hourly lead (h) the model reports: the grid must reach this far."""
    return int(model.max_lead)


def model_horizon(model: Any) -> int:
    """Hours after issue the model reads met for: the end of its last lead day for an
    issue at local midnight (the grid is used this far when it reaches)."""
    from forecasting.model import internal_leads

    return int(internal_leads(model.max_lead, model.lead_days, [0]))


def _predict(
    model: Any,
    points: pd.DataFrame,
    history: pd.DataFrame,
    met: xr.Dataset,
    issue: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly and daily forecasts of the points (the frames of `forecast_points`) from
    history up to the issue and the sampled met.

    Same inputs and results as `forecasting.model.predict_for_points` (a test holds them
    equal), built for many points at once: history, station weather and grid met go on
    one hourly axis shared by every point as (point, hour) arrays (`point_arrays`), and
    the points of a time zone are forecast as one batch `PointSeries` of those rows
    (`_forecast_rows`). Points without any history row are not forecast.
    """
    chosen = points[points["id"].isin(history["point"].unique())].reset_index(drop=True)
    axis, values = point_arrays(chosen["id"].tolist(), history, met, issue, model_horizon(model))
    return _forecast_rows(model, chosen, axis, values, issue)


def _forecast_rows(
    model: Any,
    points: pd.DataFrame,
    axis: pd.DatetimeIndex,
    values: dict[str, np.ndarray],
    issue: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecasts of the points (row ``i`` of every array in ``values`` is point ``i``)
    through `forecasting.model.forecast_batch`, labelled and timed as `predict_for_points`
    does, in the order of ``points``.

    The points of one time zone are one batch: their features are built together over
    the (point, hour) arrays, each estimator is evaluated once on all their rows, and the
    frames are assembled and calibrated together (no per-point pandas work).
    """
    from forecasting.features import PointSeries
    from forecasting.model import forecast_batch

    if points.empty:
        return _empty(HOURLY_COLUMNS), _empty(DAILY_COLUMNS)
    position = int((issue - axis[0]) / pd.Timedelta(hours=1))
    zones = points["tz"].to_numpy()
    hourly_parts, daily_parts = [], []
    for tz in dict.fromkeys(zones):
        rows = np.flatnonzero(zones == tz)
        batch = PointSeries(times=axis, values={k: v[rows] for k, v in values.items()}, tz=tz)
        hourly, daily = forecast_batch(model, batch, position)
        hourly["row"] = rows[hourly["row"].to_numpy()]
        daily["row"] = rows[daily["row"].to_numpy()]
        # The points share the zone, so the lead days' local dates are the same for all.
        starts = axis[0] + pd.to_timedelta(daily["start_pos"].to_numpy(int), "h")
        daily["local_date"] = starts.tz_convert(tz).date
        hourly_parts.append(hourly)
        daily_parts.append(daily)
    hourly = pd.concat(hourly_parts, ignore_index=True)
    daily = pd.concat(daily_parts, ignore_index=True)
    if len(hourly_parts) > 1:
        # Back to the order of the points (stable: leads and lead days stay in order).
        hourly = hourly.sort_values("row", kind="stable", ignore_index=True)
        daily = daily.sort_values("row", kind="stable", ignore_index=True)
    ids = points["id"].to_numpy()
    hourly.insert(0, "point", ids[hourly.pop("row").to_numpy()])
    hourly.insert(1, "valid_time", issue + pd.to_timedelta(hourly["lead"].to_numpy(int), "h"))
    daily.insert(0, "point", ids[daily.pop("row").to_numpy()])
    daily.insert(1, "local_date", daily.pop("local_date"))
    return (
        hourly.drop(columns=["issue_pos"]),
        daily.drop(columns=["issue_pos", "start_pos", "end_pos"]),
    )


def point_arrays(
    ids: Sequence[Any],
    history: pd.DataFrame,
    met: xr.Dataset | None,
    issue: pd.Timestamp,
    horizon_h: int,
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Every input of the points on one hourly UTC axis, as (point, hour) float arrays.

    The axis runs from the first history hour to issue + ``horizon_h``. Pollutants come
    from ``history``; canonical met (`forecasting.features.MET_COLUMNS`) from ``met``
    where it has a value, else from the station weather in ``history`` (converted as
    `forecasting.station_met.station_met_dataset` does).
    """
    from forecasting.features import MET_COLUMNS, POLLUTANT_COLUMNS
    from forecasting.station_met import relative_humidity, wind_components

    times = pd.DatetimeIndex(pd.to_datetime(history["time"], utc=True)).floor("h")
    first = times.min() if len(times) else issue
    axis = pd.date_range(first, issue + pd.Timedelta(hours=horizon_h), freq="h")
    n, length = len(ids), len(axis)
    row = pd.Index(ids).get_indexer(history["point"])
    col = np.asarray((times - axis[0]) / pd.Timedelta(hours=1), dtype=np.int64)
    keep = (row >= 0) & (col >= 0) & (col < length)
    row, col = row[keep], col[keep]

    def on_axis(column: str) -> np.ndarray:
        out = np.full((n, length), np.nan)
        if column in history:
            out[row, col] = history[column].to_numpy(dtype=float, na_value=np.nan)[keep]
        return out

    values: dict[str, np.ndarray] = {
        name: on_axis(name) for name in POLLUTANT_COLUMNS if name in history
    }
    temp, dewp, rh = on_axis("temp"), on_axis("dewp"), on_axis("rh")
    speed, direction = on_axis("wspd"), on_axis("wdir")
    u10, v10 = wind_components(speed, direction)
    station = {
        "t2m": temp,
        "d2m": dewp,
        "rh": np.where(np.isnan(rh), relative_humidity(temp, dewp), rh),
        "u10": u10,
        "v10": v10,
        "wspd": speed,
        "wdir": direction,
        "sp": on_axis("pres"),
        "tp": on_axis("rain"),
    }
    grid_at: np.ndarray | None = None
    grid_col: np.ndarray | None = None
    if met is not None:
        met_times = pd.DatetimeIndex(met["time"].values).tz_localize("UTC")
        positions = np.asarray((met_times - axis[0]) / pd.Timedelta(hours=1), dtype=np.int64)
        inside = (positions >= 0) & (positions < length)
        grid_col = positions[inside]
        grid_at = np.flatnonzero(inside)
        met_rows = pd.Index(met["point"].values).get_indexer(list(ids))
    for name in MET_COLUMNS:
        combined = station.get(name, np.full((n, length), np.nan))
        if met is not None and name in met and grid_at is not None and grid_col is not None:
            grid = np.full((n, length), np.nan)
            source = met[name].transpose("point", "time").to_numpy().astype(float)
            found = met_rows >= 0
            grid[np.ix_(np.flatnonzero(found), grid_col)] = source[np.ix_(met_rows[found], grid_at)]
            combined = np.where(np.isnan(grid), combined, grid)
        values[name] = combined
    return axis, values
