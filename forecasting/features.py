"""Features for PM2.5 forecasts: pure, vectorised functions of points' hourly series.

A forecast is issued at an hour ``i`` (a position on a regular hourly UTC axis) and
looks at two kinds of input:

* **history** up to and including the issue hour: PM2.5 lags, rolling means and trend,
  the other pollutants, and the weather observed (or analysed) up to the issue hour;
* **forecast weather** after the issue hour (only in met mode ``perfect`` in the
  backtest, where observed weather stands in for a perfect forecast; in operation it is
  the forecast grid sampled at the point).

In met mode ``history`` no feature reads anything after the issue hour; the test suite
proves it by perturbing the future. Every function takes positions and arrays, never a
clock. Units: concentrations µg/m³ (CO mg/m³), temperatures °C, humidity %, pressure
hPa, wind m/s, precipitation mm/h (sums in mm), boundary-layer height m, times hours.

Design matrices come out as DataFrames whose columns are the feature names; a model
stores the list it was trained with and reindexes (missing → NaN, which the gradient
boosting estimators handle natively).

A `PointSeries` holds one point (arrays of shape ``(hours,)``) or a batch of points that
share the axis and the time zone (arrays ``(points, hours)``, as a forecast run builds
them). Every feature function works on both through the same code: positions index the
last (hour) axis, so a batch gives one row of results per point, equal to what each
point's own series gives (`hourly_batch` / `daily_batch` build the operational design for
a whole batch at one issue hour).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from forecasting import verification as vf

MetMode = Literal["history", "perfect"]
MET_MODES: tuple[MetMode, ...] = ("history", "perfect")

POLLUTANT_COLUMNS: tuple[str, ...] = ("pm25", "pm10", "so2", "no2", "co", "o3")
MET_COLUMNS: tuple[str, ...] = ("t2m", "d2m", "rh", "u10", "v10", "wspd", "wdir", "sp", "tp", "blh")

#: North China's official heating season (local calendar), inclusive: Nov 15 – Mar 15.
HEATING_SEASON_START: tuple[int, int] = (11, 15)
HEATING_SEASON_END: tuple[int, int] = (3, 15)

#: A "clean-out" hour: a northerly wind component of at least this much (m/s). Cold,
#: dry northerly flow ventilates the North China Plain; southerly flow builds pollution.
CLEAN_OUT_NORTHERLY = 2.0
#: A stagnant hour: wind below this speed (m/s) ...
STAGNANT_WIND = 2.0
#: ... and relative humidity above this (%).
STAGNANT_RH = 60.0
#: Hours-since counters are capped here (h), so "never seen" has a finite value.
HOURS_SINCE_CAP = 240.0
#: PM2.5 below this (µg/m³) counts as clean air for `hours_since_pm25_clean`.
CLEAN_PM25 = 35.0
#: A local day's mean counts only with at least this many hourly values (of 24); the one
#: rule of `forecasting.verification`.
MIN_HOURS_PER_DAY = vf.MIN_HOURS_PER_DAY

ONE_HOUR = pd.Timedelta(hours=1)


# --------------------------------------------------------------------------- the series


@dataclass
class PointSeries:
    """One point's hourly inputs on a regular UTC axis, plus cached window sums.

    ``times`` is a tz-aware UTC ``DatetimeIndex`` with one entry per hour; ``values`` maps
    pollutant (`POLLUTANT_COLUMNS`) and canonical met (`MET_COLUMNS`) names to float
    arrays of the same length (NaN = missing; absent names read as all-NaN). ``tz`` is the
    IANA zone of the point's city, which defines its local calendar.

    A batch of points sharing the axis and the zone is the same object with arrays of
    shape ``(points, hours)``: positions always index the hour axis (the last), and the
    results gain a leading points axis. Row ``p`` of every result equals the result for
    the series made of row ``p`` alone (window sums accumulate along each row in the same
    order).
    """

    times: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    tz: str
    _cumulative: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def rows(self) -> tuple[int, ...]:
        """``()`` for one point, ``(points,)`` for a batch."""
        for data in self.values.values():
            return tuple(np.shape(data)[:-1])
        return ()

    def series(self, name: str) -> np.ndarray:
        """The hourly values of ``name`` (all-NaN when the input did not have it)."""
        if name not in self.values:
            self.values[name] = _derived(self, name)
        return self.values[name]

    def set(self, name: str, values: np.ndarray) -> None:
        """Add or replace an hourly input (dropping any cached window sums of it)."""
        if np.shape(values)[-1] != len(self):
            raise ValueError(
                f"{name}: {np.shape(values)[-1]} values for an axis of {len(self)} hours"
            )
        self.values[name] = np.asarray(values, dtype=float)
        self._cumulative.pop(name, None)

    def at(self, name: str, positions: np.ndarray) -> np.ndarray:
        """Values at ``positions`` (NaN outside the axis)."""
        data = self.series(name)
        positions = np.asarray(positions)
        inside = (positions >= 0) & (positions < data.shape[-1])
        out = np.full((*data.shape[:-1], *positions.shape), np.nan)
        out[..., inside] = data[..., positions[inside]]
        return out

    def window_sum_count(
        self, name: str, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count of the valid values in the half-open windows [start, end)."""
        if name not in self._cumulative:
            data = self.series(name)
            valid = ~np.isnan(data)
            zero = np.zeros((*data.shape[:-1], 1))
            sums = np.concatenate([zero, np.cumsum(np.where(valid, data, 0.0), axis=-1)], axis=-1)
            counts = np.concatenate([zero.astype(np.int64), np.cumsum(valid, axis=-1)], axis=-1)
            self._cumulative[name] = (sums, counts)
        sums, counts = self._cumulative[name]
        n = len(self)
        lo = np.clip(np.asarray(start), 0, n)
        hi = np.clip(np.asarray(end), 0, n)
        hi = np.maximum(hi, lo)
        return sums[..., hi] - sums[..., lo], (counts[..., hi] - counts[..., lo]).astype(float)

    def window_mean(
        self, name: str, start: np.ndarray, end: np.ndarray, min_count: int = 1
    ) -> np.ndarray:
        """Mean of the valid values in [start, end); NaN with fewer than ``min_count``."""
        total, count = self.window_sum_count(name, start, end)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count >= min_count, total / count, np.nan)

    def window_extreme(
        self, name: str, start: np.ndarray, length: int, kind: Literal["max", "min"]
    ) -> np.ndarray:
        """Max or min over the ``length`` hours from ``start`` (NaN when none valid)."""
        series = self.series(name)
        pad = np.full((*series.shape[:-1], length), np.nan)
        data = np.concatenate([pad, series, pad], axis=-1)
        offsets = np.asarray(start)[..., None] + np.arange(length) + length
        offsets = np.clip(offsets, 0, data.shape[-1] - 1)
        block = data[..., offsets]
        with np.errstate(all="ignore"):
            valid = ~np.isnan(block)
            filler = -np.inf if kind == "max" else np.inf
            filled = np.where(valid, block, filler)
            result = filled.max(axis=-1) if kind == "max" else filled.min(axis=-1)
        return np.where(valid.any(axis=-1), result, np.nan)

    def hours_since(self, flag_name: str, positions: np.ndarray) -> np.ndarray:
        """Hours from the last flagged hour at or before each position (capped)."""
        key = f"_last_{flag_name}"
        if key not in self.values:
            flag = self.series(flag_name) > 0.5
            index = np.arange(len(self), dtype=float)
            last = np.where(flag, index, -np.inf)
            self.values[key] = np.maximum.accumulate(last, axis=-1) if len(self) else last
        positions = np.clip(np.asarray(positions), 0, len(self) - 1)
        since = positions - self.values[key][..., positions]
        return np.minimum(since, HOURS_SINCE_CAP)

    def local(self) -> pd.DatetimeIndex:
        """The axis in the point's local time."""
        if "_local" not in self.__dict__:
            self.__dict__["_local"] = self.times.tz_convert(self.tz)
        local: pd.DatetimeIndex = self.__dict__["_local"]
        return local

    def local_hour(self, positions: np.ndarray) -> np.ndarray:
        """Local hour (0–23, float) at positions on the axis (clipped to it)."""
        inside = np.clip(np.asarray(positions), 0, len(self) - 1)
        return np.asarray(self.local()[inside].hour, dtype=float)

    def position_of(self, instants: pd.DatetimeIndex) -> np.ndarray:
        """Axis positions of UTC instants (may fall outside 0..len-1)."""
        hours = (instants.tz_convert("UTC") - self.times[0]) / ONE_HOUR
        return np.floor(np.asarray(hours, dtype=float)).astype(np.int64)


