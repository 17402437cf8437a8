"""Weather feeds: fetch the latest cycle of a public NWP model with the publisher's own
client, cut it to the configured domain, lead hours and the variables the model reads,
and drop it into the grid inbox (the scheduler's `grid_inbox` job then makes the run).

Sources (`FEED_SOURCES`):

- ``gfs``: NOAA GFS 0.25° through Herbie (``herbie-data``), from NOAA's buckets and NOMADS,
  or from ``base_url`` (a mirror in NOAA's layout) through our Herbie template
  `app.feeds.herbie_templates.gfs_mirror`. Each lead's GRIB2 messages are fetched by byte
  range from the wgrib2 ``.idx`` (`GFS_SEARCH`).
- ``ifs``: ECMWF's open IFS data through ``ecmwf-opendata`` (``base_url``: the client's
  ``source`` URL), fields fetched by byte range from the ``.index``.

Once per cycle: the file dropped is ``<source>-<YYYYMMDDHH>.nc``; a cycle whose file is
already in the inbox, its ``done/`` or ``failed/`` is not fetched again, and the grid
inbox does not run a file whose SHA-256 a run already read. The run records the source and
cycle (`feed_provenance`, from the name) and the file's SHA-256 (its ``inputs``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("hazewarn.feeds")

__all__ = [
    "FEED_SOURCES",
    "Domain",
    "FeedError",
    "FetchOutcome",
    "cycle_file_name",
    "feed_provenance",
    "fetch_latest",
    "parse_domain",
]

FEED_SOURCES: tuple[str, ...] = ("gfs", "ifs")
#: Hours between cycles of each source.
CYCLE_HOURS = {"gfs": 6, "ifs": 6}
#: Cycles tried, newest first, before giving up (a day of them).
CYCLES_TRIED = 4
#: The GFS messages the model reads (wgrib2 inventory names): 2 m temperature, dew point
#: and humidity, 10 m wind, surface pressure, boundary-layer height, precipitation rate.
GFS_SEARCH = (
    r":(?:TMP|DPT|RH):2 m above ground:|:(?:UGRD|VGRD):10 m above ground:"
    r"|:(?:PRES|HPBL|PRATE):surface:"
)
#: The IFS open-data parameters the model reads. Not ``tp``: it is accumulated since the
#: start of the forecast, which `forecasting.grids` would take for an hourly total.
IFS_PARAMS: tuple[str, ...] = ("2t", "2d", "10u", "10v", "sp")
FILE_PATTERN = re.compile(r"^(?P<source>[a-z]+)-(?P<cycle>\d{10})(?:\.\d+)?\.nc$")


class FeedError(Exception):
    """A feed cannot be fetched (no cycle available, a download or a read failed)."""


@dataclass(frozen=True)
class Domain:
    """Latitude and longitude bounds (degrees; longitudes −180..180)."""

    south: float
    north: float
    west: float
    east: float


def parse_domain(text: str) -> Domain:
    """``"south,north,west,east"`` in degrees, e.g. ``"15,55,70,140"``."""
    try:
        south, north, west, east = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"domain {text!r}: want south,north,west,east in degrees") from None
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise ValueError(f"domain {text!r}: want south < north and west < east, in range")
    return Domain(south, north, west, east)


@dataclass(frozen=True)
class FetchOutcome:
    source: str
    cycle: datetime
    status: str  # "fetched" or "already"
    path: Path | None
    sha256: str | None = None
    downloads: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def cycle_file_name(source: str, cycle: datetime) -> str:
    return f"{source}-{cycle.astimezone(UTC):%Y%m%d%H}.nc"


def feed_provenance(name: str) -> dict[str, str] | None:
    """Source and cycle of a grid the feed dropped, from its file name; None for others."""
    match = FILE_PATTERN.match(name)
    if match is None or match["source"] not in FEED_SOURCES:
        return None
    cycle = datetime.strptime(match["cycle"], "%Y%m%d%H").replace(tzinfo=UTC)
    return {"source": match["source"], "cycle": cycle.isoformat().replace("+00:00", "Z")}


def _already_dropped(inbox: Path, name: str) -> Path | None:
    stem = name.removesuffix(".nc")
    for folder in (inbox, inbox / "done", inbox / "failed"):
        if folder.is_dir():
            for path in folder.glob(f"{stem}*.nc"):
                if FILE_PATTERN.match(path.name):
                    return path
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _cycles(source: str, now: datetime) -> list[datetime]:
    step = CYCLE_HOURS[source]
    moment = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    newest = moment - timedelta(hours=moment.hour % step)
    return [newest - timedelta(hours=step * i) for i in range(CYCLES_TRIED)]


# --------------------------------------------------------------------------- GFS (Herbie)


def _herbie(cycle: datetime, lead: int, base_url: str | None, save_dir: Path) -> Any:
    from herbie import Herbie

    options: dict[str, Any] = (
        {"model": "gfs_mirror", "priority": ["mirror"], "base_url": base_url}
        if base_url
        else {"model": "gfs", "priority": ["aws", "nomads"]}
    )
    return Herbie(
        cycle.astimezone(UTC).replace(tzinfo=None),
        product="pgrb2.0p25",
        fxx=lead,
        save_dir=save_dir,
        overwrite=True,
        verbose=False,
        **options,
    )


def _gfs_available(cycle: datetime, last_lead: int, base_url: str | None, folder: Path) -> bool:
    found = _herbie(cycle, last_lead, base_url, folder)
    return found.grib is not None and found.idx is not None


def _gfs_download(
    cycle: datetime, leads: Sequence[int], base_url: str | None, folder: Path
) -> list[Path]:
    paths = []
    for lead in leads:
        found = _herbie(cycle, lead, base_url, folder)
        if found.grib is None or found.idx is None:
            raise FeedError(f"gfs {cycle:%Y-%m-%dT%HZ}: lead {lead} h is not published")
        paths.append(Path(found.download(search=GFS_SEARCH, verbose=False)))
    return paths


# --------------------------------------------------------------------------- IFS (ecmwf-opendata)


def _ifs_client(base_url: str | None) -> Any:
    from ecmwf.opendata import Client

    if base_url:
        return Client(source=base_url, model="ifs", resol="0p25", preserve_request_order=False)
    return Client(source="aws", model="ifs", resol="0p25")


def _ifs_available(cycle: datetime, last_lead: int, base_url: str | None, folder: Path) -> bool:
    client = _ifs_client(base_url)
    request = {
        "date": cycle.astimezone(UTC).strftime("%Y%m%d"),
        "time": cycle.astimezone(UTC).hour,
        "step": last_lead,
        "type": "fc",
        "stream": "oper",
    }
    try:
        urls = client._get_urls(use_index=False, **request).urls
    except Exception:  # no cycle, or a malformed request: not available
        return False
    return all(client.session.head(url).status_code == 200 for url in urls)


def _ifs_download(
    cycle: datetime, leads: Sequence[int], base_url: str | None, folder: Path
) -> list[Path]:
    client = _ifs_client(base_url)
    target = folder / f"ifs-{cycle:%Y%m%d%H}.grib2"
    client.retrieve(
        date=cycle.astimezone(UTC).strftime("%Y%m%d"),
        time=cycle.astimezone(UTC).hour,
        step=list(leads),
        type="fc",
        stream="oper",
        param=list(IFS_PARAMS),
        target=str(target),
    )
    return [target]


# --------------------------------------------------------------------------- fetch


def _write_cut(
    paths: Sequence[Path], domain: Domain, source: str, cycle: datetime, target: Path
) -> None:
    """The downloaded GRIB2 files in the canonical layout (`forecasting.grids.open_grid`),
    cut to ``domain``, written to NetCDF beside ``target`` and renamed onto it (the inbox
    never sees half a file; names starting with ``.`` are not read)."""
    from forecasting.grids import open_grid

    grid = open_grid([str(p) for p in paths] if len(paths) > 1 else paths[0])
    cut = grid.sel(lat=slice(domain.south, domain.north), lon=slice(domain.west, domain.east))
    if cut.sizes.get("lat", 0) == 0 or cut.sizes.get("lon", 0) == 0:
        raise FeedError(f"{source} {cycle:%Y-%m-%dT%HZ}: no grid point inside the domain")
    cut = cut.compute()
    cut.attrs = {
        "feed_source": source,
        "feed_cycle": cycle.isoformat(),
        "feed_missing_variables": json.dumps(list(grid.attrs.get("missing_variables", []))),
        "feed_files": json.dumps({p.name: _sha256(p) for p in paths}),
    }
    partial = target.with_name(f".{target.name}.part")
    cut.to_netcdf(partial)
    grid.close()
    partial.replace(target)


def fetch_latest(
    source: str,
    *,
    inbox: Path,
    domain: Domain,
    leads: Sequence[int],
    now: datetime,
    base_url: str | None = None,
) -> FetchOutcome:
    """Fetch the newest available cycle of ``source`` (at or before ``now``) for the
    ``leads`` (hours) and drop it into ``inbox`` as ``<source>-<YYYYMMDDHH>.nc``; a cycle
    already dropped is not fetched again (status ``already``). Raises `FeedError` when no
    cycle of the last day is published or a download fails (nothing is dropped then)."""
    if source not in FEED_SOURCES:
        raise FeedError(f"unknown feed source {source!r}: one of {', '.join(FEED_SOURCES)}")
    if not leads:
        raise FeedError("no lead hours to fetch")
    available = _gfs_available if source == "gfs" else _ifs_available
    download = _gfs_download if source == "gfs" else _ifs_download
    inbox.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"hazewarn-{source}-") as scratch:
        folder = Path(scratch)
        for cycle in _cycles(source, now):
            name = cycle_file_name(source, cycle)
            earlier = _already_dropped(inbox, name)
            if earlier is not None:
                return FetchOutcome(source, cycle, "already", earlier)
            if not available(cycle, max(leads), base_url, folder):
                continue
            paths = download(cycle, leads, base_url, folder)
            target = inbox / name
            _write_cut(paths, domain, source, cycle, target)
            downloads = tuple({"file": p.name, "sha256": _sha256(p)} for p in paths)
            log.info("feed %s: cycle %s dropped into the grid inbox", source, cycle.isoformat())
            return FetchOutcome(source, cycle, "fetched", target, _sha256(target), downloads)
    raise FeedError(
        f"{source}: no cycle published in the {CYCLES_TRIED * CYCLE_HOURS[source]} h before "
        f"{now.astimezone(UTC):%Y-%m-%dT%H:%MZ} reaches lead {max(leads)} h"
    )
