"""`/v1/auth/me`: which key am I, with what role and scope."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.deps import AuthenticatedUser
from app.auth.schemas import PrincipalRead

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.get("/me", response_model=PrincipalRead)
def me(user: AuthenticatedUser) -> PrincipalRead:
    """The calling key's name, role and scope (401 without a valid key)."""
    scope = user.scope_cities()
    return PrincipalRead(
        key_id=user.key_id,
        name=user.name,
        role=user.role.value,
        city_codes=sorted(user.city_codes),
        region_codes=sorted(user.region_codes),
        station_ids=sorted(user.station_ids),
        scope_cities=None if scope is None else sorted(scope),
    )