def _derived(series: PointSeries, name: str) -> np.ndarray:
    """Hourly flags and products computed from the canonical columns."""
    values = series.values
    shape = (*series.rows, len(series))

    def get(column: str) -> np.ndarray:
        return values[column] if column in values else np.full(shape, np.nan)

    if name == "clean_out":
        # NaN wind → not a clean-out: an unknown hour must not reset the stagnation clock.
        return (get("v10") <= -CLEAN_OUT_NORTHERLY).astype(float)
    if name == "stagnant":
        return ((get("wspd") < STAGNANT_WIND) & (get("rh") > STAGNANT_RH)).astype(float)
    if name == "calm":
        return np.where(np.isnan(get("wspd")), np.nan, (get("wspd") < 1.5).astype(float))
    if name == "northerly":
        return np.where(np.isnan(get("v10")), np.nan, (get("v10") <= -2.0).astype(float))
    if name == "southerly":
        return np.where(np.isnan(get("v10")), np.nan, (get("v10") >= 1.0).astype(float))
    if name == "southerly_flow":
        return np.clip(get("v10"), 0.0, None)
    if name == "ventilation":
        return get("blh") * get("wspd")
    if name == "dewpoint_depression":
        return get("t2m") - get("d2m")
    if name == "pm25_clean":
        return (get("pm25") < CLEAN_PM25).astype(float)
    return np.full(shape, np.nan)


