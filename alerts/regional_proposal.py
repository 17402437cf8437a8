"""The regional proposal: which regional warning the members' own forecasts call for. Pure.

Re-exported by `alerts.regional` (import it from there). Every number comes from the
region file's ``criteria:`` (`contingency_plans.schema.RegionalCriteria`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.levels import Level
from contingency_plans.schema import Region

__all__ = ["RegionalProposal", "propose"]


def _level(value: Level | str | None) -> Level | None:
    return None if value is None else Level(value)


@dataclass(frozen=True)
class RegionalProposal:
    """What the members' forecasts call for: a regional warning at ``level``.

    ``first_day``..``last_day`` are the local days on which enough members reach the level;
    ``members`` are all the region's members, ``triggering`` those at or above the level on
    one of those days (both in the region file's order).
    """

    region_id: str
    level: Level
    first_day: date
    last_day: date
    starts_at: datetime
    ends_at: datetime | None
    members: tuple[str, ...]
    triggering: tuple[str, ...]
    reason: str


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def propose(
    region: Region,
    member_days: Mapping[str, Mapping[date, Level | None]],
    *,
    at: datetime,
    zone: str,
) -> RegionalProposal | None:
    """The regional warning the members' own daily levels call for at ``at``, or None.

    ``member_days`` holds each member's own decided level per local day (cities that are not
    members are ignored). The window is today and the following ``window_days - 1`` local
    days in ``zone``. The proposal takes the highest level of ``criteria.levels`` reached by
    at least ``criteria.required_count(members)`` members on one same day; it starts at
    ``max(at + lead_hours, local midnight of the first such day)`` and ends at local
    midnight after the last such day (UTC datetimes).
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    tz = ZoneInfo(zone)
    criteria = region.criteria
    members = region.member_codes
    required = criteria.required_count(len(members))
    today = at.astimezone(tz).date()
    window = [today + timedelta(days=offset) for offset in range(criteria.window_days)]
    for level in sorted((Level(value) for value in criteria.levels), reverse=True):
        reached = {
            day: tuple(
                city
                for city in members
                if (own := _level(member_days.get(city, {}).get(day))) is not None and own >= level
            )
            for day in window
        }
        days = [day for day in window if len(reached[day]) >= required]
        if not days:
            continue
        first, last = days[0], days[-1]
        triggering = tuple(city for city in members if any(city in reached[d] for d in days))
        starts = max(at + timedelta(hours=criteria.lead_hours), _midnight(first, tz))
        ends = _midnight(last + timedelta(days=1), tz)
        counts = ", ".join(f"{day.isoformat()}: {len(reached[day])}" for day in days)
        reason = (
            f"{len(triggering)}个成员城市预报达到{level.name_zh}及以上（同日至少需{required}个；"
            f"{counts}）/ {len(triggering)} member cities forecast {level.value} or above "
            f"(at least {required} needed on one day; {counts})"
        )
        return RegionalProposal(
            region_id=region.id,
            level=level,
            first_day=first,
            last_day=last,
            starts_at=starts.astimezone(UTC),
            ends_at=ends.astimezone(UTC),
            members=members,
            triggering=triggering,
            reason=reason,
        )
    return None
