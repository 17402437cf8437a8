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


# --------------------------------------------------------------------------- one scoring


def test_a_daily_mean_needs_18_valid_hours_of_the_local_day() -> None:
    """Beijing's 2017-01-11 runs 16:00Z on the 10th to 16:00Z on the 11th: 18 valid hours
    make a mean, 17 do not, and hours are grouped by the day their hour starts in."""
    times = pd.date_range("2017-01-10T16:00Z", periods=48, freq="h")
    values = np.arange(48, dtype=float)
    values[24 + 17 :] = np.nan  # the second local day keeps 17 valid hours
    table = vf.daily_mean_table(times, values, "Asia/Shanghai")
    assert list(table["local_date"].astype(str)) == ["2017-01-11"]
    assert table["mean"].iloc[0] == pytest.approx(np.mean(np.arange(24)))
    assert table["hours"].iloc[0] == 24
    values[24 + 17] = 99.0  # one more valid hour: 18, the day now counts
    table = vf.daily_mean_table(times, values, "Asia/Shanghai")
    assert list(table["hours"]) == [24, 18]
    assert table["mean"].iloc[1] == pytest.approx(np.mean([*range(24, 41), 99.0]))
    # In UTC the same hours fall on other calendar days.
    utc = vf.daily_mean_table(times, np.arange(48, dtype=float), "UTC")
    assert list(utc["local_date"].astype(str)) == ["2017-01-11"]  # the 10th has 8 hours
    with pytest.raises(ValueError, match="aware"):
        vf.daily_mean_table(pd.date_range("2017-01-01", periods=3, freq="h"), [1, 2, 3], "UTC")


def test_score_daily_counts_events_strictly_above_the_threshold() -> None:
    observed = np.array([160.0, 150.0, 80.0, 260.0, 40.0, np.nan])
    p50 = np.array([155.0, 170.0, 70.0, 200.0, 76.0, 300.0])
    warn_150 = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    p_gt_150 = np.array([0.9, 0.6, 0.1, 0.8, 0.3, 0.9])
    scores = vf.score_daily(
        p50, observed, probabilities={150.0: p_gt_150}, warnings={150.0: warn_150}
    )
    assert scores["n"] == 5  # the NaN observation is dropped with its forecast
    assert scores["bias"] == pytest.approx(np.mean([-5, 20, -10, -60, 36]))
    # 150 itself is not above 150: day 2 is a false alarm of p50, not a hit.
    assert scores["observed_events_150"] == 2
    assert scores["p50_pod_150"] == 1.0
    assert scores["p50_far_150"] == pytest.approx(1 / 3)
    assert scores["p50_csi_150"] == pytest.approx(2 / 3)
    # p50 > 250 never happens: POD 0, FAR undefined (nothing forecast), CSI 0.
    assert scores["p50_pod_250"] == 0.0 and math.isnan(scores["p50_far_250"])
    # Warnings at 150: hits on days 1 and 4, a false alarm on day 5, no miss.
    assert (
        scores["warn_hits_150"],
        scores["warn_misses_150"],
        scores["warn_false_alarms_150"],
    ) == (
        2,
        0,
        1,
    )
    assert scores["warn_csi_150"] == pytest.approx(2 / 3)
    assert "warn_csi_75" not in scores  # no decision given at 75
    outcome = np.array([1, 0, 0, 1, 0])
    assert scores["brier_150"] == pytest.approx(np.mean((p_gt_150[:5] - outcome) ** 2))
    bins = scores["reliability_150"]
    assert len(bins) == 10 and sum(b["n"] for b in bins) == 5
    top = bins[9]  # [0.9, 1.0]: day 1 only, an event
    assert top["n"] == 1 and top["observed_frequency"] == 1.0


def test_score_by_lead_reads_probability_and_warning_columns() -> None:
    cases = pd.DataFrame(
        {
            "lead": [1, 1, 2],
            "p50": [100.0, 50.0, 200.0],
            "observed": [90.0, 80.0, 100.0],
            "p_gt_75": [0.8, 0.4, 0.9],
            "warn_75": [1.0, 0.0, 1.0],
        }
    )
    by_lead = vf.score_by_lead(cases, kind="daily")
    assert sorted(by_lead) == [1, 2]
    assert by_lead[1]["warn_pod_75"] == pytest.approx(0.5)
    assert by_lead[1]["brier_75"] == pytest.approx(((0.8 - 1) ** 2 + (0.4 - 1) ** 2) / 2)
    hourly = vf.score_by_lead(cases, kind="hourly")
    assert hourly[2] == {"n": 1, "rmse": 100.0, "mae": 100.0, "bias": 100.0}


def test_holdout_skill_is_the_one_scoring() -> None:
    """The artefact's held-out skill is `score_daily` on the same cases."""
    from forecasting.model import holdout_skill

    rng = np.random.default_rng(5)
    n = 120
    observed = rng.gamma(2, 60, n)
    holdout = pd.DataFrame(
        {
            "lead_day": np.repeat([1, 2], n // 2),
            "observed": observed,
            "p50": observed * rng.uniform(0.6, 1.4, n),
            "persistence": rng.gamma(2, 60, n),
        }
    )
    calibrated = {t: rng.uniform(0, 1, n) for t in (75.0, 115.0, 150.0, 250.0)}
    cutoffs = {75.0: 0.5, 150.0: 0.4, 250.0: 0.3}
    skill = holdout_skill(holdout, calibrated, cutoffs)
    rows = slice(0, n // 2)
    expected = vf.score_daily(
        holdout["p50"].to_numpy()[rows],
        observed[rows],
        probabilities={150.0: calibrated[150.0][rows]},
        warnings={t: (calibrated[t][rows] >= c).astype(float) for t, c in cutoffs.items()},
    )
    for key in ("rmse", "mae", "warn_csi_75", "warn_csi_150", "warn_csi_250", "brier_150"):
        assert skill["D+1"][key] == pytest.approx(expected[key]), key
