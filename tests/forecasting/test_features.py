"""forecasting.features and forecasting.station_met: values, calendars, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import features as fx
from forecasting.station_met import (
    STATION_MET_VARIABLES,
    relative_humidity,
    station_met_dataset,
    wind_components,
)

TZ = "Asia/Shanghai"


def synthetic(hours: int = 24 * 40, seed: int = 0, start: str = "2016-01-01") -> pd.DataFrame:
    """Hourly observations with station weather, one station, tz-aware UTC times."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    return pd.DataFrame(
        {
            "station": "A",
            "time": pd.date_range(start, periods=hours, freq="h", tz="UTC"),
            "pm25": rng.gamma(2.0, 40.0, hours),
            "pm10": rng.gamma(2.0, 60.0, hours),
            "so2": rng.gamma(2.0, 5.0, hours),
            "no2": rng.gamma(2.0, 20.0, hours),
            "co": rng.gamma(2.0, 0.5, hours),
            "o3": rng.gamma(2.0, 20.0, hours),
            "temp": 5 * np.sin(t / 24 * 2 * np.pi) + rng.normal(0, 1, hours),
            "dewp": -5 + rng.normal(0, 2, hours),
            "rh": np.nan,
            "pres": 1020 + rng.normal(0, 3, hours),
            "rain": rng.exponential(0.1, hours) * (rng.uniform(size=hours) < 0.1),
            "wspd": rng.gamma(2.0, 1.2, hours),
            "wdir": rng.uniform(0, 360, hours),
        }
    )


def series_of(frame: pd.DataFrame, tz: str = TZ) -> fx.PointSeries:
    met = station_met_dataset(frame)
    return fx.point_series(frame, fx.met_frame_from_dataset(met, "A"), tz)


# --------------------------------------------------------------------------- station met


