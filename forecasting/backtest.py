"""The reproducible backtest: train on some stations, forecast others over a test year.

Protocol (issue 3, fixed so that anyone can reproduce a figure):

* Training: the training stations' observations up to the end of ``train_end`` (local
  calendar). Nothing later is read, for any station.
* Issues: 12:00 local on every local date from ``test_start`` to ``test_end``, at every
  test station; inputs up to and including that hour (and, with met ``perfect``, the
  station's observed weather after it, standing in for a perfect weather forecast).
* Hourly leads 1..72 h; daily means of the local days D+1, D+2, D+3, a day counting with
  at least 18 hourly values.
* Baselines: persistence = the last value (hourly) or the mean of the 24 h ending at
  issue (daily); climatology = per station and calendar month (and local hour, hourly)
  from that station's data in the training period.
* Scores pooled over test stations and days on the cases where the observation, the
  model and both baselines all exist (same cases for every forecast), per lead.
  Categorical scores use "> threshold"; for the model they are computed from p50 and
  from the warning decisions. The probability of > 150 µg/m³ is scored with the Brier
  skill score against the station-month climatological frequency. 95 % intervals come
  from a block bootstrap over issue weeks (all stations of a week move together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasting import features as fx
from forecasting import verification as vf
from forecasting.features import MetMode, PointSeries
from forecasting.model import (
    EXCEEDANCE_THRESHOLDS,
    WARN_THRESHOLDS,
    ForecastModel,
    TrainingConfig,
    forecast_series,
    train_forecast_model,
    truncate_series,
)
from forecasting.observations import station_point
from forecasting.qc import mask_flagged
from forecasting.station_met import station_met_dataset

#: Thresholds (µg/m³) of the categorical scores in metrics.json.
SCORE_THRESHOLDS: tuple[float, ...] = (75.0, 150.0, 250.0)
#: Hourly leads reported in the "hourly" block of metrics.json.
REPORTED_HOURLY_LEADS: tuple[int, ...] = (1, 6, 12, 24, 48, 72)
PREDICTION_COLUMNS: tuple[str, ...] = (
    "station",
    "issue_time",
    "kind",
    "lead",
    "p10",
    "p50",
    "p90",
    "warn_75",
    "warn_150",
    "warn_250",
    "p_gt_75",
    "p_gt_115",
    "p_gt_150",
    "p_gt_250",
)
#: Exceedance thresholds (µg/m³) whose calibrated probabilities preds.csv carries.
PROBABILITY_THRESHOLDS: tuple[float, ...] = (75.0, 115.0, 150.0, 250.0)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BacktestConfig:
    """The protocol's parameters (defaults: the issue's Beijing test year)."""

    train_end: date = date(2016, 2, 29)
    test_start: date = date(2016, 3, 1)
    test_end: date = date(2017, 2, 25)
    met_mode: MetMode = "perfect"
    timezone: str = "Asia/Shanghai"
    issue_hour: int = 12
    max_lead: int = 72
    lead_days: tuple[int, ...] = (1, 2, 3)
    bootstrap_samples: int = 1000
    seed: int = 0
    training: TrainingConfig = field(default_factory=TrainingConfig)


@dataclass
class BacktestResult:
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    model: ForecastModel
    #: Every scored case (daily and hourly) with observations and baselines.
    daily_cases: pd.DataFrame
    hourly_cases: pd.DataFrame


def station_series(
    observations: pd.DataFrame, timezone: str, end: pd.Timestamp | None = None
) -> dict[str, PointSeries]:
    """Each station's series: its pollutants and its own weather as canonical met
    (`forecasting.station_met`), cut before ``end`` (UTC, exclusive) when given.

    A station is (city, station): the keys are `station_point` names ("Beijing/US Post"),
    so the four cities' "US Post" series stay four stations. QC-flagged values are left
    out (`forecasting.qc.mask_flagged`). A station-hour given twice raises ValueError
    (read files with `combine_observation_files` to be told the file and line)."""
    if end is not None:
        observations = observations[pd.DatetimeIndex(observations["time"]) < end]
    cities = observations["city"] if "city" in observations else [None] * len(observations)
    points = [station_point(s, c) for s, c in zip(observations["station"], cities, strict=True)]
    observations = mask_flagged(observations).assign(station=points)
    repeated = observations.duplicated(subset=["station", "time"]).to_numpy()
    if repeated.any():
        row = observations.iloc[int(repeated.argmax())]
        raise ValueError(f"duplicate station-hour: {row['station']} {row['time']}")
    met = station_met_dataset(observations)
    out = {}
    for station, rows in observations.groupby("station", sort=True):
        met_frame = fx.met_frame_from_dataset(met, station)
        out[str(station)] = fx.point_series(rows, met_frame, timezone)
    return out


def train_cutoff(train_end: date, timezone: str) -> pd.Timestamp:
    """The first instant after the training period: local midnight ending ``train_end``."""
    day = pd.Timestamp(train_end) + pd.Timedelta(days=1)
    return day.tz_localize(timezone).tz_convert("UTC")


def run_backtest(
    train_observations: pd.DataFrame,
    test_observations: pd.DataFrame,
    config: BacktestConfig | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Train on ``train_observations``, forecast ``test_observations``, score both the
    model and the baselines. Frames as from `forecasting.observations.read_observations`.
    """
    config = config or BacktestConfig()
    step = progress or (lambda _message: None)
    if config.test_start <= config.train_end:
        raise ValueError("test_start must come after train_end")
    if config.test_end < config.test_start:
        raise ValueError("test_end must not come before test_start")
    training = replace(
        config.training,
        met_mode=config.met_mode,
        max_lead=config.max_lead,
        lead_days=tuple(config.lead_days),
    )
    cutoff = train_cutoff(config.train_end, config.timezone)
    step("reading training stations")
    train_series = station_series(train_observations, config.timezone, end=cutoff)
    model = train_forecast_model(
        train_series, train_end=config.train_end, config=training, progress=step
    )

    step("forecasting the test year")
    test_series = station_series(test_observations, config.timezone)
    hourly_cases, daily_cases = [], []
    for station, series in test_series.items():
        issues = fx.issue_positions(
            series,
            pd.Timestamp(config.test_start),
            pd.Timestamp(config.test_end),
            config.issue_hour,
        )
        if not len(issues):
            continue
        history = truncate_series(series, cutoff)
        hourly, daily = forecast_series(model, series, issues)
        hourly_cases.append(_hourly_cases(station, series, history, hourly))
        daily_cases.append(_daily_cases(station, series, history, daily))
    if not daily_cases:
        raise ValueError("no test issues: the test files do not cover the test period")
    hourly_all = pd.concat(hourly_cases, ignore_index=True)
    daily_all = pd.concat(daily_cases, ignore_index=True)

    step("scoring")
    metrics = score_backtest(hourly_all, daily_all, config)
    metrics["meta"] = {
        "model_version": model.version,
        "met_mode": config.met_mode,
        "train_stations": sorted(train_series),
        "test_stations": sorted(test_series),
        "train_end": config.train_end.isoformat(),
        "test_start": config.test_start.isoformat(),
        "test_end": config.test_end.isoformat(),
        "timezone": config.timezone,
        "issue_hour_local": config.issue_hour,
        "warn_cutoffs": {f"{k:g}": v for k, v in model.warn_cutoffs.items()},
        "bootstrap": f"{config.bootstrap_samples} resamples of issue weeks, 95 % percentile",
    }
    return BacktestResult(
        metrics=metrics,
        predictions=predictions_frame(hourly_all, daily_all),
        model=model,
        daily_cases=daily_all,
        hourly_cases=hourly_all,
    )


