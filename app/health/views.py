"""`/health`: liveness, and readiness of the database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.deps import DbSession

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: DbSession) -> JSONResponse:
    try:
        db.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # the point is to report any failure, not raise it
        return JSONResponse(
            {"status": "degraded", "database": f"error: {type(exc).__name__}"}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": database})
