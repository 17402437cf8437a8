"""Who is calling: `CurrentUser` (optional principal) and `require(...)` for role and scope.

Every write endpoint calls ``require(user, *roles, city=...)``. Refusals are problem bodies:
401 when no key or an unknown/revoked key is sent, 403 naming the missing role or the city
outside the caller's own scope (the caller's scope is theirs to see; nothing about other
cities is revealed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Header

from app.auth.service import Principal, Role, authenticate
from app.deps import DbSession
from app.errors import ProblemError

_BEARER = "bearer "


def _key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        if not authorization.lower().startswith(_BEARER):
            raise ProblemError(
                401,
                "Unauthorized",
                "Authorization header must be 'Bearer <key>'",
                field="header.authorization",
            )
        return authorization[len(_BEARER) :].strip()
    if x_api_key:
        return x_api_key.strip()
    return None


def get_current_user(
    db: DbSession,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal | None:
    """The principal of the request's API key; None when anonymous; 401 for a bad key."""
    key = _key_from_headers(authorization, x_api_key)
    if key is None:
        return None
    principal = authenticate(db, key)
    if principal is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
    return principal


CurrentUser = Annotated[Principal | None, Depends(get_current_user)]


def require(
    user: Principal | None,
    *roles: Role | str,
    city: str | None = None,
    cities: Iterable[str] = (),
) -> Principal:
    """The caller, if it holds one of ``roles`` (any role when none given) and may act for
    ``city`` and every one of ``cities``; otherwise a 401 or 403 problem saying why."""
    if user is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "this needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
        )
    allowed = [Role(r) for r in roles]
    if allowed and user.role not in allowed:
        raise ProblemError(
            403,
            "Forbidden",
            f"role {user.role.value} may not do this; it needs "
            + " or ".join(r.value for r in allowed),
        )
    wanted = ([city] if city is not None else []) + list(cities)
    outside = sorted({c for c in wanted if not user.may_act_for_city(c)})
    if outside:
        raise ProblemError(
            403,
            "Forbidden",
            f"this key ({user.role.value}) is scoped to {user.describe_scope()}; "
            f"it may not act for city {', '.join(outside)}",
        )
    return user


def _authenticated(user: CurrentUser) -> Principal:
    return require(user)


AuthenticatedUser = Annotated[Principal, Depends(_authenticated)]
