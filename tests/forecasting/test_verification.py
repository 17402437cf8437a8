"""forecasting.verification: every score against small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecasting import verification as vf


def test_continuous_scores_by_hand() -> None:
    forecast = np.array([1.0, 2.0, 3.0, np.nan])
    observed = np.array([1.0, 2.0, 5.0, 7.0])
    # Errors 0, 0, -2 (the NaN pair is dropped).
    assert vf.rmse(forecast, observed) == pytest.approx(math.sqrt(4 / 3))
    assert vf.mae(forecast, observed) == pytest.approx(2 / 3)
    assert vf.bias(forecast, observed) == pytest.approx(-2 / 3)
    assert vf.correlation([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert vf.correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(vf.correlation([1, 1, 1], [1, 2, 3]))
    assert math.isnan(vf.rmse([np.nan], [1.0]))


def test_hindsight_rmse_finds_the_exact_combination() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(100, 30, 200), rng.normal(80, 20, 200)
    observed = 5.0 + 0.5 * a + 0.25 * b
    rmse, coefficients = vf.hindsight_rmse(observed, {"a": a, "b": b})
    assert rmse == pytest.approx(0.0, abs=1e-9)
    assert coefficients == pytest.approx({"intercept": 5.0, "a": 0.5, "b": 0.25})


def test_hindsight_rmse_is_a_ceiling_for_each_forecast() -> None:
    rng = np.random.default_rng(1)
    truth = rng.gamma(2.0, 40.0, 300)
    model = truth + rng.normal(0, 20, 300)
    noise = rng.normal(70, 30, 300)  # carries no information
    model[5], noise[9] = np.nan, np.nan  # dropped
    rmse, coefficients = vf.hindsight_rmse(truth, {"model": model, "noise": noise})
    assert rmse <= vf.rmse(model, truth)
    assert abs(coefficients["noise"]) < 0.1
    # Too few cases for the fit: NaN, no coefficients.
    assert math.isnan(vf.hindsight_rmse([1.0, 2.0], {"x": [1.0, 2.0]})[0])


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="shape"):
        vf.rmse([1.0, 2.0], [1.0])


def test_contingency_by_hand() -> None:
    # Threshold 150, event = strictly above: one of each cell.
    forecast = [200.0, 100.0, 160.0, 50.0, 150.0]
    observed = [160.0, 160.0, 100.0, 50.0, 150.0]  # 150 vs 150: no event either side
    table = vf.contingency(forecast, observed, 150.0)
    assert (table.hits, table.misses, table.false_alarms, table.correct_negatives) == (1, 1, 1, 2)
    assert table.csi == pytest.approx(1 / 3)
    assert table.pod == pytest.approx(0.5)
    assert table.far == pytest.approx(0.5)
    assert table.frequency_bias == pytest.approx(1.0)
    assert table.n == 5


def test_contingency_without_events_is_undefined_not_zero() -> None:
    table = vf.contingency([10.0, 20.0], [10.0, 20.0], 150.0)
    assert math.isnan(table.csi) and math.isnan(table.pod) and math.isnan(table.far)


def test_frequency_bias_counts_over_warning() -> None:
    table = vf.contingency_from_events([True, True, True, False], [True, False, False, False])
    assert table.frequency_bias == pytest.approx(3.0)
    assert table.far == pytest.approx(2 / 3)


def test_brier_and_skill_by_hand() -> None:
    probability = np.array([1.0, 0.0, 0.5])
    outcome = np.array([1.0, 0.0, 1.0])
    assert vf.brier_score(probability, outcome) == pytest.approx(0.25 / 3)
    # Reference 0.5 everywhere scores 0.25: skill = 1 - (1/12) / (1/4) = 2/3.
    assert vf.brier_skill_score(probability, outcome, 0.5) == pytest.approx(2 / 3)
    assert vf.brier_skill_score(np.full(3, 0.5), outcome, 0.5) == pytest.approx(0.0)
    assert vf.brier_skill_score(1 - outcome, outcome, 0.5) == pytest.approx(-3.0)


def test_reliability_table_by_hand() -> None:
    probability = [0.05, 0.05, 0.15, 0.95, 1.0]
    outcome = [0, 1, 0, 1, 1]
    table = vf.reliability_table(probability, outcome, bins=10)
    assert len(table) == 10
    assert table["n"].tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table.loc[0, "observed_frequency"] == pytest.approx(0.5)
    assert table.loc[0, "mean_probability"] == pytest.approx(0.05)
    assert table.loc[9, "mean_probability"] == pytest.approx(0.975)  # 1.0 lands in the last bin
    assert math.isnan(table.loc[5, "observed_frequency"])


def test_week_blocks() -> None:
    times = pd.date_range("2016-03-01", periods=15, freq="D", tz="UTC")
    assert vf.week_blocks(times).tolist() == [0] * 7 + [1] * 7 + [2]


def test_block_bootstrap_resamples_whole_blocks() -> None:
    # Block 0 has errors of 1, block 1 errors of 3: a resample of two blocks gives RMSE 1
    # (both block 0), sqrt(5) (one each) or 3 (both block 1), nothing else.
    forecast = np.array([1.0, 1.0, 3.0, 3.0])
    observed = np.zeros(4)
    blocks = np.array([0, 0, 1, 1])
    low, high = vf.block_bootstrap(
        vf.rmse_sums(forecast, observed), blocks, vf.rmse_statistic, n_boot=2000
    )
    assert low == pytest.approx(1.0)
    assert high == pytest.approx(3.0)


def test_block_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    forecast = rng.normal(0, 1, 700)
    observed = np.zeros(700)
    blocks = np.repeat(np.arange(100), 7)
    low, high = vf.block_bootstrap(vf.rmse_sums(forecast, observed), blocks, vf.rmse_statistic)
    assert low < vf.rmse(forecast, observed) < high
    assert high - low < 0.2


def test_bootstrap_statistics_match_the_plain_scores() -> None:
    """Each sums/statistic pair reproduces its plain score on the full sample."""
    rng = np.random.default_rng(2)
    forecast = rng.gamma(2, 60, 200)
    reference = rng.gamma(2, 60, 200)
    observed = rng.gamma(2, 60, 200)
    full = np.ones((1, 200))

    def apply(sums: np.ndarray, statistic: vf.Statistic) -> float:
        return float(statistic(full @ sums)[0])

    assert apply(vf.rmse_sums(forecast, observed), vf.rmse_statistic) == pytest.approx(
        vf.rmse(forecast, observed)
    )
    assert apply(vf.mae_sums(forecast, observed), vf.mean_statistic) == pytest.approx(
        vf.mae(forecast, observed)
    )
    assert apply(
        vf.rmse_ratio_sums(forecast, reference, observed), vf.ratio_sqrt_statistic
    ) == pytest.approx(vf.rmse(forecast, observed) / vf.rmse(reference, observed))
    table = vf.contingency(forecast, observed, 150.0)
    events = vf.event_sums(forecast > 150, observed > 150)
    assert apply(events, vf.csi_statistic) == pytest.approx(table.csi)
    assert apply(events, vf.pod_statistic) == pytest.approx(table.pod)
    assert apply(events, vf.far_statistic) == pytest.approx(table.far)
    probability = rng.uniform(0, 1, 200)
    outcome = (observed > 150).astype(float)
    assert apply(vf.brier_sums(probability, outcome, 0.2), vf.skill_statistic) == pytest.approx(
        vf.brier_skill_score(probability, outcome, 0.2)
    )
