"""`/health/live` (the process answers) and `/health/ready` (it can do its job).

Readiness runs every check in `app.health.service` and answers 503 naming each required
check that fails. `/health` is an alias of `/health/ready` for older probes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.config import get_settings
from app.database import get_engine
from app.health.service import readiness
from app.timestamps import utcnow

__all__ = ["router"]

router = APIRouter(tags=["health"])
#: Not ready is an answer of its own (the same document, 503), declared in the schema.
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready: `failing` names the checks that fail"}
}


@router.get("/health/live")
def live() -> dict[str, str]:
    """The process is up and serving (no dependency is consulted)."""
    return {"status": "live"}


async def _ready() -> JSONResponse:
    result = await run_in_threadpool(readiness, get_engine(), get_settings(), utcnow())
    return JSONResponse(result.as_dict(), status_code=200 if result.ready else 503)


@router.get("/health/ready", responses=NOT_READY)
async def ready() -> JSONResponse:
    """Database reachable and migrated, model loaded (and its age), latest forecast run
    fresh, no webhook overdue, scheduler and dispatcher heartbeats recent: 200, or 503 with
    ``failing`` naming the checks that fail."""
    return await _ready()


@router.get("/health", responses=NOT_READY)
async def health() -> JSONResponse:
    """Alias of `/health/ready`."""
    return await _ready()
