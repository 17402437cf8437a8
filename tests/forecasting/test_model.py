"""forecasting.model: the estimator contract, quantiles that never cross, calibrated
daily probabilities, artefacts and the operational predict API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator
from threadpoolctl import threadpool_limits

from forecasting import features as fx
from forecasting.backtest import station_series, train_cutoff
from forecasting.model import (
    EXCEEDANCE_THRESHOLDS,
    ForecastModel,
    LeadGroupedRegressor,
    QuantileGradientBoosting,
    TrainingConfig,
    best_csi_cutoff,
    boosting_iterations,
    central_statistic,
    describe_model,
    forecast_series,
    internal_leads,
    load_model,
    met_hours_needed,
    predict_for_points,
    save_model,
    signed_expm1,
    signed_log1p,
    train_forecast_model,
)
from forecasting.observations import read_observations
from forecasting.station_met import station_met_dataset

TZ = "Asia/Shanghai"
TRAIN_END = date(2013, 7, 31)
SMALL = TrainingConfig(
    met_mode="perfect", holdout_days=40, max_iter=40, max_samples=6000, daily_max_iter=60
)


@pytest.fixture(autouse=True)
def one_thread():  # type: ignore[no-untyped-def]
    """One native thread: on a busy two-core machine OpenMP's spinning threads make the
    many tiny gradient-boosting fits of these tests several times slower."""
    with threadpool_limits(limits=1):
        yield


ESTIMATORS = [
    QuantileGradientBoosting(max_iter=10),
    QuantileGradientBoosting(max_iter=10, baseline_column=0, quantiles=(0.25, 0.75)),
    LeadGroupedRegressor(QuantileGradientBoosting(max_iter=10), edges=(0.0,)),
]
#: sklearn's array-API check needs SCIPY_ARRAY_API set and skips itself otherwise; our
#: estimators convert every input to NumPy, so it has nothing to test here.
NOT_APPLICABLE = {"check_array_api_input"}
CHECKS = [
    (estimator, check)
    for estimator in ESTIMATORS
    for estimator, check in estimator_checks_generator(estimator)
    if getattr(check, "func", check).__name__ not in NOT_APPLICABLE
]


@pytest.mark.parametrize(
    ("estimator", "check"),
    CHECKS,
    ids=[f"{type(e).__name__}-{getattr(c, 'func', c).__name__}" for e, c in CHECKS],
)
def test_estimator_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    """The scikit-learn estimator checks (what `parametrize_with_checks` runs)."""
    check(estimator)


def test_quantiles_never_cross() -> None:
    """Independently fitted quantile models cross on noisy data; the sort stops it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = np.exp(rng.normal(4, 1, 400))
    model = QuantileGradientBoosting(
        quantiles=(0.45, 0.5, 0.55), max_iter=50, learning_rate=0.3, min_samples_leaf=2
    ).fit(X, y)
    wild = rng.normal(0, 10, size=(2000, 5))  # far outside the training inputs
    predictions = model.predict_quantiles(wild)
    assert predictions.shape == (2000, 3)
    assert (np.diff(predictions, axis=1) >= 0).all()
    np.testing.assert_array_equal(model.predict(wild), predictions[:, 1])


def test_quantile_parameters_are_validated() -> None:
    X, y = np.zeros((10, 2)), np.arange(10.0)
    with pytest.raises(ValueError, match="increasing"):
        QuantileGradientBoosting(quantiles=(0.9, 0.1)).fit(X, y)
    with pytest.raises(ValueError, match="baseline_column"):
        QuantileGradientBoosting(baseline_column=5).fit(X, y)


def test_baseline_column_makes_no_change_the_default() -> None:
    """With the last value as baseline and nothing else to learn, the model predicts it."""
    rng = np.random.default_rng(1)
    last = rng.gamma(2, 50, 1000)
    X = np.column_stack([last, rng.normal(size=1000)])
    model = QuantileGradientBoosting(quantiles=(0.5,), baseline_column=0, max_iter=30).fit(X, last)
    np.testing.assert_allclose(model.predict(X), last, rtol=1e-6)


