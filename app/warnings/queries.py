"""Reading warnings back: filters, lists, proposals, unacknowledged, history, plans."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from alerts.episodes import (
    ACTIVE_STATUSES,
    Status,
)
from alerts.levels import Level
from app.cities.models import City
from app.plans.models import PlanVersion
from app.warnings import inputs
from app.warnings.inputs import plan_of, plan_version_row
from app.warnings.models import CityWarning, Episode, WarningEvent
from contingency_plans.schema import Plan

# --- reads -----------------------------------------------------------------------------------

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])

ACTIVE_STATE_VALUES: Final = tuple(sorted(s.value for s in ACTIVE_STATUSES))


def is_active(warning: CityWarning, now: datetime) -> bool:
    """Whether the warning is active at ``now``: issued, upgraded or downgraded, and its
    window not yet ended. A warning whose ``expires`` has passed with no later run keeps
    its last state in the table but is active nowhere (lists, Atom, acknowledgements)."""
    return warning.state in ACTIVE_STATE_VALUES and warning.expires > now


@dataclass(frozen=True)
class WarningFilters:
    """Filters of the warning list; ``start``/``end`` select warnings whose window
    overlaps ``[start, end)``; ``published_only`` hides proposals never issued."""

    city: str | None = None
    #: Only these cities (e.g. the members of a region); None = every city.
    cities: tuple[str, ...] | None = None
    level: Level | None = None
    state: str | None = None
    active: bool | None = None
    drill: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    published_only: bool = True


def _filtered(query: SelectT, filters: WarningFilters, now: datetime) -> SelectT:
    if filters.city is not None:
        query = query.where(CityWarning.city_code == filters.city)
    if filters.cities is not None:
        query = query.where(CityWarning.city_code.in_(filters.cities))
    if filters.level is not None:
        query = query.where(CityWarning.level == filters.level.value)
    if filters.state is not None:
        query = query.where(CityWarning.state == filters.state)
    if filters.drill is not None:
        query = query.where(CityWarning.drill.is_(filters.drill))
    if filters.active is True:
        query = query.where(CityWarning.state.in_(ACTIVE_STATE_VALUES), CityWarning.expires > now)
    elif filters.active is False:
        query = query.where(
            or_(CityWarning.state.not_in(ACTIVE_STATE_VALUES), CityWarning.expires <= now)
        )
    if filters.start is not None:
        query = query.where(CityWarning.expires > filters.start)
    if filters.end is not None:
        query = query.where(CityWarning.effective < filters.end)
    if filters.published_only:
        query = query.where(CityWarning.issued_at.is_not(None))
    return query


def list_warnings(
    session: Session, filters: WarningFilters, now: datetime, limit: int, offset: int
) -> tuple[list[tuple[CityWarning, City]], int]:
    """One page of warnings, newest first, and the total matching."""
    total = session.scalar(_filtered(select(func.count(CityWarning.id)), filters, now)) or 0
    rows = session.execute(
        _filtered(
            select(CityWarning, City).join(City, City.code == CityWarning.city_code), filters, now
        )
        .order_by(CityWarning.created_at.desc(), CityWarning.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(w, c) for w, c in rows], int(total)


def list_proposals(
    session: Session,
    drill: bool | None = None,
    now: datetime | None = None,
    cities: tuple[str, ...] | None = None,
) -> list[tuple[CityWarning, City]]:
    """Warnings waiting for a duty officer: new proposals and pending level changes,
    oldest first (the most urgent decision first). With ``now``, those whose window has
    ended (``expires <= now``: nothing is left to decide) are left out."""
    query = (
        select(CityWarning, City)
        .join(City, City.code == CityWarning.city_code)
        .where(
            or_(
                CityWarning.state == Status.PROPOSED.value,
                CityWarning.pending_level.is_not(None),
            )
        )
        .order_by(CityWarning.pending_since, CityWarning.proposed_at, CityWarning.id)
    )
    if now is not None:
        query = query.where(CityWarning.expires > now)
    if drill is not None:
        query = query.where(CityWarning.drill.is_(drill))
    if cities is not None:
        query = query.where(CityWarning.city_code.in_(cities))
    return [(w, c) for w, c in session.execute(query).all()]


def list_unacknowledged(
    session: Session, now: datetime, grace: timedelta
) -> list[tuple[CityWarning, City]]:
    """Active warnings (issued, upgraded or downgraded, and not expired at ``now``) whose
    last announced change is older than ``grace`` and that the city office has not
    acknowledged, oldest first. Lifted, cancelled and expired warnings are never listed."""
    rows = session.execute(
        select(CityWarning, City)
        .join(City, City.code == CityWarning.city_code)
        .where(
            CityWarning.state.in_(ACTIVE_STATE_VALUES),
            CityWarning.expires > now,
            CityWarning.acknowledged_at.is_(None),
            CityWarning.cap_sent.is_not(None),
            CityWarning.cap_sent <= now - grace,
        )
        .order_by(CityWarning.cap_sent, CityWarning.id)
    ).all()
    return [(w, c) for w, c in rows]


def history(session: Session, warning_id: int) -> list[WarningEvent]:
    """The warning's audit trail, oldest first."""
    return list(
        session.scalars(
            select(WarningEvent)
            .where(WarningEvent.warning_id == warning_id)
            .order_by(WarningEvent.id)
        )
    )


def warning_plan(session: Session, warning: CityWarning) -> Plan | None:
    """The plan version the warning was decided under (the current one if gone).

    The validated plan cache is consulted first: a version is the hash of its content, so a
    cached (city, version) is that version for good, and the stored row (its ~20 KB JSON
    content) need not be read again."""
    cached = inputs.PLAN_CACHE.get((warning.city_code, warning.plan_version))
    if cached is not None:
        return cached
    row = plan_version_row(session, warning.city_code, warning.plan_version)
    return plan_of(row) if row is not None else None


def preload_plans(session: Session, warnings: Iterable[CityWarning]) -> None:
    """Validate and cache, in one query, the plan versions of ``warnings`` not yet cached,
    so that `warning_plan` answers each of them without a statement of its own."""
    missing = {
        (w.city_code, w.plan_version)
        for w in warnings
        if (w.city_code, w.plan_version) not in inputs.PLAN_CACHE
    }
    if not missing:
        return
    rows = session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code.in_(sorted({city for city, _v in missing})),
            PlanVersion.version.in_(sorted({version for _c, version in missing})),
        )
    )
    for row in rows:
        if (row.city_code, row.version) in missing:
            plan_of(row)


def episode_of(session: Session, warning: CityWarning) -> Episode:
    episode = session.get(Episode, warning.episode_id)
    assert episode is not None
    return episode
