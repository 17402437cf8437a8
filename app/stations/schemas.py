"""Response models of `/v1/stations`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StationRead(BaseModel):
    """A monitoring station; lat/lon in WGS 84 degrees."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["1003A"])
    name_zh: str | None
    name_en: str
    city_code: str | None = Field(description="GB/T 2260 code of our city, if it is one")
    area_zh: str | None = Field(description="city as the station list names it")
    area_en: str | None
    lat: float
    lon: float
    aliases: list[str] = Field(description="names observation sources use for the station")


class StationPage(BaseModel):
    items: list[StationRead]
    total: int
    limit: int
    offset: int
