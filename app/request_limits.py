"""Limits every request meets before an endpoint runs: integers fit the database, bodies fit
the body limit (``HAZEWARN_MAX_BODY_BYTES``, 1 MiB by default).

Ids, offsets and limits are at most 64-bit signed integers in the database; a larger value
in a path or query parameter would overflow the driver (a 500). Ids of 32-bit key columns
declare the smaller bound on their parameter (``INT32_MAX``). ``check_integer_ranges`` runs
for every route (an app-wide dependency, so new routes are covered without a line of their
own) and answers 422 naming the parameter; the OpenAPI schema gives each integer bounds.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ProblemError, problem

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "BodyLimitMiddleware",
    "check_integer_ranges",
    "is_integer_annotation",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: Largest id of a table whose key is a 32-bit ``Integer`` column (warnings, forecast runs,
#: subscriptions): their id parameters declare ``le=INT32_MAX`` so PostgreSQL never sees a
#: larger one (it would answer "integer out of range").
INT32_MAX = 2**31 - 1


def is_integer_annotation(annotation: Any) -> bool:
    """``int``, ``int | None``, ``list[int]``... (but not ``bool``)."""
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType, list, tuple, set):
        return any(is_integer_annotation(arg) for arg in get_args(annotation))
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        return is_integer_annotation(get_args(annotation)[0])
    return False


def _out_of_range(text: str) -> bool:
    try:
        value = int(text.strip())
    except ValueError:
        return False  # not an integer at all: the route's own validation says so
    return not INT64_MIN <= value <= INT64_MAX


def check_integer_ranges(request: Request) -> None:
    """422 problem when an integer path or query parameter lies outside 64-bit range."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    for location, fields, values in (
        ("path", dependant.path_params, lambda name: [request.path_params.get(name)]),
        ("query", dependant.query_params, request.query_params.getlist),
    ):
        for param in fields:
            if not is_integer_annotation(param.field_info.annotation):
                continue
            for text in values(param.alias):
                if text is not None and _out_of_range(str(text)):
                    raise ProblemError(
                        422,
                        "Invalid request",
                        f"{location}.{param.alias} must be an integer from {INT64_MIN} "
                        f"to {INT64_MAX}",
                        field=f"{location}.{param.alias}",
                    )


class _BodyTooLarge(HTTPException):
    """Raised while the endpoint reads the body; an HTTPException, so FastAPI lets it through
    to the problem handler instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """413 problem for a body over ``max_bytes``: at once when Content-Length says so,
    otherwise as soon as the bytes read pass the limit (chunked uploads)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem(413, "Request body too large", _BodyTooLarge(limit).detail)
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)