# --------------------------------------------------------------------------- cases


def _hourly_cases(
    station: str, series: PointSeries, history: PointSeries, hourly: pd.DataFrame
) -> pd.DataFrame:
    issue = hourly["issue_pos"].to_numpy()
    target = issue + hourly["lead"].to_numpy()
    cases = hourly.copy()
    cases.insert(0, "station", station)
    cases["issue_time"] = series.times[issue]
    cases["observed"] = fx.hourly_targets(series, target)
    cases["persistence"] = fx.last_valid(series, "pm25", issue, 24)
    local = (series.times[0] + pd.to_timedelta(target, "h")).tz_convert(series.tz)
    table = hourly_climatology(history)
    cases["climatology"] = table.reindex(
        pd.MultiIndex.from_arrays([local.month, local.hour])
    ).to_numpy()
    return cases


def _daily_cases(
    station: str, series: PointSeries, history: PointSeries, daily: pd.DataFrame
) -> pd.DataFrame:
    cases = daily.copy()
    cases.insert(0, "station", station)
    issue = cases["issue_pos"].to_numpy()
    cases["issue_time"] = series.times[issue]
    cases["observed"] = fx.daily_means(
        series, cases["start_pos"].to_numpy(), cases["end_pos"].to_numpy()
    )
    cases["persistence"] = series.window_mean("pm25", issue - 23, issue + 1, 1)
    month = (
        (series.times[0] + pd.to_timedelta(cases["start_pos"] + 12, "h"))
        .dt.tz_convert(series.tz)
        .dt.month
    )
    means, frequency = daily_climatology(history)
    cases["climatology"] = means.reindex(month).to_numpy()
    cases["climatology_p_gt_150"] = frequency.reindex(month).to_numpy()
    return cases


