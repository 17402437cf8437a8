"""`hazewarn grids fetch` against a fake GFS publisher on loopback: GRIB2 files written here
with eccodes in NOAA's URL layout with wgrib2 inventories, fetched by Herbie (our
``gfs_mirror`` template) by byte range, cut and dropped into the grid inbox; the scheduler's
inbox then makes one forecast run per cycle, recording source, cycle and file hash."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from typer.testing import CliRunner

from app import scheduler
from app.cli import cli
from app.database import session_scope
from app.feeds.service import Domain, FeedError, feed_provenance, fetch_latest
from app.forecast_runs.models import ForecastRun
from app.forecast_runs.service import file_sha256

from .conftest import ISSUE

runner = CliRunner()
CYCLE = datetime(2017, 1, 10, 0, tzinfo=UTC)
LEADS = list(range(0, 97, 3))
#: (wgrib2 name, level, eccodes shortName, value): what GFS pgrb2 holds of what we read,
#: and a 500 hPa temperature the fetch must not download.
MESSAGES = (
    ("TMP", "2 m above ground", "2t", 271.0),
    ("DPT", "2 m above ground", "2d", 264.0),
    ("UGRD", "10 m above ground", "10u", 2.0),
    ("VGRD", "10 m above ground", "10v", -1.5),
    ("PRES", "surface", "sp", 101800.0),
    ("PRATE", "surface", "prate", 0.0),
    ("TMP", "500 mb", "t", 250.0),
)


def _grib_lead(path: Path, lead: int) -> None:
    """One lead of a GFS-like pgrb2 file over 36..44 N, 112..122 E (0.5°) and its
    wgrib2 inventory (``.idx``) beside it."""
    import eccodes

    sample = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
    lines, offset = [], 0
    with path.open("wb") as out:
        for number, (name, level, short, value) in enumerate(MESSAGES, start=1):
            handle = eccodes.codes_clone(sample)
            eccodes.codes_set(handle, "centre", "kwbc")
            if short == "t":
                eccodes.codes_set(handle, "typeOfFirstFixedSurface", 100)
                eccodes.codes_set(handle, "level", 500)
            eccodes.codes_set(handle, "shortName", short)
            for key, setting in {
                "Ni": 21,
                "Nj": 17,
                "latitudeOfFirstGridPointInDegrees": 44.0,
                "longitudeOfFirstGridPointInDegrees": 112.0,
                "latitudeOfLastGridPointInDegrees": 36.0,
                "longitudeOfLastGridPointInDegrees": 122.0,
                "iDirectionIncrementInDegrees": 0.5,
                "jDirectionIncrementInDegrees": 0.5,
                "dataDate": int(f"{CYCLE:%Y%m%d}"),
                "dataTime": CYCLE.hour * 100,
                "forecastTime": lead,
            }.items():
                eccodes.codes_set(handle, key, setting)
            wave = 3 * np.sin(lead / 24 * 2 * np.pi) if short == "2t" else 0.0
            eccodes.codes_set_values(handle, np.full(21 * 17, value + wave))
            message = eccodes.codes_get_message(handle)
            out.write(message)
            fcst = "anl" if lead == 0 else f"{lead} hour fcst"
            lines.append(f"{number}:{offset}:d={CYCLE:%Y%m%d%H}:{name}:{level}:{fcst}:")
            offset += len(message)
            eccodes.codes_release(handle)
    eccodes.codes_release(sample)
    Path(f"{path}.idx").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def publisher_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gfs-publisher")
    folder = root / f"gfs.{CYCLE:%Y%m%d}" / f"{CYCLE:%H}" / "atmos"
    folder.mkdir(parents=True)
    for lead in LEADS:
        _grib_lead(folder / f"gfs.t{CYCLE:%H}z.pgrb2.0p25.f{lead:03d}", lead)
    return root


@pytest.fixture
def publisher(
    publisher_files: Path, serve_in_thread: Callable[..., AbstractContextManager[int]]
) -> Iterator[tuple[str, list[str]]]:
    """The files over real HTTP on loopback (byte ranges served); yields the base URL and
    the log of GRIB requests (their Range headers)."""
    seen: list[str] = []
    files = StaticFiles(directory=publisher_files)

    async def log_ranges(request: Request, call_next: Callable[..., object]) -> Response:
        if request.method == "GET" and not request.url.path.endswith(".idx"):
            seen.append(request.headers.get("range", "whole file"))
        return await call_next(request)  # type: ignore[misc, no-any-return]

    app = FastAPI()
    app.middleware("http")(log_ranges)
    app.mount("/", files)
    with serve_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}", seen


def test_feed_names_carry_source_and_cycle() -> None:
    assert feed_provenance("gfs-2017011000.nc") == {
        "source": "gfs",
        "cycle": "2017-01-10T00:00:00Z",
    }
    assert feed_provenance("gfs-2017011000.1.nc") is not None  # renamed in done/
    assert feed_provenance("era5-20170110.nc") is None


def test_a_new_gfs_cycle_is_fetched_once_and_makes_one_forecast_run(
    seeded: str, publisher: tuple[str, list[str]], tiny_model_path: Path, tmp_path: Path
) -> None:
    base_url, seen = publisher
    inbox = tmp_path / "inbox"
    now = ISSUE + timedelta(minutes=20)
    domain = Domain(south=38.0, north=42.0, west=114.0, east=120.0)

    outcome = fetch_latest(
        "gfs", inbox=inbox, domain=domain, leads=LEADS, now=now, base_url=base_url
    )
    assert outcome.status == "fetched" and outcome.cycle == CYCLE
    assert outcome.path == inbox / "gfs-2017011000.nc"
    assert len(outcome.downloads) == len(LEADS)
    # Every GRIB download was a byte range: only the messages the model reads.
    assert seen and all(r.startswith("bytes=") for r in seen)
    grid = xr.open_dataset(outcome.path)
    assert float(grid["lat"].min()) >= 38.0 and float(grid["lat"].max()) <= 42.0
    assert float(grid["lon"].min()) >= 114.0 and float(grid["lon"].max()) <= 120.0
    assert {"t2m", "d2m", "u10", "v10", "sp", "tp"} <= set(grid.data_vars)
    assert grid.sizes["time"] == len(LEADS)
    assert float(grid["t2m"].isel(time=0).mean()) == pytest.approx(271.0 - 273.15, abs=0.01)
    grid.close()

    # The scheduler's inbox makes the run, with the feed's provenance. (The inbox judges
    # "settled" on `now`, a replayed 2017 here: date the file back to then.)
    stamp = (now - timedelta(minutes=5)).timestamp()
    os.utime(outcome.path, (stamp, stamp))
    outcomes = scheduler.process_grid_inbox(
        now, inbox=inbox, model_path=tiny_model_path, settle_seconds=0
    )
    assert [o.status for o in outcomes] == ["forecast"], outcomes
    with session_scope() as session:
        run = session.get(ForecastRun, outcomes[0].run_id)
        assert run is not None and run.issued_at == ISSUE
        assert run.inputs["feed"] == {"source": "gfs", "cycle": "2017-01-10T00:00:00Z"}
        (grid_file,) = run.inputs["grids"]
        assert (
            grid_file["sha256"]
            == outcome.sha256
            == file_sha256(inbox / "done" / "gfs-2017011000.nc")
        )

    # The same cycle again: not fetched, no second run.
    requests_before = len(seen)
    again = fetch_latest("gfs", inbox=inbox, domain=domain, leads=LEADS, now=now, base_url=base_url)
    assert again.status == "already" and again.path == inbox / "done" / "gfs-2017011000.nc"
    assert len(seen) == requests_before
    assert (
        scheduler.process_grid_inbox(now, inbox=inbox, model_path=tiny_model_path, settle_seconds=0)
        == []
    )
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 1


def test_the_scheduler_fetches_the_configured_feed(
    publisher: tuple[str, list[str]], tmp_path: Path
) -> None:
    from app.config import Settings

    base_url, _ = publisher
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        grid_inbox=tmp_path / "inbox",
        feed_source="gfs",
        feed_base_url=base_url,
        feed_domain="38,42,114,120",
        feed_max_lead_hours=12,
    )
    assert "grids_fetch" in {j.id for j in scheduler.build_scheduler(settings).get_jobs()}
    outcome = scheduler.fetch_feed(ISSUE, settings)
    assert outcome.status == "fetched" and outcome.path == tmp_path / "inbox" / "gfs-2017011000.nc"
    assert scheduler.fetch_feed(ISSUE, settings).status == "already"
    # Before the cycle is published: logged, nothing raised, nothing dropped.
    assert scheduler.fetch_feed(CYCLE - timedelta(days=2), settings) is None
    off = settings.model_copy(update={"feed_source": None})
    assert scheduler.fetch_feed(ISSUE, off) is None


def test_no_published_cycle_drops_nothing(publisher: tuple[str, list[str]], tmp_path: Path) -> None:
    base_url, _ = publisher
    inbox = tmp_path / "inbox"
    domain = Domain(38.0, 42.0, 114.0, 120.0)
    # A day before the only published cycle: nothing there.
    with pytest.raises(FeedError, match="no cycle published"):
        fetch_latest(
            "gfs",
            inbox=inbox,
            domain=domain,
            leads=LEADS,
            now=CYCLE - timedelta(days=2),
            base_url=base_url,
        )
    # Leads past what the cycle publishes are refused too.
    with pytest.raises(FeedError, match="reaches lead 120 h"):
        fetch_latest(
            "gfs", inbox=inbox, domain=domain, leads=[0, 120], now=ISSUE, base_url=base_url
        )
    assert list(inbox.iterdir()) == []


def test_grids_fetch_command(
    publisher: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    base_url, _ = publisher
    monkeypatch.setenv("HAZEWARN_GRID_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("HAZEWARN_FEED_DOMAIN", "38,42,114,120")
    monkeypatch.setenv("HAZEWARN_FEED_MAX_LEAD_HOURS", "12")
    get_settings.cache_clear()
    try:
        args = [
            "grids",
            "fetch",
            "--source",
            "gfs",
            "--base-url",
            base_url,
            "--at",
            "2017-01-10T04:20Z",
        ]
        first = runner.invoke(cli, args, env={"COLUMNS": "200"})
        assert first.exit_code == 0, first.output
        assert "gfs cycle 2017-01-10T00Z" in first.output and "sha256" in first.output
        second = runner.invoke(cli, args, env={"COLUMNS": "200"})
        assert second.exit_code == 0 and "already fetched" in second.output
        bad = runner.invoke(cli, [*args[:2], "--source", "icon", *args[4:]])
        assert bad.exit_code == 2 and "unknown feed source 'icon'" in bad.output
    finally:
        get_settings.cache_clear()


# --------------------------------------------------------------------------- ECMWF open data

IFS_MESSAGES = (("2t", 271.0), ("2d", 264.0), ("10u", 2.0), ("10v", -1.5), ("sp", 101800.0))
IFS_LEADS = list(range(0, 91, 6))


@pytest.fixture(scope="module")
def ifs_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ECMWF open-data files of the 00 UTC cycle in its URL layout, each with its JSON-lines
    ``.index``; ``msl`` (not read by the model) and ``tp`` are published but not wanted."""
    import json

    import eccodes

    root = tmp_path_factory.mktemp("ifs-publisher")
    folder = root / f"{CYCLE:%Y%m%d}" / f"{CYCLE:%H}z" / "ifs" / "0p25" / "oper"
    folder.mkdir(parents=True)
    sample = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
    for step in IFS_LEADS:
        path = folder / f"{CYCLE:%Y%m%d%H%M%S}-{step}h-oper-fc.grib2"
        index, offset = [], 0
        with path.open("wb") as out:
            for short, value in (*IFS_MESSAGES, ("msl", 102000.0), ("tp", 0.001 * step)):
                handle = eccodes.codes_clone(sample)
                eccodes.codes_set(handle, "centre", "ecmf")
                eccodes.codes_set(handle, "shortName", short)
                for key, setting in {
                    "Ni": 21,
                    "Nj": 17,
                    "latitudeOfFirstGridPointInDegrees": 44.0,
                    "longitudeOfFirstGridPointInDegrees": 112.0,
                    "latitudeOfLastGridPointInDegrees": 36.0,
                    "longitudeOfLastGridPointInDegrees": 122.0,
                    "iDirectionIncrementInDegrees": 0.5,
                    "jDirectionIncrementInDegrees": 0.5,
                    "dataDate": int(f"{CYCLE:%Y%m%d}"),
                    "dataTime": 0,
                    "forecastTime": step,
                }.items():
                    eccodes.codes_set(handle, key, setting)
                eccodes.codes_set_values(handle, np.full(21 * 17, value))
                message = eccodes.codes_get_message(handle)
                out.write(message)
                index.append(
                    {
                        "domain": "g",
                        "date": f"{CYCLE:%Y%m%d}",
                        "time": "0000",
                        "expver": "0001",
                        "class": "od",
                        "type": "fc",
                        "stream": "oper",
                        "step": str(step),
                        "levtype": "sfc",
                        "param": short,
                        "_offset": offset,
                        "_length": len(message),
                    }
                )
                offset += len(message)
                eccodes.codes_release(handle)
        path.with_suffix(".index").write_text("\n".join(json.dumps(i) for i in index) + "\n")
    eccodes.codes_release(sample)
    return root


