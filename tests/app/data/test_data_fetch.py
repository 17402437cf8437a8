"""`hazewarn data fetch`: pinned hashes enforced, against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles
from typer.testing import CliRunner

from app.data.service import (
    DATASETS,
    Dataset,
    DatasetError,
    Download,
    _unpack,
    fetch_dataset,
    get_dataset,
)
from app.database import reset_caches


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def site(
    tmp_path: Path, serve_in_thread: Callable[..., AbstractContextManager[int]]
) -> Iterator[tuple[Path, str]]:
    """A folder the test writes files into, served over HTTP on 127.0.0.1."""
    root = tmp_path / "site"
    root.mkdir()
    app = Starlette()
    app.mount("/", StaticFiles(directory=root))
    with serve_in_thread(app, lifespan="off") as port:
        yield root, f"http://127.0.0.1:{port}"


def leftovers(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_a_dataset_of_plain_and_nested_zip_files_is_fetched_whole(
    site: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = site
    csv = b"a,b\n1,2\n"
    inner = zipped({"inner/station_A.csv": b"x\n1\n", "inner/station_B.csv": b"x\n2\n"})
    outer = zipped({"bundle.zip": inner, "notes.txt": b"unrelated"})
    (root / "plain.csv").write_bytes(csv)
    (root / "archive.zip").write_bytes(outer)
    dataset = Dataset(
        name="sample",
        title="t",
        publisher="p",
        page="https://example.org",
        licence="CC BY 4.0",
        downloads=(
            Download(f"{base}/plain.csv", sha(csv)),
            Download(
                f"{base}/archive.zip",
                sha(outer),
                members={
                    "bundle.zip/inner/station_A.csv": sha(b"x\n1\n"),
                    "bundle.zip/inner/station_B.csv": None,
                },
            ),
        ),
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    result = fetch_dataset(dataset, cache)
    assert result.fetched
    assert result.folder == cache / "sample"
    assert sorted(p.name for p in result.files) == ["plain.csv", "station_A.csv", "station_B.csv"]
    assert (cache / "sample" / "station_B.csv").read_bytes() == b"x\n2\n"
    # Nothing of the unpacking is left beside the dataset folder.
    assert sorted(p.name for p in cache.iterdir()) == [".downloads", "sample"]
    (root / "plain.csv").unlink()  # cached: no second download
    assert not fetch_dataset(dataset, cache).fetched


def test_a_wrong_file_is_refused_and_nothing_is_left(
    site: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = site
    good, bad = b"good\n", b"tampered\n"
    (root / "one.csv").write_bytes(good)
    (root / "two.csv").write_bytes(bad)
    dataset = Dataset(
        name="sample",
        title="t",
        publisher="p",
        page="https://example.org",
        licence="MIT",
        downloads=(Download(f"{base}/one.csv", sha(good)), Download(f"{base}/two.csv", sha(good))),
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(DatasetError, match=r"two\.csv: refused"):
        fetch_dataset(dataset, cache)
    assert not (cache / "sample").exists()
    # The verified first file stays in the download cache; the refused one is not kept.
    assert leftovers(cache) == [".downloads/sample/one.csv"]


def test_an_archive_member_with_the_wrong_hash_is_refused(
    site: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = site
    archive = zipped({"data/x.csv": b"changed\n"})
    (root / "a.zip").write_bytes(archive)
    dataset = Dataset(
        name="sample",
        title="t",
        publisher="p",
        page="https://example.org",
        licence="MIT",
        downloads=(Download(f"{base}/a.zip", sha(archive), {"data/x.csv": sha(b"original\n")}),),
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(DatasetError, match="does not match its pinned SHA-256"):
        fetch_dataset(dataset, cache)
    assert [p.name for p in cache.iterdir()] == [".downloads"]


def test_the_cli_fetches_through_a_mirror_with_the_real_pinned_hashes(
    shared_data: Path,
    site: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry's hashes are those of the published files (here served from a mirror
    holding byte-for-byte copies); a file that differs is refused, exit 2, nothing kept."""
    from app.cli import cli
    from app.config import get_settings

    root, base = site
    mirror = root / "knowair_meta"
    mirror.mkdir()
    for name in ("station_info.csv", "city.txt", "city_196.txt", "altitude.npy"):
        (mirror / name).write_bytes((shared_data / "knowair_meta" / name).read_bytes())
    monkeypatch.setenv("HAZEWARN_DATA_MIRROR_URL", base)
    get_settings.cache_clear()
    cache = tmp_path / "cache"
    try:
        result = CliRunner().invoke(cli, ["data", "fetch", "knowair_meta", "--cache", str(cache)])
        assert result.exit_code == 0, result.output
        assert "knowair_meta: fetched, 4 file(s)" in result.output
        assert "licence MIT" in result.output
        fetched = cache / "knowair_meta" / "station_info.csv"
        assert fetched.read_bytes() == (shared_data / "knowair_meta/station_info.csv").read_bytes()

        (mirror / "city.txt").write_bytes(b"0 Beijing 116.4 40.0\n")
        other = tmp_path / "other"
        result = CliRunner().invoke(cli, ["data", "fetch", "knowair_meta", "--cache", str(other)])
        assert result.exit_code == 2
        assert "city.txt: refused" in result.output
        assert not (other / "knowair_meta").exists()
        assert "city.txt" not in leftovers(other)
    finally:
        get_settings.cache_clear()
        reset_caches()


def test_the_multisite_member_hashes_are_those_of_the_public_files(
    shared_data: Path, tmp_path: Path
) -> None:
    """The UCI archive nests PRSA2017_Data_20130301-20170228.zip; the registry's member
    paths and hashes match the public station files."""
    download = get_dataset("beijing_multisite").downloads[0]
    inner_files = {}
    for member in download.members:
        name = member.rsplit("/", 1)[-1]
        public = shared_data / "beijing_multisite" / name
        inner_files[member.split(".zip/", 1)[1]] = (
            public.read_bytes() if public.exists() else b"held out\n"
        )
    archive = zipped({"PRSA2017_Data_20130301-20170228.zip": zipped(inner_files)})
    _unpack(archive, download.members, tmp_path, "test.zip")
    assert len(list(tmp_path.glob("PRSA_Data_*_20130301-20170228.csv"))) == 12
    checked = [m for m, digest in download.members.items() if digest is not None]
    assert len(checked) == 9


def test_an_unknown_dataset_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from app.cli import cli

    result = CliRunner().invoke(cli, ["data", "fetch", "nope", "--cache", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown dataset 'nope'" in result.output
    assert all(d.name in result.output for d in DATASETS)
    assert list(tmp_path.iterdir()) == []
