"""`hazewarn stations import|list|resolve`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import cli
from app.stations.models import Station

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_import_prints_counts_and_is_idempotent(db: Session, shared_data: Path) -> None:
    path = shared_data / "knowair_meta" / "station_info.csv"
    first = runner.invoke(cli, ["stations", "import", str(path)], env=WIDE)
    assert first.exit_code == 0, first.output
    assert "1498" in first.output and "395" in first.output  # rows, linked to our cities
    again = runner.invoke(cli, ["stations", "import", str(path)], env=WIDE)
    assert again.exit_code == 0
    assert db.scalar(select(func.count()).select_from(Station)) == 1498 + 6

    listed = runner.invoke(cli, ["stations", "list", "--city", "510100"], env=WIDE)
    assert "1436A" in listed.output and "US-CD" in listed.output
    resolved = runner.invoke(cli, ["stations", "resolve", "US Post", "--city", "Guangzhou"])
    assert resolved.exit_code == 0 and "US-GZ" in resolved.output
    ambiguous = runner.invoke(cli, ["stations", "resolve", "US Post"])
    assert ambiguous.exit_code == 2


def test_malformed_file_fails_with_one_line_and_writes_nothing(db: Session, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "ID,stations_name,stations_en_name,area,area_en_name,lon,lat\n"
        "3001A,甲,Jia,北京,Beijing,116.1,39.9\n"
        "3002A,乙,Yi,天津,Tianjin,117.1,north\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["stations", "import", str(bad)], env=WIDE)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert ":3: lat 'north' is not a number" in result.output
    assert db.scalar(select(func.count()).select_from(Station)) == 0
