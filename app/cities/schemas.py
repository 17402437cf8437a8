"""Response models of `/v1/cities`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegionRead(BaseModel):
    code: str = Field(examples=["jjj-2+26"])
    name_zh: str
    name_en: str
    coordinator_zh: str
    coordinator_en: str


class CityRead(BaseModel):
    """A city as listed; lat/lon in WGS 84 degrees (city centre)."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="GB/T 2260 code", examples=["110000"])
    name_zh: str
    name_en: str
    province_zh: str
    province_en: str
    lat: float
    lon: float
    timezone: str = Field(description="IANA time zone", examples=["Asia/Shanghai"])
    regions: list[str] = Field(description="region codes")
    station_count: int = Field(0, description="stations linked to the city")


class CityDetail(CityRead):
    """A city with its regions spelled out and the ids of its stations."""

    region_details: list[RegionRead]
    station_ids: list[str]


class CityList(BaseModel):
    items: list[CityRead]
    total: int
