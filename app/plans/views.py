"""`/v1/plans`: each city's current contingency plan, its versions, and its actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from app.deps import DbSession
from app.errors import ProblemError
from app.plans import service
from app.plans.models import PlanVersion
from app.plans.schemas import (
    ActionList,
    ActionRead,
    PlanDetail,
    PlanList,
    PlanSummary,
    VersionRead,
)
from app.timestamps import utcnow
from contingency_plans.actions import actions_for
from contingency_plans.schema import Level

router = APIRouter(prefix="/v1/plans", tags=["plans"])

CityCode = Annotated[
    str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, 6 digits", examples=["110000"])
]


def _summary(row: PlanVersion, name_zh: str, name_en: str) -> PlanSummary:
    content = row.content
    zone = ZoneInfo(content["city"]["timezone"])
    return PlanSummary(
        city_code=row.city_code,
        name_zh=name_zh,
        name_en=name_en,
        version=row.version,
        criteria_set=content["criteria_set"],
        decide_from=content["decide_from"],
        probability_cutoffs=content.get("probability_cutoffs"),
        levels=[
            name for name in ("blue", "yellow", "orange", "red") if content["levels"].get(name)
        ],
        title_zh=content["plan"]["title_zh"],
        title_en=content["plan"]["title_en"],
        loaded_at=row.loaded_at,
        loaded_at_local=row.loaded_at.astimezone(zone),
    )


@router.get("", response_model=PlanList)
def plans(db: DbSession) -> PlanList:
    """Every city with a plan loaded: its current version and criteria set."""
    items = [_summary(row, city.name_zh, city.name_en) for row, city in service.list_current(db)]
    return PlanList(items=items, total=len(items))


def _current_or_404(db: DbSession, city: str) -> tuple[PlanVersion, str, str]:
    row = service.get_current(db, city)
    if row is None:
        raise ProblemError(404, "Not found", f"no plan loaded for city {city}", field="path.city")
    names = row.content["city"]
    return row, names["name_zh"], names["name_en"]


@router.get("/{city}", response_model=PlanDetail)
def plan(db: DbSession, city: CityCode) -> PlanDetail:
    """The city's current plan content and version, and its earlier versions."""
    row, name_zh, name_en = _current_or_404(db, city)
    zone = ZoneInfo(row.content["city"]["timezone"])
    earlier = [
        VersionRead(
            version=other.version,
            source_file=other.source_file,
            loaded_at=other.loaded_at,
            loaded_at_local=other.loaded_at.astimezone(zone),
        )
        for other in service.list_versions(db, city)
        if other.id != row.id
    ]
    return PlanDetail(
        **_summary(row, name_zh, name_en).model_dump(),
        content=row.content,
        earlier_versions=earlier,
    )


def _parse_issued_at(text: str | None) -> datetime:
    if text is None:
        return utcnow()
    # An unencoded '+' in a query string arrives as a space: "…T20:00:00 08:00".
    repaired = text.strip().replace(" ", "+")
    try:
        value = datetime.fromisoformat(repaired)
    except ValueError:
        raise ProblemError(
            422,
            "Invalid request",
            f"issued_at {text!r} is not an ISO 8601 time, e.g. 2016-12-16T20:00:00+08:00",
            field="query.issued_at",
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ProblemError(
            422,
            "Invalid request",
            f"issued_at {text!r} needs a UTC offset, e.g. 2016-12-16T20:00:00+08:00",
            field="query.issued_at",
        )
    return value


@router.get("/{city}/actions", response_model=ActionList)
def plan_actions(
    db: DbSession,
    city: CityCode,
    level: Annotated[Level, Query(description="warning level: blue, yellow, orange or red")],
    issued_at: Annotated[
        str | None,
        Query(description="issue time with offset (default: now), e.g. 2016-12-16T20:00:00+08:00"),
    ] = None,
) -> ActionList:
    """The ordered actions of a `level` warning issued at `issued_at`, per the current plan."""
    _current_or_404(db, city)
    found = service.current_plan(db, city)
    assert found is not None
    plan_, row = found
    level_plan = plan_.levels.get(level)
    if level_plan is None:
        raise ProblemError(
            422,
            "Invalid request",
            f"the plan of {city} has no {level} level "
            f"(levels: {', '.join(plan_.levels.defined())})",
            field="query.level",
        )
    when = _parse_issued_at(issued_at)
    actions = actions_for(plan_, level, when)
    items = [ActionRead.of(action) for action in actions]
    return ActionList(
        city_code=city,
        version=row.version,
        level=level,
        emission_cut_pct=level_plan.emission_cut_pct,
        issued_at=when.astimezone(plan_.zone),
        issued_at_utc=when.astimezone(UTC),
        items=items,
        total=len(items),
    )
