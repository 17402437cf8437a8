"""Fixtures of the health tests: a tiny real model file and a deployment that is ready
(model, a fresh forecast run, scheduler and dispatcher heartbeats)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `forecasting.model` artefact fitted in seconds on a generated series."""
    from threadpoolctl import threadpool_limits

    from forecasting import features as fx
    from forecasting.model import TrainingConfig, save_model, train_forecast_model
    from forecasting.station_met import station_met_dataset

    hours = 60 * 24
    rng = np.random.default_rng(5)
    t = np.arange(hours)
    pm25 = np.exp(np.log(70) + 0.4 * np.sin(t / 37.0) + rng.normal(0, 0.1, hours))
    temp = -2 + 6 * np.sin((t - 8) / 24 * 2 * np.pi)
    observations = pd.DataFrame(
        {
            "time": pd.date_range("2016-10-01", periods=hours, freq="h", tz="UTC"),
            "pm25": pm25,
            "pm10": pm25 * 1.5,
            "so2": pm25 * 0.15,
            "no2": pm25 * 0.4 + 10,
            "co": pm25 * 0.015,
            "o3": np.clip(50 - pm25 * 0.2, 2, None),
            "temp": temp,
            "dewp": temp - 6,
            "rh": np.clip(55 + 25 * np.sin(t / 41.0), 5, 100),
            "pres": 1020 + 3 * np.sin(t / 70.0),
            "rain": np.zeros(hours),
            "wspd": np.abs(2.5 + 1.5 * np.sin(t / 31.0)),
            "wdir": (180 + 150 * np.sin(t / 53.0)) % 360,
            "station": "train",
        }
    )
    met = station_met_dataset(observations)
    series = fx.point_series(observations, fx.met_frame_from_dataset(met, "train"), "Asia/Shanghai")
    config = TrainingConfig(
        met_mode="perfect", holdout_days=15, max_iter=5, min_samples_leaf=20, max_samples=1000
    )
    with threadpool_limits(1):
        model = train_forecast_model({"train": series}, train_end=date(2016, 11, 20), config=config)
    path = tmp_path_factory.mktemp("model") / "pm25.joblib"
    save_model(model, path)
    return path


MakeReady = Callable[[datetime], None]


@pytest.fixture
def make_ready(
    database_url: str, tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MakeReady:
    """``make_ready(now)``: the model at HAZEWARN_MODEL_PATH, a forecast run stored at
    ``now`` and scheduler and dispatcher heartbeats at ``now``."""
    import shutil

    from app.database import reset_caches, session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.health.service import record_heartbeat

    model = tmp_path / "models" / "pm25.joblib"
    model.parent.mkdir()
    shutil.copy(tiny_model_file, model)
    monkeypatch.setenv("HAZEWARN_MODEL_PATH", str(model))
    reset_caches()

    from app.cities.service import sync_registry

    with session_scope() as session:
        sync_registry(session)

    def make(now: datetime) -> None:
        with session_scope() as session:
            _beat(session, now)
            store_scenario_run(session, now, {"110000": {}}, hours=24)

    def _beat(session: Session, now: datetime) -> None:
        for role in ("scheduler", "dispatcher"):
            record_heartbeat(session, role, f"test-{role}-1", now, now)

    return make
