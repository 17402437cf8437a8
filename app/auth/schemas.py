"""Pydantic models of the identity API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PrincipalRead(BaseModel):
    """The caller as the service sees it (``GET /v1/auth/me``)."""

    key_id: int
    name: str
    role: str
    city_codes: list[str] = Field(description="city_office scope")
    region_codes: list[str] = Field(description="coordinator scope")
    station_ids: list[str] = Field(
        default_factory=list, description="ingest scope: stations it may push observations for"
    )
    scope_cities: list[str] | None = Field(
        description="every city the key may act for; null means all cities"
    )
