#!/usr/bin/env python3
"""Make the compact demo extract shipped in ``app/data/demo_extract/`` (docs/data.md).

`hazewarn demo` replays the Beijing red alert of December 2016 from this extract, so a
clone (or an installed wheel) needs nothing beside it. From the public datasets in
``HAZEWARN_SHARED_DATA`` (default ``../shared/data``) it writes, gzip-compressed:

- the three stations the demo model learns from (`app.demo_inputs.DEMO_TRAIN_STATIONS`):
  their Beijing multi-site rows from `TRAIN_WINDOW_START` (one winter and a year before the
  replayed episode; training reads them up to 2016-11-30);
- the other six Beijing multi-site stations from `WINDOW_START` to the end of the data
  (the replayed runs, their weather grid, the verification and the dashboard need the
  city's stations only around the episode);
- the Beijing rows of the national station list ``knowair_meta/station_info.csv`` (the
  demo observes Beijing only).

No file is copied whole: the full datasets stay in ``../shared`` or come from their
publishers through ``hazewarn data fetch``.

Rows are copied byte for byte (header included): only whole lines are selected, no value is
changed, every column is kept (the observation reader and the AQI of HJ 633, which uses all
six pollutants, need them). The gzip streams carry no name and no time stamp, so the same
input always gives the same bytes; the README written beside the files lists them with
their SHA-256.

    python scripts/make_demo_extract.py [--shared ../shared/data] [--out app/data/demo_extract]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "app" / "data" / "demo_extract"
#: Must match app.demo_inputs.DEMO_TRAIN_STATIONS (a test checks it).
TRAIN_STATIONS = ("Dongsi", "Guanyuan", "Tiantan")
#: First month kept for the other stations (year, month): a month and a half before the
#: first replayed run, to the end of the data (2017-02-28).
WINDOW_START = (2016, 11)
#: First month kept for the training stations (year, month).
TRAIN_WINDOW_START = (2015, 10)
STATION_LIST = Path("knowair_meta") / "station_info.csv"
BEIJING_DIR = "beijing_multisite"
COMMAND = "python scripts/make_demo_extract.py"


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip: no file name, time stamp 0, level 9."""
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


def window_lines(raw: bytes, start: tuple[int, int] = WINDOW_START) -> tuple[bytes, int]:
    """The header and the rows from ``start`` (year, month) on (year and month are the 2nd
    and 3rd fields of the multi-site format); returns the bytes and the number of data rows."""
    lines = raw.splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    kept = [
        line for line in rows if tuple(int(field) for field in line.split(b",", 3)[1:3]) >= start
    ]
    return header + b"".join(kept), len(kept)


def extract(shared: Path, out: Path) -> list[tuple[str, int, str, str]]:
    """Write the extract; returns (file name, data rows, source, sha256) per file."""
    beijing = sorted((shared / BEIJING_DIR).glob("PRSA_Data_*_20130301-20170228.csv"))
    if len(beijing) != 9:
        raise SystemExit(f"expected the 9 Beijing multi-site files in {shared / BEIJING_DIR}")
    station_list = shared / STATION_LIST
    if not station_list.is_file():
        raise SystemExit(f"{station_list} not found")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.gz"):
        old.unlink()
    written = []
    for path in beijing:
        station = path.name.split("_")[2]
        raw = path.read_bytes()
        start = TRAIN_WINDOW_START if station in TRAIN_STATIONS else WINDOW_START
        data, rows = window_lines(raw, start)
        name = f"PRSA_Data_{station}_{start[0]}{start[1]:02d}01-20170228.csv"
        source = f"{BEIJING_DIR}/{path.name} (rows from {start[0]}-{start[1]:02d})"
        written.append(_write(out / f"{name}.gz", data, rows, source))
    header, *rows = station_list.read_bytes().splitlines(keepends=True)
    # The 4th field is the city (area) in Chinese, the 5th in English.
    beijing_rows = [row for row in rows if row.split(b",")[4].strip() == b"Beijing"]
    written.append(
        _write(
            out / "station_info.csv.gz",
            header + b"".join(beijing_rows),
            len(beijing_rows),
            f"{STATION_LIST} (Beijing rows)",
        )
    )
    (out / "README.md").write_text(readme(written), encoding="utf-8")
    return written


def _write(path: Path, data: bytes, rows: int, source: str) -> tuple[str, int, str, str]:
    packed = gzip_bytes(data)
    path.write_bytes(packed)
    return path.name, rows, source, hashlib.sha256(packed).hexdigest()


def readme(files: list[tuple[str, int, str, str]]) -> str:
    table = "\n".join(
        f"| `{name}` | {rows:,} | {source} | `{digest[:16]}…` |"
        for name, rows, source, digest in files
    )
    return f"""# Demo extract (generated: do not edit)

The compact public data `hazewarn demo` replays, so the demo needs nothing beside the
package. Made by `{COMMAND}` from the public datasets (see docs/data.md); rows are copied
byte for byte, gzip-compressed without name or time stamp (the same input gives the same
bytes).

| file | data rows | from | sha256 |
|---|---|---|---|
{table}

**Beijing multi-site files:** the UCI Machine Learning Repository dataset *Beijing
Multi-Site Air-Quality Data* (UCI id 501, <https://archive.ics.uci.edu/dataset/501>),
published by Song Xi Chen's group at Peking University; pollutants from the Beijing
Municipal Environmental Monitoring Center, weather from the nearest CMA station. Licence:
**CC BY 4.0** (<https://creativecommons.org/licenses/by/4.0/>). Cite Zhang, S. et al.
(2017), "Cautionary tales on air-quality improvement in Beijing", *Proc. R. Soc. A* 473:
20170457. Changes: a selection of whole rows (the three training stations
{", ".join(TRAIN_STATIONS)} from {TRAIN_WINDOW_START[0]}-{TRAIN_WINDOW_START[1]:02d}, the other six
from {WINDOW_START[0]}-{WINDOW_START[1]:02d}, to the end), gzip-compressed.

**`station_info.csv.gz`:** the national air-quality station list shipped with PM2.5-GNN
(Wang, S. et al. 2020, ACM SIGSPATIAL; <https://github.com/shuowang-ai/PM2.5-GNN>,
`data/station_info.csv`), MIT licence. Changes: its Beijing rows only, gzip-compressed.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(os.environ.get("HAZEWARN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")),
        help="folder holding beijing_multisite/ and knowair_meta/",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="extract folder")
    args = parser.parse_args(argv)
    files = extract(args.shared, args.out)
    total = sum((args.out / name).stat().st_size for name, *_ in files)
    print(f"{len(files)} files, {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
