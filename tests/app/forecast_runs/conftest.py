"""Fixtures of the forecast-run tests: a tiny model, small met grids, a seeded database.

The model is fitted here on a generated series (seconds, not minutes); the grids are
ERA5-named NetCDF files around Beijing and Tianjin; the database holds the city registry,
three stations in those two cities and hourly observations up to the issue time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sqlalchemy.orm import Session

from app.forecast_runs import service as forecast_service

#: Issue time of the tests: 12:00 Beijing time on 2017-01-10.
ISSUE = datetime(2017, 1, 10, 4, tzinfo=UTC)
STATIONS = {"T-BJ-1": "110000", "T-BJ-2": "110000", "T-TJ-1": "120000"}
#: Observation hours before (and including) the issue stored by the `seeded` fixture.
HISTORY_DAYS = 12

GridWriter = Callable[..., Path]


def synthetic_observations(
    start: pd.Timestamp, hours: int, seed: int, level: float = 80.0
) -> pd.DataFrame:
    """Hourly pollutants and station weather: log-PM2.5 an AR(1) around ``level`` with a
    daily cycle, pushed up by humid calm hours and down by northerly wind."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    t = np.arange(hours)
    wspd = np.abs(2.5 + 1.5 * np.sin(t / 31.0) + rng.normal(0, 0.7, hours))
    wdir = (180 + 150 * np.sin(t / 53.0)) % 360
    rh = np.clip(55 + 25 * np.sin(t / 41.0 + 1) + rng.normal(0, 5, hours), 5, 100)
    temp = -2 + 6 * np.sin((t - 8) / 24 * 2 * np.pi) + rng.normal(0, 1, hours)
    log_pm = np.empty(hours)
    log_pm[0] = np.log(level)
    for i in range(1, hours):
        push = 0.02 * (rh[i] - 55) / 25 - 0.03 * (wspd[i] - 2.5)
        log_pm[i] = (
            np.log(level) + 0.95 * (log_pm[i - 1] - np.log(level)) + push + rng.normal(0, 0.08)
        )
    pm25 = np.exp(log_pm) * (1 + 0.1 * np.cos((t + 4) / 24 * 2 * np.pi))
    return pd.DataFrame(
        {
            "time": times,
            "pm25": pm25,
            "pm10": pm25 * 1.5,
            "so2": pm25 * 0.15,
            "no2": pm25 * 0.4 + 10,
            "co": pm25 * 0.015,
            "o3": np.clip(50 - pm25 * 0.2, 2, None),
            "temp": temp,
            "dewp": temp - 6,
            "rh": rh,
            "pres": 1020 + 3 * np.sin(t / 70.0),
            "rain": np.zeros(hours),
            "wspd": wspd,
            "wdir": wdir,
        }
    )


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `forecasting.model` artefact fitted on 75 generated days (a few trees)."""
    return _tiny_model(tmp_path_factory, "perfect")


@pytest.fixture(scope="session")
def tiny_history_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, trained without forecast weather (``met_mode`` history)."""
    return _tiny_model(tmp_path_factory, "history")


def _tiny_model(tmp_path_factory: pytest.TempPathFactory, met_mode: str) -> Path:
    from threadpoolctl import threadpool_limits

    from forecasting import features as fx
    from forecasting.model import TrainingConfig, save_model, train_forecast_model

    observations = synthetic_observations(pd.Timestamp("2016-10-01"), 75 * 24, seed=7)
    from forecasting.station_met import station_met_dataset

    met = station_met_dataset(observations.assign(station="train"))
    series = fx.point_series(observations, fx.met_frame_from_dataset(met, "train"), "Asia/Shanghai")
    config = TrainingConfig(
        met_mode=met_mode,  # type: ignore[arg-type]
        holdout_days=20,
        max_iter=8,
        min_samples_leaf=20,
        max_samples=2000,
    )
    # One thread: a busy shared machine makes OpenMP's default slower, not faster.
    with threadpool_limits(1):
        model = train_forecast_model({"train": series}, train_end=date(2016, 12, 14), config=config)
    path = tmp_path_factory.mktemp("model") / f"tiny-{met_mode}.joblib"
    save_model(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path: Path) -> forecast_service.LoadedModel:
    return forecast_service.load_model_file(tiny_model_path)