def test_an_ifs_cycle_is_fetched_from_open_data_by_byte_range(
    ifs_files: Path, serve_in_thread: Callable[..., AbstractContextManager[int]], tmp_path: Path
) -> None:
    seen: list[str] = []
    app = FastAPI()

    @app.middleware("http")
    async def log_ranges(request: Request, call_next: Callable[..., object]) -> Response:
        if request.method == "GET" and request.url.path.endswith(".grib2"):
            seen.append(request.headers.get("range", "whole file"))
        return await call_next(request)  # type: ignore[misc, no-any-return]

    app.mount("/", StaticFiles(directory=ifs_files))
    inbox = tmp_path / "inbox"
    domain = Domain(38.0, 42.0, 114.0, 120.0)
    with serve_in_thread(app) as port:
        base_url = f"http://127.0.0.1:{port}"
        outcome = fetch_latest(
            "ifs", inbox=inbox, domain=domain, leads=IFS_LEADS, now=ISSUE, base_url=base_url
        )
        assert outcome.status == "fetched" and outcome.path == inbox / "ifs-2017011000.nc"
        assert seen and all(r.startswith("bytes=") for r in seen)
        again = fetch_latest(
            "ifs", inbox=inbox, domain=domain, leads=IFS_LEADS, now=ISSUE, base_url=base_url
        )
        assert again.status == "already"
    grid = xr.open_dataset(outcome.path)
    assert {"t2m", "d2m", "u10", "v10", "sp"} <= set(grid.data_vars)
    assert "tp" not in grid.data_vars and "blh" not in grid.data_vars  # not taken, not offered
    assert grid.sizes["time"] == len(IFS_LEADS)
    assert float(grid["sp"].mean()) == pytest.approx(1018.0)
    assert float(grid["lat"].max()) <= 42.0 and float(grid["lon"].min()) >= 114.0
    grid.close()
