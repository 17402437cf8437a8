"""The duty officers' dashboard: `/` (the page), its static assets and its display facts.

The page is plain HTML, CSS and JavaScript in `app/dashboard/static/`, served from this
package: no build step, nothing loaded from another host. Everything it shows comes from the
public `/v1` API in the browser; writes (approve, reject, upgrade, lift) send the API key the
officer typed in, which the page keeps in the browser's `localStorage`.

`/dashboard/meta.json` hands the page the display facts that live in Python, so they have
one source: AQI categories (HJ 633 Table 2 colours) and warning level colours and names.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from alerts.levels import Level
from app.cities.service import get_city
from app.config import get_settings
from app.dashboard.service import city_observed_hours
from app.deps import DbSession
from app.errors import ProblemError
from app.timestamps import utcnow
from forecasting.aqi import CATEGORIES

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The longest span of observed hours one request may ask for.
MAX_OBSERVED_SPAN = timedelta(days=14)
#: Sent with every asset and the page: the officer always sees the deployed version.
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["dashboard"])


@lru_cache
def _assets() -> dict[str, Path]:
    """The files the page may load, by name (nothing outside the static folder)."""
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and p.name != "index.html"}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard() -> HTMLResponse:
    """The dashboard page."""
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=NO_CACHE)


@router.get("/dashboard/static/{name}", include_in_schema=False)
def asset(
    name: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)],
) -> FileResponse:
    """A stylesheet, script or icon of the page."""
    path = _assets().get(name)
    if path is None:
        raise ProblemError(404, "Not found", f"no dashboard asset {name!r}", field="path.name")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return FileResponse(path, media_type=media_type, headers=NO_CACHE)


def display_meta() -> dict[str, Any]:
    """AQI categories and warning levels as the page draws them, and the service clock
    (``offset_seconds`` is non-zero when the demo replays a past episode)."""
    return {
        "clock": {
            "now": utcnow().isoformat(),
            "offset_seconds": get_settings().clock_offset_seconds,
        },
        "aqi_categories": [
            {
                "level": c.level,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "colour_hex": c.colour_hex,
                "aqi_min": c.aqi_min,
                "aqi_max": c.aqi_max,
            }
            for c in CATEGORIES
        ],
        "levels": [
            {
                "code": level.value,
                "rank": level.rank,
                "name_zh": level.name_zh,
                "name_en": level.name_en,
                "response_grade": level.info.response_grade,
                "colour_hex": level.info.colour_hex,
            }
            for level in Level
        ],
    }


@router.get("/dashboard/meta.json", include_in_schema=False)
def meta() -> JSONResponse:
    """Display facts for the page (AQI category colours, warning level colours)."""
    return JSONResponse(display_meta())


def _aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ProblemError(
            422,
            "Invalid request",
            f"{field} needs a UTC offset (Z or +08:00)",
            field=f"query.{field}",
        )
    return moment


@router.get("/dashboard/cities/{code}/observed.json", include_in_schema=False)
def observed(
    db: DbSession,
    code: Annotated[str, PathParam(pattern=r"^\d{6}$", description="GB/T 2260 code")],
    start: Annotated[datetime, Query(description="first hour, ISO 8601 with offset")],
    end: Annotated[datetime | None, Query(description="end (exclusive); default now")] = None,
) -> JSONResponse:
    """The city's observed hourly PM2.5 (station mean) for the forecast chart."""
    if get_city(db, code) is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    first = _aware(start, "start")
    last = _aware(end, "end") if end is not None else utcnow()
    if not first < last:
        raise ProblemError(422, "Invalid request", "start must be before end", field="query.start")
    if last - first > MAX_OBSERVED_SPAN:
        raise ProblemError(
            422, "Invalid request", "at most 14 days per request", field="query.start"
        )
    hours = city_observed_hours(db, code, first, last)
    return JSONResponse(
        {
            "city_code": code,
            "start": first.isoformat(),
            "end": last.isoformat(),
            "hours": [
                {"time": h.time.isoformat(), "pm25": round(h.pm25, 1), "stations": h.stations}
                for h in hours
            ],
        }
    )
