"""`/v1/stations/{id}/observations` (keyset pages) and `/v1/cities/{code}/aqi` (daily AQI)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request

from app.auth.deps import CurrentUser, require
from app.auth.service import Role
from app.cities.models import City
from app.cities.service import get_city
from app.deps import DbSession, SettingsDep
from app.errors import ProblemError
from app.observations.push import CSV_TYPES, JSONL_TYPES, PushError, import_push
from app.observations.schemas import (
    CategoryRead,
    CityDailyAQIRead,
    DailyAQIRead,
    ObservationPage,
    ObservationRead,
    PushResult,
    StationDailyAQIRead,
)
from app.observations.service import (
    DEFAULT_TIMEZONE,
    DailyAQI,
    StationScopeError,
    as_utc,
    city_daily_aqi,
    list_observations,
)
from app.stations.models import Station
from forecasting.observations import VALUE_COLUMNS

router = APIRouter(tags=["observations"])

_CURSOR_PREFIX = "t:"


def _encode_cursor(moment: datetime) -> str:
    text = _CURSOR_PREFIX + as_utc(moment).isoformat()
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> datetime:
    """The time a cursor points after; anything we did not issue is a 422 on query.cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError("not a cursor")
        moment = datetime.fromisoformat(text.removeprefix(_CURSOR_PREFIX))
        if moment.tzinfo is None:
            raise ValueError("not a cursor")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ProblemError(
            422, "Invalid request", "cursor is not one this API issued", field="query.cursor"
        ) from None
    return moment


def _aware(moment: datetime | None) -> datetime | None:
    """Query times without an offset are taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/v1/stations/{station_id}/observations", response_model=ObservationPage)
def station_observations(
    db: DbSession,
    settings: SettingsDep,
    station_id: Annotated[str, Path(min_length=1, max_length=32)],
    start: Annotated[
        datetime | None,
        Query(description="first hour wanted, ISO 8601 (no offset = UTC); inclusive"),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="end, ISO 8601 (no offset = UTC); exclusive")
    ] = None,
    limit: Annotated[int, Query(ge=1, description="page size (max: page_size_max)")] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor")] = None,
) -> ObservationPage:
    """A station's hourly observations in time order, one page at a time (keyset on time)."""
    station = db.get(Station, station_id)
    if station is None:
        raise ProblemError(
            404, "Not found", f"no station with id {station_id}", field="path.station_id"
        )
    if limit > settings.page_size_max:
        raise ProblemError(
            422,
            "Invalid request",
            f"limit {limit} is above the maximum page size {settings.page_size_max}",
            field="query.limit",
        )
    start, end = _aware(start), _aware(end)
    if start is not None and end is not None and start > end:
        raise ProblemError(
            422,
            "Invalid request",
            f"end {end.isoformat()} is before start {start.isoformat()}",
            field="query.end",
        )
    after = _decode_cursor(cursor) if cursor else None
    timezone = DEFAULT_TIMEZONE
    if station.city_code is not None:
        city = db.get(City, station.city_code)
        if city is not None:
            timezone = city.timezone
    zone = ZoneInfo(timezone)
    rows = list_observations(db, station_id, start=start, end=end, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        moment = as_utc(row.time)
        items.append(
            ObservationRead(
                time=moment,
                time_local=moment.astimezone(zone),
                **{c: getattr(row, c) for c in VALUE_COLUMNS},
                qc_flags=[f for f in (row.qc_flags or "").split(",") if f],
                source=row.source,
            )
        )
    return ObservationPage(
        station_id=station_id,
        timezone=timezone,
        items=items,
        limit=limit,
        next_cursor=_encode_cursor(rows[-1].time) if more and rows else None,
    )


def _daily_read(daily: DailyAQI) -> DailyAQIRead:
    result = daily.result
    category = result.category
    return DailyAQIRead(
        aqi=result.aqi,
        category=CategoryRead(
            level=category.level,
            name_en=category.name_en,
            name_zh=category.name_zh,
            colour_hex=category.colour_hex,
        )
        if category is not None
        else None,
        primary_pollutants=list(result.primary_pollutants),
        indicators=daily.indicators,
        iaqi={k: s.iaqi for k, s in result.sub_indices.items()},
        valid_hours=daily.valid_hours,
    )


@router.get("/v1/cities/{code}/aqi", response_model=CityDailyAQIRead)
def city_aqi(
    db: DbSession,
    code: Annotated[str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, 6 digits")],
    date_: Annotated[date, Query(alias="date", description="local calendar day, YYYY-MM-DD")],
) -> CityDailyAQIRead:
    """Daily AQI (HJ 633) of a city's local calendar day from its stations' observations."""
    city = get_city(db, code)
    if city is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    daily = city_daily_aqi(db, city, date_)
    names = {
        s.id: s.name_en
        for s in db.query(Station).filter(Station.id.in_([sid for sid, _ in daily.stations]))
    }
    return CityDailyAQIRead(
        city=city.code,
        date=daily.day,
        timezone=daily.timezone,
        version=daily.version,
        start=daily.start,
        end=daily.end,
        city_aqi=_daily_read(daily.city),
        stations=[
            StationDailyAQIRead(
                station_id=sid, name_en=names.get(sid, sid), **_daily_read(d).model_dump()
            )
            for sid, d in daily.stations
        ],
    )


@router.post(
    "/v1/observations",
    response_model=PushResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "station,time,pollutant,value,unit\n"
                    "Dongsi,2017-01-10T12:00:00+08:00,pm25,182,ug/m3\n",
                },
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": '{"station": "Dongsi", "time": "2017-01-10T12:00:00+08:00", '
                    '"pollutant": "pm25", "value": 182, "unit": "ug/m3"}\n',
                },
            },
        }
    },
)
async def push_observations(request: Request, db: DbSession, user: CurrentUser) -> PushResult:
    """Push observations (a monitoring network): the long format, one pollutant value per
    row, as CSV (``station,time,pollutant,value,unit[,city]``) or JSON lines with those
    keys. Needs an ``ingest`` key (only its own stations) or ``admin``.

    The same checks, QC flags and merge rule as `hazewarn obs import`: idempotent on
    (station, hour, pollutant), all or nothing. A refusal is a problem body naming the
    row (1-based data row) and field: 422 for bad rows, 403 for a station outside the
    key's stations, 415 for another media type."""
    principal = require(user, Role.ADMIN, Role.INGEST)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in CSV_TYPES | JSONL_TYPES:
        raise ProblemError(
            415,
            "Unsupported media type",
            f"send text/csv or application/x-ndjson, not {media_type or 'nothing'!r}",
            field="header.content-type",
        )
    body = await request.body()
    allowed = principal.station_ids if principal.role == Role.INGEST else None
    try:
        summary = import_push(
            db,
            body,
            media_type,
            allowed_station_ids=allowed,
            source="push",
        )
    except PushError as exc:
        where = f"body[{exc.row}]" if exc.row is not None else "body"
        field = f"{where}.{exc.field}" if exc.field and exc.row is not None else where
        if exc.field and exc.field.startswith("header"):
            field = exc.field if exc.field != "header" else "body.header"
        status = 403 if isinstance(exc.__cause__, StationScopeError) else 422
        title = "Forbidden" if status == 403 else "Invalid observations"
        raise ProblemError(status, title, str(exc), field=field, row=exc.row) from None
    return PushResult(
        rows=summary.rows,
        station_hours=summary.station_hours,
        inserted=summary.inserted,
        updated=summary.updated,
        unchanged=summary.unchanged,
    )