def test_center_mean_estimates_the_expected_value() -> None:
    """On a right-skewed target the mean model finds the mean, the median model the
    median (here ~1.65x apart), and both stay inside the quantiles."""
    rng = np.random.default_rng(3)
    X = np.zeros((4000, 1))  # nothing to split on: each model returns its statistic
    y = np.exp(rng.normal(4.0, 1.0, 4000))
    median = QuantileGradientBoosting(max_iter=30, center="median").fit(X, y)
    mean = QuantileGradientBoosting(max_iter=30, center="mean").fit(X, y)
    probe = np.zeros((1, 1))
    assert median.predict(probe)[0] == pytest.approx(np.median(y), rel=0.02)
    assert mean.predict(probe)[0] == pytest.approx(np.mean(y), rel=0.02)
    low, mid, high = mean.predict_quantiles(probe)[0]
    assert low <= mid <= high
    with pytest.raises(ValueError, match="center"):
        QuantileGradientBoosting(center="mode").fit(X, y)


def test_central_statistic_follows_the_met_mode() -> None:
    assert central_statistic(TrainingConfig(met_mode="perfect")) == "median"
    assert central_statistic(TrainingConfig(met_mode="history")) == "mean"
    assert central_statistic(TrainingConfig(met_mode="history", center="median")) == "median"
    with pytest.raises(ValueError):
        central_statistic(TrainingConfig(center="mode"))


def test_boosting_iterations_follow_the_met_mode_unless_given() -> None:
    assert boosting_iterations(TrainingConfig(met_mode="perfect")) == (300, 450)
    assert boosting_iterations(TrainingConfig(met_mode="history")) == (200, 300)
    assert boosting_iterations(TrainingConfig(met_mode="history", max_iter=10)) == (10, 15)
    assert boosting_iterations(TrainingConfig(max_iter=10, daily_max_iter=7)) == (10, 7)
    # Zero is refused, not silently replaced by the default.
    with pytest.raises(ValueError, match="at least 1"):
        boosting_iterations(TrainingConfig(max_iter=0))


def test_signed_log_round_trip() -> None:
    values = np.array([-50.0, -1.0, 0.0, 3.0, 999.0])
    np.testing.assert_allclose(signed_expm1(signed_log1p(values)), values)


def test_lead_groups_route_rows() -> None:
    X = np.column_stack([np.repeat([1.0, 10.0, 50.0], 100), np.zeros(300)])
    y = np.repeat([10.0, 100.0, 1000.0], 100)
    model = LeadGroupedRegressor(
        QuantileGradientBoosting(quantiles=(0.5,), max_iter=20), edges=(6.5, 24.5)
    ).fit(X, y)
    assert sorted(model.estimators_) == [0, 1, 2]
    np.testing.assert_allclose(model.predict(X[[0, 150, 299]]), [10.0, 100.0, 1000.0], rtol=1e-3)
    # A lead beyond every group goes to the nearest fitted group.
    only_short = LeadGroupedRegressor(
        QuantileGradientBoosting(quantiles=(0.5,), max_iter=20), edges=(6.5, 24.5)
    ).fit(X[:100], y[:100])
    assert only_short.predict(np.array([[80.0, 0.0]]))[0] == pytest.approx(10.0, rel=1e-3)


def test_best_csi_cutoff_by_hand() -> None:
    probability = np.array([0.9, 0.6, 0.4, 0.2, 0.1])
    event = np.array([True, True, False, True, False])
    # p >= 0.6: CSI 2/3; >= 0.4: 2/4; >= 0.2: 3/4; >= 0.1: 3/5; >= 0.9: 1/3.
    assert best_csi_cutoff(probability, event) == pytest.approx(0.2)
    assert best_csi_cutoff(probability, np.zeros(5, bool)) == 0.5


def test_internal_leads_cover_the_last_local_day() -> None:
    # Issued at 12:00 local, D+3 ends 84 h later: leads 1..83 are needed.
    assert internal_leads(72, (1, 2, 3), [12]) == 83
    assert internal_leads(120, (1, 2, 3), [12]) == 120
    assert internal_leads(72, (1, 2, 3), [0]) == 95


# --------------------------------------------------------------------------- a real model