def hourly_climatology(history: PointSeries) -> pd.Series:
    """Mean PM2.5 (µg/m³) by (local month, local hour) over the series."""
    local = history.local()
    index = pd.MultiIndex.from_arrays([local.month, local.hour])
    return pd.Series(history.series("pm25"), index=index).groupby(level=[0, 1]).mean()


def daily_climatology(
    history: PointSeries, threshold: float = 150.0
) -> tuple[pd.Series, pd.Series]:
    """By local month: the mean of daily means (µg/m³) and the frequency of daily means
    above ``threshold``, from days with ≥ 18 hourly values."""
    local = history.local()
    frame = pd.DataFrame(
        {"pm25": history.series("pm25"), "day": local.tz_localize(None).normalize()}
    )
    grouped = frame.groupby("day")["pm25"]
    days = pd.DataFrame({"mean": grouped.mean(), "count": grouped.count()})
    days = days[days["count"] >= fx.MIN_HOURS_PER_DAY]
    months = pd.DatetimeIndex(days.index).month
    means = days["mean"].groupby(months).mean()
    frequency = (days["mean"] > threshold).astype(float).groupby(months).mean()
    return means, frequency


# --------------------------------------------------------------------------- scores


def score_backtest(
    hourly: pd.DataFrame, daily: pd.DataFrame, config: BacktestConfig
) -> dict[str, Any]:
    """metrics.json: the issue's shape plus decisions, probabilities, all hourly leads
    and bootstrap intervals."""
    daily = _common_cases(daily)
    hourly = _common_cases(hourly)
    origin = pd.Timestamp(config.test_start).tz_localize(config.timezone)
    daily_blocks = vf.week_blocks(daily["issue_time"], origin)
    hourly_blocks = vf.week_blocks(hourly["issue_time"], origin)
    boot = {"n_boot": config.bootstrap_samples, "seed": config.seed}

    metrics: dict[str, Any] = {"daily": {}, "hourly": {}, "baselines": {}}
    forecasts = {"model": "p50", "persistence": "persistence", "climatology": "climatology"}
    for name, column in forecasts.items():
        daily_block = {
            str(k): _daily_scores(rows[column].to_numpy(), rows["observed"].to_numpy())
            for k, rows in daily.groupby("lead_day")
        }
        hourly_block = {
            str(lead): _continuous(rows[column].to_numpy(), rows["observed"].to_numpy())
            for lead, rows in hourly.groupby("lead")
            if lead in REPORTED_HOURLY_LEADS
        }
        if name == "model":
            metrics["daily"], metrics["hourly"] = daily_block, hourly_block
        else:
            metrics["baselines"][name] = {"daily": daily_block, "hourly": hourly_block}

    metrics["decisions"] = {}
    metrics["probabilities"] = {}
    metrics["intervals"] = {"daily": {}, "hourly": {}}
    for k, rows in daily.groupby("lead_day"):
        observed = rows["observed"].to_numpy()
        blocks = daily_blocks[rows.index.to_numpy()]
        decisions: dict[str, float] = {"n": len(rows)}
        for t in SCORE_THRESHOLDS:
            table = vf.contingency_from_events(rows[f"warn_{t:g}"].to_numpy() == 1, observed > t)
            decisions.update(_categorical(table, t))
            decisions[f"fbias_{t:g}"] = table.frequency_bias
        metrics["decisions"][str(k)] = decisions
        metrics["probabilities"][str(k)] = _probability_scores(rows)
        metrics["intervals"]["daily"][str(k)] = _daily_intervals(rows, blocks, boot)
    metrics["hourly_all_leads"] = {}
    for lead, rows in hourly.groupby("lead"):
        observed = rows["observed"].to_numpy()
        blocks = hourly_blocks[rows.index.to_numpy()]
        entry: dict[str, Any] = {
            "n": len(rows),
            "rmse": vf.rmse(rows["p50"].to_numpy(), observed),
            "rmse_persistence": vf.rmse(rows["persistence"].to_numpy(), observed),
            "rmse_climatology": vf.rmse(rows["climatology"].to_numpy(), observed),
        }
        better = min(entry["rmse_persistence"], entry["rmse_climatology"])
        reference = (
            "persistence"
            if entry["rmse_persistence"] <= entry["rmse_climatology"]
            else "climatology"
        )
        entry["better_baseline"] = reference
        entry["ratio_to_better_baseline"] = entry["rmse"] / better
        entry["ratio_to_better_baseline_ci"] = list(
            vf.block_bootstrap(
                vf.rmse_ratio_sums(rows["p50"].to_numpy(), rows[reference].to_numpy(), observed),
                blocks,
                vf.ratio_sqrt_statistic,
                **boot,
            )
        )
        entry["rmse_ci"] = list(
            vf.block_bootstrap(
                vf.rmse_sums(rows["p50"].to_numpy(), observed), blocks, vf.rmse_statistic, **boot
            )
        )
        metrics["hourly_all_leads"][str(lead)] = entry
    metrics["hindsight"] = {
        "about": HINDSIGHT_ABOUT,
        "daily": {str(k): _hindsight(rows) for k, rows in daily.groupby("lead_day")},
        "hourly": {str(lead): _hindsight(rows) for lead, rows in hourly.groupby("lead")},
    }
    return _json_ready(metrics)


