"""The demo extract: made by its committed script, reproducibly, from the public data."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from types import ModuleType

from app.demo_inputs import DEMO_TRAIN_STATIONS, EXTRACT_DIR
from forecasting.observations import read_observations

REPO_ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_demo_extract", REPO_ROOT / "scripts" / "make_demo_extract.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_remakes_the_shipped_extract_byte_for_byte(
    shared_data: Path, tmp_path: Path
) -> None:
    script = _script()
    assert tuple(script.TRAIN_STATIONS) == DEMO_TRAIN_STATIONS
    script.main(["--shared", str(shared_data), "--out", str(tmp_path)])
    made = sorted(p.name for p in tmp_path.iterdir())
    shipped = sorted(p.name for p in EXTRACT_DIR.iterdir() if not p.name.startswith("__"))
    assert made == shipped
    for name in made:
        assert (tmp_path / name).read_bytes() == (EXTRACT_DIR / name).read_bytes(), name


def test_extract_rows_are_the_public_rows_unchanged(shared_data: Path) -> None:
    for path in EXTRACT_DIR.glob("PRSA_Data_Gucheng_*.csv.gz"):
        extract_lines = gzip.decompress(path.read_bytes()).splitlines()
        source = next((shared_data / "beijing_multisite").glob("PRSA_Data_Gucheng_*.csv"))
        source_lines = source.read_bytes().splitlines()
        assert extract_lines[0] == source_lines[0]
        assert set(extract_lines[1:]) <= set(source_lines[1:])
        assert extract_lines[-1] == source_lines[-1]


def test_the_observation_reader_takes_the_gzip_files_as_they_are() -> None:
    path = next(EXTRACT_DIR.glob("PRSA_Data_Wanliu_*.csv.gz"))
    frame = read_observations(path)
    assert len(frame) == 2_880
    # The first label, 2016-11-01 00:00 +08:00, ends the hour that starts at 23:00.
    assert frame["time"].min().isoformat() == "2016-10-31T15:00:00+00:00"
    assert frame["pm25"].notna().mean() > 0.9
