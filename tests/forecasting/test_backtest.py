"""forecasting.backtest: the protocol on a short slice of real data, and its baselines."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from forecasting import features as fx
from forecasting.backtest import (
    PREDICTION_COLUMNS,
    BacktestConfig,
    BacktestResult,
    daily_climatology,
    hourly_climatology,
    run_backtest,
    station_series,
    train_cutoff,
)
from forecasting.model import TrainingConfig
from forecasting.observations import (
    ObservationFileError,
    combine_observation_files,
    read_observation_file,
    read_observations,
)

DAILY_KEYS = {
    "rmse",
    "mae",
    "csi_75",
    "pod_75",
    "far_75",
    "csi_150",
    "pod_150",
    "far_150",
    "csi_250",
    "pod_250",
    "far_250",
    "n",
}
HOURLY_KEYS = {"rmse", "mae", "n"}
SLICE = BacktestConfig(
    train_end=date(2014, 2, 28),
    test_start=date(2014, 3, 1),
    test_end=date(2014, 3, 28),
    met_mode="perfect",
    bootstrap_samples=200,
    training=TrainingConfig(holdout_days=60, max_iter=40, max_samples=6000, daily_max_iter=80),
)


def _read(shared_data: Path, station: str) -> pd.DataFrame:
    path = shared_data / "beijing_multisite" / f"PRSA_Data_{station}_20130301-20170228.csv"
    return read_observations(path)


@pytest.fixture(scope="module")
def result(shared_data: Path) -> BacktestResult:
    """Train on Dongsi to Feb 2014, test Tiantan and Wanliu over four weeks of March."""
    train = _read(shared_data, "Dongsi")
    test = pd.concat([_read(shared_data, "Tiantan"), _read(shared_data, "Wanliu")])
    with threadpool_limits(limits=1):
        return run_backtest(train, test, SLICE)


def test_metrics_have_exactly_the_protocol_shape(result: BacktestResult) -> None:
    metrics = json.loads(json.dumps(result.metrics, allow_nan=False))
    assert set(metrics["daily"]) == {"1", "2", "3"}
    assert all(set(entry) == DAILY_KEYS for entry in metrics["daily"].values())
    assert set(metrics["hourly"]) == {"1", "6", "12", "24", "48", "72"}
    assert all(set(entry) == HOURLY_KEYS for entry in metrics["hourly"].values())
    assert set(metrics["baselines"]) == {"persistence", "climatology"}
    for baseline in metrics["baselines"].values():
        assert set(baseline) == {"daily", "hourly"}
        assert set(baseline["daily"]) == {"1", "2", "3"}
        assert all(set(entry) == DAILY_KEYS for entry in baseline["daily"].values())
        assert set(baseline["hourly"]) == set(metrics["hourly"])
        assert all(set(entry) == HOURLY_KEYS for entry in baseline["hourly"].values())
    # Model and baselines are scored on the same cases.
    for lead in ("1", "2", "3"):
        n = metrics["daily"][lead]["n"]
        assert 40 <= n <= 56  # 2 stations × 28 issues, less days without 18 hours
        assert metrics["baselines"]["persistence"]["daily"][lead]["n"] == n
    # The extras: decisions, probabilities, every hourly lead, intervals.
    assert set(metrics["decisions"]["1"]) >= {"csi_150", "pod_150", "far_150", "fbias_150"}
    assert "bss_150" in metrics["probabilities"]["1"]
    assert len(metrics["probabilities"]["1"]["reliability_150"]) == 10
    assert set(metrics["hourly_all_leads"]) == {str(lead) for lead in range(1, 73)}
    low, high = metrics["intervals"]["daily"]["1"]["rmse"]
    assert low <= metrics["daily"]["1"]["rmse"] <= high
    # The hindsight ceiling can only do better than each forecast it combines.
    assert set(metrics["hindsight"]["daily"]) == {"1", "2", "3"}
    assert set(metrics["hindsight"]["hourly"]) == set(metrics["hourly_all_leads"])
    ceiling = metrics["hindsight"]
    for entry in [*ceiling["daily"].values(), *ceiling["hourly"].values()]:
        assert entry["ratio_to_model"] <= 1 + 1e-9
        assert entry["ratio_to_persistence"] <= 1 + 1e-9
        assert entry["ratio_to_climatology"] <= 1 + 1e-9
        assert set(entry["coefficients"]) == {"intercept", "p50", "persistence", "climatology"}


def test_predictions_have_exactly_the_protocol_columns(result: BacktestResult) -> None:
    predictions = result.predictions
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert set(predictions["station"]) == {"Beijing/Tiantan", "Beijing/Wanliu"}
    daily = predictions[predictions["kind"] == "daily"]
    hourly = predictions[predictions["kind"] == "hourly"]
    assert len(daily) == 2 * 28 * 3 and len(hourly) == 2 * 28 * 72
    assert sorted(daily["lead"].unique()) == [1, 2, 3]
    assert sorted(hourly["lead"].unique()) == list(range(1, 73))
    for column in ("warn_75", "warn_150", "warn_250"):
        assert set(daily[column].astype(int)) <= {0, 1}
        assert hourly[column].isna().all()
    for column in ("p_gt_75", "p_gt_115", "p_gt_150", "p_gt_250"):
        assert daily[column].between(0, 1).all()
        assert hourly[column].isna().all()
    # Exceeding a higher threshold is never more likely than a lower one.
    ordered = daily[["p_gt_75", "p_gt_115", "p_gt_150", "p_gt_250"]].to_numpy()
    assert (np.diff(ordered, axis=1) <= 1e-9).all()
    # 12:00 Beijing = 04:00 UTC, every test day.
    assert predictions["issue_time"].iloc[0] == "2014-03-01T04:00:00Z"
    assert (predictions["issue_time"].str[11:] == "04:00:00Z").all()
    values = predictions[["p10", "p50", "p90"]].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all()


def test_model_beats_persistence_at_day_one(result: BacktestResult) -> None:
    daily = result.metrics["daily"]["1"]
    persistence = result.metrics["baselines"]["persistence"]["daily"]["1"]
    assert daily["rmse"] < persistence["rmse"]


def test_training_reads_nothing_after_train_end(shared_data: Path) -> None:
    observations = _read(shared_data, "Dongsi")
    cutoff = train_cutoff(date(2014, 2, 28), "Asia/Shanghai")
    assert cutoff == pd.Timestamp("2014-02-28T16:00Z")
    series = station_series(observations, "Asia/Shanghai", end=cutoff)["Beijing/Dongsi"]
    assert series.times[-1] < cutoff


def test_baselines_by_hand(result: BacktestResult, shared_data: Path) -> None:
    tiantan = _read(shared_data, "Tiantan").set_index("time")["pm25"]
    cases = result.daily_cases
    case = cases[(cases["station"] == "Beijing/Tiantan") & (cases["lead_day"] == 1)].iloc[3]
    issue = pd.Timestamp(case["issue_time"])
    # Daily persistence: the mean of the 24 hours ending with the issue hour.
    last_day = tiantan[(tiantan.index > issue - pd.Timedelta(hours=24)) & (tiantan.index <= issue)]
    assert case["persistence"] == pytest.approx(last_day.mean())
    # Daily climatology: Tiantan's mean of March daily means (local days, >= 18 hours)
    # in the training period, i.e. March 2013.
    local = tiantan.tz_convert("Asia/Shanghai")
    march = local[(local.index.year == 2013) & (local.index.month == 3)]
    days = march.groupby(march.index.date).agg(["mean", "count"])
    assert case["climatology"] == pytest.approx(days.loc[days["count"] >= 18, "mean"].mean())
    # Hourly persistence: the last value at issue.
    hourly = result.hourly_cases
    first = hourly[(hourly["station"] == "Beijing/Tiantan") & (hourly["issue_time"] == issue)]
    assert (first["persistence"] == tiantan.loc[issue]).all()
    assert first["observed"].iloc[0] == tiantan.loc[issue + pd.Timedelta(hours=1)]


def test_climatology_tables() -> None:
    times = pd.date_range("2015-01-01", "2015-02-28 23:00", freq="h", tz="UTC")
    pm25 = np.where(times.month == 1, 200.0, 50.0) + np.where(times.hour == 3, 10.0, 0.0)
    series = fx.PointSeries(times=times, values={"pm25": pm25}, tz="UTC")
    hourly = hourly_climatology(series)
    assert hourly.loc[(1, 3)] == pytest.approx(210.0)
    assert hourly.loc[(2, 4)] == pytest.approx(50.0)
    means, frequency = daily_climatology(series, threshold=150.0)
    assert means.loc[1] == pytest.approx(200.0 + 10.0 / 24)
    assert frequency.loc[1] == 1.0 and frequency.loc[2] == 0.0


def test_protocol_dates_are_checked(shared_data: Path) -> None:
    observations = _read(shared_data, "Dongsi")
    bad = BacktestConfig(train_end=date(2014, 3, 1), test_start=date(2014, 3, 1))
    with pytest.raises(ValueError, match="test_start"):
        run_backtest(observations, observations, bad)


def test_the_five_cities_us_post_series_stay_four_stations(shared_data: Path) -> None:
    """Issue 10 case: `hazewarn backtest` keyed stations by name alone, so the four
    cities' "US Post" series of the five-cities files trained as one station (equal to
    Shanghai's on every hour). Station identity is (city, station)."""
    files = [
        read_observation_file(path)
        for path in sorted((shared_data / "five_cities").glob("*PM20100101_20151231.csv"))
    ]
    frame = combine_observation_files(files)
    us_post = frame[frame["station"] == "US Post"]
    series = station_series(us_post, "Asia/Shanghai")
    assert sorted(series) == [
        "Beijing/US Post",
        "Chengdu/US Post",
        "Guangzhou/US Post",
        "Shanghai/US Post",
    ]
    beijing = series["Beijing/US Post"]
    shanghai = series["Shanghai/US Post"]
    both = ~np.isnan(beijing.series("pm25")) & ~np.isnan(shanghai.series("pm25"))
    assert both.sum() > 10_000
    assert (beijing.series("pm25")[both] != shanghai.series("pm25")[both]).mean() > 0.9
    # Each series is its own city's: Beijing's equals the Beijing file's US Post column.
    raw = us_post[us_post["city"] == "Beijing"].set_index("time")["pm25"]
    on_axis = pd.Series(beijing.series("pm25"), index=beijing.times).reindex(raw.index)
    flagged = us_post[us_post["city"] == "Beijing"]["qc_flags"].str.contains("pm25:").to_numpy()
    np.testing.assert_array_equal(on_axis.to_numpy()[~flagged], raw.to_numpy()[~flagged])


def test_duplicate_station_hours_are_refused_with_file_and_line(shared_data: Path) -> None:
    """Issue 10 case: duplicate hours of one station were silently dropped; now the
    second one is refused naming its file and line, and where the first one is."""
    five = read_observation_file(shared_data / "five_cities" / "BeijingPM20100101_20151231.csv")
    stateair = read_observation_file(
        shared_data / "stateair_pm25" / "Beijing_2015_HourlyPM25_created20160201.csv"
    )
    with pytest.raises(ObservationFileError) as caught:
        combine_observation_files([five, stateair])
    error = caught.value
    assert error.path == str(stateair.path) and error.line == 2
    assert "duplicate station-hour: Beijing/US Post 2014-12-31T16:00Z" in error.reason
    assert f"is also in {five.path}, line " in error.reason
    # The pure layer refuses too, whoever concatenated the frames.
    both = pd.concat([five.frame, stateair.frame], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate station-hour: Beijing/US Post"):
        station_series(both[both["station"] == "US Post"], "Asia/Shanghai")
