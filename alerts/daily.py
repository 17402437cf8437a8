"""The daily AQI path a warning is decided on, from a forecast's hourly PM2.5. Pure.

- Hours are grouped by **calendar day in the city's zone** (passed in; IANA name or
  ZoneInfo). A timestamp labels the hour that *starts* at it (as in `forecasting.aqi`), so
  the value stamped 23:00 local belongs to that day, the one stamped 00:00 to the next.
- **Observed hours are merged with the forecast**: where both exist for an hour, the
  observation wins. The caller passes today's observed hours so that today's day is whole.
- The forecast column is ``p50`` or ``p90`` as the city's plan says (``decide_from``);
  the standards ask to decide from the upper bound of the forecast, hence ``p90`` for most
  plans.
- **A day counts when it has at least 18 hourly values** (`MIN_HOURS_PER_DAY`, 75 % of the
  day). This is looser than the 20 valid hours GB 3095 asks of an observed daily mean
  (`forecasting.aqi.MIN_HOURS_24H`) because a forecast day is a model estimate, not a
  compliance figure, and the last forecast day is often cut short by the horizon: 18 hours
  keeps a day that ends at 18:00 local and drops one that ends at noon.
- The daily mean PM2.5 (µg/m³) is scored with `forecasting.aqi.daily_aqi` under the AQI
  version in force on that day (`forecasting.aqi.version_for`: HJ 633-2012, or HJ 633-2026
  from 2026-03-01). Only PM2.5 is forecast, so the daily AQI is the PM2.5 sub-index.
- The path holds consecutive days. A short or missing day before the first forecast day
  (an observation outage in an ongoing episode's history) drops the days before it; from
  the first forecast day on, a short or missing day ends the path.
- **Deciding by probability** (a plan with ``decide_from: probability``): the path is built
  from p50, then `decide_by_probability` sets each forecast day that has daily exceedance
  probabilities above or below the plan's AQI thresholds (200, 300) by whether
  P(daily PM2.5 > the threshold's concentration) reaches the plan's cut-off. A best guess
  under-warns big events and p90 over-warns; a cut-off chosen on past years trades the
  two (docs/warnings.md).
- **Today during a station outage**: a forecast starts after the run, so today is whole
  only with its observed hours. When they are missing or too few, the path leaves today
  out (a few forecast hours are not a day to warn on: they would count as a whole heavy
  day towards a level's duration), and `current_day_aqi` gives the lift rule today's AQI
  from the hours it has: the forecast for the rest of the day with what was observed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd

from alerts.criteria import DailyAQI
from forecasting.aqi import MIN_HOURS_24H, daily_aqi, iaqi, pm25_for_aqi, version_for

#: A forecast day needs at least this many hourly values (of 24) to count.
MIN_HOURS_PER_DAY: Final = 18

DecideFrom = Literal["p50", "p90"]
QUANTILE_COLUMNS: Final = ("p50", "p90")


class ForecastHour(NamedTuple):
    """One forecast hour: aware valid time and PM2.5 quantiles in µg/m³."""

    valid_time: datetime
    p50: float
    p90: float


HourlySeries = Mapping[datetime, float] | Iterable[tuple[datetime, float]] | pd.Series
ForecastInput = Iterable[ForecastHour] | pd.DataFrame


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def _aware_utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no time zone; pass aware times")
    return moment.astimezone(UTC)


def _check_value(value: float, moment: datetime, what: str) -> float | None:
    """The value as a float, None when missing (None/NaN). Negative raises."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isinf(number) or number < 0:
        raise ValueError(f"{what} PM2.5 at {moment.isoformat()} must be finite and >= 0: {number}")
    return number


def _series_items(series: HourlySeries) -> Iterable[tuple[datetime, float]]:
    if isinstance(series, pd.Series):
        times = pd.DatetimeIndex(series.index)
        values = series.astype("float64").tolist()
        return ((t.to_pydatetime(), v) for t, v in zip(times, values, strict=True))
    if isinstance(series, Mapping):
        return series.items()
    return series


def _forecast_items(
    forecast: ForecastInput, column: DecideFrom
) -> Iterable[tuple[datetime, float]]:
    """(valid time, value of the chosen quantile column) for each forecast hour."""
    if isinstance(forecast, pd.DataFrame):
        if column not in forecast.columns:
            raise ValueError(f"forecast frame has no {column!r} column: {list(forecast.columns)}")
        if isinstance(forecast.index, pd.DatetimeIndex):
            times = list(forecast.index)
        else:
            time_column = next((c for c in ("valid_time", "time") if c in forecast.columns), None)
            if time_column is None:
                raise ValueError("forecast frame needs a DatetimeIndex or a valid_time/time column")
            times = list(pd.to_datetime(forecast[time_column]))
        values = forecast[column].astype("float64").tolist()
        return ((pd.Timestamp(t).to_pydatetime(), v) for t, v in zip(times, values, strict=True))
    return ((hour.valid_time, getattr(hour, column)) for hour in forecast)


