"""Importing the national station list: counts, city links, idempotence, refusal whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.stations.models import Station
from app.stations.service import (
    STATION_LIST_COLUMNS,
    StationFileError,
    import_station_list,
    sync_extra_stations,
)

BEIJING_NATIONAL = [f"{n:04d}A" for n in range(1001, 1013)]
EXTRA_IDS = {"US-BJ", "US-CD", "US-GZ", "US-SH", "US-SY", "BJ-DONGSIHUAN"}
HEADER = ",".join(STATION_LIST_COLUMNS)


def _station_file(shared_data: Path) -> Path:
    return shared_data / "knowair_meta" / "station_info.csv"


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Station)) or 0


def test_import_national_list(db: Session, shared_data: Path) -> None:
    summary = import_station_list(db, _station_file(shared_data))
    db.commit()
    assert (summary.rows, summary.inserted, summary.updated) == (1498, 1498, 0)
    assert summary.extras is not None and summary.extras.inserted == len(EXTRA_IDS)
    assert _count(db) == 1498 + len(EXTRA_IDS)

    beijing = db.scalars(
        select(Station.id).where(Station.city_code == "110000", Station.id.not_in(EXTRA_IDS))
    ).all()
    assert sorted(beijing) == BEIJING_NATIONAL
    # Linked through the Chinese area name although the list spells these loosely.
    chengdu = db.get(Station, "1436A")
    changzhi = db.scalars(select(Station).where(Station.area_zh == "长治")).first()
    assert chengdu is not None and chengdu.city_code == "510100" and chengdu.area_en == "Chengdou"
    assert changzhi is not None and changzhi.city_code == "140400"
    # Stations of other cities are stored, unlinked.
    chongqing = db.scalars(select(Station).where(Station.area_zh == "重庆")).all()
    assert len(chongqing) == 17
    assert all(s.city_code is None for s in chongqing)
    # Trailing full-width blank in the source (1827A "市监测站\u3000") is trimmed.
    jiaozuo = db.get(Station, "1827A")
    assert jiaozuo is not None and jiaozuo.name_zh == "市监测站"
    # Aliases from extra_stations.yaml are on the national stations.
    changping = db.get(Station, "1010A")
    assert changping is not None and changping.aliases == ["Changping"]


def test_reimport_adds_and_changes_nothing(db: Session, shared_data: Path) -> None:
    import_station_list(db, _station_file(shared_data))
    db.commit()
    again = import_station_list(db, _station_file(shared_data))
    db.commit()
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1498)
    assert again.extras is not None and again.extras.inserted == again.extras.updated == 0
    assert _count(db) == 1498 + len(EXTRA_IDS)
    changping = db.get(Station, "1010A")
    assert changping is not None and changping.aliases == ["Changping"]


def test_reimport_updates_changed_rows(db: Session, tmp_path: Path) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(f"{HEADER}\n9001A,甲,Jia,北京,Beijing,116.1,39.9\n", encoding="utf-8")
    import_station_list(db, path, with_extras=False)
    db.commit()
    path.write_text(f"{HEADER}\n9001A,甲,Jia,北京,Beijing,116.2,39.9\n", encoding="utf-8")
    summary = import_station_list(db, path, with_extras=False)
    db.commit()
    assert (summary.inserted, summary.updated, summary.linked) == (0, 1, 1)
    db.expire_all()
    station = db.get(Station, "9001A")
    assert station is not None and station.lon == 116.2 and station.city_code == "110000"


def test_extra_stations_alone_and_aliases_added_later(db: Session, tmp_path: Path) -> None:
    """Extras load without the national list; aliases land once the list is imported."""
    sync_extra_stations(db)
    db.commit()
    assert set(db.scalars(select(Station.id))) == EXTRA_IDS
    path = tmp_path / "stations.csv"
    path.write_text(f"{HEADER}\n1010A,昌平镇,Changpingzhen,北京,Beijing,116.23,40.1952\n", "utf-8")
    import_station_list(db, path, with_extras=False)
    sync_extra_stations(db)
    db.commit()
    station = db.get(Station, "1010A")
    assert station is not None and station.aliases == ["Changping"]


GOOD_ROWS = [
    "2001A,甲,Jia,北京,Beijing,116.1,39.9",
    "2002A,乙,Yi,天津,Tianjin,117.1,39.1",
    "2003A,丙,Bing,上海,Shanghai,121.4,31.2",
]


def _with(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (_with(GOOD_ROWS, header=HEADER.replace(",lat", "")), 1, "missing column(s) lat"),
        (
            _with([*GOOD_ROWS[:2], "2003A,丙,Bing,上海,Shanghai,121.4,abc"]),
            4,
            "lat 'abc' is not a number",
        ),
        (
            _with([GOOD_ROWS[0], "2002A,乙,Yi,天津,Tianjin,217.1,39.1", GOOD_ROWS[2]]),
            3,
            "lon '217.1' is outside",
        ),
        (
            _with([GOOD_ROWS[0], "2002A,乙,Yi,天津,Tianjin,117.1,-95", GOOD_ROWS[2]]),
            3,
            "lat '-95' is outside",
        ),
        (
            _with([*GOOD_ROWS, "2001A,丁,Ding,北京,Beijing,116.2,39.8"]),
            5,
            "duplicate ID 2001A (first on line 2)",
        ),
        (
            _with([GOOD_ROWS[0], "2002A,乙,Yi,天津,Tianjin,117.1,", GOOD_ROWS[2]]),
            3,
            "lat '' is not a number",
        ),
        (_with([GOOD_ROWS[0], ",乙,Yi,天津,Tianjin,117.1,39.1"]), 3, "ID is empty"),
        (_with([GOOD_ROWS[0], "2002A,乙,Yi,天津,Tianjin,117.1"]), 3, "fewer fields than columns"),
        (
            _with([GOOD_ROWS[0], "2002A,乙,Yi,天津,Tianjin,117.1,39.1,x"]),
            3,
            "more fields than columns",
        ),
        (_with([]), 1, "no stations in file"),
    ],
)
def test_malformed_file_is_refused_whole(
    db: Session, tmp_path: Path, text: str, line: int, reason: str
) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text(_with(["2001A,原,Yuan,北京,Beijing,116.0,40.0"]), encoding="utf-8")
    import_station_list(db, seed)
    db.commit()
    before = _count(db)

    bad = tmp_path / "bad.csv"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(StationFileError) as caught:
        import_station_list(db, bad)
    db.rollback()
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{bad}:{line}: ")
    assert _count(db) == before
    kept = db.get(Station, "2001A")
    assert kept is not None and (kept.name_en, kept.lat) == ("Yuan", 40.0)