def test_wind_components_follow_the_meteorological_convention() -> None:
    u, v = wind_components(np.array([5.0, 5.0, 4.0, 0.0]), np.array([0.0, 90.0, 180.0, np.nan]))
    # A north wind blows southward (v < 0); an east wind westward (u < 0); calm is (0, 0).
    np.testing.assert_allclose(u, [0.0, -5.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(v, [-5.0, 0.0, 4.0, 0.0], atol=1e-12)


def test_relative_humidity_from_dew_point() -> None:
    assert relative_humidity(np.array([20.0]), np.array([20.0]))[0] == pytest.approx(100.0)
    # 20 °C with a 10 °C dew point is about 52 % (Magnus).
    assert relative_humidity(np.array([20.0]), np.array([10.0]))[0] == pytest.approx(52.5, abs=1.0)


def test_station_met_dataset_is_canonical() -> None:
    frame = synthetic(48)
    frame = frame.drop(index=[5])  # a gap becomes NaN on the regular axis
    ds = station_met_dataset(frame)
    assert ds.sizes == {"point": 1, "time": 48}
    assert list(ds.data_vars) == list(STATION_MET_VARIABLES)
    assert "blh" not in ds
    assert ds["sp"].attrs["units"] == "hPa" and ds["tp"].attrs["units"] == "mm h-1"
    assert np.isnan(ds["t2m"].values[0, 5])
    # rh was missing in the file: derived from temp and dew point.
    assert np.isfinite(ds["rh"].values[0, 0])
    assert ds["time"].dtype == np.dtype("datetime64[ns]")
    assert str(ds["time"].values[0]).startswith("2016-01-01T00:00")
    np.testing.assert_allclose(ds["wspd"].values[0, :5], frame["wspd"].to_numpy()[:5])


def test_station_met_refuses_unknown_points_and_naive_times() -> None:
    frame = synthetic(24)
    with pytest.raises(ValueError, match="no observations"):
        station_met_dataset(frame, points=["B"])
    naive = frame.assign(time=frame["time"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-aware"):
        station_met_dataset(naive)


# --------------------------------------------------------------------------- series


def test_point_series_puts_everything_on_a_regular_axis() -> None:
    frame = synthetic(72).drop(index=[10, 11])
    series = series_of(frame)
    assert len(series) == 72
    assert series.times.tz is not None and str(series.times.tz) == "UTC"
    assert np.isnan(series.series("pm25")[10])
    assert np.isnan(series.series("blh")).all()  # absent inputs read as missing


def test_set_replaces_an_input_and_its_cached_sums() -> None:
    series = series_of(synthetic(48))
    series.set("pm25", np.ones(48))
    assert series.window_mean("pm25", np.array([0]), np.array([24]))[0] == 1.0
    series.set("pm25", np.full(48, 3.0))
    assert series.window_mean("pm25", np.array([0]), np.array([24]))[0] == 3.0
    with pytest.raises(ValueError, match="48 hours"):
        series.set("pm25", np.ones(5))


def test_issue_features_by_hand() -> None:
    frame = synthetic(24 * 10)
    frame["pm25"] = np.arange(len(frame), dtype=float)
    series = series_of(frame)
    issue = np.array([200])
    features = fx.issue_features(series, issue)
    assert features["pm25_0"][0] == 200
    assert features["pm25_lag24"][0] == 176
    assert features["pm25_mean24"][0] == pytest.approx(np.mean(np.arange(177, 201)))
    assert features["pm25_max24"][0] == 200 and features["pm25_min24"][0] == 177
    assert features["pm25_trend6"][0] == pytest.approx(6.0)
    assert features["pm25_last"][0] == 200


def test_last_valid_looks_back_a_limited_time() -> None:
    frame = synthetic(60)
    frame.loc[30:59, "pm25"] = np.nan
    series = series_of(frame)
    values = fx.last_valid(series, "pm25", np.array([35, 53, 54]), within=24)
    assert values[0] == frame.loc[29, "pm25"]
    assert values[1] == frame.loc[29, "pm25"]  # 24 h after the last value
    assert np.isnan(values[2])  # 25 h: too old


def test_hours_since_clean_out() -> None:
    frame = synthetic(48)
    frame["wspd"] = 1.0
    frame["wdir"] = 180.0  # southerly: no clean-out...
    frame.loc[10, ["wspd", "wdir"]] = [5.0, 0.0]  # ...except a strong north wind at hour 10
    series = series_of(frame)
    since = series.hours_since("clean_out", np.array([9, 10, 30]))
    assert since[0] == fx.HOURS_SINCE_CAP
    assert since[1] == 0 and since[2] == 20


def test_heating_season_bounds() -> None:
    months = np.array([11, 11, 3, 3, 7, 1])
    days = np.array([14, 15, 15, 16, 1, 1])
    assert fx.heating_season(months, days).tolist() == [0, 1, 1, 0, 0, 1]


def test_calendar_is_local() -> None:
    utc = pd.DatetimeIndex(["2016-01-01T04:00Z", "2016-06-30T20:00Z"])
    calendar = fx.calendar_features(utc.tz_convert(TZ))
    assert calendar["hour"].tolist() == [12.0, 4.0]  # UTC+8
    assert calendar["heating"].tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------- local days


def test_daily_windows_follow_the_local_calendar() -> None:
    series = series_of(synthetic(24 * 10))
    issue = fx.issue_positions(series, pd.Timestamp("2016-01-03"), pd.Timestamp("2016-01-03"), 12)
    assert series.times[issue[0]] == pd.Timestamp("2016-01-03T04:00Z")  # 12:00 Beijing
    _, start, end = fx.daily_windows(series, issue, (1, 2, 3))
    starts = series.times[0] + pd.to_timedelta(start, "h")
    # D+1 = Jan 4 local, which starts at 16:00 UTC on Jan 3.
    assert list(starts) == [
        pd.Timestamp("2016-01-03T16:00Z"),
        pd.Timestamp("2016-01-04T16:00Z"),
        pd.Timestamp("2016-01-05T16:00Z"),
    ]
    assert (end - start).tolist() == [24, 24, 24]


def test_daily_windows_across_daylight_saving() -> None:
    # New York springs forward on 2016-03-13: that local day has 23 hours.
    series = series_of(synthetic(24 * 20, start="2016-03-01"), tz="America/New_York")
    issue = fx.issue_positions(series, pd.Timestamp("2016-03-12"), pd.Timestamp("2016-03-12"), 12)
    _, start, end = fx.daily_windows(series, issue, (1, 2))
    assert (end - start).tolist() == [23, 24]


def test_daily_mean_needs_18_hours() -> None:
    frame = synthetic(24 * 4)
    frame["pm25"] = 10.0
    frame.loc[24:30, "pm25"] = np.nan  # 7 missing of Jan 2 (UTC day, here tz UTC)
    frame.loc[48:53, "pm25"] = np.nan  # 6 missing of Jan 3
    series = series_of(frame, tz="UTC")
    means = fx.daily_means(series, np.array([24, 48]), np.array([48, 72]))
    assert np.isnan(means[0]) and means[1] == pytest.approx(10.0)


# --------------------------------------------------------------------------- look-ahead


def _perturb_after(frame: pd.DataFrame, instant: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Every value after ``instant`` replaced by noise."""
    rng = np.random.default_rng(seed)
    later = frame["time"] > instant
    out = frame.copy()
    for column in (
        "pm25",
        "pm10",
        "so2",
        "no2",
        "co",
        "o3",
        "temp",
        "dewp",
        "pres",
        "rain",
        "wspd",
    ):
        out.loc[later, column] = rng.uniform(0, 500, later.sum())
    out.loc[later, "wdir"] = rng.uniform(0, 360, later.sum())
    return out


@pytest.mark.parametrize("issue_index", [24 * 10 + 4, 24 * 20 + 13, 24 * 30])
def test_history_features_never_read_the_future(issue_index: int) -> None:
    frame = synthetic(24 * 40, seed=3)
    instant = frame["time"].iloc[issue_index]
    original = series_of(frame)
    perturbed = series_of(_perturb_after(frame, instant, seed=4))
    issue = np.array([issue_index])
    for build in (
        lambda s: fx.hourly_design(s, issue, range(1, 73), "history"),
        lambda s: fx.daily_design(s, issue, (1, 2, 3), "history"),
    ):
        before, after = build(original), build(perturbed)
        pd.testing.assert_frame_equal(before, after)


def test_perfect_features_do_read_the_forecast_weather() -> None:
    """The control for the test above: perturbing the future changes perfect-met
    features, so the history test could fail if history features looked ahead."""
    frame = synthetic(24 * 40, seed=3)
    issue_index = 24 * 20 + 4
    instant = frame["time"].iloc[issue_index]
    original = series_of(frame)
    perturbed = series_of(_perturb_after(frame, instant, seed=4))
    issue = np.array([issue_index])
    before = fx.daily_design(original, issue, (1,), "perfect")
    after = fx.daily_design(perturbed, issue, (1,), "perfect")
    assert not before["day_t2m"].equals(after["day_t2m"])
    # ...while the issue-time part is still untouched.
    pd.testing.assert_series_equal(before["pm25_mean24"], after["pm25_mean24"])


def test_met_mode_is_checked() -> None:
    series = series_of(synthetic(24 * 10))
    with pytest.raises(ValueError, match="met_mode"):
        fx.hourly_design(series, np.array([100]), [1], "oracle")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- batches


def _batch_of(series: list[fx.PointSeries], tz: str) -> fx.PointSeries:
    """Points on one axis stacked into a batch series, arrays (points, hours)."""
    names = sorted({name for s in series for name in fx.POLLUTANT_COLUMNS + fx.MET_COLUMNS})
    return fx.PointSeries(
        times=series[0].times,
        values={name: np.vstack([s.series(name) for s in series]) for name in names},
        tz=tz,
    )


@pytest.mark.parametrize("tz", [TZ, "Europe/Berlin"])
@pytest.mark.parametrize("met_mode", fx.MET_MODES)
def test_a_batch_gives_each_point_its_own_features_exactly(tz: str, met_mode: fx.MetMode) -> None:
    # Issued 2016-03-25 05:00 UTC: in Berlin, D+2 is the 23-hour day of the change to
    # summer time.
    issue = 24 * 34 + 5
    frames = [synthetic(seed=seed, start="2016-02-20") for seed in (1, 2, 3)]
    # Missing hours: a gap up to the issue in one point's history and weather, sparse
    # NaNs in another's.
    frames[1].loc[issue - 6 : issue, ["pm25", "pm10", "temp", "wspd"]] = np.nan
    frames[2].loc[frames[2].index[::5], ["pm25", "dewp"]] = np.nan
    series = [series_of(frame, tz) for frame in frames]
    batch = _batch_of(series, tz)
    leads = np.arange(1, 84)
    hourly = fx.hourly_batch(batch, issue, leads, met_mode)
    daily = fx.daily_batch(batch, issue, (1, 2, 3), met_mode)
    for p, one in enumerate(series):
        expected_hourly = fx.hourly_design(one, np.array([issue]), leads, met_mode)
        expected_daily = fx.daily_design(one, np.array([issue]), (1, 2, 3), met_mode)
        assert list(hourly) == list(expected_hourly.columns)
        assert list(daily) == list(expected_daily.columns)
        for name, column in expected_hourly.items():
            np.testing.assert_array_equal(
                hourly[str(name)][p], column.to_numpy(), err_msg=str(name)
            )
        for name, column in expected_daily.items():
            np.testing.assert_array_equal(daily[str(name)][p], column.to_numpy(), err_msg=str(name))
    # The gap shows: no PM2.5 at issue, the last value from before the gap instead.
    assert np.isnan(hourly["pm25_0"][1]).all() and not np.isnan(hourly["pm25_0"][0]).any()
    assert (hourly["pm25_last"][1] == frames[1]["pm25"][issue - 7]).all()
    hours_per_day = (daily["end_pos"] - daily["start_pos"])[0].tolist()
    assert hours_per_day == ([24, 23, 24] if tz == "Europe/Berlin" else [24, 24, 24])
