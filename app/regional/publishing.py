"""CAP 1.2 of a regional warning's last message (one ``<area>`` per member city) and its
entries in the Atom index, rendered by the pure `alerts.cap.render_regional_alert`.

A regional warning that runs until lifted has no end of its own: its CAP ``expires`` is the
start plus the region's proposal window (``criteria.window_days``), the expected episode.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.cap import (
    CAP_MIME_TYPE,
    AtomEntry,
    CapArea,
    CapReference,
    RegionalCapAlert,
    render_regional_alert,
)
from app.cities.models import City
from app.config import get_settings
from app.regional import service
from app.regional.models import RegionalWarning

__all__ = ["CAP_MIME_TYPE", "active_regional_entries", "regional_cap", "render_regional_cap"]


def regional_cap(session: Session, row: RegionalWarning) -> RegionalCapAlert:
    """The regional warning's last CAP message as `alerts.cap.RegionalCapAlert`."""
    if row.cap_identifier is None or row.cap_sent is None or row.cap_msg_type is None:
        raise LookupError(f"regional warning {row.id} has not been announced")
    settings = get_settings()
    region = service.region_of(row.region_id)
    named = {member.code: member for member in region.members}
    areas = []
    for code in row.members:
        city = session.get(City, code)
        if city is not None:
            areas.append(CapArea(code, city.name_zh, city.name_en))
        else:
            areas.append(CapArea(code, named[code].name_zh, named[code].name_en))
    expires = row.ends_at or row.starts_at + timedelta(days=region.criteria.window_days)
    if row.lifted_at is not None:
        expires = max(row.lifted_at, row.starts_at)
    references = tuple(
        CapReference(ref["sender"], ref["identifier"], datetime.fromisoformat(ref["sent"]))
        for ref in row.cap_references
    )
    return RegionalCapAlert(
        identifier=row.cap_identifier,
        sender=settings.cap_sender,
        sent=row.cap_sent,
        status="Exercise" if row.drill else "Actual",
        msg_type=row.cap_msg_type,  # type: ignore[arg-type]
        references=references,
        regional_warning_id=str(row.id),
        region_id=row.region_id,
        region_name_zh=region.region.name_zh,
        region_name_en=region.region.name_en,
        level=row.level,  # type: ignore[arg-type]
        effective=row.starts_at,
        onset=row.starts_at,
        expires=max(expires, row.starts_at + timedelta(seconds=1)),
        in_force=row.starts_at <= row.cap_sent,
        members=tuple(areas),
        web=f"{settings.public_base_url.rstrip('/')}/v1/regional-warnings/{row.id}",
        sender_name_zh=region.coordinator.zh,
        sender_name_en=region.coordinator.en,
    )


def render_regional_cap(session: Session, row: RegionalWarning) -> bytes:
    zone = service.region_zone(session, service.region_of(row.region_id))
    return render_regional_alert(regional_cap(session, row), tz=zone)


def active_regional_entries(session: Session, now: datetime) -> list[AtomEntry]:
    """Atom entries of the issued regional warnings not yet ended at ``now``."""
    rows = session.scalars(
        select(RegionalWarning)
        .where(RegionalWarning.status == "issued", RegionalWarning.cap_identifier.is_not(None))
        .order_by(RegionalWarning.cap_sent.desc(), RegionalWarning.id.desc())
    ).all()
    entries = []
    for row in rows:
        if row.ends_at is not None and row.ends_at <= now:
            continue
        url = service.cap_url(row)
        assert url is not None
        zone = service.region_zone(session, service.region_of(row.region_id))
        entries.append(AtomEntry.from_warning(regional_cap(session, row), url, tz=zone))
    return entries
