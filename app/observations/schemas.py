"""Response bodies of the observation and daily-AQI endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class ObservationRead(BaseModel):
    """One station-hour. Concentrations µg/m³ (CO mg/m³); °C, %, hPa, mm/h, m/s, degrees."""

    time: dt.datetime = Field(description="start of the hour, UTC")
    time_local: dt.datetime = Field(description="the same instant in the station's city zone")
    pm25: float | None
    pm10: float | None
    so2: float | None
    no2: float | None
    co: float | None = Field(description="mg/m³")
    o3: float | None
    temp: float | None
    dewp: float | None
    rh: float | None
    pres: float | None
    rain: float | None
    wspd: float | None
    wdir: float | None
    qc_flags: list[str] = Field(description="e.g. ['pm25:spike']; empty when clean")
    source: str


class ObservationPage(BaseModel):
    station_id: str
    timezone: str = Field(description="IANA zone used for time_local")
    items: list[ObservationRead]
    limit: int
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class CategoryRead(BaseModel):
    level: int
    name_en: str
    name_zh: str
    colour_hex: str


class DailyAQIRead(BaseModel):
    """The daily AQI of one set of hourly series (a station, or the city mean)."""

    aqi: int | None = Field(description="null when no indicator had enough hours")
    category: CategoryRead | None
    primary_pollutants: list[str]
    indicators: dict[str, float | None] = Field(
        description="daily indicators (µg/m³, CO mg/m³); null when < 20 valid hours"
    )
    iaqi: dict[str, int | None] = Field(description="IAQI of each scored indicator")
    valid_hours: dict[str, int] = Field(description="hours with a value, per pollutant")


class StationDailyAQIRead(DailyAQIRead):
    station_id: str
    name_en: str


class CityDailyAQIRead(BaseModel):
    city: str
    date: dt.date = Field(description="the city's local calendar day")
    timezone: str
    version: str = Field(description="HJ 633 version applied")
    start: dt.datetime = Field(description="first hour of the local day, UTC")
    end: dt.datetime = Field(description="end of the local day (exclusive), UTC")
    city_aqi: DailyAQIRead = Field(
        description="from the hourly mean of the stations' concentrations"
    )
    stations: list[StationDailyAQIRead]


class PushResult(BaseModel):
    """What a push stored (``POST /v1/observations``); pushing the same rows again
    stores nothing new (every station-hour ``unchanged``)."""

    rows: int = Field(description="data rows (pollutant values) in the body")
    station_hours: int = Field(description="station-hours the rows make")
    inserted: int = Field(description="new station-hours")
    updated: int = Field(description="stored station-hours that changed")
    unchanged: int = Field(description="stored station-hours the push left as they were")
