"""Forecast verification: continuous scores, categorical scores, probability scores and
block-bootstrap confidence intervals. Pure functions of arrays; NaN pairs are dropped.

Continuous (µg/m³): RMSE, MAE, bias (forecast − observed), Pearson correlation.
Categorical at a threshold T (an event is a value **strictly above** T, as in "daily
mean exceeds 150 µg/m³"): hits, misses, false alarms, correct negatives and from them
CSI = h/(h+m+f), POD = h/(h+m), FAR = f/(h+f), frequency bias = (h+f)/(h+m).
Probability of an event: Brier score, Brier skill score against a reference (usually
climatology), reliability table. Diagnostic: `hindsight_rmse`, the RMSE of the best linear
combination of several forecasts fitted on the scored cases themselves (a ceiling for
re-weighting them, not a forecast).

Intervals: the block bootstrap resamples whole blocks (weeks of issue dates, pooling
every station in that week) with replacement, which keeps the serial and cross-station
correlation of forecast errors inside a block. Each score is written as a function of
per-block sums, so a thousand resamples are one matrix product.

**One scoring.** `score_daily` and `score_hourly` are the only place where a lead's scores
are computed: the model artefact's held-out skill (`forecasting.model.holdout_skill`), the
backtest's metrics.json (`forecasting.backtest.score_backtest`) and the service's verified
skill (`app.forecast_runs`) all call them. An observed daily mean is `daily_mean_table`:
the mean of the valid hourly values of one local calendar day, kept only when at least
`MIN_HOURS_PER_DAY` (18) of its 24 hours are valid. An event at threshold T is a daily
mean strictly above T; a forecast event is ``p50 > T`` (the median) or ``warn_T == 1``
(the model's warning decision, P(> T) ≥ its cut-off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

Statistic = Callable[[np.ndarray], np.ndarray]

#: A local day's observed mean counts only with at least this many valid hours of 24.
MIN_HOURS_PER_DAY = 18
#: Daily-mean thresholds (µg/m³) of the categorical scores: the HJ 633 PM2.5 breakpoints
#: of "light", "heavy" and "severe" days' neighbours used by the warning tiers.
SCORE_THRESHOLDS: tuple[float, ...] = (75.0, 150.0, 250.0)
#: Threshold of the reliability table reported with the scores.
RELIABILITY_THRESHOLD = 150.0


def _pairs(forecast: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(forecast, dtype=float)
    o = np.asarray(observed, dtype=float)
    if f.shape != o.shape:
        raise ValueError(f"forecast and observed differ in shape: {f.shape} vs {o.shape}")
    keep = ~(np.isnan(f) | np.isnan(o))
    return f[keep], o[keep]


def rmse(forecast: np.ndarray, observed: np.ndarray) -> float:
    """Root-mean-square error (units of the data); NaN when no pair is valid."""
    f, o = _pairs(forecast, observed)
    return float(np.sqrt(np.mean((f - o) ** 2))) if len(f) else float("nan")


def mae(forecast: np.ndarray, observed: np.ndarray) -> float:
    """Mean absolute error (units of the data)."""
    f, o = _pairs(forecast, observed)
    return float(np.mean(np.abs(f - o))) if len(f) else float("nan")


def bias(forecast: np.ndarray, observed: np.ndarray) -> float:
    """Mean error, forecast minus observed (units of the data); > 0 over-forecasts."""
    f, o = _pairs(forecast, observed)
    return float(np.mean(f - o)) if len(f) else float("nan")


def correlation(forecast: np.ndarray, observed: np.ndarray) -> float:
    """Pearson correlation; NaN with fewer than two pairs or a constant series."""
    f, o = _pairs(forecast, observed)
    if len(f) < 2 or np.std(f) == 0 or np.std(o) == 0:
        return float("nan")
    return float(np.corrcoef(f, o)[0, 1])


def hindsight_rmse(
    observed: np.ndarray, forecasts: dict[str, np.ndarray]
) -> tuple[float, dict[str, float]]:
    """RMSE (units of the data) of the best linear combination of ``forecasts`` (with an
    intercept), fitted by least squares on these very cases, and its coefficients
    (``"intercept"`` and one per forecast).

    Not a forecast: the weights are chosen knowing the answers. It bounds what any
    recalibration or blending of these forecasts could reach on these cases, so a target
    this misses cannot be met by re-weighting them, only by new information. Cases where
    any forecast or the observation is NaN are dropped.
    """
    o = np.asarray(observed, dtype=float)
    columns = [np.asarray(v, dtype=float) for v in forecasts.values()]
    keep = ~np.isnan(o)
    for column in columns:
        keep &= ~np.isnan(column)
    if keep.sum() <= len(columns) + 1:
        return float("nan"), {}
    design = np.column_stack([np.ones(int(keep.sum()))] + [c[keep] for c in columns])
    coefficients, *_ = np.linalg.lstsq(design, o[keep], rcond=None)
    residual = o[keep] - design @ coefficients
    names = ["intercept", *forecasts]
    weights = dict(zip(names, map(float, coefficients), strict=True))
    return float(np.sqrt(np.mean(residual**2))), weights


@dataclass(frozen=True)
class Contingency:
    """The 2×2 table of a yes/no forecast against yes/no observations."""

    hits: int
    misses: int
    false_alarms: int
    correct_negatives: int

    @property
    def csi(self) -> float:
        """Critical success index (threat score) h/(h+m+f); NaN with no event either way."""
        return _ratio(self.hits, self.hits + self.misses + self.false_alarms)

    @property
    def pod(self) -> float:
        """Probability of detection h/(h+m); NaN when nothing was observed."""
        return _ratio(self.hits, self.hits + self.misses)

    @property
    def far(self) -> float:
        """False-alarm ratio f/(h+f); NaN when nothing was forecast."""
        return _ratio(self.false_alarms, self.hits + self.false_alarms)

    @property
    def frequency_bias(self) -> float:
        """Forecast events per observed event (h+f)/(h+m); 1 is unbiased."""
        return _ratio(self.hits + self.false_alarms, self.hits + self.misses)

    @property
    def n(self) -> int:
        return self.hits + self.misses + self.false_alarms + self.correct_negatives


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def contingency_from_events(forecast_event: np.ndarray, observed_event: np.ndarray) -> Contingency:
    """Contingency table of boolean forecast and observed events (equal length)."""
    f = np.asarray(forecast_event, dtype=bool)
    o = np.asarray(observed_event, dtype=bool)
    return Contingency(
        hits=int(np.sum(f & o)),
        misses=int(np.sum(~f & o)),
        false_alarms=int(np.sum(f & ~o)),
        correct_negatives=int(np.sum(~f & ~o)),
    )


def contingency(forecast: np.ndarray, observed: np.ndarray, threshold: float) -> Contingency:
    """Contingency table for the event "value > threshold" (NaN pairs dropped)."""
    f, o = _pairs(forecast, observed)
    return contingency_from_events(f > threshold, o > threshold)


def brier_score(probability: np.ndarray, outcome: np.ndarray) -> float:
    """Mean squared difference between probability (0..1) and outcome (0 or 1)."""
    p, o = _pairs(probability, outcome)
    return float(np.mean((p - o) ** 2)) if len(p) else float("nan")


def brier_skill_score(
    probability: np.ndarray, outcome: np.ndarray, reference: np.ndarray | float
) -> float:
    """1 − BS/BS_ref with the reference probability (an array or one climatological
    value); 1 is perfect, 0 no better than the reference, < 0 worse."""
    p = np.asarray(probability, dtype=float)
    o = np.asarray(outcome, dtype=float)
    r = np.broadcast_to(np.asarray(reference, dtype=float), p.shape)
    keep = ~(np.isnan(p) | np.isnan(o) | np.isnan(r))
    if not keep.any():
        return float("nan")
    reference_score = np.mean((r[keep] - o[keep]) ** 2)
    if reference_score == 0:
        return float("nan")
    return float(1.0 - np.mean((p[keep] - o[keep]) ** 2) / reference_score)


def reliability_table(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data: per probability bin [lower, upper) (the last bin closed)
    the number of forecasts, their mean probability and the observed event frequency."""
    p, o = _pairs(probability, outcome)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append(
            {
                "bin_lower": float(edges[b]),
                "bin_upper": float(edges[b + 1]),
                "n": n,
                "mean_probability": float(p[inside].mean()) if n else float("nan"),
                "observed_frequency": float(o[inside].mean()) if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- bootstrap


def week_blocks(
    times: pd.DatetimeIndex | pd.Series, origin: pd.Timestamp | None = None
) -> np.ndarray:
    """Block labels: whole weeks (7 × 24 h) counted from ``origin`` (default: first time)."""
    index = pd.DatetimeIndex(times)
    start = index.min() if origin is None else origin
    return np.floor(np.asarray((index - start) / pd.Timedelta(days=7), dtype=float)).astype(
        np.int64
    )


def block_bootstrap(
    sums: np.ndarray,
    blocks: np.ndarray,
    statistic: Statistic,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` under resampling of blocks.

    ``sums`` is (n, k): per case, the k additive quantities the statistic needs (e.g.
    squared error and 1 for RMSE); ``blocks`` labels each case's block. ``statistic`` maps
    a (B, k) array of resampled totals to B values. Returns (low, high) at ``level``;
    NaN when there are no cases.
    """
    sums = np.atleast_2d(np.asarray(sums, dtype=float))
    if sums.shape[0] != len(blocks):
        sums = sums.T
    if len(blocks) == 0:
        return float("nan"), float("nan")
    labels, inverse = np.unique(np.asarray(blocks), return_inverse=True)
    per_block = np.zeros((len(labels), sums.shape[1]))
    np.add.at(per_block, inverse, sums)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(labels), np.full(len(labels), 1.0 / len(labels)), size=n_boot)
    totals = weights @ per_block
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.asarray(statistic(totals), dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def rmse_sums(forecast: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-case (squared error, 1); NaN pairs contribute zeros."""
    err = np.asarray(forecast, float) - np.asarray(observed, float)
    ok = ~np.isnan(err)
    return np.column_stack([np.where(ok, err**2, 0.0), ok.astype(float)])


def rmse_statistic(totals: np.ndarray) -> np.ndarray:
    return np.sqrt(totals[:, 0] / totals[:, 1])


def mae_sums(forecast: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per-case (absolute error, 1)."""
    err = np.asarray(forecast, float) - np.asarray(observed, float)
    ok = ~np.isnan(err)
    return np.column_stack([np.where(ok, np.abs(err), 0.0), ok.astype(float)])


def mean_statistic(totals: np.ndarray) -> np.ndarray:
    return totals[:, 0] / totals[:, 1]


def rmse_ratio_sums(
    forecast: np.ndarray, reference: np.ndarray, observed: np.ndarray
) -> np.ndarray:
    """Per-case (model squared error, reference squared error) on common valid cases."""
    f = np.asarray(forecast, float)
    r = np.asarray(reference, float)
    o = np.asarray(observed, float)
    ok = ~(np.isnan(f) | np.isnan(r) | np.isnan(o))
    return np.column_stack([np.where(ok, (f - o) ** 2, 0.0), np.where(ok, (r - o) ** 2, 0.0)])


def ratio_sqrt_statistic(totals: np.ndarray) -> np.ndarray:
    return np.sqrt(totals[:, 0] / totals[:, 1])


def event_sums(forecast_event: np.ndarray, observed_event: np.ndarray) -> np.ndarray:
    """Per-case (hit, miss, false alarm) indicators."""
    f = np.asarray(forecast_event, dtype=bool)
    o = np.asarray(observed_event, dtype=bool)
    return np.column_stack([f & o, ~f & o, f & ~o]).astype(float)


def csi_statistic(totals: np.ndarray) -> np.ndarray:
    return totals[:, 0] / totals.sum(axis=1)


def pod_statistic(totals: np.ndarray) -> np.ndarray:
    return totals[:, 0] / (totals[:, 0] + totals[:, 1])


def far_statistic(totals: np.ndarray) -> np.ndarray:
    return totals[:, 2] / (totals[:, 0] + totals[:, 2])


def brier_sums(probability: np.ndarray, outcome: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-case (squared probability error, squared reference error)."""
    p = np.asarray(probability, float)
    o = np.asarray(outcome, float)
    r = np.broadcast_to(np.asarray(reference, float), p.shape)
    ok = ~(np.isnan(p) | np.isnan(o) | np.isnan(r))
    return np.column_stack([np.where(ok, (p - o) ** 2, 0.0), np.where(ok, (r - o) ** 2, 0.0)])


def skill_statistic(totals: np.ndarray) -> np.ndarray:
    return 1.0 - totals[:, 0] / totals[:, 1]


# --------------------------------------------------------------------------- one scoring


def daily_mean_table(
    times: pd.Series | pd.DatetimeIndex,
    values: np.ndarray | pd.Series,
    timezone: str,
    min_hours: int = MIN_HOURS_PER_DAY,
) -> pd.DataFrame:
    """Observed daily means: per local calendar day of ``timezone`` (columns
    ``local_date``, ``mean``, ``hours``), the mean of the valid (non-NaN) hourly values
    whose hour *starts* on that day, kept only with ``hours >= min_hours``.

    ``times``: aware hour starts (one value per hour; duplicates are the caller's
    business). This is the one definition the backtest and the service share.
    """
    index = pd.DatetimeIndex(times)
    if index.tz is None:
        raise ValueError("times must be timezone-aware")
    frame = pd.DataFrame(
        {
            "local_date": [t.date() for t in index.tz_convert(timezone)],
            "value": np.asarray(values, dtype=float),
        }
    ).dropna(subset=["value"])
    grouped = frame.groupby("local_date", sort=True)["value"]
    table = pd.DataFrame({"mean": grouped.mean(), "hours": grouped.count()}).reset_index()
    return table[table["hours"] >= min_hours].reset_index(drop=True)


def _counts(table: Contingency) -> dict[str, float]:
    return {
        "hits": table.hits,
        "misses": table.misses,
        "false_alarms": table.false_alarms,
        "correct_negatives": table.correct_negatives,
    }


def score_hourly(forecast: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Continuous scores of one hourly lead: ``n`` (valid pairs), ``rmse``, ``mae``,
    ``bias`` (µg/m³)."""
    f, o = _pairs(forecast, observed)
    return {"n": len(f), "rmse": rmse(f, o), "mae": mae(f, o), "bias": bias(f, o)}


def score_daily(
    p50: np.ndarray,
    observed: np.ndarray,
    *,
    probabilities: dict[float, np.ndarray] | None = None,
    warnings: dict[float, np.ndarray] | None = None,
    thresholds: tuple[float, ...] = SCORE_THRESHOLDS,
    reliability_threshold: float | None = RELIABILITY_THRESHOLD,
    reliability_bins: int = 10,
) -> dict[str, Any]:
    """Every score of one daily lead, from its cases (one per forecast day with an observed
    daily mean; cases whose ``observed`` or ``p50`` is NaN are dropped first).

    ``probabilities``: P(daily mean > T) per threshold T; ``warnings``: 0/1 warning
    decisions per T. Returns a flat dict: ``n``, ``rmse``, ``mae``, ``bias``; per T in
    ``thresholds`` ``observed_events_T`` and ``p50_{pod,far,csi}_T`` (forecast event
    p50 > T) and, for the T in ``warnings``, ``warn_{pod,far,csi,fbias}_T`` and
    ``warn_hits_T`` … counts; per T in ``probabilities`` ``brier_T``; and
    ``reliability_T`` (a list of bin records, see `reliability_table`) for
    ``reliability_threshold`` when its probability is given. Undefined ratios are NaN.
    """
    f = np.asarray(p50, dtype=float)
    o = np.asarray(observed, dtype=float)
    keep = ~(np.isnan(f) | np.isnan(o))
    f, o = f[keep], o[keep]
    out: dict[str, Any] = {"n": len(o), "rmse": rmse(f, o), "mae": mae(f, o), "bias": bias(f, o)}
    for t in thresholds:
        out[f"observed_events_{t:g}"] = int(np.sum(o > t))
        table = contingency_from_events(f > t, o > t)
        out[f"p50_pod_{t:g}"] = table.pod
        out[f"p50_far_{t:g}"] = table.far
        out[f"p50_csi_{t:g}"] = table.csi
    for t, decision in sorted((warnings or {}).items()):
        d = np.asarray(decision, dtype=float)[keep]
        valid = ~np.isnan(d)
        table = contingency_from_events(d[valid] == 1, o[valid] > t)
        out[f"warn_pod_{t:g}"] = table.pod
        out[f"warn_far_{t:g}"] = table.far
        out[f"warn_csi_{t:g}"] = table.csi
        out[f"warn_fbias_{t:g}"] = table.frequency_bias
        out.update({f"warn_{k}_{t:g}": v for k, v in _counts(table).items()})
    for t, probability in sorted((probabilities or {}).items()):
        p = np.asarray(probability, dtype=float)[keep]
        out[f"brier_{t:g}"] = brier_score(p, (o > t).astype(float))
    if (
        reliability_threshold is not None
        and probabilities
        and reliability_threshold in probabilities
    ):
        p = np.asarray(probabilities[reliability_threshold], dtype=float)[keep]
        table_frame = reliability_table(
            p, (o > reliability_threshold).astype(float), reliability_bins
        )
        out[f"reliability_{reliability_threshold:g}"] = table_frame.to_dict(orient="records")
    return out


def score_by_lead(
    cases: pd.DataFrame,
    *,
    kind: str,
    forecast: str = "p50",
    thresholds: tuple[float, ...] = SCORE_THRESHOLDS,
) -> dict[int, dict[str, Any]]:
    """`score_daily` (``kind="daily"``) or `score_hourly` (``"hourly"``) of every lead in
    ``cases`` (columns ``lead``, ``observed``, ``forecast`` and, daily, any
    ``p_gt_T`` / ``warn_T`` columns present), keyed by lead."""
    out: dict[int, dict[str, Any]] = {}
    for key, rows in cases.groupby("lead", sort=True):
        lead = int(cast(int, key))
        f = rows[forecast].to_numpy(dtype=float)
        o = rows["observed"].to_numpy(dtype=float)
        if kind == "hourly":
            out[lead] = dict(score_hourly(f, o))
            continue
        probabilities = {
            float(c.removeprefix("p_gt_")): rows[c].to_numpy(dtype=float)
            for c in rows.columns
            if c.startswith("p_gt_")
        }
        warnings = {
            float(c.removeprefix("warn_")): rows[c].to_numpy(dtype=float)
            for c in rows.columns
            if c.startswith("warn_")
        }
        out[lead] = score_daily(
            f, o, probabilities=probabilities, warnings=warnings, thresholds=thresholds
        )
    return out
