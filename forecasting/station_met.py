"""Station weather as a canonical per-point met dataset (the perfect-prognosis stand-in).

The Beijing multi-site and five-cities files carry each station's hourly weather. Turned
into the same layout `forecasting.grids.sample_points` gives for a forecast grid, a model
can be trained on history with the *observed* weather of the forecast window standing in
for a perfect weather forecast (perfect prognosis), and run on real forecast grids in
operation without any change to the feature code.

Canonical variables (names and units shared with `forecasting.grids`):

| name | meaning | unit | from station column |
|---|---|---|---|
| t2m | 2 m temperature | °C | temp |
| d2m | 2 m dew point | °C | dewp |
| rh | relative humidity | % | rh, else derived from temp and dewp (Magnus) |
| u10, v10 | 10 m wind components (towards east, north) | m/s | wspd, wdir |
| wspd | 10 m wind speed | m/s | wspd |
| wdir | direction the wind blows from (0 = N, 90 = E) | degrees | wdir |
| sp | surface pressure | hPa | pres |
| tp | precipitation | mm/h | rain |

`blh` (boundary-layer height) is not observed at stations and is absent. The dataset's
`time` coordinate is UTC as timezone-naive ``datetime64[ns]`` (xarray's convention).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

#: Canonical met variables a station file can provide, in output order.
STATION_MET_VARIABLES: tuple[str, ...] = (
    "t2m",
    "d2m",
    "rh",
    "u10",
    "v10",
    "wspd",
    "wdir",
    "sp",
    "tp",
)

UNITS: dict[str, str] = {
    "t2m": "degC",
    "d2m": "degC",
    "rh": "%",
    "u10": "m s-1",
    "v10": "m s-1",
    "wspd": "m s-1",
    "wdir": "degree",
    "sp": "hPa",
    "tp": "mm h-1",
}


def relative_humidity(temp: np.ndarray, dewp: np.ndarray) -> np.ndarray:
    """Relative humidity (%) from air temperature and dew point (both °C).

    Magnus formula over water (Alduchov & Eskridge 1996 constants), clipped to 0..100 %.
    """
    temp = np.asarray(temp, dtype=float)
    dewp = np.asarray(dewp, dtype=float)
    ratio = np.exp(17.625 * dewp / (243.04 + dewp) - 17.625 * temp / (243.04 + temp))
    return np.clip(100.0 * ratio, 0.0, 100.0)


def wind_components(speed: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in m/s from speed (m/s) and the direction the wind blows *from* (degrees).

    A north wind (0°) blows towards the south, so v < 0. Calm (speed 0) gives (0, 0) even
    when the direction is missing, since a calm has no direction.
    """
    speed = np.asarray(speed, dtype=float)
    radians = np.deg2rad(np.asarray(direction, dtype=float))
    u = -speed * np.sin(radians)
    v = -speed * np.cos(radians)
    calm = speed == 0
    u = np.where(calm, 0.0, u)
    v = np.where(calm, 0.0, v)
    return u, v


def station_met_dataset(
    observations: pd.DataFrame, points: Sequence[str] | None = None
) -> xr.Dataset:
    """Canonical met ``Dataset(point, time)`` from station observations.

    ``observations`` is the frame of `forecasting.observations.read_observations`
    (columns ``station``, ``time`` tz-aware UTC hour start, ``temp``, ``dewp`` °C, ``rh`` %,
    ``pres`` hPa, ``rain`` mm/h, ``wspd`` m/s, ``wdir`` degrees from). Missing weather
    columns are allowed and become NaN. ``points`` selects and orders the stations (default:
    every station, sorted); the ``point`` coordinate holds the station names. Times form a
    regular hourly axis from the first to the last observed hour; gaps are NaN. A station
    with two rows for one hour raises ValueError.
    """
    if "station" not in observations or "time" not in observations:
        raise ValueError("observations need 'station' and 'time' columns")
    if points is None:
        points = sorted(observations["station"].unique())
    points = list(points)
    missing = set(points) - set(observations["station"].unique())
    if missing:
        raise ValueError(f"no observations for point(s): {', '.join(sorted(missing))}")
    frame = observations[observations["station"].isin(points)]
    times = pd.DatetimeIndex(frame["time"])
    if times.tz is None:
        raise ValueError("observation times must be timezone-aware (UTC)")
    utc = times.tz_convert("UTC").tz_localize(None)
    axis = pd.date_range(utc.min().floor("h"), utc.max().floor("h"), freq="h")

    def column(name: str) -> np.ndarray:
        if name in frame:
            return frame[name].to_numpy(dtype=float)
        return np.full(len(frame), np.nan)

    temp, dewp, rh = column("temp"), column("dewp"), column("rh")
    rh = np.where(np.isnan(rh), relative_humidity(temp, dewp), rh)
    wspd, wdir = column("wspd"), column("wdir")
    u10, v10 = wind_components(wspd, wdir)
    values = {
        "t2m": temp,
        "d2m": dewp,
        "rh": rh,
        "u10": u10,
        "v10": v10,
        "wspd": wspd,
        "wdir": wdir,
        "sp": column("pres"),
        "tp": column("rain"),
    }
    point_index = pd.Index(points).get_indexer(pd.Index(frame["station"]))
    time_index = axis.get_indexer(utc.floor("h"))
    cells = pd.Series(point_index.astype(np.int64) * len(axis) + time_index)
    if cells.duplicated().any():
        # Refused, never dropped: which reading is right is not ours to guess.
        row = int(np.flatnonzero(cells.duplicated().to_numpy())[0])
        raise ValueError(
            f"duplicate station-hour: {frame['station'].iloc[row]} {utc[row]:%Y-%m-%dT%H:%MZ}"
        )
    data_vars = {}
    for name in STATION_MET_VARIABLES:
        grid = np.full((len(points), len(axis)), np.nan)
        grid[point_index, time_index] = values[name]
        data_vars[name] = (("point", "time"), grid, {"units": UNITS[name]})
    return xr.Dataset(
        data_vars,
        coords={"point": np.array(points, dtype=object), "time": axis.to_numpy("datetime64[ns]")},
        attrs={"source": "station observations", "missing_variables": "blh"},
    )
