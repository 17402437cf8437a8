"""`resolve_station(s)`: every name the observation sources use maps to one station."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.stations.service import import_station_list, resolve_station, resolve_stations

# (source name, city as the importer passes it) -> our station id
SOURCE_NAMES: dict[tuple[str, str | None], str] = {
    # UCI Beijing multi-site files
    ("Aotizhongxin", "Beijing"): "1011A",
    ("Changping", "Beijing"): "1010A",
    ("Dingling", "Beijing"): "1002A",
    ("Dongsi", "Beijing"): "1003A",
    ("Guanyuan", "Beijing"): "1006A",
    ("Gucheng", "Beijing"): "1012A",
    ("Huairou", "Beijing"): "1009A",
    ("Nongzhanguan", "Beijing"): "1005A",
    ("Shunyi", "Beijing"): "1008A",
    ("Tiantan", "Beijing"): "1004A",
    ("Wanliu", "Beijing"): "1007A",
    ("Wanshouxigong", "Beijing"): "1001A",
    # UCI five-cities files
    ("Dongsihuan", "Beijing"): "BJ-DONGSIHUAN",
    ("US Post", "Beijing"): "US-BJ",
    ("Caotangsi", "Chengdu"): "1436A",
    ("Shahepu", "Chengdu"): "1434A",
    ("US Post", "Chengdu"): "US-CD",
    ("City Station", "Guangzhou"): "1352A",
    ("5th Middle School", "Guangzhou"): "1346A",
    ("US Post", "Guangzhou"): "US-GZ",
    ("Jingan", "Shanghai"): "1147A",
    ("Xuhui", "Shanghai"): "1144A",
    ("US Post", "Shanghai"): "US-SH",
    ("US Post", "Shenyang"): "US-SY",
    # StateAir `Site` column, with and without the city
    ("Beijing", None): "US-BJ",
    ("Chengdu", None): "US-CD",
    ("Guangzhou", None): "US-GZ",
    ("Shanghai", None): "US-SH",
    ("Beijing", "Beijing"): "US-BJ",
    # Names unique nationwide need no city; ids, Chinese names and case do not matter.
    ("Wanshouxigong", None): "1001A",
    ("dongsi", "beijing"): "1003A",
    ("  DONGSI ", "Beijing"): "1003A",
    ("1003a", None): "1003A",
    ("东四", "北京"): "1003A",
    ("Dongsi", "110000"): "1003A",
    ("草堂寺", "成都市"): "1436A",
}


@pytest.fixture
def stations(db: Session, shared_data: Path) -> Session:
    import_station_list(db, shared_data / "knowair_meta" / "station_info.csv")
    db.commit()
    return db


def test_resolve_station_maps_every_source_name(stations: Session) -> None:
    got = {}
    for name, city in SOURCE_NAMES:
        found = resolve_station(stations, name, city)
        got[(name, city)] = found.id if found else None
    assert got == SOURCE_NAMES


def test_resolve_stations_in_bulk_agrees(stations: Session) -> None:
    result = resolve_stations(stations, SOURCE_NAMES)
    assert {k: (v.id if v else None) for k, v in result.items()} == SOURCE_NAMES


UNRESOLVABLE: list[tuple[str, str | None]] = [
    ("US Post", None),  # five posts answer to it
    ("Aotizhongxin", None),  # Beijing 1011A and Nanjing 1158A
    ("Shijiancezhan", None),  # many cities' "city monitoring station"
    ("Dongsi", "Shanghai"),  # exists, but not in that city
    ("Nowhere", "Beijing"),
    ("Dongsi", "Atlantis"),
    ("", None),
]


def test_unresolvable_names_give_none(stations: Session) -> None:
    assert [resolve_station(stations, name, city) for name, city in UNRESOLVABLE] == [None] * len(
        UNRESOLVABLE
    )
    assert resolve_stations(stations, UNRESOLVABLE) == dict.fromkeys(UNRESOLVABLE)


def test_aotizhongxin_is_found_with_its_city(stations: Session) -> None:
    beijing = resolve_station(stations, "Aotizhongxin", "Beijing")
    nanjing = resolve_station(stations, "Aotizhongxin", "Nanjing")
    assert beijing is not None and beijing.id == "1011A"
    assert nanjing is not None and nanjing.id == "1158A"


def test_city_outside_registry_scopes_by_area_name(stations: Session) -> None:
    """Stations of cities we do not carry are still found by the list's area name."""
    found = resolve_station(stations, "Shijiancezhan", "Huaian")
    assert found is not None and found.id == "1212A" and found.city_code is None
