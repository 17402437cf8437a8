"""The public datasets hazewarn reads, and fetching them from their publishers (pooch).

Each `Dataset` names its publisher, licence and files; every file is downloaded with a
pinned SHA-256 (pooch refuses any other bytes and leaves nothing behind), files packed in a
zip archive are checked again after unpacking where their own hash is known, and the
dataset's folder appears in the cache only once every file is in place (it is assembled
beside it and renamed). The cache folder keeps the layout of ``../shared/data``, so
``HAZEWARN_SHARED_DATA`` can point at it.

A mirror (``HAZEWARN_DATA_MIRROR_URL``) serves the same files under
``{mirror}/{dataset}/{file name}``, for sites without access to the publishers; the
pinned hashes still decide.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "Download",
    "FetchResult",
    "fetch_dataset",
    "get_dataset",
]

PM25_GNN_COMMIT = "2b246ed2ecfc6b143dcdb852081e0b4a25e4174d"
PM25_GNN_RAW = f"https://raw.githubusercontent.com/shuowang-ai/PM2.5-GNN/{PM25_GNN_COMMIT}/data"


class DatasetError(RuntimeError):
    """A dataset cannot be fetched; the message is one line for the user."""


@dataclass(frozen=True)
class Download:
    """One file as its publisher serves it.

    ``members``: for a zip archive, the files to keep, as {path inside the archive (a
    nested archive's members as ``inner.zip/path``): SHA-256 or None when only the
    archive's hash vouches for it}; empty keeps the download itself.
    """

    url: str
    sha256: str
    members: dict[str, str | None] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return PurePosixPath(self.url.split("?", 1)[0]).name


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    publisher: str
    page: str
    licence: str
    downloads: tuple[Download, ...]


@dataclass(frozen=True)
class FetchResult:
    dataset: Dataset
    folder: Path
    files: tuple[Path, ...]
    fetched: bool  # False when the cache already held it


_MULTISITE = "PRSA2017_Data_20130301-20170228.zip/PRSA_Data_20130301-20170228"
_MULTISITE_HASHES: dict[str, str | None] = {
    "Aotizhongxin": "a94fbcfc71708b6ffdc033360163d91efb7f675e496f6b5860929aa96b96351b",
    "Changping": "a2e21402a6d95fb7043f87959e6e3dcbecb957aac356a6f8028a85b047c772e7",
    "Dingling": None,
    "Dongsi": "9c0020214425e5ee2a64d42f97a1f632e1d8f6b53ad50edd85a686cc7999f27e",
    "Guanyuan": "59390fee3b032597b387491f5230e7edb90a8558e30217ebd6d9befbe669fbf9",
    "Gucheng": "10ae48801ea55869fee56a48b885fb1127859c130551888d71673f34216ba951",
    "Huairou": None,
    "Nongzhanguan": None,
    "Shunyi": "520b59e4ead3b0cfe7f1ed673e30275de8441e999db6f413d5172d2277b8c15a",
    "Tiantan": "0743e34799cf1ee36195b73321b91baa5625276532e7263c588f68cdef3b4daa",
    "Wanliu": "0b1a6d754a07f0def2f55434ddfa3870dcd0063b7f766a6f66b6c11bb05a377a",
    "Wanshouxigong": "ab1d6a356d6997a45f6d657ad47de1e05a4a08d4a7015b38a329a90665ab74d0",
}

#: The datasets `hazewarn data fetch` knows, by the folder name they have in ../shared/data.
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="beijing_multisite",
        title="Beijing Multi-Site Air-Quality Data (12 stations, hourly, 2013-03 to 2017-02)",
        publisher="UCI Machine Learning Repository (id 501); Song Xi Chen's group, Peking "
        "University",
        page="https://archive.ics.uci.edu/dataset/501/beijing+multi+site+air+quality+data",
        licence="CC BY 4.0",
        downloads=(
            Download(
                url="https://archive.ics.uci.edu/static/public/501/"
                "beijing+multi+site+air+quality+data.zip",
                sha256="b04da438b2f331ac0ffd45aebdfec0d20d2367feb5f6948c4b1f7ce1191e33c4",
                members={
                    f"{_MULTISITE}/PRSA_Data_{station}_20130301-20170228.csv": digest
                    for station, digest in _MULTISITE_HASHES.items()
                },
            ),
        ),
    ),
    Dataset(
        name="beijing_prsa_2010",
        title="Beijing PM2.5 Data (US Embassy, with airport weather, hourly, 2010 to 2014)",
        publisher="UCI Machine Learning Repository (id 381); Song Xi Chen's group, Peking "
        "University",
        page="https://archive.ics.uci.edu/dataset/381/beijing+pm2+5+data",
        licence="CC BY 4.0",
        downloads=(
            Download(
                url="https://archive.ics.uci.edu/ml/machine-learning-databases/00381/"
                "PRSA_data_2010.1.1-2014.12.31.csv",
                sha256="4127f868775e31b3956522adc0ec75af8937dde6a3896e8beed3a376c6d27f1c",
            ),
        ),
    ),
    Dataset(
        name="knowair_meta",
        title="PM2.5-GNN / KnowAir metadata: city lists, national station list, elevation grid",
        publisher="PM2.5-GNN (Wang, S. et al. 2020, ACM SIGSPATIAL), GitHub shuowang-ai/PM2.5-GNN",
        page="https://github.com/shuowang-ai/PM2.5-GNN",
        licence="MIT",
        downloads=(
            Download(
                f"{PM25_GNN_RAW}/station_info.csv",
                "1391d3a4ad0a4a73995a163617f9b6598ebde1507d6ba6a54c1bba7bb23e99bc",
            ),
            Download(
                f"{PM25_GNN_RAW}/city.txt",
                "3c8f77ccf6ea8a74d8c5a78d08b27eee063188dc84c80b0a4409a32004fe4b98",
            ),
            Download(
                f"{PM25_GNN_RAW}/city_196.txt",
                "3ea66a281f82d8eecb7f03d4cf69b23a12cc0328576c13c2d0867b71e30df6bf",
            ),
            Download(
                f"{PM25_GNN_RAW}/altitude.npy",
                "d4e66cf463dd399a535be531020b55e5372b9ffa47cdfd3d3a830155f01a94a3",
            ),
        ),
    ),
)


def get_dataset(name: str, datasets: tuple[Dataset, ...] = DATASETS) -> Dataset:
    for dataset in datasets:
        if dataset.name == name:
            return dataset
    known = ", ".join(d.name for d in datasets)
    raise DatasetError(f"unknown dataset {name!r}; known: {known}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(download: Download, dataset: str, into: Path, mirror: str | None) -> Path:
    """Fetch one file into ``into`` with its pinned hash (pooch downloads to a temporary
    file and moves it in place only when the hash matches)."""
    import pooch

    url = download.url
    if mirror:
        url = f"{mirror.rstrip('/')}/{dataset}/{download.file_name}"
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{download.sha256}",
            fname=download.file_name,
            path=into,
            progressbar=False,
        )
    except ValueError as exc:  # pooch's hash mismatch
        raise DatasetError(f"{url}: refused, {str(exc).splitlines()[0]}") from exc
    except Exception as exc:  # requests' HTTP and connection errors
        raise DatasetError(f"{url}: download failed ({type(exc).__name__}: {exc})") from exc
    return Path(path)


def _unpack(archive: bytes, members: dict[str, str | None], folder: Path, source: str) -> None:
    """Write the wanted members of a zip (nested archives as ``inner.zip/path``) into
    ``folder`` by their base names, checking each known hash."""
    nested: dict[str, dict[str, str | None]] = {}
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = set(bundle.namelist())
        for member, digest in members.items():
            outer, sep, inner = member.partition(".zip/")
            if sep:
                nested.setdefault(outer + ".zip", {})[inner] = digest
                continue
            if member not in names:
                raise DatasetError(f"{source}: {member} is missing from the archive")
            data = bundle.read(member)
            if digest is not None and _sha256(data) != digest:
                raise DatasetError(f"{source}: {member} does not match its pinned SHA-256")
            (folder / PurePosixPath(member).name).write_bytes(data)
        for inner_archive, inner_members in nested.items():
            if inner_archive not in names:
                raise DatasetError(f"{source}: {inner_archive} is missing from the archive")
            _unpack(bundle.read(inner_archive), inner_members, folder, source)


def fetch_dataset(
    dataset: Dataset,
    cache: Path,
    *,
    mirror: str | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> FetchResult:
    """Download ``dataset`` into ``cache/<name>/`` unless it is there already.

    Downloads go to ``cache/.downloads/`` (kept, so a second fetch after a failure does not
    download again); the dataset folder is assembled in a temporary folder beside it and
    renamed into place, so ``cache/<name>/`` exists only complete. Raises `DatasetError`.
    """
    folder = cache / dataset.name
    if folder.is_dir():
        return FetchResult(dataset, folder, tuple(sorted(folder.iterdir())), fetched=False)
    downloads = cache / ".downloads" / dataset.name
    downloads.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dataset.name}-", dir=cache))
    try:
        for download in dataset.downloads:
            say(f"{download.url} …")
            path = _download(download, dataset.name, downloads, mirror)
            if download.members:
                _unpack(path.read_bytes(), download.members, staging, download.file_name)
            else:
                shutil.copyfile(path, staging / download.file_name)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return FetchResult(dataset, folder, tuple(sorted(folder.iterdir())), fetched=True)
