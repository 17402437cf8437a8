"""`/v1/stations`: monitoring stations, paginated, optionally per city."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.cities.service import get_city
from app.deps import DbSession
from app.errors import ProblemError, problem_responses
from app.stations.schemas import StationPage, StationRead
from app.stations.service import get_station, list_stations

router = APIRouter(prefix="/v1/stations", tags=["stations"])


@router.get("", response_model=StationPage, responses=problem_responses(404))
def stations(
    db: DbSession,
    city: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code of the city")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> StationPage:
    """Stations ordered by id; `total` counts all matching stations."""
    if city is not None and get_city(db, city) is None:
        raise ProblemError(404, "Not found", f"no city with code {city}", field="query.city")
    page, total = list_stations(db, city_code=city, limit=limit, offset=offset)
    return StationPage(
        items=[StationRead.model_validate(s) for s in page], total=total, limit=limit, offset=offset
    )


@router.get("/{station_id}", response_model=StationRead)
def station(
    db: DbSession, station_id: Annotated[str, Path(min_length=1, max_length=32)]
) -> StationRead:
    found = get_station(db, station_id)
    if found is None:
        raise ProblemError(
            404, "Not found", f"no station with id {station_id}", field="path.station_id"
        )
    return StationRead.model_validate(found)
