"""`import_observations` and `hazewarn obs import` on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.observations.models import Observation
from app.observations.service import as_utc, import_observations
from app.stations.service import import_station_list
from forecasting.observations import ObservationFileError

runner = CliRunner()
WIDE = {"COLUMNS": "200"}

HEADER = (
    '"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","O3","TEMP","PRES",'
    '"DEWP","RAIN","wd","WSPM","station"\n'
)


def _multisite(hours: int, station: str = "Dongsi") -> str:
    """A small multi-site file: 2015-01-15 hours 1..hours (hour-ending labels)."""
    return HEADER + "".join(
        f"{h},2015,1,15,{h},{100 + h},{150 + h},10,50,1200,{20 + h},-3,1025,-15,0,"
        f'"N",2.0,"{station}"\n'
        for h in range(1, hours + 1)
    )


@pytest.fixture
def stations(db: Session, shared_data: Path) -> Session:
    import_station_list(db, shared_data / "knowair_meta" / "station_info.csv")
    db.commit()
    return db


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Observation)) or 0


def test_nine_beijing_stations_import_once_and_only_once(
    stations: Session, shared_data: Path
) -> None:
    db = stations
    files = sorted((shared_data / "beijing_multisite").glob("PRSA_Data_*.csv"))
    assert len(files) == 9
    steps: list[tuple[str, int, int]] = []
    first = import_observations(
        db, files, progress=lambda d, done, total: steps.append((d, done, total))
    )
    db.commit()
    assert first.rows_read == first.inserted == 315_576
    assert (first.updated, first.unchanged) == (0, 0)
    assert [f.rows_read for f in first.files] == [35_064] * 9
    assert _count(db) == 315_576
    assert steps[0] == ("reading PRSA_Data_Aotizhongxin_20130301-20170228.csv", 0, 18)
    assert steps[-1][1:] == (18, 18)

    again = import_observations(db, files)
    db.commit()
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 315_576)
    assert _count(db) == 315_576

    # Stored in UTC: Dongsi (1003A) 2013-03-01 hour 0, hour-ending Beijing time.
    row = db.get(Observation, ("1003A", datetime(2013, 2, 28, 15, tzinfo=UTC)))
    assert row is not None and row.pm25 == 9 and row.co == pytest.approx(0.3)
    assert row.source == "beijing-multisite"


def test_long_format_fills_a_column_and_merges_idempotently(
    stations: Session, tmp_path: Path
) -> None:
    db = stations
    wide = tmp_path / "PRSA_Data_Dongsi_small.csv"
    wide.write_text(_multisite(3))
    assert import_observations(db, [wide]).inserted == 3
    db.commit()
    long = tmp_path / "o3.csv"
    long.write_text(
        "station,city,time,pollutant,value,unit\n"
        # 2015-01-15 00:00 local is multi-site label hour 1: fills o3 of a stored row.
        "Dongsi,Beijing,2015-01-15T00:00:00+08:00,o3,77,ug/m3\n"
        "Dongsi,Beijing,2015-01-15T01:00:00+08:00,o3,22,ug/m3\n"  # same as stored: no change
        "Dongsi,Beijing,2015-01-15T05:00:00+08:00,o3,40,ug/m3\n"  # a new hour
        "Dongsi,Beijing,2015-01-15T05:00:00+08:00,co,0.8,mg/m3\n"
    )
    summary = import_observations(db, [long])
    db.commit()
    assert (summary.rows_read, summary.inserted, summary.updated, summary.unchanged) == (3, 1, 1, 1)
    rows = {
        as_utc(o.time).hour: o
        for o in db.scalars(select(Observation).where(Observation.station_id == "1003A"))
    }
    assert sorted(rows) == [16, 17, 18, 21]
    filled = rows[16]
    assert (filled.o3, filled.pm25, filled.co, filled.temp) == (77, 101, 1.2, -3)
    assert filled.source == "long-csv"
    assert rows[17].source == "beijing-multisite"  # untouched
    assert (rows[21].o3, rows[21].co, rows[21].pm25) == (40, 0.8, None)
    again = import_observations(db, [long])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    # Re-importing the multi-site file puts its own O3 back (last import wins)
    # and leaves the row only the long file has alone.
    back = import_observations(db, [wide])
    assert (back.inserted, back.updated, back.unchanged) == (0, 1, 2)


def test_qc_flags_accumulate(stations: Session, tmp_path: Path) -> None:
    db = stations
    wide = tmp_path / "PRSA_Data_Dongsi_flags.csv"
    wide.write_text(_multisite(3).replace("1,2015,1,15,1,101,", "1,2015,1,15,1,-5,"))
    import_observations(db, [wide])
    long = tmp_path / "neg.csv"
    long.write_text(
        "station,city,time,pollutant,value,unit\nDongsi,Beijing,2015-01-15T00:00:00+08:00,o3,-2,ug/m3\n"
    )
    assert import_observations(db, [long]).updated == 1
    assert import_observations(db, [long]).unchanged == 1
    db.commit()
    first = db.scalars(select(Observation).order_by(Observation.time)).first()
    assert first is not None and first.qc_flags == "pm25:negative,o3:negative"


BAD_CASES = {
    "truncated": (lambda: _multisite(3)[:-25], 4, "truncated file"),
    "text": (
        lambda: _multisite(3).replace(",151,", ",lots,"),
        2,
        "text 'lots' in number column 'PM10'",
    ),
    "unknown station": (
        lambda: _multisite(3, station="Atlantis"),
        2,
        "unknown station 'Atlantis' in Beijing",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_files_refuse_the_whole_import(stations: Session, tmp_path: Path, case: str) -> None:
    db = stations
    good = tmp_path / "PRSA_Data_Dongsi_good.csv"
    good.write_text(_multisite(2))
    import_observations(db, [good])
    db.commit()
    make, line, reason = BAD_CASES[case]
    other = tmp_path / "PRSA_Data_Tiantan_good.csv"
    other.write_text(_multisite(5, station="Tiantan"))
    bad = tmp_path / "PRSA_Data_bad.csv"
    bad.write_text(make())
    with pytest.raises(ObservationFileError) as caught:
        import_observations(db, [other, bad])
    db.rollback()
    assert (caught.value.path, caught.value.line) == (str(bad), line)
    assert reason in caught.value.reason
    assert _count(db) == 2  # the good file before the bad one was not written either

    result = runner.invoke(cli, ["obs", "import", str(other), str(bad)], env=WIDE)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert f"{bad}, line {line}: " in result.output and reason in result.output
    assert _count(db) == 2


def test_cli_imports_and_prints_a_summary(stations: Session, tmp_path: Path) -> None:
    path = tmp_path / "PRSA_Data_Dongsi_cli.csv"
    path.write_text(_multisite(4))
    result = runner.invoke(cli, ["obs", "import", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "PRSA_Data_Dongsi_cli.csv" in result.output and "beijing-multisite" in result.output
    again = runner.invoke(cli, ["obs", "import", str(path)], env=WIDE)
    assert again.exit_code == 0
    # station-hours 4, new 0, updated 0, unchanged 4
    assert re.search(r"│\s*4\s*│\s*0\s*│\s*0\s*│\s*4\s*│", again.output), again.output
    assert _count(stations) == 4
