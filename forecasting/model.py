"""The PM2.5 forecast model: hourly quantiles, daily means and exceedance probabilities.

How it works
------------
* **Hourly quantiles.** Gradient boosting with the quantile (pinball) loss, one model
  per quantile (p10, p50, p90) and per lead group (1–6 h, 7–24 h, 25 h+), on the change
  of ``log1p(PM2.5)`` from the last observed value. Working on the change makes "no
  change" (persistence) the natural starting point, which the short leads need; the log
  scale makes errors multiplicative, as they are for PM. Quantiles are sorted per row,
  so p10 ≤ p50 ≤ p90 always holds.
* **The central value** (column p50) is the median for models with forecast weather and
  the conditional mean for models without (`central_statistic`, chosen on validation);
  p10 and p90 are always quantiles.
* **Daily means** of the local days D+1..D+3 (D = the issue's local date, in the city's
  time zone): the log-space average of the mean of the hourly quantiles over the day's
  hours and a direct daily-mean model. The daily p10/p90 spread is rescaled on a
  held-out slice (the last training year) so that 10 % of daily means fall below p10 and
  10 % above p90.
* **Exceedance probabilities** P(daily mean > 75, 115, 150, 250 µg/m³): a split-normal in
  ``log1p`` space through the daily p10/p50/p90, then isotonic calibration per threshold
  on the held-out slice; monotone in the threshold by construction.
* **Warning decisions** ``warn_T``: calibrated probability ≥ a cut-off chosen on the
  held-out slice to maximise CSI (training period only).

Training is time-ordered only: the held-out slice is the last ``holdout_days`` of the
training window, fitted on the earlier part (``TimeSeriesSplit``-style, one split), then
the models are refitted on the whole window. Nothing after ``train_end`` is read.

`predict_for_points` is the operational entry point (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy.special import ndtr
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from forecasting import features as fx
from forecasting.features import MetMode, PointSeries

FORMAT = "hazewarn-pm25-forecast"
FORMAT_VERSION = 1
MODEL_KIND = "gbm-quantile-log-change"

QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)
#: Daily-mean thresholds (µg/m³) with exceedance probabilities: the HJ 633 AQI breakpoints
#: of PM2.5 for "lightly", "moderately", "heavily" and "severely" polluted.
EXCEEDANCE_THRESHOLDS: tuple[float, ...] = (75.0, 115.0, 150.0, 250.0)
#: Thresholds with a yes/no warning decision.
WARN_THRESHOLDS: tuple[float, ...] = (75.0, 150.0, 250.0)
#: z-value of the 90th percentile of a standard normal.
Z90 = 1.2815515655446004

#: Inputs the model does not use, decided on time-ordered validation inside the training
#: years (2013-03..2015-02 fit, 2015-03..2016-02 scored), never on the test year:
#: day-of-year and weekday let trees memorise individual episodes of the three training
#: years (validation RMSE of the daily mean 5–10 % worse with them), and CO is scaled
#: differently between stations and years (negative permutation importance).
EXCLUDED_FEATURES: frozenset[str] = frozenset(
    {
        "doy_sin",
        "doy_cos",
        "weekday",
        "day_doy_sin",
        "day_doy_cos",
        "day_weekday",
        "co_0",
        "co_mean24",
    }
)


# --------------------------------------------------------------------------- estimators


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x)·log(1 + |x|): log1p for concentrations, defined for every real number."""
    values = np.asarray(values, dtype=float)
    return np.sign(values) * np.log1p(np.abs(values))


def signed_expm1(values: np.ndarray) -> np.ndarray:
    """Inverse of `signed_log1p`."""
    values = np.asarray(values, dtype=float)
    return np.sign(values) * np.expm1(np.abs(values))