def point_series(
    history: pd.DataFrame,
    met: pd.DataFrame | None,
    tz: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> PointSeries:
    """Put one point's observations and met on one regular hourly UTC axis.

    ``history``: one point's observations, a ``time`` column (tz-aware UTC hour start)
    or such an index, and any of `POLLUTANT_COLUMNS` (µg/m³, CO mg/m³). ``met``: canonical
    met (`MET_COLUMNS`, units as in `forecasting.grids`) on the same kind of time axis,
    covering the past and, for forecasts, the future; ``None`` for none (see
    `forecasting.station_met` for station weather in this form). The axis runs from
    ``start`` (default: first time seen) to ``end`` (default: last time seen).
    """
    history = _time_indexed(history)
    met_frame = _time_indexed(met) if met is not None else pd.DataFrame(index=history.index[:0])
    known = [
        t
        for t in (_first(history), _first(met_frame), _last(history), _last(met_frame))
        if t is not None
    ]
    if not known and (start is None or end is None):
        raise ValueError("no times in history or met")
    first = min(known) if start is None else start
    last = max(known) if end is None else end
    axis = pd.date_range(pd.Timestamp(first).floor("h"), pd.Timestamp(last).floor("h"), freq="h")
    values: dict[str, np.ndarray] = {}
    for name in POLLUTANT_COLUMNS:
        if name in history:
            values[name] = _on_axis(history[name], axis)
    for name in MET_COLUMNS:
        if name in met_frame:
            values[name] = _on_axis(met_frame[name], axis)
    return PointSeries(times=axis, values=values, tz=tz)


def met_frame_from_dataset(met: object, point: object) -> pd.DataFrame:
    """One point of a met ``Dataset(point, time)`` as a DataFrame on a tz-aware UTC index."""
    import xarray as xr

    if not isinstance(met, xr.Dataset):
        raise TypeError("met must be an xarray.Dataset with dims (point, time)")
    one = met.sel(point=point)
    frame = pd.DataFrame(
        {name: one[name].to_numpy().astype(float) for name in MET_COLUMNS if name in one},
        index=pd.DatetimeIndex(one["time"].to_numpy()).tz_localize("UTC"),
    )
    frame.index.name = "time"
    return frame


def _time_indexed(frame: pd.DataFrame) -> pd.DataFrame:
    if "time" in frame.columns:
        frame = frame.set_index("time")
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        raise ValueError("times must be timezone-aware (UTC)")
    frame = frame.copy()
    frame.index = index.tz_convert("UTC").floor("h")
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def _first(frame: pd.DataFrame) -> pd.Timestamp | None:
    return frame.index.min() if len(frame) else None


def _last(frame: pd.DataFrame) -> pd.Timestamp | None:
    return frame.index.max() if len(frame) else None


def _on_axis(column: pd.Series, axis: pd.DatetimeIndex) -> np.ndarray:
    return column.astype(float).reindex(axis).to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------- calendar


def heating_season(month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """1.0 inside North China's heating season (Nov 15 – Mar 15, local dates), else 0.0."""
    month = np.asarray(month)
    day = np.asarray(day)
    key = month * 100 + day
    start = HEATING_SEASON_START[0] * 100 + HEATING_SEASON_START[1]
    end = HEATING_SEASON_END[0] * 100 + HEATING_SEASON_END[1]
    return ((key >= start) | (key <= end)).astype(float)


def calendar_features(local: pd.DatetimeIndex, prefix: str = "") -> dict[str, np.ndarray]:
    """Calendar of local times: hour (0–23), weekday (0 = Monday), season as day-of-year
    sine/cosine, and the heating-season flag."""
    doy = np.asarray(local.day_of_year, dtype=float)
    angle = 2.0 * np.pi * (doy - 1.0) / 365.25
    return {
        f"{prefix}hour": np.asarray(local.hour, dtype=float),
        f"{prefix}weekday": np.asarray(local.day_of_week, dtype=float),
        f"{prefix}doy_sin": np.sin(angle),
        f"{prefix}doy_cos": np.cos(angle),
        f"{prefix}heating": heating_season(np.asarray(local.month), np.asarray(local.day)),
    }


# --------------------------------------------------------------------------- features


PM25_LAGS: tuple[int, ...] = (1, 2, 3, 6, 12, 24, 48)
PM25_MEANS: tuple[int, ...] = (3, 6, 12, 24, 72, 168, 720)
ISSUE_MET: tuple[str, ...] = ("t2m", "d2m", "rh", "sp", "wspd", "u10", "v10", "blh")
TARGET_MET: tuple[str, ...] = ("t2m", "d2m", "rh", "sp", "wspd", "u10", "v10", "tp", "blh")
DAY_MET: tuple[str, ...] = ("t2m", "d2m", "rh", "sp", "wspd", "u10", "v10", "blh", "ventilation")


def issue_features(series: PointSeries, issue: np.ndarray) -> dict[str, np.ndarray]:
    """Features known at the issue hours ``issue`` (positions), reading nothing later.

    PM2.5 (µg/m³): value at issue, lags (h), rolling means over the last w hours ending
    at issue, the last-24 h mean (the daily persistence forecast), 24 h max/min, the
    6-hour trend, the last valid value within 24 h and hours since PM2.5 was last below
    35 µg/m³. Other pollutants: value at issue and 24 h mean; PM2.5/PM10 ratio (a
    secondary-aerosol signal). Weather at issue (°C, %, hPa, m/s, m), its 24 h change,
    the pressure tendency over 3, 6 and 12 h (hPa), temperature, dew point and pressure
    relative to their 30-day mean, 24 h means of wind and humidity, rain over 24 h (mm),
    hours since the last northerly clean-out, stagnant hours in the last 24 h,
    ventilation (m²/s). Local issue hour.
    """
    i = np.asarray(issue, dtype=np.int64)
    end = i + 1
    out: dict[str, np.ndarray] = {"pm25_0": series.at("pm25", i)}
    for lag in PM25_LAGS:
        out[f"pm25_lag{lag}"] = series.at("pm25", i - lag)
    for hours in PM25_MEANS:
        out[f"pm25_mean{hours}"] = series.window_mean("pm25", end - hours, end, max(1, hours // 3))
    out["pm25_max24"] = series.window_extreme("pm25", end - 24, 24, "max")
    out["pm25_min24"] = series.window_extreme("pm25", end - 24, 24, "min")
    out["pm25_trend6"] = series.window_mean("pm25", end - 6, end, 2) - series.window_mean(
        "pm25", end - 12, end - 6, 2
    )
    out["pm25_last"] = last_valid(series, "pm25", i, 24)
    out["hours_since_pm25_clean"] = series.hours_since("pm25_clean", i)
    for name in ("pm10", "so2", "no2", "co", "o3"):
        out[f"{name}_0"] = series.at(name, i)
        out[f"{name}_mean24"] = series.window_mean(name, end - 24, end, 6)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = series.window_mean("pm25", end - 6, end, 2) / series.window_mean(
            "pm10", end - 6, end, 2
        )
    out["pm25_pm10_ratio6"] = np.where(np.isfinite(ratio), np.clip(ratio, 0, 2), np.nan)
    for name in ISSUE_MET:
        out[f"met0_{name}"] = series.at(name, i)
    for name in ("u10", "v10", "wspd", "rh"):
        out[f"met0_{name}_mean24"] = series.window_mean(name, end - 24, end, 6)
    for name in ("t2m", "d2m", "sp"):
        out[f"met0_{name}_change24"] = series.at(name, i) - series.at(name, i - 24)
        # Departure from the last 30 days: the synoptic signal without the season.
        out[f"met0_{name}_anom30d"] = series.at(name, i) - series.window_mean(
            name, end - 720, end, 240
        )
    for hours in (3, 6, 12):
        out[f"met0_sp_change{hours}"] = series.at("sp", i) - series.at("sp", i - hours)
    out["met0_tp_sum24"] = series.window_sum_count("tp", end - 24, end)[0]
    out["met0_hours_since_clean_out"] = series.hours_since("clean_out", i)
    out["met0_stagnant24"] = series.window_sum_count("stagnant", end - 24, end)[0]
    out["met0_ventilation"] = series.at("ventilation", i)
    out["issue_hour"] = series.local_hour(i)
    return out


def last_valid(series: PointSeries, name: str, issue: np.ndarray, within: int) -> np.ndarray:
    """The last non-missing value at or before each issue position, looking back at most
    ``within`` hours (NaN if none). This is the hourly persistence forecast."""
    data = series.series(name)
    index = np.arange(data.shape[-1], dtype=float)
    last = np.maximum.accumulate(np.where(~np.isnan(data), index, -np.inf), axis=-1)
    i = np.clip(np.asarray(issue), 0, data.shape[-1] - 1)
    found = last[..., i]
    ok = np.isfinite(found) & (i - found <= within)
    picked = np.take_along_axis(data, np.where(ok, found, 0.0).astype(np.int64), axis=-1)
    return np.where(ok, picked, np.nan)


def hourly_target_features(
    series: PointSeries, issue: np.ndarray, target: np.ndarray
) -> dict[str, np.ndarray]:
    """Forecast weather for target hours ``target`` (> issue): at the target hour, means
    over the 6 and 24 h ending there, means and rain since issue, the strongest northerly
    since issue (min v, m/s), hours since the last clean-out, stagnant hours in the last
    24 h, and the change of pressure (hPa), dew point and temperature (°C) since issue.
    Reads met after the issue hour: only for met mode ``perfect`` or a forecast grid."""
    i = np.asarray(issue, dtype=np.int64)
    j = np.asarray(target, dtype=np.int64)
    end = j + 1
    out: dict[str, np.ndarray] = {}
    for name in TARGET_MET:
        out[f"tgt_{name}"] = series.at(name, j)
    for name in ("u10", "v10", "wspd", "rh"):
        out[f"tgt_{name}_mean6"] = series.window_mean(name, end - 6, end, 2)
    for name in ("u10", "v10", "wspd", "rh", "d2m"):
        out[f"tgt_{name}_mean24"] = series.window_mean(name, end - 24, end, 6)
    out["tgt_tp_sum24"] = series.window_sum_count("tp", end - 24, end)[0]
    for name in ("u10", "v10", "wspd"):
        out[f"tgt_{name}_since_issue"] = series.window_mean(name, i + 1, end, 1)
    out["tgt_tp_since_issue"] = series.window_sum_count("tp", i + 1, end)[0]
    out["tgt_hours_since_clean_out"] = series.hours_since("clean_out", j)
    out["tgt_stagnant24"] = series.window_sum_count("stagnant", end - 24, end)[0]
    out["tgt_ventilation"] = series.at("ventilation", j)
    for name in ("sp", "d2m", "t2m"):
        out[f"tgt_{name}_change"] = series.at(name, j) - series.at(name, i)
    return out


def daily_windows(
    series: PointSeries, issue: np.ndarray, lead_days: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each issue position and lead day k, the positions [start, end) of local day
    D+k (D = the issue's local date, in the series' time zone; 23 or 25 hours on a
    daylight-saving change). Returns (issue, start, end) arrays, issue-major."""
    i = np.asarray(issue, dtype=np.int64)
    local = series.local()[np.clip(i, 0, len(series) - 1)]
    dates = local.tz_localize(None).normalize()
    ks = np.asarray(list(lead_days), dtype=np.int64)
    issue_rep = np.repeat(i, len(ks))
    k_rep = np.tile(ks, len(i))
    day = pd.DatetimeIndex(np.repeat(dates.to_numpy(), len(ks))) + pd.to_timedelta(k_rep, "D")
    starts = _local_midnights(day, series.tz)
    ends = _local_midnights(day + pd.Timedelta(days=1), series.tz)
    return issue_rep, series.position_of(starts), series.position_of(ends)


def _local_midnights(days: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """UTC instants of local midnight of naive dates (a skipped midnight moves forward)."""
    localized = days.tz_localize(
        tz, ambiguous=np.zeros(len(days), bool), nonexistent="shift_forward"
    )
    return localized.tz_convert("UTC")


def daily_target_features(
    series: PointSeries, issue: np.ndarray, start: np.ndarray, end: np.ndarray
) -> dict[str, np.ndarray]:
    """Forecast weather for the local days [start, end): daily means (°C, %, hPa, m/s, m,
    m²/s), rain sum (mm), max wind, strongest northerly (min v), fractions of calm,
    northerly and southerly hours, stagnant hours, hours since the last clean-out at the
    day's start and end; the same means over the 24 h before the day and since issue; the
    day's dew point and pressure relative to the issue hour. Reads met after issue."""
    i = np.asarray(issue, dtype=np.int64)
    a = np.asarray(start, dtype=np.int64)
    b = np.asarray(end, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for name in DAY_MET:
        out[f"day_{name}"] = series.window_mean(name, a, b, 6)
    out["day_tp_sum"] = series.window_sum_count("tp", a, b)[0]
    out["day_wspd_max"] = series.window_extreme("wspd", a, 24, "max")
    out["day_v10_min"] = series.window_extreme("v10", a, 24, "min")
    for flag in ("calm", "northerly", "southerly"):
        out[f"day_frac_{flag}"] = series.window_mean(flag, a, b, 6)
    out["day_stagnant_hours"] = series.window_sum_count("stagnant", a, b)[0]
    # Night (00-08 local) and afternoon (12-18) separately: the nocturnal inversion
    # traps pollution, the afternoon mixed layer dilutes it.
    for name in ("wspd", "rh", "v10"):
        out[f"day_night_{name}"] = series.window_mean(name, a, a + 8, 3)
        out[f"day_afternoon_{name}"] = series.window_mean(name, a + 12, a + 18, 2)
    out["day_t2m_range"] = series.window_extreme("t2m", a, 24, "max") - series.window_extreme(
        "t2m", a, 24, "min"
    )
    out["day_dewpoint_depression"] = series.window_mean("dewpoint_depression", a, b, 6)
    # Southerly transport over the two days up to the day's end (m/s · h).
    out["southerly_run48"] = series.window_sum_count("southerly_flow", b - 48, b)[0]
    out["day_hours_since_clean_out_start"] = series.hours_since("clean_out", a)
    out["day_hours_since_clean_out_end"] = series.hours_since("clean_out", b - 1)
    for name in ("d2m", "rh", "wspd", "u10", "v10", "sp"):
        out[f"prev_{name}"] = series.window_mean(name, a - 24, a, 6)
    out["prev_tp_sum"] = series.window_sum_count("tp", a - 24, a)[0]
    for name in ("u10", "v10", "wspd"):
        out[f"since_{name}"] = series.window_mean(name, i + 1, b, 1)
    out["since_tp_sum"] = series.window_sum_count("tp", i + 1, b)[0]
    out["day_d2m_change"] = out["day_d2m"] - series.at("d2m", i)
    out["day_sp_change"] = out["day_sp"] - series.at("sp", i)
    out["day_t2m_change"] = out["day_t2m"] - series.at("t2m", i)
    return out


# --------------------------------------------------------------------------- designs


def hourly_design(
    series: PointSeries, issue: np.ndarray, leads: Sequence[int] | np.ndarray, met_mode: MetMode
) -> pd.DataFrame:
    """Hourly design matrix: one row per (issue, lead), issue-major.

    Columns ``issue_pos``, ``target_pos`` (axis positions), ``lead`` (h), the calendar
    of the target hour (local), the issue features and, in met mode ``perfect``, the
    target-hour weather features.
    """
    _check_mode(met_mode)
    i = np.asarray(issue, dtype=np.int64)
    lead = np.asarray(list(leads), dtype=np.int64)
    issue_rep = np.repeat(i, len(lead))
    lead_rep = np.tile(lead, len(i))
    target = issue_rep + lead_rep
    columns: dict[str, np.ndarray] = {
        "issue_pos": issue_rep,
        "target_pos": target,
        "lead": lead_rep.astype(float),
    }
    local = _local_at(series, target)
    columns.update(calendar_features(local))
    base = issue_features(series, i)
    for name, values in base.items():
        columns[name] = np.repeat(values, len(lead))
    if met_mode == "perfect":
        columns.update(hourly_target_features(series, issue_rep, target))
    return pd.DataFrame(columns)


def daily_design(
    series: PointSeries, issue: np.ndarray, lead_days: Sequence[int], met_mode: MetMode
) -> pd.DataFrame:
    """Daily design matrix: one row per (issue, lead day k), issue-major.

    Columns ``issue_pos``, ``start_pos``, ``end_pos`` (the local day D+k as axis
    positions), ``lead_day``, ``hours_to_day`` (h from issue to the day's start), the
    calendar of the day (local), the issue features and, in met mode ``perfect``, the
    day's weather features.
    """
    _check_mode(met_mode)
    i = np.asarray(issue, dtype=np.int64)
    ks = list(lead_days)
    issue_rep, start, end = daily_windows(series, i, ks)
    columns: dict[str, np.ndarray] = {
        "issue_pos": issue_rep,
        "start_pos": start,
        "end_pos": end,
        "lead_day": np.tile(np.asarray(ks, dtype=float), len(i)),
        "hours_to_day": (start - issue_rep).astype(float),
    }
    # Noon of the day gives its calendar without the hour mattering.
    cal = calendar_features(_local_at(series, start + 12), prefix="day_")
    cal.pop("day_hour")
    columns.update(cal)
    base = issue_features(series, i)
    for name, values in base.items():
        columns[name] = np.repeat(values, len(ks))
    if met_mode == "perfect":
        columns.update(daily_target_features(series, issue_rep, start, end))
    return pd.DataFrame(columns)


def hourly_batch(
    series: PointSeries,
    issue: int,
    leads: Sequence[int] | np.ndarray,
    met_mode: MetMode,
    base: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """`hourly_design` for a batch of points (a `PointSeries` with ``(points, hours)``
    arrays) issued at one axis position: the same columns, each of shape ``(points,
    leads)`` (read-only broadcast views: the issue features repeat along the leads, the
    calendar along the points). Row ``p`` equals ``hourly_design`` of point ``p`` alone.
    ``base``: the issue features at ``issue`` if already computed (`issue_features`).
    """
    _check_mode(met_mode)
    i = np.array([issue], dtype=np.int64)
    lead = np.asarray(list(leads), dtype=np.int64)
    issue_rep = np.repeat(i, len(lead))
    target = issue_rep + lead
    columns: dict[str, np.ndarray] = {
        "issue_pos": issue_rep,
        "target_pos": target,
        "lead": lead.astype(float),
    }
    columns.update(calendar_features(_local_at(series, target)))
    columns.update(base if base is not None else issue_features(series, i))
    if met_mode == "perfect":
        columns.update(hourly_target_features(series, issue_rep, target))
    shape = (*series.rows, len(lead))
    return {name: np.broadcast_to(values, shape) for name, values in columns.items()}


def daily_batch(
    series: PointSeries,
    issue: int,
    lead_days: Sequence[int],
    met_mode: MetMode,
    base: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """`daily_design` for a batch of points issued at one axis position: the same columns,
    each of shape ``(points, lead days)`` (read-only broadcast views). The points share
    the zone, so the local days (``start_pos``, ``end_pos``) are the same for all."""
    _check_mode(met_mode)
    i = np.array([issue], dtype=np.int64)
    ks = list(lead_days)
    issue_rep, start, end = daily_windows(series, i, ks)
    columns: dict[str, np.ndarray] = {
        "issue_pos": issue_rep,
        "start_pos": start,
        "end_pos": end,
        "lead_day": np.asarray(ks, dtype=float),
        "hours_to_day": (start - issue_rep).astype(float),
    }
    cal = calendar_features(_local_at(series, start + 12), prefix="day_")
    cal.pop("day_hour")
    columns.update(cal)
    columns.update(base if base is not None else issue_features(series, i))
    if met_mode == "perfect":
        columns.update(daily_target_features(series, issue_rep, start, end))
    shape = (*series.rows, len(ks))
    return {name: np.broadcast_to(values, shape) for name, values in columns.items()}


def _local_at(series: PointSeries, positions: np.ndarray) -> pd.DatetimeIndex:
    """Local times of positions, also beyond the axis end (forecast hours)."""
    utc = series.times[0] + pd.to_timedelta(np.asarray(positions, dtype=np.int64), "h")
    return pd.DatetimeIndex(utc).tz_convert(series.tz)


def _check_mode(met_mode: str) -> None:
    if met_mode not in MET_MODES:
        raise ValueError(f"met_mode must be one of {', '.join(MET_MODES)}, not {met_mode!r}")


# --------------------------------------------------------------------------- targets


def hourly_targets(series: PointSeries, target: np.ndarray) -> np.ndarray:
    """Observed PM2.5 (µg/m³) at target positions (NaN when missing or off the axis)."""
    return series.at("pm25", np.asarray(target, dtype=np.int64))


def daily_means(
    series: PointSeries, start: np.ndarray, end: np.ndarray, min_hours: int = MIN_HOURS_PER_DAY
) -> np.ndarray:
    """Mean PM2.5 (µg/m³) over [start, end), NaN with fewer than ``min_hours`` values."""
    return series.window_mean("pm25", start, end, min_hours)


def issue_positions(
    series: PointSeries, first_day: pd.Timestamp, last_day: pd.Timestamp, local_hour: int
) -> np.ndarray:
    """Positions of ``local_hour``:00 local on every local date from first to last day
    (inclusive), skipping those off the axis."""
    days = pd.date_range(pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize())
    local = (days + pd.Timedelta(hours=local_hour)).tz_localize(
        series.tz, ambiguous=np.zeros(len(days), bool), nonexistent="shift_forward"
    )
    positions = series.position_of(local)
    return positions[(positions >= 0) & (positions < len(series))]


def feature_columns(design: pd.DataFrame) -> list[str]:
    """The model inputs of a design matrix (everything but the bookkeeping positions)."""
    return [c for c in design.columns if not c.endswith("_pos")]
