"""QC flags are honoured downstream: a flagged value is stored and shown, never used."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.observations.service import import_observations
from app.stations.service import import_station_list

DONGSI = "PRSA_Data_Dongsi_20130301-20170228.csv"
DAY = "2015-03-20"


def test_one_reading_of_a_million_at_dongsi_does_not_make_the_daily_aqi_500(
    db: Session, client: TestClient, shared_data: Path, tmp_path: Path
) -> None:
    """Issue 10 case: one PM2.5 reading of 1,000,000 µg/m³ at Dongsi (flagged by the
    import's QC) made the city's daily AQI 500; it must leave the daily AQI as it was."""
    import_station_list(db, shared_data / "knowair_meta" / "station_info.csv")
    import_observations(db, [shared_data / "beijing_multisite" / DONGSI])
    db.commit()
    before = client.get("/v1/cities/110000/aqi", params={"date": DAY}).json()
    assert before["city_aqi"]["aqi"] < 200

    spike = tmp_path / "spike.csv"
    spike.write_text(
        "station,city,time,pollutant,value,unit\n"
        f"Dongsi,Beijing,{DAY}T10:00:00+08:00,pm25,1000000,ug/m3\n",
        encoding="utf-8",
    )
    import_observations(db, [spike])
    db.commit()

    shown = client.get(
        "/v1/stations/1003A/observations",
        params={"start": f"{DAY}T10:00:00+08:00", "end": f"{DAY}T11:00:00+08:00"},
    ).json()
    (row,) = shown["items"]
    assert row["pm25"] == 1_000_000 and "pm25:impossible" in row["qc_flags"]

    after = client.get("/v1/cities/110000/aqi", params={"date": DAY}).json()
    assert after["city_aqi"]["aqi"] == before["city_aqi"]["aqi"] != 500
    (station,) = after["stations"]
    # The flagged hour is left out: 23 valid hours instead of 24, a mean of the others.
    pm25_before = before["stations"][0]["indicators"]["pm25_24h"]
    assert abs(station["indicators"]["pm25_24h"] - pm25_before) < 5
    assert station["valid_hours"]["pm25"] == before["stations"][0]["valid_hours"]["pm25"] - 1
