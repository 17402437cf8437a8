"""The demo's inputs: the shipped data extract, its small model and its weather grid.

`app.demo` replays the Beijing red alert of December 2016 from these; see its docstring.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "DEMO_MAX_SAMPLES",
    "DEMO_TIMEZONE",
    "DEMO_TRAIN_STATIONS",
    "DEMO_TREES",
    "EXTRACT_DIR",
    "TRAIN_END",
    "DemoError",
    "demo_inputs",
    "station_met_grid",
    "train_demo_model",
]

DEMO_TIMEZONE = "Asia/Shanghai"
#: Training history: everything of the Beijing files before the episode's month (local).
TRAIN_END = datetime(2016, 11, 30, 23, 0, tzinfo=ZoneInfo(DEMO_TIMEZONE))
#: The demo model learns from three central stations (the full set takes minutes).
DEMO_TRAIN_STATIONS: tuple[str, ...] = ("Dongsi", "Guanyuan", "Tiantan")
#: Boosting iterations per quantile model and training rows per lead group: fewer and
#: smaller than `hazewarn model train` (200 and 120,000), so training takes seconds.
DEMO_TREES = 40
DEMO_MAX_SAMPLES = 12_000
#: Half the side of the station-weather grid around the city point (degrees).
MET_GRID_HALF_WIDTH = 0.5
#: The compact public data the demo replays (package data; scripts/make_demo_extract.py).
EXTRACT_DIR = Path(__file__).resolve().parent / "data" / "demo_extract"
STATION_LIST_NAME = "station_info.csv.gz"
BEIJING_PATTERN = "PRSA_Data_*.csv.gz"


class DemoError(RuntimeError):
    """The demo cannot be set up; the message is one line for the user."""


def demo_inputs(extract: Path = EXTRACT_DIR) -> tuple[Path, list[Path]]:
    """The station list and the Beijing observation files of the shipped extract, or a
    `DemoError` naming what is missing (a broken installation)."""
    station_list = extract / STATION_LIST_NAME
    beijing = sorted(extract.glob(BEIJING_PATTERN))
    if not station_list.is_file() or not beijing:
        raise DemoError(
            f"the demo extract is incomplete in {extract} (reinstall hazewarn, or run "
            "scripts/make_demo_extract.py in a checkout)"
        )
    return station_list, beijing


def station_met_grid(history: Any, lat: float, lon: float, path: Path) -> Path:
    """Write a city's hourly station weather as a small regular NetCDF grid around it.

    ``history``: the frame of `app.forecast_runs.service.city_history` for one city
    (``time`` UTC and the station weather columns). Every node of the 2 × 2 grid holds the
    same series, so bilinear sampling at the city point gives the station weather back.
    Units are the canonical ones of `forecasting.grids`.
    """
    import numpy as np
    import pandas as pd
    import xarray as xr

    from forecasting.station_met import station_met_dataset

    frame = history.rename(columns={"point": "station"})
    points = station_met_dataset(frame)
    series = points.isel(point=0)
    lats = np.array([lat - MET_GRID_HALF_WIDTH, lat + MET_GRID_HALF_WIDTH])
    lons = np.array([lon - MET_GRID_HALF_WIDTH, lon + MET_GRID_HALF_WIDTH])
    data_vars = {}
    for name, values in series.data_vars.items():
        column = values.to_numpy()
        cube = np.broadcast_to(column[:, None, None], (len(column), 2, 2)).copy()
        data_vars[str(name)] = (("time", "lat", "lon"), cube, {"units": values.attrs["units"]})
    grid = xr.Dataset(
        data_vars,
        coords={
            "time": pd.DatetimeIndex(series["time"].to_numpy()).to_numpy(),
            "lat": ("lat", lats, {"units": "degrees_north"}),
            "lon": ("lon", lons, {"units": "degrees_east"}),
        },
        attrs={
            "title": "hazewarn demo: station weather as a perfect-prognosis forecast grid",
            "source": "city mean of the Beijing multi-site stations' observed weather",
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.to_netcdf(path)
    return path


def train_demo_model(observation_files: list[Path], path: Path) -> str:
    """Train the small demo model and save it at ``path``; returns its version.

    The three central stations of `DEMO_TRAIN_STATIONS`, their history up to
    `TRAIN_END` (local) with their own weather as met (perfect prognosis), and
    `DEMO_TREES` and `DEMO_MAX_SAMPLES` (fewer, smaller boosting runs than
    `hazewarn model train`). Runs with one native thread: on a busy two-core machine
    OpenMP's spinning threads make gradient boosting many times slower, not faster.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from forecasting.backtest import station_series, train_cutoff
    from forecasting.model import TrainingConfig, save_model, train_forecast_model
    from forecasting.observations import read_observations

    wanted = [f for f in observation_files if any(s in f.name for s in DEMO_TRAIN_STATIONS)]
    if not wanted:
        raise DemoError(f"none of the stations {DEMO_TRAIN_STATIONS} among the Beijing files")
    observations = pd.concat([read_observations(f) for f in wanted], ignore_index=True)
    train_end = TRAIN_END.date()
    series = station_series(observations, DEMO_TIMEZONE, end=train_cutoff(train_end, DEMO_TIMEZONE))
    with threadpool_limits(limits=1):
        config = TrainingConfig(max_iter=DEMO_TREES, max_samples=DEMO_MAX_SAMPLES)
        model = train_forecast_model(series, train_end=train_end, config=config)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, path)
    return model.version
