"""The city registry: `registry.yaml`, facts written by us, read and validated here.

`load_registry()` returns the cities; `load_regions()` the regions they belong to. Both
validate the whole file and raise `RegistryError` naming the first problem.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_REGISTRY_PATH = Path(__file__).with_name("registry.yaml")

_CODE = re.compile(r"^\d{6}$")
_REGION_CODE = re.compile(r"^[a-z0-9][a-z0-9+\-]*$")

NonEmpty = Annotated[str, Field(min_length=1, max_length=64)]


class RegistryError(ValueError):
    """The registry file is unreadable or breaks a rule; the message says which and where."""


class RegionEntry(BaseModel):
    """A region of coordinated warnings, e.g. ``jjj-2+26`` (the "2+26" cities)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    coordinator_zh: str = Field(min_length=1)
    coordinator_en: str = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code_format(cls, value: str) -> str:
        if not _REGION_CODE.match(value):
            raise ValueError("region code must be lower-case letters, digits, '+' or '-'")
        return value


class CityEntry(BaseModel):
    """One city of the registry. Latitude and longitude in WGS 84 degrees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="GB/T 2260 administrative division code, 6 digits")
    name_zh: NonEmpty
    name_en: NonEmpty
    province_zh: NonEmpty
    province_en: NonEmpty
    lat: float = Field(ge=-90, le=90, description="degrees north")
    lon: float = Field(ge=-180, le=180, description="degrees east")
    timezone: str = Field(description="IANA time zone, e.g. Asia/Shanghai")
    regions: tuple[str, ...] = ()
    other_names: tuple[str, ...] = Field(
        default=(), description="further spellings data sources use (not stored)"
    )

    @field_validator("code", mode="before")
    @classmethod
    def _code_format(cls, value: Any) -> Any:
        # YAML turns an unquoted 110000 into an int; insist on the 6-digit text form.
        if not isinstance(value, str) or not _CODE.match(value):
            raise ValueError(f"code must be 6 digits as text (GB/T 2260), got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def short_name_zh(self) -> str:
        """The Chinese name without the 市 suffix, as station lists write it (北京市 → 北京)."""
        return self.name_zh.removesuffix("市")


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: tuple[RegionEntry, ...]
    cities: tuple[CityEntry, ...] = Field(min_length=1)


def _read(path: Path) -> Registry:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: cannot read registry: {exc}") from exc
    try:
        registry = Registry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryError(f"{path}: {where}: {first['msg']}") from exc

    region_codes = [r.code for r in registry.regions]
    if len(set(region_codes)) != len(region_codes):
        raise RegistryError(f"{path}: duplicate region code in {region_codes}")
    seen: set[str] = set()
    for index, city in enumerate(registry.cities):
        if city.code in seen:
            raise RegistryError(f"{path}: cities.{index}: duplicate city code {city.code}")
        seen.add(city.code)
        unknown = [r for r in city.regions if r not in region_codes]
        if unknown:
            raise RegistryError(
                f"{path}: cities.{index} ({city.code}): unknown region(s) {', '.join(unknown)}"
            )
    return registry


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> Registry:
    return _read(path)


def read_registry(path: Path | str = DEFAULT_REGISTRY_PATH) -> Registry:
    """The whole validated registry (regions and cities); cached while the file is unchanged."""
    path = Path(path).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read registry: {exc}") from exc
    return _cached(path, mtime)


def load_registry(path: Path | str = DEFAULT_REGISTRY_PATH) -> list[CityEntry]:
    """The validated cities of the registry, in file order."""
    return list(read_registry(path).cities)


def load_regions(path: Path | str = DEFAULT_REGISTRY_PATH) -> list[RegionEntry]:
    """The validated regions of the registry, in file order."""
    return list(read_registry(path).regions)