def merged_hours(
    observed: HourlySeries,
    forecast: ForecastInput,
    decide_from: DecideFrom,
) -> dict[datetime, float]:
    """Hourly PM2.5 (µg/m³) keyed by UTC hour: the forecast's ``decide_from`` column,
    overwritten by observations where both exist. Missing (None/NaN) values are skipped;
    times must be aware; negative or infinite values raise ValueError."""
    if decide_from not in QUANTILE_COLUMNS:
        raise ValueError(f"decide_from must be one of {QUANTILE_COLUMNS}, got {decide_from!r}")
    hours: dict[datetime, float] = {}
    for moment, value in _forecast_items(forecast, decide_from):
        checked = _check_value(value, moment, "forecast")
        if checked is not None:
            hours[_aware_utc(moment, "forecast time")] = checked
    for moment, value in _series_items(observed):
        checked = _check_value(value, moment, "observed")
        if checked is not None:
            hours[_aware_utc(moment, "observation time")] = checked
    return hours


@dataclass(frozen=True)
class DayMean:
    """One local day's hourly count and mean PM2.5 (µg/m³)."""

    day: date
    hours: int
    pm25_mean: float


def day_means(hours: Mapping[datetime, float], zone: str | ZoneInfo) -> list[DayMean]:
    """Hourly values grouped by local calendar day, earliest first."""
    tz = _zone(zone)
    by_day: dict[date, list[float]] = defaultdict(list)
    for moment, value in hours.items():
        by_day[moment.astimezone(tz).date()].append(value)
    return [
        DayMean(day, len(values), sum(values) / len(values))
        for day, values in sorted(by_day.items())
    ]


def daily_aqi_path(
    observed: HourlySeries,
    forecast: ForecastInput,
    zone: str | ZoneInfo,
    decide_from: DecideFrom,
    first_day: date | None = None,
    min_hours: int = MIN_HOURS_PER_DAY,
) -> tuple[DailyAQI, ...]:
    """The daily AQI path of one city for `alerts.criteria.evaluate`.

    Args:
        observed: observed hourly PM2.5 (µg/m³) by aware hour-start time: a mapping, an
            iterable of pairs, or a pandas Series with a tz-aware DatetimeIndex. Pass at
            least today's observed hours (and, for an ongoing episode, its earlier days).
        forecast: forecast hours: `ForecastHour` rows, or a DataFrame with ``p50``/``p90``
            columns and a tz-aware DatetimeIndex (or ``valid_time``/``time`` column).
        zone: the city's IANA zone; days are its calendar days.
        decide_from: ``p50`` or ``p90``, from the city's plan.
        first_day: local date the path starts at (usually today); earlier days are dropped.
        min_hours: hourly values a day needs to count (default 18).

    Returns:
        (local date, daily AQI) for consecutive days with enough hours, from ``first_day``
        on. A short or missing day *before the first forecast day* (an observation outage
        in the episode's history) drops the days before it; a short or missing day from
        the first forecast day on (a forecast gap, the end of the horizon) ends the path.
    """
    if not 1 <= min_hours <= 24:
        raise ValueError(f"min_hours must be within 1..24, got {min_hours}")
    tz = _zone(zone)
    forecast_hours = merged_hours({}, forecast, decide_from)
    first_forecast_day = min(forecast_hours).astimezone(tz).date() if forecast_hours else None

    def history(day: date) -> bool:
        """Whether ``day`` lies wholly before the forecast (observations only)."""
        return first_forecast_day is None or day < first_forecast_day

    path: list[DailyAQI] = []
    for mean in day_means(merged_hours(observed, forecast, decide_from), tz):
        if first_day is not None and mean.day < first_day:
            continue
        if path and mean.day != path[-1].day + timedelta(days=1):
            missing = path[-1].day + timedelta(days=1)  # no hours at all that day
            if not history(missing):
                break
            path = []
        if mean.hours < min_hours:
            if path and not history(mean.day):
                break  # a forecast gap or the end of the horizon ends the path
            path = []  # drop history before an outage; skip leading short days
            continue
        result = daily_aqi({"pm25_24h": mean.pm25_mean}, day=mean.day)
        assert result.aqi is not None  # a value was given
        path.append(DailyAQI(mean.day, result.aqi))
    return tuple(path)