def write_grid(
    path: Path,
    *,
    start: datetime = ISSUE,
    steps: int = 100,
    lat: tuple[float, float] = (38.5, 41.0),
    lon: tuple[float, float] = (115.5, 118.5),
    step_h: int = 1,
    hole_at: tuple[float, float] | None = None,
) -> Path:
    """An ERA5-named grid (K, Pa, m s**-1, m) of ``steps`` steps from ``start`` (UTC),
    0.25°; ``hole_at``: (lat, lon) of a 1° box set to NaN in every variable."""
    lats = np.arange(lat[0], lat[1] + 1e-9, 0.25)
    lons = np.arange(lon[0], lon[1] + 1e-9, 0.25)
    times = pd.date_range(start.replace(tzinfo=None), periods=steps, freq=f"{step_h}h")
    rng = np.random.default_rng(3)
    shape = (len(times), len(lats), len(lons))
    hours = np.arange(len(times))[:, None, None] * step_h
    fields = {
        "t2m": (271.0 + 5 * np.sin(hours / 24 * 2 * np.pi) + rng.normal(0, 0.5, shape), "K"),
        "d2m": (264.0 + rng.normal(0, 0.5, shape), "K"),
        "u10": (2.0 * np.sin(hours / 30.0) + rng.normal(0, 0.5, shape), "m s**-1"),
        "v10": (-1.5 + 2.0 * np.cos(hours / 40.0) + rng.normal(0, 0.5, shape), "m s**-1"),
        "sp": (101800.0 + rng.normal(0, 50, shape), "Pa"),
        "blh": (np.clip(500 + 300 * np.sin(hours / 24 * 2 * np.pi), 80, None) + 0 * shape[0], "m"),
        "tp": (np.zeros(shape), "m"),
    }
    data_vars = {}
    for name, (values, units) in fields.items():
        cube = np.broadcast_to(values, shape).astype("float32").copy()
        if hole_at is not None:
            rows = np.abs(lats - hole_at[0]) <= 0.5
            cols = np.abs(lons - hole_at[1]) <= 0.5
            cube[:, rows[:, None] & cols[None, :]] = np.nan
        data_vars[name] = (("time", "latitude", "longitude"), cube, {"units": units})
    ds = xr.Dataset(
        data_vars, coords={"time": times.to_numpy(), "latitude": lats, "longitude": lons}
    )
    ds.to_netcdf(path)
    return path


@pytest.fixture
def grid(tmp_path: Path) -> GridWriter:
    """``grid(name, **options)`` writes a grid (see `write_grid`) into the test folder."""

    def make(name: str = "grid.nc", **options: object) -> Path:
        return write_grid(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


def seed_database(session: Session, until: datetime = ISSUE, days: int = HISTORY_DAYS) -> None:
    """The registry, the test stations and their observations of the ``days`` up to
    ``until`` (inclusive)."""
    from app.cities.service import sync_registry
    from app.stations.models import Station

    sync_registry(session)
    coordinates = {"110000": (39.9, 116.4), "120000": (39.1, 117.2)}
    for station_id, city in STATIONS.items():
        lat, lon = coordinates[city]
        session.add(
            Station(id=station_id, name_en=station_id, city_code=city, lat=lat, lon=lon, aliases=[])
        )
    session.flush()
    start = pd.Timestamp(until) - pd.Timedelta(hours=days * 24 - 1)
    add_observations(session, start, days * 24)


def add_observations(
    session: Session, start: pd.Timestamp, hours: int, level: float = 80.0
) -> dict[str, pd.DataFrame]:
    """Generated observations of every test station for ``hours`` from ``start``."""
    from app.observations.models import Observation

    frames = {}
    for number, station_id in enumerate(STATIONS):
        frame = synthetic_observations(start, hours, seed=100 + number, level=level)
        frames[station_id] = frame
        session.add_all(
            Observation(
                station_id=station_id,
                time=row.time.to_pydatetime(),
                source="test",
                **{c: float(getattr(row, c)) for c in frame.columns if c != "time"},
            )
            for row in frame.itertuples(index=False)
        )
    session.flush()
    return frames


@pytest.fixture
def seeded(database_url: str) -> str:
    """A database with the registry, three test stations and 12 days of observations."""
    from app.database import session_scope

    with session_scope() as session:
        seed_database(session)
    return database_url


@pytest.fixture(autouse=True)
def no_foreign_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Run hooks registered by other packages (the warnings engine) are not ours to test:
    each test starts with an empty hook list it may fill."""
    import app.cli
    import app.main  # noqa: F401  (their imports register the other packages' hooks first)

    hooks: list[object] = []
    monkeypatch.setattr(forecast_service, "after_run_hooks", hooks)
    yield hooks


def issue_plus(hours: int) -> datetime:
    return ISSUE + timedelta(hours=hours)
