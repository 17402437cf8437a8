"""`/v1/cities`: the cities we forecast and warn for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.cities.registry import load_regions
from app.cities.schemas import CityDetail, CityList, CityRead, RegionRead
from app.cities.service import get_city, list_cities, station_counts, station_ids
from app.deps import DbSession
from app.errors import ProblemError

router = APIRouter(prefix="/v1/cities", tags=["cities"])

CityCode = Annotated[
    str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, 6 digits", examples=["110000"])
]


@router.get("", response_model=CityList)
def cities(
    db: DbSession,
    region: Annotated[
        str | None, Query(max_length=64, description="only members of this region code")
    ] = None,
) -> CityList:
    """All cities ordered by code, optionally only those of one region (e.g. `jjj-2+26`)."""
    if region is not None and region not in {r.code for r in load_regions()}:
        raise ProblemError(
            422, "Invalid request", f"unknown region {region!r}", field="query.region"
        )
    counts = station_counts(db)
    items = [
        CityRead.model_validate(c).model_copy(update={"station_count": counts.get(c.code, 0)})
        for c in list_cities(db, region=region)
    ]
    return CityList(items=items, total=len(items))


@router.get("/{code}", response_model=CityDetail)
def city(db: DbSession, code: CityCode) -> CityDetail:
    """One city: its facts, its regions spelled out, and its stations."""
    found = get_city(db, code)
    if found is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    regions = {r.code: r for r in load_regions()}
    ids = station_ids(db, code)
    base = CityRead.model_validate(found).model_dump() | {"station_count": len(ids)}
    return CityDetail(
        **base,
        region_details=[
            RegionRead.model_validate(regions[r].model_dump())
            for r in found.regions or []
            if r in regions
        ],
        station_ids=ids,
    )
