"""JSON problem bodies (RFC 9457) for every error the API returns.

Validation errors name the offending field in ``errors[].field`` (e.g. ``query.start``) so a
client can point at it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raise from anywhere in the service to answer with a problem body."""

    def __init__(
        self, status: int, title: str, detail: str = "", field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.field = field
        self.extra = extra


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(err.get("loc", ())), "message": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem(422, "Invalid request", f"invalid value for {fields}", errors)


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    return problem(exc.status, exc.title, exc.detail, errors, **exc.extra)


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
    return problem(exc.status_code, title.get(exc.status_code, "Error"), str(exc.detail))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
