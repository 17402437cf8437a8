"""forecasting.runs: the pure forecast run (grid files + points + history + model)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasting import features as fx
from forecasting.grids import GridError
from forecasting.model import (
    ForecastModel,
    TrainingConfig,
    forecast_series,
    predict_for_points,
    train_forecast_model,
)
from forecasting.runs import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    _predict,
    forecast_points,
    model_horizon,
    point_arrays,
    sample_met,
    utc_hour,
)
from forecasting.station_met import station_met_dataset

ISSUE = pd.Timestamp("2017-01-10T04:00Z")  # 12:00 Beijing time
POINTS = pd.DataFrame(
    {
        "id": ["beijing", "tianjin"],
        "lat": [39.9042, 39.0842],
        "lon": [116.4074, 117.2010],
        "tz": ["Asia/Shanghai", "Asia/Shanghai"],
    }
)


def observations(start: pd.Timestamp, hours: int, seed: int) -> pd.DataFrame:
    """Hourly PM2.5 (an AR(1) in log space), other pollutants and station weather."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    log_pm = np.empty(hours)
    log_pm[0] = np.log(80)
    for i in range(1, hours):
        log_pm[i] = np.log(80) + 0.95 * (log_pm[i - 1] - np.log(80)) + rng.normal(0, 0.1)
    pm25 = np.exp(log_pm)
    temp = -2 + 6 * np.sin((t - 8) / 24 * 2 * np.pi) + rng.normal(0, 1, hours)
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=hours, freq="h", tz="UTC"),
            "pm25": pm25,
            "pm10": pm25 * 1.5,
            "no2": pm25 * 0.4 + 10,
            "temp": temp,
            "dewp": temp - 6,
            "pres": 1020 + 3 * np.sin(t / 70.0),
            "wspd": np.abs(2.5 + rng.normal(0, 1, hours)),
            "wdir": (180 + 150 * np.sin(t / 53.0)) % 360,
        }
    )


