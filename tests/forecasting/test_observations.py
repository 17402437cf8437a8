"""`forecasting.observations`: the readers on the real shared files and on broken ones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.observations import (
    OBSERVATION_COLUMNS,
    ObservationFileError,
    read_observation_file,
    read_observations,
)

UTC = "UTC"


def _at(frame: pd.DataFrame, station: str, utc: str) -> pd.Series:
    rows = frame[(frame["station"] == station) & (frame["time"] == pd.Timestamp(utc))]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_beijing_multisite_dongsi(shared_data: Path) -> None:
    frame = read_observations(
        shared_data / "beijing_multisite" / "PRSA_Data_Dongsi_20130301-20170228.csv"
    )
    assert list(frame.columns) == list(OBSERVATION_COLUMNS)
    assert len(frame) == 35064
    assert str(frame["time"].dt.tz) == UTC
    # First CSV row: 2013-03-01 hour 0 (hour-ending, UTC+8) -> 2013-02-28 15:00 UTC.
    first = frame.iloc[0]
    assert first["time"] == pd.Timestamp("2013-02-28T15:00Z")
    assert (first["station"], first["city"], first["source"]) == (
        "Dongsi",
        "Beijing",
        "beijing-multisite",
    )
    assert (first["pm25"], first["pm10"], first["so2"], first["no2"], first["o3"]) == (
        9,
        9,
        3,
        17,
        89,
    )
    assert first["co"] == pytest.approx(0.3)  # 300 µg/m³ -> mg/m³
    assert first["wdir"] == 337.5  # NNW
    assert first["wspd"] == 5.7 and first["pres"] == 1024.5 and first["dewp"] == -21.4
    assert math.isnan(frame.iloc[2]["so2"])  # NA
    assert frame["time"].is_monotonic_increasing and frame["time"].is_unique
    assert all(isinstance(flags, str) for flags in frame["qc_flags"])


def test_five_cities_beijing_sites_and_weather(shared_data: Path) -> None:
    frame = read_observations(shared_data / "five_cities" / "BeijingPM20100101_20151231.csv")
    assert set(frame["station"]) == {"Dongsi", "Dongsihuan", "US Post"}
    assert set(frame["city"]) == {"Beijing"} and set(frame["source"]) == {"five-cities"}
    counts = frame.groupby("station").size()
    # Each site spans its first to last PM2.5 hour: US Post 2010-01-01 23:00 (the first
    # 23 hours are NA) to 2015-12-31 23:00.
    assert counts["US Post"] == 52584 - 23
    assert len(frame) == 103209
    # Line "45412": 2015-03-08 hour 2 (hour-start, UTC+8): Dongsi 247, US Post 228.
    row = _at(frame, "US Post", "2015-03-07T18:00Z")
    assert row["pm25"] == 228 and row["rh"] == 64 and row["temp"] == 3 and row["dewp"] == -3
    assert math.isnan(row["wdir"])  # cv
    assert row["wspd"] == pytest.approx(0.89)  # Iws 1.78 after 0.89 in the same cv run
    assert _at(frame, "Dongsi", "2015-03-07T18:00Z")["pm25"] == 247
    # Same measurement as multi-site Dongsi after alignment: label h here = h+1 there.
    multisite = read_observations(
        shared_data / "beijing_multisite" / "PRSA_Data_Dongsi_20130301-20170228.csv"
    )
    joined = frame[frame["station"] == "Dongsi"].merge(multisite, on="time", suffixes=("", "_m"))
    both = joined[["pm25", "pm25_m"]].dropna()
    assert len(both) > 20000
    assert (both["pm25"] == both["pm25_m"]).mean() > 0.95


def test_five_cities_wind_direction_and_sentinel(shared_data: Path) -> None:
    frame = read_observations(shared_data / "five_cities" / "BeijingPM20100101_20151231.csv")
    assert set(np.unique(frame["wdir"].dropna())) == {45.0, 135.0, 315.0}  # Beijing has no SW
    assert frame["rain"].max() < 999990  # the sentinel became NaN
    assert (frame["wspd"].dropna() >= 0).all()


def test_stateair_latin1_and_missing(shared_data: Path) -> None:
    frame = read_observations(
        shared_data / "stateair_pm25" / "Chengdu_2016_HourlyPM25_created20170201.csv"
    )
    assert len(frame) == 8784
    assert (frame["station"] == "US Post").all() and (frame["city"] == "Chengdu").all()
    assert frame["time"].iloc[0] == pd.Timestamp("2015-12-31T16:00Z")  # 1/1/2016 0:00 LST
    assert frame["pm25"].iloc[0] == 240
    assert frame["pm25"].isna().sum() == 123  # QC Name = Missing
    assert frame["time"].is_unique


def test_stateair_us_daylight_saving_artefact_is_repaired(shared_data: Path) -> None:
    frame = read_observations(
        shared_data / "stateair_pm25" / "Beijing_2015_HourlyPM25_created20160201.csv"
    )
    assert len(frame) == 8760 and frame["time"].is_unique
    # The file labels both 228 and 217 "3/8/2015 3:00"; five-cities says 02:00 = 228.
    assert _at(frame, "US Post", "2015-03-07T18:00Z")["pm25"] == 228
    assert _at(frame, "US Post", "2015-03-07T19:00Z")["pm25"] == 217
    assert frame["pm25"].isna().sum() == 89


def test_beijing_prsa_2010(shared_data: Path) -> None:
    frame = read_observations(
        shared_data / "beijing_prsa_2010" / "PRSA_data_2010.1.1-2014.12.31.csv"
    )
    assert len(frame) == 43824 - 24  # 2010-01-01 has no PM2.5 and is dropped
    assert set(frame["source"]) == {"beijing-prsa-2010"}
    # 2010-01-02 hour 0 (hour-ending) holds 129 -> 2010-01-01 15:00 UTC.
    assert frame.iloc[0]["time"] == pd.Timestamp("2010-01-01T15:00Z")
    assert frame.iloc[0]["pm25"] == 129


def test_long_csv_pivot_units_and_utc(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        "station,city,time,pollutant,value,unit\n"
        "Dongsi,Beijing,2015-01-15T08:00:00+08:00,pm25,295,ug/m3\n"
        "Dongsi,Beijing,2015-01-15T08:00:00+08:00,co,1200,µg/m3\n"
        "Dongsi,Beijing,2015-01-15T00:00:00Z,o3,12,μg/m3\n"
        "US Post,Chengdu,2015-01-15T09:00+08:00,PM25,NA,ug/m3\n"
        "US Post,Chengdu,2015-01-15T09:00+08:00,co,0.9,mg/m3\n",
        encoding="utf-8",
    )
    parsed = read_observation_file(path)
    frame = parsed.frame
    assert list(frame.columns) == list(OBSERVATION_COLUMNS)
    assert len(frame) == 2  # 08:00+08:00 and 00:00Z are the same hour
    dongsi = _at(frame, "Dongsi", "2015-01-15T00:00Z")
    assert (dongsi["pm25"], dongsi["co"], dongsi["o3"]) == (295, 1.2, 12)
    assert math.isnan(dongsi["no2"]) and dongsi["source"] == "long-csv"
    post = _at(frame, "US Post", "2015-01-15T01:00Z")
    assert post["city"] == "Chengdu" and math.isnan(post["pm25"]) and post["co"] == 0.9
    assert parsed.station_lines == {("Dongsi", "Beijing"): 2, ("US Post", "Chengdu"): 5}


def test_long_csv_without_city_column(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        "time,station,pollutant,unit,value\n2015-01-15T08:00:00+08:00,1003A,no2,ug/m3,80\n"
    )
    frame = read_observations(path)
    assert frame.iloc[0]["city"] is None and frame.iloc[0]["no2"] == 80


LONG_HEADER = "station,time,pollutant,value,unit\n"
OK_LINE = "A,2015-01-15T08:00Z,pm25,1,ug/m3\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (LONG_HEADER + "A,2015-01-15T08:00:00,pm25,1,ug/m3\n", 2, "bad time '2015-01-15T08:00:00'"),
        (LONG_HEADER + "A,2015-01-15T08:30:00Z,pm25,1,ug/m3\n", 2, "not the start of an hour"),
        (LONG_HEADER + OK_LINE + "A,2015-01-15T08:00Z,pm1,1,ug/m3\n", 3, "unknown pollutant 'pm1'"),
        (LONG_HEADER + "A,2015-01-15T08:00Z,pm25,1,ppb\n", 2, "unknown unit 'ppb'"),
        (LONG_HEADER + OK_LINE + OK_LINE.replace(",1,", ",2,"), 3, "duplicate value"),
        (LONG_HEADER + OK_LINE + "A,2015-01-15T09:00Z,pm25,high,ug/m3\n", 3, "text 'high' in"),
        # Issue 10: inf was accepted and counted as valid; now refused like NaN.
        (LONG_HEADER + OK_LINE + "A,2015-01-15T09:00Z,pm25,inf,ug/m3\n", 3, "value inf in"),
        (LONG_HEADER + "A,2015-01-15T09:00Z,pm25,-inf,ug/m3\n", 2, "value -inf in"),
        (LONG_HEADER + "A,2015-01-15T09:00Z,co,1e308,mg/m3\n", 2, "is not finite in µg/m³"),
        (
            "station,time,pollutant,value\nA,2015-01-15T08:00Z,pm25,1\n",
            1,
            "missing column(s): unit",
        ),
    ],
)
def test_long_csv_refusals(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ObservationFileError) as caught:
        read_observations(path)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}, line {line}: ")


MULTISITE_HEADER = (
    '"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","O3","TEMP","PRES",'
    '"DEWP","RAIN","wd","WSPM","station"\n'
)
ROW1 = '1,2013,3,1,0,9,9,3,17,300,89,-0.5,1024.5,-21.4,0,"NNW",5.7,"Dongsi"\n'
ROW2 = '2,2013,3,1,1,4,4,3,16,300,88,-0.7,1025.1,-22.1,0,"NW",3.9,"Dongsi"\n'


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (MULTISITE_HEADER + ROW1 + ROW2[:30], 3, "truncated file: last row has 12 of 18 fields"),
        (MULTISITE_HEADER + ROW1 + ROW2[:-10], 3, "truncated file"),
        (MULTISITE_HEADER + ROW1 + ROW2.replace(",4,4,", ",4,n/a,"), 3, "text 'n/a' in number column 'PM10'"),  # noqa: E501
        (MULTISITE_HEADER + ROW1 + ROW2.replace("2013,3,1,1", "2013,2,30,1"), 3, "bad time"),
        (MULTISITE_HEADER + ROW1 + ROW2.replace("2013,3,1,1", "2013,3,1,24"), 3, "bad time"),
        (MULTISITE_HEADER + ROW1 + ROW1, 3, "duplicate station-hour"),
        (MULTISITE_HEADER + ROW1 + ROW2.replace(",4,4,", ",4,inf,"), 3, "value inf in column 'PM10' is not finite"),  # noqa: E501
        (MULTISITE_HEADER + ROW1 + ROW2.replace('"NW"', '"XX"'), 3, "unknown wind direction 'XX'"),
        ("a,b,c\n1,2,3\n", 1, "unknown format"),
        (MULTISITE_HEADER, 2, "no data rows"),
    ],
)  # fmt: skip
def test_malformed_multisite_files(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "PRSA_Data_Dongsi_bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ObservationFileError) as caught:
        read_observations(path)
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ObservationFileError, match="empty file"):
        read_observations(empty)
    with pytest.raises(ObservationFileError, match="cannot read file"):
        read_observations(tmp_path / "absent.csv")


def test_flags_reach_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "PRSA_Data_X.csv"
    rows = [
        f'{i + 1},2013,3,1,{i},{900 if i == 2 else 20},30,3,17,300,89,1,1020,-5,0,"N",2,"Dongsi"\n'
        for i in range(5)
    ]
    path.write_text(MULTISITE_HEADER + "".join(rows), encoding="utf-8")
    frame = read_observations(path)
    assert list(frame["qc_flags"]) == ["", "", "pm25:spike", "", ""]


def test_1e308_is_read_but_flagged_impossible(tmp_path: Path) -> None:
    """Issue 10 case: observation value 1e308 is never counted as valid (flagged)."""
    path = tmp_path / "long.csv"
    path.write_text(
        LONG_HEADER + OK_LINE + "A,2015-01-15T09:00Z,pm25,1e308,ug/m3\n", encoding="utf-8"
    )
    frame = read_observations(path)
    assert list(frame["qc_flags"]) == ["", "pm25:impossible"]
