"""The daily AQI path from observed + forecast hourly PM2.5."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from alerts.daily import (
    MIN_HOURS_PER_DAY,
    ForecastHour,
    current_day_aqi,
    daily_aqi_path,
    heavy_under_way,
    merged_hours,
    rolling_aqi,
)
from forecasting.aqi import daily_aqi

ZONE = "Asia/Shanghai"
# Local midnight of 2016-12-16 in Beijing (UTC+8).
MIDNIGHT = datetime(2016, 12, 15, 16, 0, tzinfo=UTC)
DAY = date(2016, 12, 16)


def hours(start: datetime, count: int, value: float) -> dict[datetime, float]:
    return {start + timedelta(hours=h): value for h in range(count)}


def forecast(start: datetime, count: int, p50: float, p90: float) -> list[ForecastHour]:
    return [ForecastHour(start + timedelta(hours=h), p50, p90) for h in range(count)]


def test_observed_hours_override_forecast_and_quantile_is_chosen() -> None:
    observed = hours(MIDNIGHT, 10, 300.0)
    fc = forecast(MIDNIGHT, 24 * 3, 100.0, 200.0)  # also covers the observed hours
    p90 = daily_aqi_path(observed, fc, ZONE, "p90")
    p50 = daily_aqi_path(observed, fc, ZONE, "p50")
    mean_p90 = (10 * 300 + 14 * 200) / 24
    mean_p50 = (10 * 300 + 14 * 100) / 24
    assert p90[0] == (DAY, daily_aqi({"pm25_24h": mean_p90}, day=DAY).aqi)
    assert p50[0] == (DAY, daily_aqi({"pm25_24h": mean_p50}, day=DAY).aqi)
    assert [d for d, _ in p90] == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert p90[1].aqi == 250  # a whole forecast day of 200 µg/m³ (HJ 633-2012: 250)
    assert merged_hours(observed, fc, "p90")[MIDNIGHT] == 300.0


def test_days_are_local_calendar_days() -> None:
    # 24 hours starting at local midnight are one local day, not split across UTC dates.
    path = daily_aqi_path({}, forecast(MIDNIGHT, 24, 80.0, 80.0), ZONE, "p50")
    assert path == ((DAY, daily_aqi({"pm25_24h": 80.0}, day=DAY).aqi),)
    # The same hours in UTC calendar days give two short days, neither complete.
    assert daily_aqi_path({}, forecast(MIDNIGHT, 24, 80.0, 80.0), "UTC", "p50") == ()


@pytest.mark.parametrize(("count", "kept"), [(MIN_HOURS_PER_DAY, 2), (MIN_HOURS_PER_DAY - 1, 1)])
def test_a_day_needs_18_hours(count: int, kept: int) -> None:
    fc = forecast(MIDNIGHT, 24 + count, 120.0, 160.0)
    assert len(daily_aqi_path({}, fc, ZONE, "p90")) == kept


def test_a_short_day_in_the_middle_ends_the_path_and_leading_short_days_are_skipped() -> None:
    early = hours(MIDNIGHT - timedelta(hours=5), 5, 50.0)  # 5 h of the previous day
    fc = forecast(MIDNIGHT, 24 * 4, 120.0, 160.0)
    gap_day = MIDNIGHT + timedelta(days=1)
    fc = [hour for hour in fc if not gap_day <= hour.valid_time < gap_day + timedelta(hours=8)]
    path = daily_aqi_path(early, fc, ZONE, "p90")
    assert [d for d, _ in path] == [DAY]


def test_first_day_drops_earlier_days() -> None:
    fc = forecast(MIDNIGHT - timedelta(days=1), 24 * 3, 120.0, 160.0)
    assert daily_aqi_path({}, fc, ZONE, "p90")[0].day == DAY - timedelta(days=1)
    assert daily_aqi_path({}, fc, ZONE, "p90", first_day=DAY)[0].day == DAY


def test_aqi_version_follows_the_day() -> None:
    # 70 µg/m³ daily mean: AQI 94 under HJ 633-2012, above 100 under HJ 633-2026.
    start = datetime(2026, 2, 27, 16, tzinfo=UTC)  # 2026-02-28 00:00 +08:00
    path = daily_aqi_path({}, forecast(start, 48, 70.0, 70.0), ZONE, "p50")
    assert path[0] == (date(2026, 2, 28), 94)
    assert path[1].day == date(2026, 3, 1) and path[1].aqi > 100


def test_dataframe_and_series_inputs() -> None:
    fc = forecast(MIDNIGHT, 48, 100.0, 180.0)
    frame = pd.DataFrame(
        {"p50": [h.p50 for h in fc], "p90": [h.p90 for h in fc]},
        index=pd.DatetimeIndex([h.valid_time for h in fc]),
    )
    observed = pd.Series(hours(MIDNIGHT, 6, 250.0))
    expected = daily_aqi_path(hours(MIDNIGHT, 6, 250.0), fc, ZONE, "p90")
    assert daily_aqi_path(observed, frame, ZONE, "p90") == expected
    with_column = frame.reset_index(names="valid_time")
    assert daily_aqi_path(observed, with_column, ZONE, "p90") == expected


def test_missing_values_are_skipped_and_bad_input_refused() -> None:
    fc = forecast(MIDNIGHT, 24, 100.0, 100.0)
    fc[0] = ForecastHour(MIDNIGHT, float("nan"), float("nan"))
    assert len(merged_hours({}, fc, "p50")) == 23
    with pytest.raises(ValueError, match="no time zone"):
        daily_aqi_path({datetime(2016, 12, 16, 0): 10.0}, [], ZONE, "p50")
    with pytest.raises(ValueError, match=">= 0"):
        daily_aqi_path({MIDNIGHT: -3.0}, [], ZONE, "p50")
    with pytest.raises(ValueError, match="decide_from"):
        daily_aqi_path({}, fc, ZONE, "p10")  # type: ignore[arg-type]


def test_rolling_aqi_uses_the_24_hours_before_the_end() -> None:
    values = hours(MIDNIGHT, 24, 150.0) | hours(MIDNIGHT + timedelta(hours=24), 24, 35.0)
    assert rolling_aqi(values, MIDNIGHT + timedelta(hours=24), ZONE) == 200
    assert rolling_aqi(values, MIDNIGHT + timedelta(hours=48), ZONE) == 50
    assert rolling_aqi(values, MIDNIGHT + timedelta(hours=10), ZONE) is None  # 10 hours only


def test_heavy_under_way_needs_heavy_now_and_no_improvement_within_12_h() -> None:
    now = MIDNIGHT + timedelta(days=1)
    observed = hours(MIDNIGHT, 24, 260.0)  # the last 24 h: AQI > 300
    staying = forecast(now, 48, 240.0, 260.0)
    clearing = forecast(now, 48, 20.0, 20.0)
    assert heavy_under_way(observed, staying, now, ZONE, "p90")
    # Clean air from now on: the rolling mean drops to AQI <= 200 within 12 h.
    assert not heavy_under_way(observed, clearing, now, ZONE, "p90")
    # Not heavy now.
    assert not heavy_under_way(hours(MIDNIGHT, 24, 100.0), staying, now, ZONE, "p90")
    # No observations: cannot say it is under way.
    assert not heavy_under_way({}, staying, now, ZONE, "p90")


def test_heavy_under_way_from_observations_needs_20_valid_hours() -> None:
    """Issue 10: warnings from observed hours need enough valid hours, as the AQI day
    rules do (20 of 24 for an observed 24 h mean); 19 heavy hours are not enough."""
    now = MIDNIGHT + timedelta(days=1)
    staying = forecast(now, 48, 240.0, 260.0)
    assert heavy_under_way(hours(now - timedelta(hours=20), 20, 260.0), staying, now, ZONE, "p90")
    assert not heavy_under_way(
        hours(now - timedelta(hours=19), 19, 260.0), staying, now, ZONE, "p90"
    )


def test_an_outage_in_observed_history_drops_only_the_days_before_it() -> None:
    # Observed: 3 past days, the middle one with only 10 hours; forecast from "now" on.
    past = MIDNIGHT - timedelta(days=3)
    observed = hours(past, 24, 200.0) | hours(past + timedelta(days=1), 10, 200.0)
    observed |= hours(past + timedelta(days=2), 24, 200.0) | hours(MIDNIGHT, 8, 200.0)
    fc = forecast(MIDNIGHT + timedelta(hours=8), 24 * 2 + 16, 100.0, 100.0)
    path = daily_aqi_path(observed, fc, ZONE, "p50", first_day=DAY - timedelta(days=3))
    expected = [DAY + timedelta(days=i) for i in (-1, 0, 1, 2)]
    assert [d for d, _ in path] == expected
    # A whole day missing from the history does the same.
    del_day = {
        t: v
        for t, v in observed.items()
        if not past + timedelta(days=1) <= t < MIDNIGHT - timedelta(days=1)
    }
    again = daily_aqi_path(del_day, fc, ZONE, "p50", first_day=DAY - timedelta(days=3))
    assert [d for d, _ in again] == expected


# A run at 14:00 local: its forecast starts at 15:00 (lead 1 h) and covers three days.
RUN = MIDNIGHT + timedelta(hours=14)
REST_OF_DAY = MIDNIGHT + timedelta(hours=15)


@pytest.mark.parametrize(
    ("now", "observed", "fc", "expected"),
    [
        # Station outage: no observation today; the forecast for the rest of the day
        # (15:00-23:00, 9 hours) stands for today.
        (RUN, {}, forecast(REST_OF_DAY, 72, 20.0, 30.0), 43),
        (RUN, {}, forecast(REST_OF_DAY, 72, 150.0, 200.0), 250),
        # A few observed hours (00:00-05:00 at 150) merge with the forecast: mean 78.
        (RUN, hours(MIDNIGHT, 6, 150.0), forecast(REST_OF_DAY, 72, 20.0, 30.0), 104),
        # A whole day as usual: observed until the run, then the forecast.
        (RUN, hours(MIDNIGHT, 15, 30.0), forecast(REST_OF_DAY, 72, 20.0, 30.0), 43),
        # The forecast leaves an hour of today uncovered (18:00), or starts tomorrow.
        (
            RUN,
            {},
            [h for h in forecast(REST_OF_DAY, 72, 20.0, 30.0) if h.valid_time.hour != 10],
            None,
        ),
        (RUN, {}, forecast(MIDNIGHT + timedelta(days=1), 48, 20.0, 30.0), None),
        # A run in the day's last hour: no later hour to forecast; the day has only what
        # was observed (22:00 at 100 µg/m³), or nothing at all.
        (
            MIDNIGHT + timedelta(hours=23, minutes=30),
            hours(MIDNIGHT + timedelta(hours=22), 1, 100.0),
            forecast(MIDNIGHT + timedelta(days=1), 48, 20.0, 30.0),
            132,
        ),
        (
            MIDNIGHT + timedelta(hours=23, minutes=30),
            {},
            forecast(MIDNIGHT + timedelta(days=1), 48, 20.0, 30.0),
            None,
        ),
        (RUN, {}, [], None),
    ],
    ids=[
        "outage-clean",
        "outage-heavy-evening",
        "few-observed-hours",
        "whole-day",
        "forecast-gap",
        "forecast-from-tomorrow",
        "last-hour-one-observation",
        "last-hour-nothing",
        "no-forecast",
    ],
)
def test_current_day_aqi(
    now: datetime,
    observed: dict[datetime, float],
    fc: list[ForecastHour],
    expected: int | None,
) -> None:
    assert current_day_aqi(observed, fc, now, ZONE, "p90") == expected


def test_the_path_leaves_out_a_day_of_a_few_forecast_hours() -> None:
    # The same outage for the path: 9 forecast hours are not a day (the lift rule uses
    # current_day_aqi for it instead).
    path = daily_aqi_path({}, forecast(REST_OF_DAY, 72, 20.0, 30.0), ZONE, "p90", first_day=DAY)
    assert path[0].day == DAY + timedelta(days=1)


# --- deciding forecast days by probability -------------------------------------------------


def _probabilities(p150: float, p250: float) -> dict[float, float]:
    return {75.0: 0.9, 115.0: 0.8, 150.0: p150, 250.0: p250}


CUTOFFS = {200: 0.35, 300: 0.4}


@pytest.mark.parametrize(
    ("p50_aqi", "p150", "p250", "expected"),
    [
        (150, 0.35, 0.0, 201),  # at the cut-off: counts as above 200
        (150, 0.34, 0.0, 150),  # below: the p50 AQI stays
        (260, 0.34, 0.0, 200),  # a high best guess the probability does not back is capped
        (260, 0.60, 0.39, 260),  # above 200 and not above 300: the p50 AQI stays
        (350, 0.60, 0.39, 300),  # capped at 300
        (250, 0.60, 0.40, 301),  # above 300
        (150, 0.30, 0.45, 301),  # the higher threshold wins when both cut-offs disagree
        (420, 0.90, 0.80, 420),  # above both: the p50 AQI stays
    ],
)
def test_forecast_days_are_decided_by_their_exceedance_probability(
    p50_aqi: int, p150: float, p250: float, expected: int
) -> None:
    from alerts.criteria import DailyAQI
    from alerts.daily import decide_by_probability

    day = date(2016, 12, 17)
    [decided] = decide_by_probability(
        [DailyAQI(day, p50_aqi)], {day: _probabilities(p150, p250)}, CUTOFFS
    )
    assert decided == DailyAQI(day, expected)


def test_days_without_probabilities_keep_their_aqi_and_missing_thresholds_raise() -> None:
    from alerts.criteria import DailyAQI
    from alerts.daily import decide_by_probability

    today, tomorrow = date(2016, 12, 16), date(2016, 12, 17)
    path = [DailyAQI(today, 320), DailyAQI(tomorrow, 320)]
    decided = decide_by_probability(path, {tomorrow: _probabilities(0.1, 0.0)}, CUTOFFS)
    assert decided == (DailyAQI(today, 320), DailyAQI(tomorrow, 200))
    with pytest.raises(ValueError, match="150"):
        decide_by_probability(path, {tomorrow: {75.0: 0.5}}, CUTOFFS)
    # Under HJ 633-2026 AQI 200 and 300 are still 150 and 250 µg/m³.
    later = date(2026, 12, 1)
    [decided_2026] = decide_by_probability(
        [DailyAQI(later, 120)], {later: _probabilities(0.5, 0.0)}, CUTOFFS
    )
    assert decided_2026.aqi == 201
