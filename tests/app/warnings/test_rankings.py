"""The monthly ranking: 10 best and 10 worst cities by average daily AQI from observations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.observations.models import Observation
from app.stations.models import Station
from app.warnings import rankings
from forecasting.aqi import daily_aqi, daily_indicators, version_for

ZONE = ZoneInfo("Asia/Shanghai")
MONTH_START = datetime(2016, 2, 1, tzinfo=ZONE)


def add_city_month(session: Session, code: str, pm25: float, hours: int = 29 * 24) -> None:
    session.add(Station(id=f"R{code}", name_en=code, city_code=code, lat=0, lon=0, aliases=[]))
    session.flush()
    start = MONTH_START.astimezone(UTC)
    rows = [
        {"station_id": f"R{code}", "time": start + timedelta(hours=h), "pm25": pm25, "source": "t"}
        for h in range(hours)
    ]
    session.execute(insert(Observation), rows)


def test_best_and_worst_ten_by_average_daily_aqi(
    client: TestClient, session: Session, hw: Any
) -> None:
    codes = sorted(session.scalars(select(City.code)))[:13]
    for index, code in enumerate(codes[:12]):
        add_city_month(session, code, pm25=20.0 + 15 * index)
    # The 13th city reports 10 hours only: no day has a daily AQI, so it is not ranked.
    add_city_month(session, codes[12], pm25=5.0, hours=10)
    session.commit()

    response = client.get("/v1/rankings/monthly?month=2016-02")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cities_ranked"] == 12
    assert [c["city_code"] for c in body["best"]] == codes[:10]
    assert [c["city_code"] for c in body["worst"]] == list(reversed(codes[2:12]))
    assert [c["rank"] for c in body["worst"]] == list(range(12, 2, -1))
    cleanest = body["best"][0]
    # 20 µg/m³ PM2.5 every hour: IAQI 29 every day of February 2016.
    assert (cleanest["average_aqi"], cleanest["days"], cleanest["worst_day_aqi"]) == (29.0, 29, 29)
    assert body["worst"][0]["average_aqi"] > body["worst"][1]["average_aqi"]

    assert client.get("/v1/rankings/monthly?month=2016-13").status_code == 422
    empty = client.get("/v1/rankings/monthly?month=2015-01").json()
    assert (empty["cities_ranked"], empty["best"], empty["worst"]) == (0, [], [])


def test_vectorised_daily_aqi_matches_the_reference_rules() -> None:
    rng = np.random.default_rng(7)
    first, following = date(2016, 2, 1), date(2016, 3, 1)
    hours = pd.date_range(MONTH_START.astimezone(UTC), periods=29 * 24, freq="h")
    frame = pd.DataFrame(
        {
            "pm25": rng.gamma(2, 60, len(hours)),
            "pm10": rng.gamma(2, 80, len(hours)),
            "so2": rng.gamma(2, 10, len(hours)),
            "no2": rng.gamma(2, 30, len(hours)),
            "co": rng.gamma(2, 0.8, len(hours)),
            "o3": rng.gamma(2, 50, len(hours)),
        },
        index=hours,
    )
    # Gaps: whole pollutants missing for hours, some days short of 20 hours.
    for column in frame.columns:
        frame.loc[rng.random(len(hours)) < 0.12, column] = np.nan
    frame.iloc[48:60] = np.nan
    got = rankings._daily_aqi_values(frame, first, following, "Asia/Shanghai")

    expected = []
    local = frame.tz_convert(ZONE)
    for offset in range(29):
        day = first + timedelta(days=offset)
        part = local[local.index.date == day]
        version = version_for(day)
        result = daily_aqi(daily_indicators(part, version), version=version)
        if result.aqi is not None:
            expected.append(result.aqi)
    assert got == expected and len(got) >= 25


def test_flagged_values_do_not_enter_the_ranking(
    client: TestClient, session: Session, hw: Any
) -> None:
    """Issue 10: a QC-flagged value never enters rankings. A second station of the city
    reads 1,000,000 µg/m³ (flagged impossible) every hour: the city still ranks clean."""
    code = sorted(session.scalars(select(City.code)))[0]
    add_city_month(session, code, pm25=20.0)
    session.add(Station(id="BROKEN", name_en="broken", city_code=code, lat=0, lon=0, aliases=[]))
    session.flush()
    start = MONTH_START.astimezone(UTC)
    session.execute(
        insert(Observation),
        [
            {
                "station_id": "BROKEN",
                "time": start + timedelta(hours=h),
                "pm25": 1_000_000.0,
                "qc_flags": "pm25:impossible",
                "source": "t",
            }
            for h in range(29 * 24)
        ],
    )
    session.commit()
    body = client.get("/v1/rankings/monthly?month=2016-02").json()
    (city,) = body["best"]
    assert (city["city_code"], city["average_aqi"], city["worst_day_aqi"]) == (code, 29.0, 29)