def decide_by_probability(
    path: Iterable[DailyAQI],
    probabilities: Mapping[date, Mapping[float, float]],
    cutoffs: Mapping[int, float],
) -> tuple[DailyAQI, ...]:
    """The path with its forecast days decided by exceedance probability.

    Args:
        path: daily AQI path (e.g. from `daily_aqi_path` on p50).
        probabilities: local date → {PM2.5 threshold in µg/m³ → P(daily mean > it)}, the
            forecast's daily exceedance probabilities; days without an entry keep their AQI.
        cutoffs: daily AQI threshold (e.g. 200, 300) → the probability at or above which a
            day counts as above it.

    Returns:
        The path where each day with probabilities has, for the highest threshold ``A``
        whose probability reaches its cut-off, an AQI of at least ``A + 1``, and for every
        higher threshold that does not, at most that threshold. The threshold's PM2.5 is
        the one of the AQI version in force on the day (150 and 250 µg/m³ for AQI 200 and
        300 under both versions).

    Raises:
        ValueError: a day's probabilities lack a threshold the cut-offs need.
    """
    decided: list[DailyAQI] = []
    for item in path:
        given = probabilities.get(item.day)
        if given is None:
            decided.append(item)
            continue
        reached: list[tuple[int, bool]] = []
        for aqi_threshold, cutoff in sorted(cutoffs.items()):
            concentration = pm25_for_aqi(aqi_threshold, version_for(item.day))
            probability = next(
                (p for t, p in given.items() if math.isclose(t, concentration)), None
            )
            if probability is None:
                raise ValueError(
                    f"{item.day}: no probability of daily PM2.5 > {concentration:g} µg/m³ "
                    f"(AQI {aqi_threshold}); have {sorted(given)}"
                )
            reached.append((aqi_threshold, probability >= cutoff))
        floor = max((a + 1 for a, ok in reached if ok), default=0)
        ceiling = min((a for a, ok in reached if not ok and a >= floor), default=500)
        decided.append(DailyAQI(item.day, min(max(item.aqi, floor), ceiling)))
    return tuple(decided)


def current_day_aqi(
    observed: HourlySeries,
    forecast: ForecastInput,
    now: datetime,
    zone: str | ZoneInfo,
    decide_from: DecideFrom,
) -> int | None:
    """The PM2.5 AQI of ``now``'s local day from the hours it has, for the lift rule.

    The day's hours are merged as in the path (observed wins over the forecast), but no
    minimum count applies: the day counts as soon as the forecast covers every hour of it
    after ``now``'s hour, whatever was observed before. During a station outage (no or too
    few observations today, so `daily_aqi_path` leaves today out) this is the forecast for
    the rest of the day with what was observed. None when the forecast leaves a later hour
    of the day uncovered, or the day has no value at all (a run in the day's last hour
    without a single observation of it).
    """
    tz = _zone(zone)
    start = _aware_utc(now, "now").replace(minute=0, second=0, microsecond=0)
    today = start.astimezone(tz).date()
    next_midnight = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    hours = merged_hours(observed, forecast, decide_from)
    moment = start + timedelta(hours=1)
    while moment < next_midnight:
        if moment not in hours:
            return None
        moment += timedelta(hours=1)
    values = [value for when, value in hours.items() if when.astimezone(tz).date() == today]
    if not values:
        return None
    result = daily_aqi({"pm25_24h": sum(values) / len(values)}, day=today)
    assert result.aqi is not None  # a value was given
    return result.aqi


def rolling_aqi(
    hours: Mapping[datetime, float],
    end: datetime,
    zone: str | ZoneInfo,
    min_hours: int = MIN_HOURS_PER_DAY,
) -> int | None:
    """The PM2.5 AQI of the 24 hours ending at ``end``, or None with fewer than
    ``min_hours`` values in them.

    The window holds the hours labelled ``end − 24 h`` … ``end − 1 h`` (hour-start labels);
    its mean is scored with the 24-h PM2.5 breakpoints of the AQI version in force on
    ``end``'s local day. The standards allow any rolling 24-h mean as a "daily AQI"
    (MEP 2017).
    """
    stop = _aware_utc(end, "end")
    start = stop - timedelta(hours=24)
    values = [value for moment, value in hours.items() if start <= moment < stop]
    if len(values) < min_hours:
        return None
    version = version_for(stop.astimezone(_zone(zone)).date())
    score = iaqi("pm25", sum(values) / len(values), "24h", version).iaqi
    assert score is not None  # PM2.5 always has a sub-index
    return score


def heavy_under_way(
    observed: HourlySeries,
    forecast: ForecastInput,
    now: datetime,
    zone: str | ZoneInfo,
    decide_from: DecideFrom,
    threshold: int = 200,
    no_improvement_hours: int = 12,
) -> bool:
    """Whether heavy pollution is already under way with no improvement expected soon.

    True when the observed rolling 24-h PM2.5 AQI ending at ``now`` (floored to the hour)
    is above
    ``threshold`` (200: heavy pollution) **and** the rolling 24-h AQI of observations
    merged with the forecast stays above it at every hour up to ``now +
    no_improvement_hours`` (12 h, the Liaocheng rule). With too few hours for either (the
    observed window needs 20 valid hours, `forecasting.aqi.MIN_HOURS_24H`), False.
    This is the exception to the 24-h lead time: such a warning is issued at once.
    """
    start = _aware_utc(now, "now").replace(minute=0, second=0, microsecond=0)
    observed_only = merged_hours(observed, [], decide_from)
    # Observed alone, this is an observed 24 h mean: it needs the 20 valid hours HJ 633 /
    # GB 3095 ask of one (`MIN_HOURS_24H`), not the 18 a forecast day gets.
    current = rolling_aqi(observed_only, start, zone, min_hours=MIN_HOURS_24H)
    if current is None or current <= threshold:
        return False
    merged = merged_hours(observed, forecast, decide_from)
    for step in range(1, no_improvement_hours + 1):
        value = rolling_aqi(merged, start + timedelta(hours=step), zone)
        if value is None or value <= threshold:
            return False
    return True
