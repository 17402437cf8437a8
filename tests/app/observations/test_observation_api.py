"""`GET /v1/stations/{id}/observations` and `GET /v1/cities/{code}/aqi`."""

from __future__ import annotations

import csv
import math
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.observations.service import import_observations
from app.stations.service import import_station_list

DONGSI = "PRSA_Data_Dongsi_20130301-20170228.csv"


@pytest.fixture
def dongsi(db: Session, shared_data: Path) -> Path:
    """Stations plus the real Dongsi multi-site file, imported."""
    import_station_list(db, shared_data / "knowair_meta" / "station_info.csv")
    path = shared_data / "beijing_multisite" / DONGSI
    import_observations(db, [path])
    db.commit()
    return path


def test_pages_walk_the_range_with_utc_and_local_times(client: TestClient, dongsi: Path) -> None:
    params = {"start": "2015-01-15T00:00:00+08:00", "end": "2015-01-16T00:00:00+08:00", "limit": 10}
    seen: list[dict[str, object]] = []
    cursor = None
    for _ in range(5):
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get("/v1/stations/1003A/observations", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["station_id"] == "1003A" and body["timezone"] == "Asia/Shanghai"
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 24
    first = seen[0]
    assert first["time"] in ("2015-01-14T16:00:00Z", "2015-01-14T16:00:00+00:00")
    assert first["time_local"] == "2015-01-15T00:00:00+08:00"
    assert seen[-1]["time_local"] == "2015-01-15T23:00:00+08:00"
    # Multi-site label 2015-01-15 hour 1 is the hour starting at 00:00 local.
    with (dongsi).open(newline="") as handle:
        row = next(
            r
            for r in csv.DictReader(handle)
            if r["year"] == "2015" and r["month"] == "1" and r["day"] == "15" and r["hour"] == "1"
        )
    assert first["pm25"] == float(row["PM2.5"])
    assert first["co"] == pytest.approx(float(row["CO"]) / 1000)
    assert first["source"] == "beijing-multisite" and isinstance(first["qc_flags"], list)


def test_observation_query_errors(client: TestClient, dongsi: Path) -> None:
    url = "/v1/stations/1003A/observations"
    missing = client.get("/v1/stations/NOPE/observations")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad_start = client.get(url, params={"start": "yesterday-ish"})
    assert bad_start.status_code == 422
    assert [e["field"] for e in bad_start.json()["errors"]] == ["query.start"]
    reversed_range = client.get(url, params={"start": "2015-01-02", "end": "2015-01-01"})
    assert reversed_range.status_code == 422
    assert reversed_range.json()["errors"][0]["field"] == "query.end"
    too_big = client.get(url, params={"limit": 10**6})
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "query.limit"
    bad_cursor = client.get(url, params={"cursor": "not-ours"})
    assert (
        bad_cursor.status_code == 422 and bad_cursor.json()["errors"][0]["field"] == "query.cursor"
    )
    empty = client.get(url, params={"start": "2030-01-01T00:00Z"})
    assert (
        empty.status_code == 200
        and empty.json()["items"] == []
        and empty.json()["next_cursor"] is None
    )


# HJ 633-2012 Table 1, typed here independently of forecasting.aqi.
IAQI_LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)
HJ633_2012 = {
    "so2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "no2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "pm10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "co_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm25_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}


def _iaqi(indicator: str, c: Fraction) -> int:
    """IAQI = (IH - IL) / (BPH - BPL) * (C - BPL) + IL, rounded up."""
    bp = HJ633_2012[indicator]
    for i in range(1, len(bp)):
        if c <= bp[i]:
            il, ih = IAQI_LEVELS[i - 1], IAQI_LEVELS[i]
            return math.ceil(Fraction(ih - il, bp[i] - bp[i - 1]) * (c - bp[i - 1]) + il)
    raise AssertionError(f"{indicator} {c} above the table")


def _hand_daily_aqi(
    path: Path, day: date
) -> tuple[dict[str, Fraction | None], dict[str, int], int]:
    """Dongsi's daily AQI from the CSV with the csv module and fractions.

    Multi-site labels are hour-ending Beijing time, so the local day's hours 0..23 are the
    rows labelled day 01:00 .. day+1 00:00.
    """
    columns = {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"}
    hours: dict[str, dict[int, Fraction]] = {p: {} for p in columns}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            label = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]))
            start = label - timedelta(hours=1)
            if start.date() != day:
                continue
            for pollutant, column in columns.items():
                if row[column] != "NA":
                    value = Fraction(row[column])
                    hours[pollutant][start.hour] = value / 1000 if pollutant == "co" else value
    indicators: dict[str, Fraction | None] = {}
    for pollutant in ("so2", "no2", "pm10", "co", "pm25"):
        values = list(hours[pollutant].values())
        indicators[f"{pollutant}_24h"] = (
            sum(values, Fraction(0)) / len(values) if len(values) >= 20 else None
        )
    o3 = hours["o3"]
    indicators["o3_1h"] = max(o3.values()) if len(o3) >= 20 else None
    windows = []
    for end in range(7, 24):
        inside = [o3[h] for h in range(end - 7, end + 1) if h in o3]
        if len(inside) >= 6:
            windows.append(sum(inside, Fraction(0)) / len(inside))
    indicators["o3_8h"] = max(windows) if len(windows) >= 14 else None
    iaqi = {k: _iaqi(k, v) for k, v in indicators.items() if v is not None}
    return indicators, iaqi, max(iaqi.values())


def test_dongsi_daily_aqi_matches_a_hand_computation(client: TestClient, dongsi: Path) -> None:
    day = date(2015, 1, 15)
    indicators, iaqi, aqi = _hand_daily_aqi(dongsi, day)
    response = client.get("/v1/cities/110000/aqi", params={"date": day.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "HJ633-2012" and body["timezone"] == "Asia/Shanghai"
    assert body["start"] in ("2015-01-14T16:00:00Z", "2015-01-14T16:00:00+00:00")
    stations = {s["station_id"]: s for s in body["stations"]}
    assert list(stations) == ["1003A"]  # only Dongsi has data
    dongsi_aqi = stations["1003A"]
    assert dongsi_aqi["iaqi"] == iaqi
    assert dongsi_aqi["aqi"] == aqi == max(iaqi.values())
    primary = sorted({k.split("_")[0] for k, v in iaqi.items() if v == aqi})
    assert sorted(dongsi_aqi["primary_pollutants"]) == primary
    for key, value in indicators.items():
        assert dongsi_aqi["indicators"][key] == pytest.approx(
            float(value) if value is not None else None
        )
    assert dongsi_aqi["category"]["level"] == 6 and aqi > 300  # a severe haze day
    # One station: the city mean is that station.
    assert body["city_aqi"]["aqi"] == aqi and body["city_aqi"]["iaqi"] == iaqi


def test_city_aqi_errors_and_empty_days(client: TestClient, dongsi: Path) -> None:
    assert client.get("/v1/cities/999999/aqi", params={"date": "2015-01-15"}).status_code == 404
    bad = client.get("/v1/cities/110000/aqi", params={"date": "2015-13-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.date"
    missing = client.get("/v1/cities/110000/aqi")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "query.date"
    empty = client.get("/v1/cities/110000/aqi", params={"date": "2020-01-01"})
    assert empty.status_code == 200
    assert empty.json()["stations"] == [] and empty.json()["city_aqi"]["aqi"] is None