class QuantileGradientBoosting(RegressorMixin, BaseEstimator):
    """Several quantiles of y by gradient boosting with the pinball loss.

    One `HistGradientBoostingRegressor` per quantile. With ``log_target`` the models
    learn ``signed_log1p(y)``; with ``baseline_column`` they learn the change from that
    column's value (same transform), e.g. the last observed concentration, so that the
    default prediction is "no change". Missing inputs are allowed (NaN). `predict` gives
    the median (the quantile nearest 0.5), `predict_quantiles` every quantile, sorted
    per row so they never cross. ``max_samples`` caps the training rows (a random
    subset) to bound the fitting time.
    """

    def __init__(
        self,
        quantiles: Sequence[float] = QUANTILES,
        baseline_column: int | None = None,
        log_target: bool = True,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 100,
        l2_regularization: float = 1.0,
        max_samples: int | None = None,
        random_state: int | None = 0,
        center: str = "median",
    ) -> None:
        self.center = center
        self.quantiles = quantiles
        self.baseline_column = baseline_column
        self.log_target = log_target
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_samples = max_samples
        self.random_state = random_state

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        # A quantile model with strong leaf-size regularisation scores modestly on the
        # tiny random data of the estimator checks.
        tags.regressor_tags.poor_score = True
        return tags

    def fit(self, X: Any, y: Any) -> QuantileGradientBoosting:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        quantiles = np.asarray(self.quantiles, dtype=float)
        if quantiles.ndim != 1 or not len(quantiles):
            raise ValueError("quantiles must be a non-empty sequence")
        if np.any((quantiles <= 0) | (quantiles >= 1)) or np.any(np.diff(quantiles) <= 0):
            raise ValueError("quantiles must be increasing and strictly between 0 and 1")
        if self.baseline_column is not None and not 0 <= self.baseline_column < X.shape[1]:
            raise ValueError(f"baseline_column {self.baseline_column} is not a column of X")
        y = np.asarray(y, dtype=float)
        if self.center not in ("median", "mean"):
            raise ValueError("center must be 'median' or 'mean'")
        if self.baseline_column is not None:
            column = X[:, self.baseline_column]
            finite = column[np.isfinite(column)]
            self.baseline_fill_ = float(np.median(finite)) if len(finite) else 0.0
        self.mean_index_ = (
            int(np.argmin(np.abs(quantiles - 0.5))) if self.center == "mean" else None
        )
        if self.max_samples is not None and len(y) > self.max_samples:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(len(y), size=self.max_samples, replace=False))
            X, y = X[rows], y[rows]
        self.estimators_ = [
            self._fit_one(
                X, y, i, quantile, None if self.random_state is None else self.random_state + i
            )
            for i, quantile in enumerate(quantiles)
        ]
        self.quantiles_ = quantiles
        self.n_iter_ = np.array([model.n_iter_ for model in self.estimators_])
        return self

    def _fit_one(
        self, X: np.ndarray, y: np.ndarray, index: int, quantile: float, seed: int | None
    ) -> HistGradientBoostingRegressor:
        is_mean = index == self.mean_index_
        # Small inputs (as in the estimator checks) cannot honour a large leaf size.
        leaf = int(max(1, min(self.min_samples_leaf, len(y) // 4)))
        model = HistGradientBoostingRegressor(
            loss="squared_error" if is_mean else "quantile",
            quantile=None if is_mean else float(quantile),
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=seed,
        )
        if is_mean:
            # The expected value is what squared error estimates, on the raw scale (the
            # change from the baseline): mean-unbiased, where the log scale is not.
            return model.fit(X, y - self._raw_offset(X))
        return model.fit(X, self._transform(y) - self._offset(X))

    def _transform(self, values: np.ndarray) -> np.ndarray:
        return signed_log1p(values) if self.log_target else np.asarray(values, dtype=float)

    def _inverse(self, values: np.ndarray) -> np.ndarray:
        return signed_expm1(values) if self.log_target else values

    def _offset(self, X: np.ndarray) -> np.ndarray:
        if self.baseline_column is None:
            return np.zeros(X.shape[0])
        column = X[:, self.baseline_column].astype(float)
        column = np.where(np.isfinite(column), column, self.baseline_fill_)
        return self._transform(column)

    def _raw_offset(self, X: np.ndarray) -> np.ndarray:
        if self.baseline_column is None:
            return np.zeros(X.shape[0])
        column = X[:, self.baseline_column].astype(float)
        return np.where(np.isfinite(column), column, self.baseline_fill_)

    def predict_quantiles(self, X: Any) -> np.ndarray:
        """(n_samples, n_quantiles) predictions, ascending in each row."""
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        offset = self._offset(X)
        columns = []
        for i, model in enumerate(self.estimators_):
            if i == self.mean_index_:
                columns.append(model.predict(X) + self._raw_offset(X))
            else:
                columns.append(self._inverse(model.predict(X) + offset))
        return np.sort(np.column_stack(columns), axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """The median (the fitted quantile nearest 0.5)."""
        check_is_fitted(self, "estimators_")
        middle = int(np.argmin(np.abs(self.quantiles_ - 0.5)))
        return self.predict_quantiles(X)[:, middle]


class LeadGroupedRegressor(RegressorMixin, BaseEstimator):
    """One clone of ``estimator`` per group of a column's values (e.g. forecast lead).

    Rows go to group ``k`` when ``edges[k-1] <= X[:, group_column] < edges[k]``. Short
    leads behave differently from long ones (persistence is hard to beat at 1 h, while
    weather dominates at 2 days), and separate models let each group keep its own trees;
    ``group_params`` sets parameters of one group's clone (group index → params). Groups
    unseen in fit use the nearest fitted group. Predictions of the wrapped
    estimator's ``predict_quantiles`` are passed through.
    """

    def __init__(
        self,
        estimator: Any = None,
        group_column: int = 0,
        edges: Sequence[float] = (6.5, 24.5),
        group_params: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        self.estimator = estimator
        self.group_column = group_column
        self.edges = edges
        self.group_params = group_params

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.regressor_tags.poor_score = True
        return tags

    def _groups(self, X: np.ndarray) -> np.ndarray:
        return np.searchsorted(
            np.asarray(self.edges, dtype=float), X[:, self.group_column], side="right"
        )

    def fit(self, X: Any, y: Any) -> LeadGroupedRegressor:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        if not 0 <= self.group_column < X.shape[1]:
            raise ValueError(f"group_column {self.group_column} is not a column of X")
        base = self.estimator if self.estimator is not None else QuantileGradientBoosting()
        groups = self._groups(X)
        self.estimators_ = {}
        overrides = self.group_params or {}
        for group in np.unique(groups):
            rows = groups == group
            model = clone(base).set_params(**dict(overrides.get(int(group), {})))
            self.estimators_[int(group)] = model.fit(X[rows], np.asarray(y)[rows])
        return self

    def _route(self, X: np.ndarray) -> np.ndarray:
        fitted = np.array(sorted(self.estimators_))
        groups = self._groups(X)
        nearest = fitted[np.abs(groups[:, None] - fitted[None, :]).argmin(axis=1)]
        return nearest

    def predict_quantiles(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        route = self._route(X)
        out: np.ndarray | None = None
        for group, model in self.estimators_.items():
            rows = route == group
            if not rows.any():
                continue
            values = model.predict_quantiles(X[rows])
            if out is None:
                out = np.full((X.shape[0], values.shape[1]), np.nan)
            out[rows] = values
        assert out is not None
        return out

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        route = self._route(X)
        out = np.full(X.shape[0], np.nan)
        for group, model in self.estimators_.items():
            rows = route == group
            if rows.any():
                out[rows] = model.predict(X[rows])
        return out


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class TrainingConfig:
    """Choices of a training run (all stored in the artefact)."""

    met_mode: MetMode = "perfect"
    #: Hourly leads reported (h); the model also covers the hours of D+1..D+3.
    max_lead: int = 72
    lead_days: tuple[int, ...] = (1, 2, 3)
    #: Local issue hours used for training examples (the backtest issues at 12:00).
    issue_hours: tuple[int, ...] = (12,)
    #: The last days of the training window held out for calibration and cut-offs.
    holdout_days: int = 365
    #: Lead-group boundaries (h).
    lead_edges: tuple[float, ...] = (6.5, 24.5)
    #: Boosting iterations of each hourly model; ``None`` = by met mode (see
    #: `boosting_iterations`). Training stores the resolved number.
    max_iter: int | None = None
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    #: Cap on training rows per lead group (random subset), bounding the fitting time.
    max_samples: int | None = 60_000
    #: The direct daily-mean model (far fewer rows, so smaller leaves); ``None`` = 1.5 ×
    #: the hourly iterations.
    daily_max_iter: int | None = None
    daily_learning_rate: float = 0.05
    daily_min_samples_leaf: int = 40
    #: The central forecast (column p50): "median", "mean", or "auto" = the one that scored
    #: better on time-ordered validation inside the training years: the median with
    #: forecast weather (``perfect``), the mean without (``history``). See `central_statistic`.
    center: str = "auto"
    #: History needed before the first training issue (days): the 7-day PM mean and the
    #: 30-day weather anomaly need it.
    spin_up_days: int = 8
    random_state: int = 0


#: Weather a forecast cannot do without: temperature, humidity and wind drive haze (a grid
#: with t2m, d2m or rh, u10 and v10 provides all of these through `forecasting.grids`).
MET_REQUIRED: tuple[str, ...] = ("t2m", "d2m", "rh", "u10", "v10", "wspd")
#: Weather the features read but a forecast can do without (degraded); a model keeps those
#: its training series actually had (station weather has no boundary-layer height).
MET_OPTIONAL_CANDIDATES: tuple[str, ...] = ("sp", "tp", "blh")
MET_OPTIONAL: tuple[str, ...] = ("sp", "tp")


def met_seen(series_by_point: Mapping[str, PointSeries]) -> tuple[str, ...]:
    """The optional met variables with at least one value in the training series."""
    return tuple(
        name
        for name in MET_OPTIONAL_CANDIDATES
        if any(
            name in series.values and bool(np.isfinite(series.values[name]).any())
            for series in series_by_point.values()
        )
    )


@dataclass
class ForecastModel:
    """A trained model with everything needed to predict and to explain itself."""

    version: str
    met_mode: MetMode
    config: TrainingConfig
    #: Inputs of the hourly model, in order (``lead`` first: it routes the lead groups).
    features: list[str]
    hourly: LeadGroupedRegressor
    #: Inputs of the direct daily-mean model, in order.
    daily_features: list[str]
    daily: QuantileGradientBoosting
    #: lead day → (λ_low, λ_high) rescaling the daily log-spread below and above p50.
    daily_spread: dict[int, tuple[float, float]]
    #: threshold (µg/m³) → isotonic map from raw to calibrated exceedance probability.
    calibrators: dict[float, IsotonicRegression]
    #: threshold (µg/m³) → probability cut-off for the yes/no warning.
    warn_cutoffs: dict[float, float]
    training: dict[str, Any] = field(default_factory=dict)
    skill: dict[str, Any] = field(default_factory=dict)
    #: Forecast-weather variables (canonical, `forecasting.grids`) the model needs: a grid
    #: without one of them is refused. (Artefacts from before this field read the default.)
    met_required: tuple[str, ...] = MET_REQUIRED
    #: Variables it was trained with but can do without: a run missing one is degraded.
    met_optional: tuple[str, ...] = MET_OPTIONAL

    @property
    def lead_days(self) -> tuple[int, ...]:
        return self.config.lead_days

    @property
    def max_lead(self) -> int:
        return self.config.max_lead


def central_statistic(config: TrainingConfig) -> str:
    """ "median" or "mean": the statistic the p50 column carries for this configuration.

    With forecast weather (``perfect``) the predictive distribution is narrow, the median
    and the mean nearly agree and the pinball loss is the more robust fit (validation
    RMSE of the daily mean 2 % better than the mean). Without it (``history``) the
    distribution is wide and right-skewed; RMSE rewards the expected value, and the mean
    scored 7 % better than the median at D+1 on validation. p10 and p90 are always
    quantiles; the 1–6 h lead group always uses the median.
    """
    if config.center == "auto":
        return "median" if config.met_mode == "perfect" else "mean"
    if config.center not in ("median", "mean"):
        raise ValueError("center must be 'auto', 'median' or 'mean'")
    return config.center


#: Boosting iterations per hourly model by met mode, chosen on time-ordered validation inside
#: the training years (fit 2013-03..2015-02, six training stations scored 2015-03..2016-02;
#: `bench/iterations.py`): with forecast weather 300 iterations gave 0.4-1.4 % lower daily-
#: mean RMSE at D+1..D+3 than 200 (400 gained little more); without it 300 and 400 gained
#: 0.3 % at D+1 and lost at D+2 and D+3, so 200.
DEFAULT_ITERATIONS: dict[str, int] = {"perfect": 300, "history": 200}


def boosting_iterations(config: TrainingConfig) -> tuple[int, int]:
    """(hourly, daily) boosting iterations of ``config``: the per-mode default
    (`DEFAULT_ITERATIONS`) where ``max_iter`` is ``None``, and the daily model 1.5 × the
    hourly one unless ``daily_max_iter`` is given. Raises ValueError below 1."""
    hourly = DEFAULT_ITERATIONS[config.met_mode] if config.max_iter is None else config.max_iter
    daily = max(1, round(1.5 * hourly)) if config.daily_max_iter is None else config.daily_max_iter
    if hourly < 1 or daily < 1:
        raise ValueError(f"boosting iterations must be at least 1 (got {hourly}, {daily})")
    return hourly, daily


def internal_leads(max_lead: int, lead_days: Sequence[int], issue_hours: Sequence[int]) -> int:
    """Hourly leads needed: the reported leads and every hour up to the end of the last
    lead day, for the earliest issue hour (local) among ``issue_hours``."""
    earliest = min(issue_hours) if len(issue_hours) else 0
    return max(max_lead, (24 - earliest) + 24 * max(lead_days) - 1)


def met_hours_needed(model: ForecastModel, issue_time: pd.Timestamp, tz: str) -> int:
    """Hours after ``issue_time`` the forecast weather should cover for every output: the
    hourly leads and the whole of the last local lead day. Beyond ``max_lead`` it only
    feeds the daily means; missing hours there degrade D+3 rather than stop it."""
    local = pd.Timestamp(issue_time).tz_convert(tz)
    return internal_leads(model.max_lead, model.lead_days, [local.hour])


def _feature_frame(design: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    return design.reindex(columns=list(names)).to_numpy(dtype=float)


def _usable(design: pd.DataFrame, drop: Sequence[str]) -> list[str]:
    """Model inputs of a design: not excluded and not entirely missing (a grid without
    boundary-layer height, say, leaves those columns empty)."""
    names = fx.feature_columns(design.drop(columns=list(drop)))
    return [c for c in names if c not in EXCLUDED_FEATURES and design[c].notna().any()]


def training_examples(
    series_by_point: Mapping[str, PointSeries],
    first_day: pd.Timestamp | None,
    last_day: pd.Timestamp,
    config: TrainingConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly and daily design rows with observed targets ``y`` (µg/m³) for every point
    and every issue (local ``issue_hours``) from ``first_day`` (default: after the
    spin-up) to ``last_day``. Rows without an observed target are dropped."""
    leads = range(1, internal_leads(config.max_lead, config.lead_days, config.issue_hours) + 1)
    hourly_frames, daily_frames = [], []
    for point, series in series_by_point.items():
        start = series.local()[0].tz_localize(None).normalize() + pd.Timedelta(
            days=config.spin_up_days
        )
        if first_day is not None:
            start = max(start, pd.Timestamp(first_day))
        for hour in config.issue_hours:
            issues = fx.issue_positions(series, start, last_day, hour)
            if not len(issues):
                continue
            hourly = fx.hourly_design(series, issues, leads, config.met_mode)
            hourly["y"] = fx.hourly_targets(series, hourly["target_pos"].to_numpy())
            hourly["point"] = point
            hourly["issue_time"] = series.times[hourly["issue_pos"].to_numpy()]
            hourly["target_time"] = series.times[0] + pd.to_timedelta(hourly["target_pos"], "h")
            hourly_frames.append(hourly[hourly["y"].notna()])
            daily = fx.daily_design(series, issues, config.lead_days, config.met_mode)
            daily["y"] = fx.daily_means(
                series, daily["start_pos"].to_numpy(), daily["end_pos"].to_numpy()
            )
            daily["point"] = point
            daily["issue_time"] = series.times[daily["issue_pos"].to_numpy()]
            daily["end_time"] = series.times[0] + pd.to_timedelta(daily["end_pos"], "h")
            daily_frames.append(daily[daily["y"].notna()])
    if not hourly_frames or not daily_frames:
        raise ValueError("no training issues: the series are too short")
    return (
        pd.concat(hourly_frames, ignore_index=True),
        pd.concat(daily_frames, ignore_index=True),
    )


def train_forecast_model(
    series_by_point: Mapping[str, PointSeries],
    *,
    train_end: date,
    config: TrainingConfig | None = None,
    train_start: date | None = None,
    progress: Any = None,
) -> ForecastModel:
    """Train on every point's series up to the end of ``train_end`` (local date).

    ``series_by_point`` holds each training point's `PointSeries` (observations and
    station weather as met, see `forecasting.station_met`). The series must not extend
    past the end of ``train_end`` local (cut them with `truncate_series`), so no later
    value can leak in. ``progress``: an optional callable ``progress(step: str)``.
    """
    config = config or TrainingConfig()
    fx._check_mode(config.met_mode)
    hourly_iterations, daily_iterations = boosting_iterations(config)
    # The artefact keeps the numbers used, not "by mode".
    config = replace(config, max_iter=hourly_iterations, daily_max_iter=daily_iterations)
    step = progress or (lambda _message: None)
    tz = _common_tz(series_by_point)
    last_day = pd.Timestamp(train_end)
    holdout_first_day = last_day - pd.Timedelta(days=config.holdout_days - 1)
    holdout_start = _local_midnight(holdout_first_day, tz)

    step("building training examples")
    first_day = pd.Timestamp(train_start) if train_start is not None else None
    hourly_rows, daily_rows = training_examples(series_by_point, first_day, last_day, config)
    names = _usable(hourly_rows, ["y", "point", "issue_time", "target_time"])
    names.remove("lead")
    names.insert(0, "lead")
    daily_names = _usable(daily_rows, ["y", "point", "issue_time", "end_time"])
    center = central_statistic(config)
    if "pm25_last" not in names:
        raise ValueError("no PM2.5 history in the training series")

    def fit(
        hourly: pd.DataFrame, daily: pd.DataFrame
    ) -> tuple[LeadGroupedRegressor, QuantileGradientBoosting]:
        estimator = QuantileGradientBoosting(
            quantiles=QUANTILES,
            baseline_column=names.index("pm25_last"),
            max_iter=hourly_iterations,
            learning_rate=config.learning_rate,
            max_leaf_nodes=config.max_leaf_nodes,
            min_samples_leaf=config.min_samples_leaf,
            l2_regularization=config.l2_regularization,
            max_samples=config.max_samples,
            random_state=config.random_state,
            center=center,
        )
        # The first lead group keeps the median: at 1–6 h the spread is narrow (median and
        # mean nearly agree) and the pinball loss is robust to single-hour spikes.
        grouped = LeadGroupedRegressor(
            estimator,
            group_column=0,
            edges=config.lead_edges,
            group_params={0: {"center": "median"}},
        )
        grouped.fit(_feature_frame(hourly, names), hourly["y"].to_numpy())
        direct = QuantileGradientBoosting(
            quantiles=QUANTILES,
            max_iter=daily_iterations,
            learning_rate=config.daily_learning_rate,
            max_leaf_nodes=config.max_leaf_nodes,
            min_samples_leaf=config.daily_min_samples_leaf,
            l2_regularization=config.l2_regularization,
            random_state=config.random_state,
            center=center,
        )
        direct.fit(_feature_frame(daily, daily_names), daily["y"].to_numpy())
        return grouped, direct

    early_hourly = hourly_rows[hourly_rows["target_time"] < holdout_start]
    early_daily = daily_rows[daily_rows["end_time"] <= holdout_start]
    if not len(early_daily) or not (daily_rows["issue_time"] >= holdout_start).any():
        raise ValueError(
            f"the training window must be longer than the {config.holdout_days}-day holdout"
        )
    step(
        f"fitting on the early part ({len(early_hourly):,} hourly, "
        f"{len(early_daily):,} daily examples)"
    )
    early_hourly_model, early_daily_model = fit(early_hourly, early_daily)
    early = ForecastModel(
        version="early",
        met_mode=config.met_mode,
        config=config,
        features=names,
        hourly=early_hourly_model,
        daily_features=daily_names,
        daily=early_daily_model,
        daily_spread={k: (1.0, 1.0) for k in config.lead_days},
        calibrators={},
        warn_cutoffs={},
    )

    step("calibrating on the held-out last year")
    held_out = []
    for point, series in series_by_point.items():
        for hour in config.issue_hours:
            issues = fx.issue_positions(series, holdout_first_day, last_day, hour)
            _hourly, daily = forecast_series(early, series, issues, raw=True)
            daily["point"] = point
            daily["observed"] = fx.daily_means(
                series, daily["start_pos"].to_numpy(), daily["end_pos"].to_numpy()
            )
            daily["persistence"] = series.window_mean(
                "pm25", daily["issue_pos"].to_numpy() - 23, daily["issue_pos"].to_numpy() + 1, 1
            )
            held_out.append(daily)
    holdout = pd.concat(held_out, ignore_index=True)
    holdout = holdout[holdout["observed"].notna()].reset_index(drop=True)
    spread = fit_daily_spread(holdout, config.lead_days)
    holdout = apply_spread(holdout, spread)
    raw = exceedance_probabilities(holdout)
    calibrators = {}
    for threshold in EXCEEDANCE_THRESHOLDS:
        outcome = (holdout["observed"].to_numpy() > threshold).astype(float)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
        calibrators[threshold] = iso.fit(raw[threshold], outcome)
    calibrated = calibrate(raw, calibrators)
    observed = holdout["observed"].to_numpy()
    cutoffs = {t: best_csi_cutoff(calibrated[t], observed > t) for t in WARN_THRESHOLDS}
    skill = holdout_skill(holdout, calibrated, cutoffs)

    step(f"refitting on the whole window ({len(hourly_rows):,} hourly examples)")
    hourly_model, daily_model = fit(hourly_rows, daily_rows)
    return ForecastModel(
        version=f"{MODEL_KIND}-{config.met_mode}-{last_day:%Y%m%d}",
        met_mode=config.met_mode,
        config=config,
        features=names,
        hourly=hourly_model,
        daily_features=daily_names,
        daily=daily_model,
        daily_spread=spread,
        calibrators=calibrators,
        warn_cutoffs=cutoffs,
        met_required=MET_REQUIRED,
        met_optional=met_seen(series_by_point),
        training={
            "points": sorted(series_by_point),
            "timezone": tz,
            "first_issue": hourly_rows["issue_time"].min().isoformat(),
            "last_issue": hourly_rows["issue_time"].max().isoformat(),
            "train_end": last_day.date().isoformat(),
            "holdout_first_day": holdout_first_day.date().isoformat(),
            "hourly_examples": len(hourly_rows),
            "daily_examples": len(daily_rows),
            "issue_hours_local": list(config.issue_hours),
            "central_statistic": center,
        },
        skill=skill,
    )


def _common_tz(series_by_point: Mapping[str, PointSeries]) -> str:
    zones = {s.tz for s in series_by_point.values()}
    if len(zones) != 1:
        raise ValueError("train on points of one time zone at a time")
    return zones.pop()


def _local_midnight(day: pd.Timestamp, tz: str) -> pd.Timestamp:
    return pd.Timestamp(day).normalize().tz_localize(tz).tz_convert("UTC")


def truncate_series(series: PointSeries, end: pd.Timestamp) -> PointSeries:
    """The series cut before ``end`` (UTC instant, exclusive)."""
    keep = int(series.times.searchsorted(end))
    return PointSeries(
        times=series.times[:keep],
        values={k: v[:keep] for k, v in series.values.items() if not k.startswith("_")},
        tz=series.tz,
    )


# --------------------------------------------------------------------------- forecasting


def forecast_series(
    model: ForecastModel, series: PointSeries, issues: np.ndarray, raw: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecasts for one point at the issue positions.

    Returns ``hourly`` (issue_pos, lead 1..max_lead, p10, p50, p90; µg/m³) and ``daily``
    (issue_pos, lead_day, start_pos, end_pos, p10, p50, p90, p_gt_75, p_gt_115,
    p_gt_150, p_gt_250, warn_75, warn_150, warn_250). With ``raw`` the daily frame holds
    the uncalibrated blend ``raw_p10, raw_p50, raw_p90`` instead (used in training). The
    series must hold the history up to each issue and, for a ``perfect`` model, the
    forecast weather after it; positions past its end read as missing.
    """
    return forecast_many(model, [(series, issues)], raw=raw)[0]


def forecast_many(
    model: ForecastModel,
    items: Sequence[tuple[PointSeries, np.ndarray]],
    raw: bool = False,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """`forecast_series` for many (series, issue positions) pairs, with one call of each
    estimator for all of them: the features are built point by point, the trees are
    evaluated once on the stacked rows (much faster for many points than a call each)."""
    prepared: list[tuple[np.ndarray, int, pd.DataFrame, pd.DataFrame] | None] = []
    for series, issues in items:
        issues = np.asarray(issues, dtype=np.int64)
        if not len(issues):
            prepared.append(None)
            continue
        hours_local = series.local()[np.clip(issues, 0, len(series) - 1)].hour
        n_leads = internal_leads(model.max_lead, model.lead_days, [int(h) for h in hours_local])
        design = fx.hourly_design(series, issues, np.arange(1, n_leads + 1), model.met_mode)
        days = fx.daily_design(series, issues, model.lead_days, model.met_mode)
        prepared.append((issues, n_leads, design, days))
    filled = [p for p in prepared if p is not None]
    if filled:
        hourly_q = model.hourly.predict_quantiles(
            np.vstack([_feature_frame(p[2], model.features) for p in filled])
        )
        daily_q = model.daily.predict_quantiles(
            np.vstack([_feature_frame(p[3], model.daily_features) for p in filled])
        )
    out = []
    hourly_at = daily_at = 0
    for entry in prepared:
        if entry is None:
            out.append((_empty_hourly(), _empty_daily(raw)))
            continue
        issues, n_leads, design, days = entry
        cube = hourly_q[hourly_at : hourly_at + len(design)].reshape(
            len(issues), n_leads, len(QUANTILES)
        )
        direct = daily_q[daily_at : daily_at + len(days)]
        hourly_at += len(design)
        daily_at += len(days)
        out.append(_assemble(model, issues, n_leads, cube, days, direct, raw))
    return out


def forecast_batch(
    model: ForecastModel, series: PointSeries, issue: int, raw: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`forecast_series` for a batch of points issued at one position: the operational path.

    ``series`` is a batch `PointSeries` (arrays ``(points, hours)``: the points share the
    hourly axis and the time zone) and ``issue`` one position on its axis. The hourly and
    daily design matrices of every point are built at once over the (point, hour) arrays
    (`features.hourly_batch` / `daily_batch`), each estimator is evaluated once on all
    rows, and the frames are assembled and calibrated for all points together.

    Returns the frames of `forecast_series` with a first column ``row`` (the point's row
    in the batch), point-major; row ``p`` holds exactly what `forecast_series` gives for
    the one-point series of row ``p`` (a test holds them equal).
    """
    if len(series.rows) != 1:
        raise ValueError("forecast_batch needs a batch series with (points, hours) arrays")
    n_points = series.rows[0]
    hour = int(series.local_hour(np.array([issue]))[0])
    n_leads = internal_leads(model.max_lead, model.lead_days, [hour])
    n_days = len(model.lead_days)
    if n_points == 0:
        hourly, daily = _empty_hourly(), _empty_daily(raw)
        hourly.insert(0, "row", [])
        daily.insert(0, "row", [])
        return hourly, daily
    base = fx.issue_features(series, np.array([issue], dtype=np.int64))
    design = fx.hourly_batch(series, issue, np.arange(1, n_leads + 1), model.met_mode, base)
    days = fx.daily_batch(series, issue, model.lead_days, model.met_mode, base)
    hourly_q = model.hourly.predict_quantiles(_batch_matrix(design, model.features))
    direct = model.daily.predict_quantiles(_batch_matrix(days, model.daily_features))
    cube = hourly_q.reshape(n_points, n_leads, len(QUANTILES))
    # Point-major rows, as `daily_design` gives them issue-major for one point.
    day_rows = pd.DataFrame(
        {name: days[name].ravel() for name in ("issue_pos", "start_pos", "end_pos", "lead_day")}
    )
    hourly, daily = _assemble(
        model, np.full(n_points, issue, dtype=np.int64), n_leads, cube, day_rows, direct, raw
    )
    hourly.insert(0, "row", np.repeat(np.arange(n_points), model.max_lead))
    daily.insert(0, "row", np.repeat(np.arange(n_points), n_days))
    return hourly, daily


def _batch_matrix(columns: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """The model inputs ``names`` of a batch design (columns of shape (points, k)) as one
    (points·k, features) float matrix, point-major; absent columns are NaN (as
    `_feature_frame` reindexes)."""
    shape = next(iter(columns.values())).shape
    matrix = np.full((*shape, len(names)), np.nan)
    for j, name in enumerate(names):
        if name in columns:
            matrix[..., j] = columns[name]
    return matrix.reshape(-1, len(names))


def _assemble(
    model: ForecastModel,
    issues: np.ndarray,
    n_leads: int,
    cube: np.ndarray,
    days: pd.DataFrame,
    direct: np.ndarray,
    raw: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly and daily frames from predicted quantiles: of one point (a row of ``cube``
    per issue) or of a batch at one issue (a row per point, `forecast_batch`); every
    step works row by row, so a row's results do not depend on the others."""
    hourly = pd.DataFrame(
        {
            "issue_pos": np.repeat(issues, model.max_lead),
            "lead": np.tile(np.arange(1, model.max_lead + 1), len(issues)),
            "p10": cube[:, : model.max_lead, 0].ravel(),
            "p50": cube[:, : model.max_lead, 1].ravel(),
            "p90": cube[:, : model.max_lead, 2].ravel(),
        }
    )
    issue_rep = days["issue_pos"].to_numpy()
    start = days["start_pos"].to_numpy()
    end = days["end_pos"].to_numpy()
    row = np.repeat(np.arange(len(issues)), len(model.lead_days))
    # Cumulative sums over leads give every day's mean of the hourly quantiles at once.
    cumulative = np.concatenate([np.zeros((len(issues), 1, 3)), np.cumsum(cube, axis=1)], axis=1)
    lo = np.clip(start - issue_rep - 1, 0, n_leads)
    hi = np.clip(end - issue_rep - 1, 0, n_leads)
    inside = (start - issue_rep >= 1) & (end - issue_rep - 1 <= n_leads)
    hours = np.maximum(hi - lo, 1)
    aggregated = (cumulative[row, hi] - cumulative[row, lo]) / hours[:, None]
    # Equal blend in log space of two views of the same day: the mean of the hourly
    # quantiles (fine timing of the weather) and the direct daily model (fewer, less
    # noisy examples). On validation the blend beat either alone.
    blend = np.where(
        inside[:, None],
        np.expm1(0.5 * (np.log1p(np.maximum(aggregated, 0)) + np.log1p(np.maximum(direct, 0)))),
        direct,
    )
    blend = np.sort(blend, axis=1)
    daily = pd.DataFrame(
        {
            "issue_pos": issue_rep,
            "lead_day": days["lead_day"].to_numpy().astype(int),
            "start_pos": start,
            "end_pos": end,
            "raw_p10": blend[:, 0],
            "raw_p50": blend[:, 1],
            "raw_p90": blend[:, 2],
        }
    )
    if raw:
        return hourly, daily
    daily = apply_spread(daily, model.daily_spread)
    probabilities = calibrate(exceedance_probabilities(daily), model.calibrators)
    for threshold, values in probabilities.items():
        daily[f"p_gt_{threshold:g}"] = values
    for threshold in WARN_THRESHOLDS:
        daily[f"warn_{threshold:g}"] = (
            probabilities[threshold] >= model.warn_cutoffs[threshold]
        ).astype(int)
    return hourly, daily[_empty_daily(raw=False).columns.tolist()]


def _empty_hourly() -> pd.DataFrame:
    return pd.DataFrame(columns=["issue_pos", "lead", "p10", "p50", "p90"])


def _empty_daily(raw: bool) -> pd.DataFrame:
    columns = ["issue_pos", "lead_day", "start_pos", "end_pos"]
    if raw:
        columns += ["raw_p10", "raw_p50", "raw_p90"]
    else:
        columns += ["p10", "p50", "p90"]
        columns += [f"p_gt_{t:g}" for t in EXCEEDANCE_THRESHOLDS]
        columns += [f"warn_{t:g}" for t in WARN_THRESHOLDS]
    return pd.DataFrame(columns=columns)


def fit_daily_spread(
    holdout: pd.DataFrame, lead_days: Sequence[int]
) -> dict[int, tuple[float, float]]:
    """Per lead day, factors (λ_low, λ_high) on the log-spread of the raw daily quantiles
    so that 10 % of observed daily means fall below p10 and 10 % above p90.

    The mean of hourly p10s is not the p10 of the daily mean (hourly errors partly average
    out), so the raw spread is rescaled on held-out data. Factors are clipped to 0.2..5.
    """
    spread: dict[int, tuple[float, float]] = {}
    for k in lead_days:
        rows = holdout[holdout["lead_day"] == k]
        z50 = np.log1p(rows["raw_p50"].to_numpy())
        low = np.maximum(z50 - np.log1p(rows["raw_p10"].to_numpy()), 1e-3)
        high = np.maximum(np.log1p(rows["raw_p90"].to_numpy()) - z50, 1e-3)
        observed = np.log1p(rows["observed"].to_numpy())
        ok = np.isfinite(z50) & np.isfinite(observed)
        if ok.sum() < 20:
            spread[k] = (1.0, 1.0)
            continue
        lam_low = float(np.quantile((z50 - observed)[ok] / low[ok], 1.0 - QUANTILES[0]))
        lam_high = float(np.quantile((observed - z50)[ok] / high[ok], QUANTILES[2]))
        spread[k] = (float(np.clip(lam_low, 0.2, 5.0)), float(np.clip(lam_high, 0.2, 5.0)))
    return spread


def apply_spread(daily: pd.DataFrame, spread: Mapping[int, tuple[float, float]]) -> pd.DataFrame:
    """Daily p10/p50/p90 from the raw daily quantiles and the spread factors."""
    daily = daily.copy()
    z50 = np.log1p(daily["raw_p50"].to_numpy())
    low = np.maximum(z50 - np.log1p(daily["raw_p10"].to_numpy()), 1e-3)
    high = np.maximum(np.log1p(daily["raw_p90"].to_numpy()) - z50, 1e-3)
    factors = np.array([spread.get(int(k), (1.0, 1.0)) for k in daily["lead_day"]]).reshape(-1, 2)
    daily["p50"] = np.expm1(z50)
    daily["p10"] = np.expm1(z50 - factors[:, 0] * low)
    daily["p90"] = np.expm1(z50 + factors[:, 1] * high)
    return daily


def exceedance_probabilities(daily: pd.DataFrame) -> dict[float, np.ndarray]:
    """Uncalibrated P(daily mean > T) for each threshold: a split normal in log1p space
    with median log1p(p50) and the lower/upper widths that put p10 and p90 at the 10th
    and 90th percentiles. Monotone (non-increasing) in T."""
    z50 = np.log1p(daily["p50"].to_numpy())
    sigma_low = np.maximum((z50 - np.log1p(daily["p10"].to_numpy())) / Z90, 1e-3)
    sigma_high = np.maximum((np.log1p(daily["p90"].to_numpy()) - z50) / Z90, 1e-3)
    out = {}
    for threshold in EXCEEDANCE_THRESHOLDS:
        distance = math.log1p(threshold) - z50
        sigma = np.where(distance >= 0, sigma_high, sigma_low)
        out[threshold] = 1.0 - ndtr(distance / sigma)
    return out


def calibrate(
    raw: Mapping[float, np.ndarray], calibrators: Mapping[float, IsotonicRegression]
) -> dict[float, np.ndarray]:
    """Calibrated probabilities, forced non-increasing in the threshold."""
    out: dict[float, np.ndarray] = {}
    previous: np.ndarray | None = None
    for threshold in sorted(raw):
        values = raw[threshold]
        finite = np.isfinite(values)
        calibrated = np.full(values.shape, np.nan)
        if threshold in calibrators and finite.any():
            calibrated[finite] = calibrators[threshold].predict(values[finite])
        else:
            calibrated = values.copy()
        if previous is not None:
            calibrated = np.fmin(calibrated, previous)
        out[threshold] = calibrated
        previous = calibrated
    return out


def best_csi_cutoff(probability: np.ndarray, observed_event: np.ndarray) -> float:
    """The probability cut-off (warn when p ≥ cut-off) with the highest CSI on the given
    cases; ties go to the lower cut-off (more warnings). 0.5 when no event was seen."""
    p = np.asarray(probability, dtype=float)
    o = np.asarray(observed_event, dtype=bool)
    ok = np.isfinite(p)
    p, o = p[ok], o[ok]
    if not o.any():
        return 0.5
    candidates = np.unique(p)
    best, best_csi = 0.5, -1.0
    for cutoff in candidates:
        warn = p >= cutoff
        hits = np.sum(warn & o)
        denominator = np.sum(warn | o)
        csi = hits / denominator if denominator else 0.0
        if csi > best_csi + 1e-12:
            best, best_csi = float(cutoff), float(csi)
    return best


def holdout_skill(
    holdout: pd.DataFrame,
    calibrated: Mapping[float, np.ndarray],
    cutoffs: Mapping[float, float],
) -> dict[str, Any]:
    """Skill of the early model on the held-out slice (stored in the artefact)."""
    from forecasting import verification as vf

    out: dict[str, Any] = {"slice": "held-out last training year, model fitted before it"}
    for k in sorted(holdout["lead_day"].unique()):
        rows = (holdout["lead_day"] == k).to_numpy()
        observed = holdout["observed"].to_numpy()[rows]
        p50 = holdout["p50"].to_numpy()[rows]
        entry: dict[str, float] = {
            "n": int(rows.sum()),
            "rmse": vf.rmse(p50, observed),
            "mae": vf.mae(p50, observed),
            "rmse_persistence": vf.rmse(holdout["persistence"].to_numpy()[rows], observed),
        }
        for threshold in WARN_THRESHOLDS:
            table = vf.contingency_from_events(
                calibrated[threshold][rows] >= cutoffs[threshold], observed > threshold
            )
            entry[f"warn_csi_{threshold:g}"] = table.csi
        entry["brier_150"] = vf.brier_score(calibrated[150.0][rows], (observed > 150).astype(float))
        out[f"D+{int(k)}"] = entry
    return out


# --------------------------------------------------------------------------- operation


def predict_for_points(
    model: ForecastModel,
    history: pd.DataFrame,
    met: Any,
    issue_time: pd.Timestamp,
    timezones: str | Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast every point at ``issue_time``: the operational entry point.

    ``history``: observations of the points, one row per point-hour, columns ``point``
    (or ``station``), ``time`` (tz-aware UTC hour start), the pollutants (`pm25` … µg/m³,
    ``co`` mg/m³) and optionally station weather (``temp``, ``dewp``, ``rh``, ``pres``,
    ``rain``, ``wspd``, ``wdir`` as in `forecasting.observations`). At least the last
    7 days before issue are wanted (30 for the weather anomalies); only rows at or before
    ``issue_time`` are used. ``met``: the forecast weather as an ``xarray.Dataset`` with
    dims ``(point, time)`` and canonical variables (`forecasting.grids.sample_points`
    output), ``point`` labels matching ``history``; ``None`` for a ``history`` model.
    Station weather fills what the grid lacks (typically the hours before issue).
    ``timezones``: one IANA zone, or a zone per point (the local calendar of D+k).

    Returns ``(hourly, daily)``:

    * hourly: ``point, valid_time`` (UTC), ``lead`` (h, 1..model.max_lead), ``p10, p50,
      p90`` (µg/m³);
    * daily: ``point, local_date, lead_day`` (1..3), ``p10, p50, p90`` (daily mean,
      µg/m³), ``p_gt_75, p_gt_115, p_gt_150, p_gt_250`` (calibrated probabilities that the
      daily mean exceeds the threshold), ``warn_75, warn_150, warn_250`` (0/1 decisions
      with the model's cut-offs).

    Days beyond the met's reach are still forecast, from whatever weather is present
    (degraded); a ``perfect`` model without any met falls back on history only.
    """
    from forecasting.station_met import station_met_dataset

    issue = pd.Timestamp(issue_time)
    if issue.tzinfo is None:
        raise ValueError("issue_time must be timezone-aware")
    issue = issue.tz_convert("UTC").floor("h")
    history = history.rename(columns={"station": "point"}) if "point" not in history else history
    history = history[pd.DatetimeIndex(history["time"]) <= issue]
    points = list(dict.fromkeys(history["point"]))
    horizon = issue + pd.Timedelta(hours=internal_leads(model.max_lead, model.lead_days, [0]))
    items, zones = [], []
    for point in points:
        tz = timezones if isinstance(timezones, str) else timezones[point]
        rows = history[history["point"] == point]
        weather = None
        if rows.columns.intersection(["temp", "dewp", "wspd"]).size:
            weather = station_met_dataset(rows.rename(columns={"point": "station"}))
        met_frame = _combined_met(met, weather, point)
        start = pd.DatetimeIndex(rows["time"]).min() if len(rows) else issue
        series = fx.point_series(rows, met_frame, tz, start=start, end=horizon)
        position = int(series.position_of(pd.DatetimeIndex([issue]))[0])
        items.append((series, np.array([position])))
        zones.append(tz)
    hourly_frames, daily_frames = [], []
    for point, tz, (series, _), (hourly, daily) in zip(
        points, zones, items, forecast_many(model, items), strict=True
    ):
        hourly.insert(0, "point", point)
        hourly.insert(1, "valid_time", issue + pd.to_timedelta(hourly["lead"], "h"))
        local_start = (series.times[0] + pd.to_timedelta(daily["start_pos"], "h")).dt.tz_convert(tz)
        daily.insert(0, "point", point)
        daily.insert(1, "local_date", [t.date() for t in local_start])
        hourly_frames.append(hourly.drop(columns=["issue_pos"]))
        daily_frames.append(daily.drop(columns=["issue_pos", "start_pos", "end_pos"]))
    hourly_out = pd.concat(hourly_frames, ignore_index=True) if hourly_frames else _empty_hourly()
    daily_out = pd.concat(daily_frames, ignore_index=True) if daily_frames else _empty_daily(False)
    return hourly_out, daily_out


def _combined_met(met: Any, weather: Any, point: str) -> pd.DataFrame | None:
    """The point's met as a frame: the grid where it has values, station weather else."""
    frames = []
    if met is not None and point in set(np.asarray(met["point"]).tolist()):
        frames.append(fx.met_frame_from_dataset(met, point))
    if weather is not None:
        frames.append(fx.met_frame_from_dataset(weather, point))
    if not frames:
        return None
    combined = frames[0]
    for extra in frames[1:]:
        combined = combined.combine_first(extra)
    return combined


# --------------------------------------------------------------------------- artefacts


def save_model(model: ForecastModel, path: str | Path) -> None:
    """Write the model with joblib, wrapped with its format name and version."""
    joblib.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "model": model}, path)


def load_model(path: str | Path) -> ForecastModel:
    """Read a model written by `save_model`; refuse other files and newer formats.

    joblib files are pickles: load only model files you trust (your own training runs).
    """
    try:
        payload = joblib.load(path)
    except Exception as exc:  # any unpickling failure means "not our file"
        raise ValueError(f"{path} is not a hazewarn forecast model ({type(exc).__name__})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a hazewarn forecast model")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format {payload['format_version']}; this code reads up to "
            f"{FORMAT_VERSION}"
        )
    model = payload["model"]
    if not isinstance(model, ForecastModel):
        raise ValueError(f"{path} does not hold a ForecastModel")
    return model


def describe_model(model: ForecastModel) -> dict[str, Any]:
    """A JSON-ready summary: version, window, features, calibration and skill."""
    return {
        "version": model.version,
        "format_version": FORMAT_VERSION,
        "met_mode": model.met_mode,
        "training": model.training,
        "config": asdict(model.config),
        "features": list(model.features),
        "met_required": list(model.met_required),
        "met_optional": list(model.met_optional),
        "quantiles": list(QUANTILES),
        "exceedance_thresholds": list(EXCEEDANCE_THRESHOLDS),
        "daily_spread": {str(k): list(v) for k, v in model.daily_spread.items()},
        "warn_cutoffs": {f"{k:g}": v for k, v in model.warn_cutoffs.items()},
        "skill": model.skill,
    }