HINDSIGHT_ABOUT = (
    "RMSE of the best linear combination (intercept + p50, persistence, climatology) fitted "
    "by least squares on the scored cases themselves: a ceiling for any recalibration or "
    "blending of these forecasts, not a forecast"
)


def _hindsight(rows: pd.DataFrame) -> dict[str, Any]:
    """The hindsight ceiling of one lead: its RMSE, coefficients and ratios to the model's
    and to each baseline's RMSE."""
    observed = rows["observed"].to_numpy()
    columns = {name: rows[name].to_numpy() for name in ("p50", "persistence", "climatology")}
    rmse, coefficients = vf.hindsight_rmse(observed, columns)
    scores = {name: vf.rmse(values, observed) for name, values in columns.items()}
    return {
        "rmse": rmse,
        "coefficients": coefficients,
        "ratio_to_model": rmse / scores["p50"],
        "ratio_to_persistence": rmse / scores["persistence"],
        "ratio_to_climatology": rmse / scores["climatology"],
    }


def _common_cases(cases: pd.DataFrame) -> pd.DataFrame:
    keep = cases[["observed", "p50", "persistence", "climatology"]].notna().all(axis=1)
    return cases[keep].reset_index(drop=True)


def _continuous(forecast: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    return {
        "rmse": vf.rmse(forecast, observed),
        "mae": vf.mae(forecast, observed),
        "n": len(observed),
    }


def _categorical(table: vf.Contingency, threshold: float) -> dict[str, float]:
    return {
        f"csi_{threshold:g}": table.csi,
        f"pod_{threshold:g}": table.pod,
        f"far_{threshold:g}": table.far,
    }


def _daily_scores(forecast: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    scores: dict[str, float] = {
        "rmse": vf.rmse(forecast, observed),
        "mae": vf.mae(forecast, observed),
    }
    for t in SCORE_THRESHOLDS:
        scores.update(_categorical(vf.contingency(forecast, observed, t), t))
    scores["n"] = len(observed)
    return scores


def _probability_scores(rows: pd.DataFrame) -> dict[str, Any]:
    observed = rows["observed"].to_numpy()
    out: dict[str, Any] = {}
    for t in EXCEEDANCE_THRESHOLDS:
        probability = rows[f"p_gt_{t:g}"].to_numpy()
        out[f"brier_{t:g}"] = vf.brier_score(probability, (observed > t).astype(float))
        out[f"observed_frequency_{t:g}"] = float(np.mean(observed > t))
    outcome = (observed > 150).astype(float)
    out["brier_climatology_150"] = vf.brier_score(rows["climatology_p_gt_150"].to_numpy(), outcome)
    out["bss_150"] = vf.brier_skill_score(
        rows["p_gt_150"].to_numpy(), outcome, rows["climatology_p_gt_150"].to_numpy()
    )
    table = vf.reliability_table(rows["p_gt_150"].to_numpy(), outcome, bins=10)
    out["reliability_150"] = table.to_dict(orient="records")
    return out


def _daily_intervals(
    rows: pd.DataFrame, blocks: np.ndarray, boot: dict[str, int]
) -> dict[str, Any]:
    observed = rows["observed"].to_numpy()
    p50 = rows["p50"].to_numpy()
    out: dict[str, Any] = {
        "rmse": vf.block_bootstrap(vf.rmse_sums(p50, observed), blocks, vf.rmse_statistic, **boot),
        "mae": vf.block_bootstrap(vf.mae_sums(p50, observed), blocks, vf.mean_statistic, **boot),
    }
    for name in ("persistence", "climatology"):
        reference = rows[name].to_numpy()
        out[f"rmse_{name}"] = vf.block_bootstrap(
            vf.rmse_sums(reference, observed), blocks, vf.rmse_statistic, **boot
        )
        out[f"ratio_to_{name}"] = vf.block_bootstrap(
            vf.rmse_ratio_sums(p50, reference, observed), blocks, vf.ratio_sqrt_statistic, **boot
        )
    for t in SCORE_THRESHOLDS:
        for kind, forecast_event in (
            ("p50", p50 > t),
            ("warn", rows[f"warn_{t:g}"].to_numpy() == 1),
        ):
            sums = vf.event_sums(forecast_event, observed > t)
            out[f"{kind}_csi_{t:g}"] = vf.block_bootstrap(sums, blocks, vf.csi_statistic, **boot)
            out[f"{kind}_pod_{t:g}"] = vf.block_bootstrap(sums, blocks, vf.pod_statistic, **boot)
            out[f"{kind}_far_{t:g}"] = vf.block_bootstrap(sums, blocks, vf.far_statistic, **boot)
    outcome = (observed > 150).astype(float)
    out["bss_150"] = vf.block_bootstrap(
        vf.brier_sums(
            rows["p_gt_150"].to_numpy(), outcome, rows["climatology_p_gt_150"].to_numpy()
        ),
        blocks,
        vf.skill_statistic,
        **boot,
    )
    return {k: list(v) for k, v in out.items()}


def _json_ready(value: Any) -> Any:
    """Plain floats/ints (NaN → None) all the way down."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if not np.isfinite(number) else number
    return value


# --------------------------------------------------------------------------- preds.csv


def predictions_frame(hourly: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """preds.csv rows: every forecast made (scored or not), hourly then daily per issue.

    ``issue_time`` is ISO 8601 in UTC; ``lead`` is hours (hourly) or days (daily);
    ``warn_*`` are 0/1 and ``p_gt_*`` the calibrated exceedance probabilities of the
    daily mean on daily rows; both are empty on hourly rows.
    """
    hourly_rows = pd.DataFrame(
        {
            "station": hourly["station"],
            "issue_time": hourly["issue_time"],
            "kind": "hourly",
            "lead": hourly["lead"].astype(int),
            "p10": hourly["p10"],
            "p50": hourly["p50"],
            "p90": hourly["p90"],
        }
    )
    daily_rows = pd.DataFrame(
        {
            "station": daily["station"],
            "issue_time": daily["issue_time"],
            "kind": "daily",
            "lead": daily["lead_day"].astype(int),
            "p10": daily["p10"],
            "p50": daily["p50"],
            "p90": daily["p90"],
            **{f"warn_{t:g}": daily[f"warn_{t:g}"].astype("Int64") for t in WARN_THRESHOLDS},
            **{f"p_gt_{t:g}": daily[f"p_gt_{t:g}"].round(4) for t in PROBABILITY_THRESHOLDS},
        }
    )
    frame = pd.concat([daily_rows, hourly_rows], ignore_index=True)
    for t in WARN_THRESHOLDS:
        frame[f"warn_{t:g}"] = frame[f"warn_{t:g}"].astype("Int64")
    frame = frame.sort_values(["station", "issue_time", "kind", "lead"], kind="stable")
    frame["issue_time"] = (
        pd.DatetimeIndex(frame["issue_time"]).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    return frame[list(PREDICTION_COLUMNS)].reset_index(drop=True)