@pytest.fixture(scope="module")
def model() -> ForecastModel:
    """A few trees fitted on 75 generated days (seconds)."""
    from threadpoolctl import threadpool_limits

    frame = observations(pd.Timestamp("2016-10-01"), 75 * 24, seed=1)
    met = station_met_dataset(frame.assign(station="x"))
    series = fx.point_series(frame, fx.met_frame_from_dataset(met, "x"), "Asia/Shanghai")
    config = TrainingConfig(holdout_days=20, max_iter=8, min_samples_leaf=20, max_samples=2000)
    with threadpool_limits(1):
        return train_forecast_model({"x": series}, train_end=date(2016, 12, 14), config=config)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Ten days up to the issue for both points, and two days after it (the future)."""
    start = ISSUE - pd.Timedelta(hours=239)
    frames = [
        observations(start, 240 + 48, seed=10 + n).assign(point=point)
        for n, point in enumerate(POINTS["id"])
    ]
    return pd.concat(frames, ignore_index=True)


def write_grid(
    path: Path,
    start: pd.Timestamp = ISSUE,
    steps: int = 100,
    step_h: int = 1,
    lon: tuple[float, float] = (115.5, 118.5),
    hole: tuple[float, float] | None = None,
) -> Path:
    """An ERA5-named grid (K, m s**-1, Pa, m), 0.25°, around Beijing and Tianjin."""
    lats = np.arange(38.5, 41.01, 0.25)
    lons = np.arange(lon[0], lon[1] + 1e-9, 0.25)
    times = pd.date_range(start.tz_localize(None), periods=steps, freq=f"{step_h}h")
    hours = (np.arange(steps) * step_h)[:, None, None]
    shape = (steps, len(lats), len(lons))
    ramp = np.broadcast_to(hours.astype(float), shape)
    fields: dict[str, tuple[Any, str]] = {
        "t2m": (271.0 + 0.01 * ramp, "K"),
        "d2m": (264.0 + 0.0 * ramp, "K"),
        "u10": (1.0 + 0.0 * ramp, "m s**-1"),
        "v10": (-2.0 + 0.02 * ramp, "m s**-1"),
        "sp": (101800.0 + 0.0 * ramp, "Pa"),
        "blh": (400.0 + ramp, "m"),
    }
    data = {}
    for name, (values, units) in fields.items():
        cube = np.asarray(values, dtype="float32").copy()
        if hole is not None:
            box = (np.abs(lats - hole[0]) <= 0.5)[:, None] & (np.abs(lons - hole[1]) <= 0.5)[None]
            cube[:, box] = np.nan
        data[name] = (("time", "latitude", "longitude"), cube, {"units": units})
    xr.Dataset(
        data, coords={"time": times.to_numpy(), "latitude": lats, "longitude": lons}
    ).to_netcdf(path)
    return path


def test_forecast_points_gives_ordered_quantiles_for_every_point_and_lead(
    tmp_path: Path, model: ForecastModel, history: pd.DataFrame
) -> None:
    stages: list[tuple[str, int, int]] = []
    result = forecast_points(
        write_grid(tmp_path / "g.nc"),
        POINTS,
        history,
        model,
        ISSUE.to_pydatetime(),
        progress=lambda *args: stages.append(args),
    )
    hourly, daily = result.hourly, result.daily
    assert list(hourly.columns) == list(HOURLY_COLUMNS)
    assert list(daily.columns) == list(DAILY_COLUMNS)
    assert len(hourly) == 2 * 72 and len(daily) == 2 * 3
    beijing = hourly[hourly["point"] == "beijing"]
    assert beijing["lead"].tolist() == list(range(1, 73))
    assert beijing["valid_time"].iloc[0] == ISSUE + pd.Timedelta(hours=1)
    assert (hourly["p10"] <= hourly["p50"]).all() and (hourly["p50"] <= hourly["p90"]).all()
    assert (daily["p10"] <= daily["p50"]).all() and (daily["p50"] <= daily["p90"]).all()
    assert (daily["p_gt_75"] >= daily["p_gt_150"]).all()
    assert [str(d) for d in daily["local_date"][:3]] == ["2017-01-11", "2017-01-12", "2017-01-13"]
    assert result.grid["steps"] == 100 and result.grid["missing_variables"] == ["tp"]
    assert ("predict", 2, 2) in stages and ("open", 1, 1) in stages

    # Observations after the issue hour are never read.
    past = history[pd.to_datetime(history["time"], utc=True) <= ISSUE]
    again = forecast_points(tmp_path / "g.nc", POINTS, past, model, ISSUE)
    pd.testing.assert_frame_equal(again.hourly, hourly)
    pd.testing.assert_frame_equal(again.daily, daily)


def test_the_batched_predictor_matches_predict_for_points(
    tmp_path: Path, model: ForecastModel, history: pd.DataFrame
) -> None:
    met, _ = sample_met(
        write_grid(tmp_path / "g.nc"), POINTS, ISSUE, 72, horizon_h=model_horizon(model)
    )
    past = history[pd.to_datetime(history["time"], utc=True) <= ISSUE].copy()
    # Gaps in the history and a grid value missing at some hours must be treated alike.
    past.loc[past.index[::7], ["pm25", "temp", "wspd"]] = np.nan
    met["v10"][0, 5:9] = np.nan
    ours = _predict(model, POINTS, past, met, ISSUE)
    theirs = predict_for_points(model, past, met, ISSUE, "Asia/Shanghai")
    pd.testing.assert_frame_equal(ours[0], theirs[0], check_dtype=False)
    pd.testing.assert_frame_equal(ours[1], theirs[1][ours[1].columns], check_dtype=False)


def test_points_predicted_together_get_what_each_gets_alone(
    tmp_path: Path, model: ForecastModel, history: pd.DataFrame
) -> None:
    # Different zones give the points different local issue hours, hence different
    # numbers of internal leads: the stacked prediction must still split them correctly.
    points = POINTS.assign(tz=["Asia/Shanghai", "Asia/Kathmandu"])
    grid = write_grid(tmp_path / "g.nc")
    together = forecast_points(grid, points, history, model, ISSUE)
    apart = forecast_points(grid, points, history, model, ISSUE, batch=1)
    pd.testing.assert_frame_equal(together.hourly, apart.hourly)
    pd.testing.assert_frame_equal(together.daily, apart.daily)
    alone = forecast_points(grid, points.iloc[[1]], history, model, ISSUE)
    tianjin = together.daily[together.daily["point"] == "tianjin"].reset_index(drop=True)
    pd.testing.assert_frame_equal(tianjin, alone.daily)


def test_the_vectorised_run_gives_what_each_point_gets_alone(
    tmp_path: Path, model: ForecastModel, history: pd.DataFrame
) -> None:
    # Four points in three zones (local issue hours 12:00, 09:45 and 04:00, so different
    # lead counts and local days), one with missing history hours (a gap up to the issue
    # and a late start), one whose history starts late.
    points = pd.DataFrame(
        {
            "id": ["beijing", "kathmandu", "gappy", "london"],
            "lat": [39.9042, 39.0842, 39.9042, 39.0842],
            "lon": [116.4074, 117.2010, 116.4074, 117.2010],
            "tz": ["Asia/Shanghai", "Asia/Kathmandu", "Asia/Shanghai", "Europe/London"],
        }
    )
    source = dict(zip(points["id"], ["beijing", "tianjin", "beijing", "tianjin"], strict=True))
    past = history[pd.to_datetime(history["time"], utc=True) <= ISSUE]
    frames = []
    for point, seed in zip(points["id"], range(4), strict=True):
        rows = past[past["point"] == source[point]].assign(point=point)
        if point == "gappy":
            rows = rows.iloc[30:].copy()
            rows.loc[rows.index[-5:], ["pm25", "pm10", "temp"]] = np.nan
            rows = rows.drop(rows.index[-40:-30])
        rows["pm25"] *= 1.0 + 0.1 * seed
        frames.append(rows)
    past = pd.concat(frames, ignore_index=True)
    grid = write_grid(tmp_path / "g.nc")
    run = forecast_points(grid, points, past, model, ISSUE)
    met, _ = sample_met(grid, points, ISSUE, 72, horizon_h=model_horizon(model))
    axis, values = point_arrays(points["id"].tolist(), past, met, ISSUE, model_horizon(model))
    issue = np.array([int((ISSUE - axis[0]) / pd.Timedelta(hours=1))])
    for row, (point, tz) in enumerate(zip(points["id"], points["tz"], strict=True)):
        alone = fx.PointSeries(times=axis, values={k: v[row] for k, v in values.items()}, tz=tz)
        hourly, daily = forecast_series(model, alone, issue)
        ours_hourly = run.hourly[run.hourly["point"] == point]
        ours_daily = run.daily[run.daily["point"] == point]
        assert ours_hourly["lead"].tolist() == hourly["lead"].tolist()
        assert ours_daily["lead_day"].tolist() == daily["lead_day"].tolist()
        for column in ("p10", "p50", "p90"):
            np.testing.assert_allclose(ours_hourly[column], hourly[column], rtol=0, atol=1e-9)
        for column in ("p10", "p50", "p90", "p_gt_75", "p_gt_115", "p_gt_150", "p_gt_250"):
            np.testing.assert_allclose(ours_daily[column], daily[column], rtol=0, atol=1e-9)
        days = axis[0] + pd.to_timedelta(daily["start_pos"].to_numpy(int), "h")
        assert ours_daily["local_date"].tolist() == list(days.tz_convert(tz).date)
    assert run.hourly["point"].unique().tolist() == points["id"].tolist()
    london = run.daily[run.daily["point"] == "london"]["local_date"]
    assert [str(d) for d in london] == ["2017-01-11", "2017-01-12", "2017-01-13"]
    # The gappy point really has missing hours: at the start, before and at the issue.
    gappy = values["pm25"][2]
    assert np.isnan(gappy[:30]).all() and np.isnan(gappy[issue[0] - 4 : issue[0] + 1]).all()
    assert np.isnan(gappy[: issue[0] + 1]).sum() == 30 + 10 + 5


def test_a_coarser_grid_is_interpolated_to_hours(tmp_path: Path) -> None:
    hourly, _ = sample_met(write_grid(tmp_path / "h.nc"), POINTS, ISSUE, 72)
    three, summary = sample_met(
        write_grid(tmp_path / "3h.nc", steps=34, step_h=3), POINTS, ISSUE, 72
    )
    assert summary["steps"] == 34
    assert np.diff(three["time"].values).max() == np.timedelta64(1, "h")
    common = hourly["time"].values[hourly["time"].values <= three["time"].values[-1]]
    # The fields are linear in time, so interpolating 3-hourly steps gives the hourly ones.
    np.testing.assert_allclose(
        three["blh"].sel(time=common).values, hourly["blh"].sel(time=common).values, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"steps": 48}, "do not cover the forecast hours"),
        ({"start": ISSUE + pd.Timedelta(hours=2)}, "do not cover the forecast hours"),
        ({"steps": 12, "step_h": 12}, "gap between valid times"),
        ({"lon": (115.5, 117.0)}, "does not cover 1 point"),
        ({"hole": (39.1, 117.2)}, "no met value at 1 point"),
    ],
)
def test_missing_coverage_is_refused(
    tmp_path: Path,
    model: ForecastModel,
    history: pd.DataFrame,
    options: dict[str, Any],
    message: str,
) -> None:
    path = write_grid(tmp_path / "bad.nc", **options)
    with pytest.raises(GridError, match=message):
        forecast_points(path, POINTS, history, model, ISSUE)


def test_issue_times_must_be_aware_and_on_the_hour() -> None:
    assert utc_hour("2017-01-10T12:00+08:00") == ISSUE
    with pytest.raises(ValueError, match="no UTC offset"):
        utc_hour("2017-01-10T04:00")
    with pytest.raises(ValueError, match="not on the hour"):
        utc_hour("2017-01-10T04:30Z")
