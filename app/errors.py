"""JSON problem bodies (RFC 9457) for every error the API returns.

Validation errors name the offending field in ``errors[].field`` (e.g. ``query.start``) so a
client can point at it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Titles of the HTTP errors raised by the framework (routing, body limit).
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


class ProblemFieldError(BaseModel):
    field: str = Field(description="where: path.x, query.x, header.x or body.x.y")
    message: str


class Problem(BaseModel):
    """The body of every error answer (RFC 9457), as the OpenAPI schema declares it."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="the offending fields, when the request was at fault"
    )


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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route for error answers its access rule and parameters do not
    imply (e.g. a 404 of a list before any data exists); ``app.openapi`` gives each the
    problem+json body."""
    return {status: {"description": _TITLES.get(status, "Error")} for status in statuses}


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


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route of ``app`` answers at ``path`` (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path) and route.methods:
            methods |= set(route.methods)
    return sorted(methods)


#: FastAPI's words when the body is not JSON it can decode (bad UTF-8, nested too deep).
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        why = "the body is not JSON that can be read (invalid UTF-8, or nested too deeply)"
        return problem(400, "Bad request", why, [{"field": "body", "message": why}])
    response = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))
    if exc.status_code == 405:
        # Starlette names the methods of the first route matching the path only.
        response.headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
    elif exc.headers:
        response.headers.update(exc.headers)
    return response


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
