"""Plans in the database: load validated files as versions, and read them back.

Loading is per file all-or-nothing and never lets a broken file touch its city: a file
with any problem is refused and the city keeps its current version, while every other
file still loads. The caller owns the transaction (``load_plan_files`` flushes only).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.cities.models import City
from app.plans.models import PlanVersion
from contingency_plans.loader import Problem, check_files, plan_version
from contingency_plans.schema import Plan

LoadStatus = Literal["added", "reinstated", "unchanged", "refused"]


@dataclass
class FileOutcome:
    """What loading one file did.

    ``added``: a new version, now current. ``reinstated``: content equal to an earlier
    version, which is current again. ``unchanged``: already the current version.
    ``refused``: the file has problems; nothing of it was written.
    """

    file: str
    status: LoadStatus
    city_code: str | None = None
    version: str | None = None
    problems: list[Problem] = field(default_factory=list)


def load_plan_files(session: Session, files: Iterable[Path], now: datetime) -> list[FileOutcome]:
    """Validate every file and store the valid ones as versions (``now``: aware UTC).

    A file is refused when it is invalid, when another file of the same batch names the same
    city (which of the two is right cannot be told), or when its city is not in the
    ``cities`` table.
    """
    paths = list(files)
    outcomes: list[FileOutcome] = []
    valid: list[tuple[Path, Plan]] = []
    for path in paths:
        problems, parsed = check_files([path])
        plans = [item for item in parsed if isinstance(item, Plan)]
        if not problems and not plans:
            problems = [Problem(str(path), "", "a region file, not a city plan")]
        if problems:
            outcomes.append(FileOutcome(str(path), "refused", problems=problems))
        else:
            valid.append((path, plans[0]))

    by_city: dict[str, list[Path]] = {}
    for path, plan in valid:
        by_city.setdefault(plan.code, []).append(path)

    for path, plan in valid:
        code = plan.code
        others = [str(p) for p in by_city[code] if p != path]
        if others:
            problem = Problem(
                str(path), "city.code", f"city {code} is also defined in {', '.join(others)}"
            )
            outcomes.append(FileOutcome(str(path), "refused", code, problems=[problem]))
            continue
        # Lock the city row (PostgreSQL) so two loads cannot both make a version current.
        city = session.scalars(select(City).where(City.code == code).with_for_update()).first()
        if city is None:
            problem = Problem(
                str(path),
                "city.code",
                f"city {code} is not in the cities table (run `hazewarn cities sync` first)",
            )
            outcomes.append(FileOutcome(str(path), "refused", code, problems=[problem]))
            continue
        outcomes.append(_store(session, path, plan, now))
    session.flush()
    order = {str(path): index for index, path in enumerate(paths)}
    return sorted(outcomes, key=lambda outcome: order[outcome.file])


def _store(session: Session, path: Path, plan: Plan, now: datetime) -> FileOutcome:
    code = plan.code
    version = plan_version(plan)
    existing = session.scalars(
        select(PlanVersion).where(PlanVersion.city_code == code, PlanVersion.version == version)
    ).first()
    if existing is not None and existing.is_current:
        return FileOutcome(str(path), "unchanged", code, version)
    session.execute(
        update(PlanVersion)
        .where(PlanVersion.city_code == code, PlanVersion.is_current.is_(True))
        .values(is_current=False)
    )
    if existing is not None:
        existing.is_current = True
        return FileOutcome(str(path), "reinstated", code, version)
    session.add(
        PlanVersion(
            city_code=code,
            version=version,
            content=plan.model_dump(mode="json"),
            source_file=path.name,
            loaded_at=now,
            is_current=True,
        )
    )
    return FileOutcome(str(path), "added", code, version)


def list_current(session: Session) -> list[tuple[PlanVersion, City]]:
    """The current plan version of every city that has one, ordered by city code."""
    rows = session.execute(
        select(PlanVersion, City)
        .join(City, City.code == PlanVersion.city_code)
        .where(PlanVersion.is_current.is_(True))
        .order_by(PlanVersion.city_code)
    )
    return [(version, city) for version, city in rows]


def get_current(session: Session, city_code: str) -> PlanVersion | None:
    return session.scalars(
        select(PlanVersion).where(
            PlanVersion.city_code == city_code, PlanVersion.is_current.is_(True)
        )
    ).first()


def list_versions(session: Session, city_code: str) -> list[PlanVersion]:
    """Every stored version of a city's plan, newest first."""
    return list(
        session.scalars(
            select(PlanVersion)
            .where(PlanVersion.city_code == city_code)
            .order_by(PlanVersion.loaded_at.desc(), PlanVersion.id.desc())
        )
    )


def current_plan(session: Session, city_code: str) -> tuple[Plan, PlanVersion] | None:
    """The city's current plan, validated again from its stored content, with its row."""
    row = get_current(session, city_code)
    if row is None:
        return None
    return Plan.model_validate(row.content), row
