"""The OpenAPI schema with every error answer a route can give, each a problem+json body.

FastAPI declares only a 422 with its own body shape. This adds, per operation: 422 when it
takes parameters or a body (validation, 64-bit integer range); 400 and 413 when it takes a
body (unreadable JSON, ``HAZEWARN_MAX_BODY_BYTES``); 404 when it has path parameters; 401,
403 and 409 as the route's line in ``app.auth.access.ROUTE_RULES`` says. All point at one
``Problem`` schema under ``application/problem+json``; integers get 64-bit bounds.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.auth.access import ROUTE_RULES, Answer, route_key
from app.errors import PROBLEM_MEDIA_TYPE, Problem
from app.request_limits import INT64_MAX, INT64_MIN

__all__ = ["error_statuses", "install_openapi"]

_DESCRIPTIONS = {
    400: "The body could not be read as JSON (invalid UTF-8, nested too deeply)",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role or scope does not allow this",
    404: "No such object (or not visible to this caller)",
    409: "The action does not fit the object's current state",
    413: "The request body is larger than the service accepts",
    422: "A parameter or the body is invalid; `errors` names each field",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses the operation ``method path`` can answer."""
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    statuses = set()
    if parameters or body:
        statuses.add(422)
    if body:
        statuses |= {400, 413}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    rule = ROUTE_RULES.get(route_key(method, path))
    if rule is not None:
        if rule.may_refuse(Answer.UNAUTHORIZED):
            statuses.add(401)
        if rule.may_refuse(Answer.FORBIDDEN):
            statuses.add(403)
        if rule.conflict:
            statuses.add(409)
    return sorted(statuses)


def _bound_integers(schema: dict[str, Any]) -> None:
    if schema.get("type") == "integer":
        schema.setdefault("maximum", INT64_MAX)
        schema.setdefault("minimum", INT64_MIN)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            _bound_integers(option)
    if isinstance(schema.get("items"), dict):
        _bound_integers(schema["items"])


def with_problems(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (an OpenAPI dict) with the error answers and integer bounds added."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for parameter in operation.get("parameters", []):
                _bound_integers(parameter.get("schema", {}))
            responses = operation.setdefault("responses", {})
            # FastAPI's own 422 (e.g. for header parameters) becomes a problem too.
            declared = {int(s) for s in responses if s.startswith("4")}
            for status in sorted(declared | set(error_statuses(method, path, operation))):
                responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": content}
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve ``with_problems`` of FastAPI's schema at /openapi.json (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
