"""Quality-control flags for hourly station observations. Flags mark values; they never
delete or change them, so a reviewer can always see what the instrument reported.

Four checks per pollutant column (`pm25`, `pm10`, `so2`, `no2`, `co`, `o3`; CO in mg/m³,
the rest in µg/m³), each a station's hours taken in time order:

- `negative`: the value is below zero (also checked for `rh`, `rain` and `wspd`, which
  cannot be negative either).
- `impossible`: the value is above the pollutant's ceiling `ABSURD_MAXIMUM` (no instrument
  reading is physically credible up there: 1,000,000 µg/m³ PM2.5, 1e308).
- `spike`: a one-hour jump that rises more than `SPIKE_RISE` above the higher of its
  neighbouring hours *and* is more than `SPIKE_RATIO` times that neighbour. Neighbours are
  the previous and next hour of the same station when present. Real haze episodes rise
  over several hours, so they pass; the Beijing multi-site files (PM2.5 up to 999 µg/m³,
  all genuine) get a handful of flags.
- `stuck`: the same value in at least `STUCK_HOURS` consecutive hours, when that value is
  above the pollutant's `STUCK_FLOOR`. Low concentrations are reported at the instrument's
  resolution (SO2 at 2 µg/m³ for days on end, CO in 0.1 mg/m³ steps) and legitimately
  repeat, so only repeats above the floor are suspicious.

`flag_observations(frame)` returns the flags of each row as one string,
"pm25:spike,o3:stuck" (column order, then negative, impossible, spike, stuck), "" when
clean.

Flags are honoured downstream: a flagged value is not a valid value. `mask_flagged(frame)`
gives the frame with every flagged value set to NaN (a flag `<column>:<anything>` masks that
column of that row only; StateAir's own QC names count too), and `flagged_columns(flags)`
says which columns a flag string masks. Daily AQI, features, verification and rankings
read values through them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

POLLUTANT_COLUMNS: tuple[str, ...] = ("pm25", "pm10", "so2", "no2", "co", "o3")
NON_NEGATIVE_WEATHER: tuple[str, ...] = ("rh", "rain", "wspd")

#: Above these a single hourly value is not physically credible (µg/m³; CO mg/m³). They sit
#: above the top of the HJ 633 IAQI tables and above the worst recorded Chinese episodes
#: (PM2.5 ~1000, PM10 in dust storms a few thousand).
ABSURD_MAXIMUM: dict[str, float] = {
    "pm25": 1500.0,
    "pm10": 5000.0,
    "so2": 3000.0,
    "no2": 2000.0,
    "co": 60.0,
    "o3": 1200.0,
}
#: Minimum rise above the higher neighbouring hour for a one-hour spike.
SPIKE_RISE: dict[str, float] = {
    "pm25": 300.0,
    "pm10": 500.0,
    "so2": 300.0,
    "no2": 200.0,
    "co": 5.0,
    "o3": 300.0,
}
#: ... and the spike must also exceed this multiple of that neighbour.
SPIKE_RATIO = 3.0
#: Hours of the same value that make a run suspicious.
STUCK_HOURS = 12
#: Repeats at or below these values are instrument resolution, not a stuck instrument.
STUCK_FLOOR: dict[str, float] = {
    "pm25": 5.0,
    "pm10": 10.0,
    "so2": 5.0,
    "no2": 5.0,
    "co": 1.0,
    "o3": 5.0,
}

FLAG_ORDER: tuple[str, ...] = ("negative", "impossible", "spike", "stuck")


def flag_observations(frame: pd.DataFrame) -> pd.Series:
    """Flags for each row of a canonical observation frame (see module docstring).

    Needs the columns `station` and `time`; `city` is used to tell stations apart when
    present. Value columns that are absent are not checked. The result has the frame's
    index and holds "" for clean rows.
    """
    n = len(frame)
    flags = np.full(n, "", dtype=object)
    if n == 0:
        return pd.Series(flags, index=frame.index, dtype=object)
    order, previous_ok, next_ok = _neighbours(frame)
    for column in (*POLLUTANT_COLUMNS, *NON_NEGATIVE_WEATHER):
        if column not in frame:
            continue
        values = frame[column].to_numpy(dtype="float64", na_value=np.nan)[order]
        masks = {"negative": values < 0}
        if column in POLLUTANT_COLUMNS:
            with np.errstate(invalid="ignore"):
                masks["impossible"] = values > ABSURD_MAXIMUM[column]
            masks["spike"] = _spikes(values, previous_ok, next_ok, column) & ~masks["impossible"]
            masks["stuck"] = _stuck(values, previous_ok, STUCK_FLOOR[column])
        for flag in FLAG_ORDER:
            mask = masks.get(flag)
            if mask is None or not mask.any():
                continue
            rows = order[mask]
            token = f"{column}:{flag}"
            # Only flagged rows (rare) are touched, so this loop is short.
            flags[rows] = [f"{old},{token}" if old else token for old in flags[rows]]
    return pd.Series(flags, index=frame.index, dtype=object)


def flagged_columns(flags: str | None) -> set[str]:
    """The value columns a row's flag string marks: "pm25:spike,o3:stuck" -> {pm25, o3}."""
    if not flags:
        return set()
    return {token.split(":", 1)[0].strip() for token in flags.split(",") if ":" in token}


