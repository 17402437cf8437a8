"""`forecasting.qc`: flags on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.qc import STUCK_HOURS, flag_observations, flagged_columns, mask_flagged


def _frame(
    values: dict[str, list[float]], station: str = "A", start: str = "2015-01-01T00:00Z"
) -> pd.DataFrame:
    n = len(next(iter(values.values())))
    return pd.DataFrame(
        {
            "station": [station] * n,
            "city": ["Beijing"] * n,
            "time": pd.date_range(start, periods=n, freq="h"),
            **values,
        }
    )


def test_clean_series_has_no_flags() -> None:
    frame = _frame(
        {"pm25": [10, 40, 80, 150, 300, 420, 390, 250], "o3": [5, 9, 30, 60, 90, 80, 40, 20]}
    )
    assert list(flag_observations(frame)) == [""] * 8


def test_negative_values_are_flagged_but_not_changed() -> None:
    frame = _frame({"pm25": [3.0, -2.0, 4.0], "rain": [0.0, 0.0, -0.1]})
    before = frame.copy()
    assert list(flag_observations(frame)) == ["", "pm25:negative", "rain:negative"]
    pd.testing.assert_frame_equal(frame, before)


def test_one_hour_spike_against_neighbours() -> None:
    frame = _frame({"pm25": [40, 45, 600, 50, 48]})
    assert list(flag_observations(frame)) == ["", "", "pm25:spike", "", ""]


def test_gradual_haze_rise_is_not_a_spike() -> None:
    frame = _frame({"pm25": [40, 120, 260, 420, 600, 720, 700]})
    assert set(flag_observations(frame)) == {""}


def test_a_value_above_the_ceiling_is_impossible_even_alone() -> None:
    frame = _frame({"co": [70.0], "pm10": [100.0]})
    assert list(flag_observations(frame)) == ["co:impossible"]


def test_a_million_and_1e308_are_impossible_not_just_spikes() -> None:
    """Issue 10 case: 1,000,000 µg/m³ PM2.5 and 1e308 are flagged physically impossible."""
    frame = _frame({"pm25": [80.0, 1_000_000.0, 85.0, 1e308, 90.0]})
    assert list(flag_observations(frame)) == ["", "pm25:impossible", "", "pm25:impossible", ""]


def test_mask_flagged_blanks_only_the_flagged_column_of_the_flagged_row() -> None:
    frame = _frame({"pm25": [80.0, 1e6, 85.0], "co": [1.0, 1.2, 70.0], "o3": [5.0, 6.0, 7.0]})
    frame["qc_flags"] = ["", "pm25:impossible", "co:impossible,o3:stuck"]
    masked = mask_flagged(frame)
    assert masked["pm25"].tolist()[0] == 80.0 and np.isnan(masked["pm25"].tolist()[1])
    assert masked["co"].tolist()[:2] == [1.0, 1.2] and np.isnan(masked["co"].tolist()[2])
    assert masked["o3"].tolist()[:2] == [5.0, 6.0] and np.isnan(masked["o3"].tolist()[2])
    assert frame["pm25"].tolist()[1] == 1e6  # the input is left alone
    # StateAir's own QC names mask too; "co:" never matches inside another token.
    assert flagged_columns("pm25:suspect,no2:stuck") == {"pm25", "no2"}
    assert flagged_columns("") == set() and flagged_columns(None) == set()


def test_missing_neighbours_do_not_hide_or_invent_spikes() -> None:
    # The neighbour before is missing; the one after decides.
    frame = _frame({"pm25": [np.nan, 600, 50]})
    assert list(flag_observations(frame)) == ["", "pm25:spike", ""]
    # A gap in time: rows one hour apart only count as neighbours.
    gapped = pd.concat(
        [_frame({"pm25": [40.0]}), _frame({"pm25": [600.0]}, start="2015-01-01T05:00Z")]
    )
    assert list(flag_observations(gapped.reset_index(drop=True))) == ["", ""]


def test_stuck_needs_n_hours_above_the_floor() -> None:
    stuck = [107.0] * STUCK_HOURS
    frame = _frame({"o3": [90.0, *stuck, 80.0]})
    assert list(flag_observations(frame)) == ["", *["o3:stuck"] * STUCK_HOURS, ""]
    one_short = _frame({"o3": [90.0, *stuck[:-1], 80.0]})
    assert set(flag_observations(one_short)) == {""}
    # Repeats at the instrument's resolution are not stuck; zero never is.
    low = _frame({"so2": [2.0] * 48, "pm25": [0.0] * 48})
    assert set(flag_observations(low)) == {""}


def test_stations_are_checked_separately_and_flags_join_in_order() -> None:
    a = _frame({"pm25": [40, 600, 50], "o3": [-1, 10, 10]}, station="A")
    b = _frame({"pm25": [600, 600, 600], "o3": [10, 10, 10]}, station="B")
    frame = pd.concat([b, a], ignore_index=True)  # unsorted on purpose
    flags = flag_observations(frame)
    assert list(flags) == ["", "", "", "o3:negative", "pm25:spike", ""]
    assert list(flags.index) == list(frame.index)


def test_missing_columns_and_empty_frames() -> None:
    assert list(flag_observations(_frame({"temp": [-50.0, 40.0]}))) == ["", ""]
    empty = _frame({"pm25": []})
    assert len(flag_observations(empty)) == 0