@pytest.fixture(scope="module")
def dongsi(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "beijing_multisite" / "PRSA_Data_Dongsi_20130301-20170228.csv"
    return read_observations(path)


@pytest.fixture(scope="module")
def small_model(dongsi: pd.DataFrame) -> ForecastModel:
    """Perfect-prognosis model on Dongsi, March–July 2013, small boosting runs."""
    series = station_series(dongsi, TZ, end=train_cutoff(TRAIN_END, TZ))
    with threadpool_limits(limits=1):
        return train_forecast_model(series, train_end=TRAIN_END, config=SMALL)


def test_trained_model_records_its_window_features_and_skill(small_model: ForecastModel) -> None:
    assert small_model.version.endswith("perfect-20130731")
    assert small_model.training["train_end"] == "2013-07-31"
    assert small_model.training["holdout_first_day"] == "2013-06-22"
    assert small_model.training["central_statistic"] == "median"
    assert small_model.features[0] == "lead"
    assert "tgt_wspd" in small_model.features and "pm25_last" in small_model.features
    assert not {"doy_sin", "co_0"} & set(small_model.features)
    for k in ("D+1", "D+2", "D+3"):
        assert small_model.skill[k]["n"] > 30
        assert small_model.skill[k]["rmse"] < small_model.skill[k]["rmse_persistence"]
    assert set(small_model.warn_cutoffs) == {75.0, 150.0, 250.0}


def test_daily_forecasts_are_coherent(small_model: ForecastModel, dongsi: pd.DataFrame) -> None:
    series = station_series(dongsi, TZ)["Beijing/Dongsi"]
    issues = fx.issue_positions(series, pd.Timestamp("2013-12-01"), pd.Timestamp("2013-12-31"), 12)
    hourly, daily = forecast_series(small_model, series, issues)
    assert len(hourly) == len(issues) * 72 and len(daily) == len(issues) * 3
    for frame in (hourly, daily):
        values = frame[["p10", "p50", "p90"]].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
        assert (np.diff(values, axis=1) >= 0).all()
    probabilities = daily[[f"p_gt_{t:g}" for t in EXCEEDANCE_THRESHOLDS]].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert (np.diff(probabilities, axis=1) <= 0).all()  # P(>75) ≥ P(>115) ≥ ...
    for t in (75, 150, 250):
        warn = daily[f"warn_{t}"].to_numpy()
        assert set(np.unique(warn)) <= {0, 1}
        np.testing.assert_array_equal(
            warn, (daily[f"p_gt_{t}"] >= small_model.warn_cutoffs[float(t)]).astype(int)
        )


def test_save_load_and_describe(small_model: ForecastModel, tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    save_model(small_model, path)
    loaded = load_model(path)
    assert loaded.version == small_model.version
    X = np.zeros((3, len(small_model.features)))
    X[:, 0] = [1, 30, 60]
    np.testing.assert_array_equal(
        loaded.hourly.predict_quantiles(X), small_model.hourly.predict_quantiles(X)
    )
    described = describe_model(loaded)
    assert described["training"]["train_end"] == "2013-07-31"
    assert described["features"] == small_model.features
    assert set(described["skill"]) >= {"D+1", "D+2", "D+3"}
    other = tmp_path / "other.joblib"
    import joblib

    joblib.dump({"something": "else"}, other)
    with pytest.raises(ValueError, match="not a hazewarn forecast model"):
        load_model(other)


def test_predict_for_points(small_model: ForecastModel, dongsi: pd.DataFrame) -> None:
    issue = pd.Timestamp("2013-11-20T04:00Z")  # 12:00 Beijing
    history = dongsi[(dongsi["time"] > issue - pd.Timedelta(days=35))].rename(
        columns={"station": "point"}
    )
    later = history[history["time"] <= issue + pd.Timedelta(hours=96)]
    met = station_met_dataset(later.rename(columns={"point": "station"}))
    hourly, daily = predict_for_points(small_model, later, met, issue, TZ)
    assert list(hourly.columns) == ["point", "valid_time", "lead", "p10", "p50", "p90"]
    assert list(daily.columns[:7]) == [
        "point",
        "local_date",
        "lead_day",
        "p10",
        "p50",
        "p90",
        "p_gt_75",
    ]
    assert {"p_gt_115", "p_gt_150", "p_gt_250", "warn_150"} <= set(daily.columns)
    assert hourly["lead"].tolist() == list(range(1, 73))
    assert hourly["valid_time"].iloc[0] == issue + pd.Timedelta(hours=1)
    assert [d.isoformat() for d in daily["local_date"]] == [
        "2013-11-21",
        "2013-11-22",
        "2013-11-23",
    ]
    # Rows after the issue in the history are ignored: the forecast only sees met after it.
    polluted = later.copy()
    polluted.loc[polluted["time"] > issue, "pm25"] = 999.0
    again, _ = predict_for_points(small_model, polluted, met, issue, TZ)
    pd.testing.assert_frame_equal(hourly, again)
    assert met_hours_needed(small_model, issue, TZ) == 83


def test_training_refuses_a_window_shorter_than_the_holdout(dongsi: pd.DataFrame) -> None:
    end = date(2013, 3, 31)
    series = station_series(dongsi, TZ, end=train_cutoff(end, TZ))
    with pytest.raises(ValueError):
        train_forecast_model(series, train_end=end, config=SMALL)