def mask_flagged(frame: pd.DataFrame, flags: pd.Series | None = None) -> pd.DataFrame:
    """A copy of ``frame`` where every flagged value is NaN (only the flagged column of the
    flagged row). ``flags``: the flag strings, default the frame's ``qc_flags`` column;
    absent or empty flags mask nothing. Columns named by a flag but not in the frame are
    ignored."""
    if flags is None:
        if "qc_flags" not in frame:
            return frame.copy()
        flags = frame["qc_flags"]
    text = pd.Series(flags, index=frame.index).fillna("").astype(str)
    out = frame.copy()
    flagged = text != ""
    if not flagged.any():
        return out
    # Surround with commas so "co:" never matches inside another token.
    padded = "," + text[flagged] + ","
    for column in out.columns:
        if column == "qc_flags":
            continue
        hit = padded.str.contains(f",{column}:", regex=False)
        if hit.any():
            rows = hit.index[hit.to_numpy()]
            out.loc[rows, column] = np.nan
    return out


def station_keys(frame: pd.DataFrame) -> np.ndarray:
    """An int64 code per row, equal for rows of the same (station, city)."""
    codes, _ = pd.factorize(frame["station"].to_numpy(dtype=object))
    if "city" not in frame:
        return codes.astype(np.int64)
    city_codes, cities = pd.factorize(frame["city"].to_numpy(dtype=object), use_na_sentinel=False)
    return codes.astype(np.int64) * (len(cities) + 1) + city_codes


def _neighbours(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order by (station, city, time) and whether each row's previous/next row in that
    order is the same station one hour earlier/later."""
    station_codes = station_keys(frame)
    hours = pd.DatetimeIndex(frame["time"]).as_unit("s").asi8 // 3600
    order = np.lexsort((hours, station_codes))
    codes = station_codes[order]
    hours = hours[order]
    consecutive = (codes[1:] == codes[:-1]) & (hours[1:] - hours[:-1] == 1)
    previous_ok = np.r_[False, consecutive]
    next_ok = np.r_[consecutive, False]
    return order, previous_ok, next_ok


def _spikes(
    values: np.ndarray, previous_ok: np.ndarray, next_ok: np.ndarray, column: str
) -> np.ndarray:
    previous = np.where(previous_ok, np.r_[np.nan, values[:-1]], np.nan)
    following = np.where(next_ok, np.r_[values[1:], np.nan], np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        neighbour = np.fmax(previous, following)  # NaN only when both are missing
        jump = (
            ~np.isnan(neighbour)
            & (values - neighbour > SPIKE_RISE[column])
            & (values > SPIKE_RATIO * np.maximum(neighbour, 0.0))
        )
        return jump


def _stuck(values: np.ndarray, previous_ok: np.ndarray, floor: float) -> np.ndarray:
    same_as_previous = previous_ok & (values == np.r_[np.nan, values[:-1]])
    run_id = np.cumsum(~same_as_previous)
    run_length = np.bincount(run_id)[run_id]
    with np.errstate(invalid="ignore"):
        return (run_length >= STUCK_HOURS) & (values > floor)
