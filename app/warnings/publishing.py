"""CAP 1.2 messages and the Atom index, rendered from stored warnings by `alerts.cap`.

Each announced change of a warning starts its next CAP message (`service._next_cap_message`
stores its identifier, time, type and the references chain). Since every announced change
makes a new message, the warning row as it stands is exactly the content of its last
message: `cap_warning` rebuilds that message and `alerts.cap.render_cap` writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.cap import AtomEntry, CapReference, CapWarning, is_active, render_atom, render_cap
from app.cities.models import City
from app.config import get_settings
from app.warnings.models import CityWarning, Episode
from app.warnings.payloads import PRIMARY_POLLUTANT, cap_url, warning_actions
from app.warnings.queries import ACTIVE_STATE_VALUES, preload_plans, warning_plan

ATOM_MEDIA_TYPE = "application/atom+xml"
FEED_TITLE = "hazewarn 重污染天气预警 / heavy-pollution warnings"


class NoCapMessageError(LookupError):
    """The warning was never announced (a proposal, or a rejected one): no CAP message."""


def cap_warning(
    session: Session, warning: CityWarning, city: City, episode: Episode | None = None
) -> CapWarning:
    """The warning's last CAP message as `alerts.cap.CapWarning`.

    ``episode``: the warning's episode if the caller loaded it with the warning (the Atom
    index does, for all entries in one query); otherwise it is read here. The plan comes
    from the validated plan cache (`service.warning_plan`)."""
    if warning.cap_identifier is None or warning.cap_sent is None or warning.cap_msg_type is None:
        raise NoCapMessageError(f"warning {warning.id} has not been announced")
    settings = get_settings()
    plan = warning_plan(session, warning)
    if episode is None or episode.id != warning.episode_id:
        episode = session.get(Episode, warning.episode_id)
    measures_zh: tuple[str, ...] = ()
    measures_en: tuple[str, ...] = ()
    cut: int | None = None
    sender_zh = sender_en = None
    if plan is not None:
        actions = warning_actions(warning, plan) if warning.cap_msg_type != "Cancel" else []
        measures_zh = tuple(f"{a.order}. {a.department_zh}：{a.text_zh}" for a in actions)
        measures_en = tuple(f"{a.order}. {a.department_en}: {a.text_en}" for a in actions)
        level_plan = plan.levels.get(warning.level)
        if level_plan is not None and level_plan.emission_cut_pct is not None:
            cut = int(level_plan.emission_cut_pct)
        sender_zh, sender_en = plan.plan.issuer_zh, plan.plan.issuer_en
    references = tuple(
        CapReference(ref["sender"], ref["identifier"], datetime.fromisoformat(ref["sent"]))
        for ref in warning.cap_references
    )
    return CapWarning(
        identifier=warning.cap_identifier,
        sender=settings.cap_sender,
        sent=warning.cap_sent,
        status="Exercise" if warning.drill else "Actual",
        msg_type=warning.cap_msg_type,  # type: ignore[arg-type]
        references=references,
        city_code=city.code,
        city_name_zh=city.name_zh,
        city_name_en=city.name_en,
        level=warning.level,  # type: ignore[arg-type]
        effective=warning.effective,
        onset=warning.effective,
        expires=warning.expires,
        in_force=warning.effective <= warning.cap_sent,
        aqi_forecast=max(0, min(500, warning.aqi_forecast)),
        primary_pollutant=PRIMARY_POLLUTANT,
        required_cut_pct=cut,
        regional_warning_id=episode.regional_warning_id if episode is not None else None,
        measures_zh=measures_zh,
        measures_en=measures_en,
        web=f"{settings.public_base_url.rstrip('/')}/v1/warnings/{warning.id}",
        sender_name_zh=sender_zh,
        sender_name_en=sender_en,
    )


def render_warning_cap(session: Session, warning: CityWarning, city: City) -> bytes:
    """The CAP 1.2 XML of the warning's last message (times in the city's zone)."""
    return render_cap(cap_warning(session, warning, city), tz=city.timezone)


def active_cap_warnings(
    session: Session, now: datetime
) -> Sequence[tuple[CityWarning, City, CapWarning]]:
    """Warnings in the Atom index at ``now``: announced, active, not yet expired.

    A fixed number of statements whatever the number of entries: the warnings with their
    cities and episodes in one query, and the plan versions not yet cached in one more."""
    rows = session.execute(
        select(CityWarning, City, Episode)
        .join(City, City.code == CityWarning.city_code)
        .join(Episode, Episode.id == CityWarning.episode_id)
        .where(
            CityWarning.state.in_(ACTIVE_STATE_VALUES),
            CityWarning.cap_identifier.is_not(None),
            CityWarning.expires > now,
        )
        .order_by(CityWarning.cap_sent.desc(), CityWarning.id.desc())
    ).all()
    preload_plans(session, [warning for warning, _city, _episode in rows])
    out = []
    for warning, city, episode in rows:
        cap = cap_warning(session, warning, city, episode)
        if is_active(cap, now):
            out.append((warning, city, cap))
    return out


def render_feed(session: Session, now: datetime) -> bytes:
    """The Atom index of active alerts (OASIS CAP Feeds v1.0)."""
    return render_feed_counted(session, now)[0]


def render_feed_counted(session: Session, now: datetime) -> tuple[bytes, int]:
    """The Atom index and its number of entries (an empty index is dated ``now``)."""
    settings = get_settings()
    self_url = f"{settings.public_base_url.rstrip('/')}/v1/feeds/cap.atom"
    # Imported here: the regional domain builds on the warnings one.
    from app.regional.publishing import active_regional_entries

    active = active_cap_warnings(session, now)
    entries = [
        AtomEntry.from_warning(cap, cap_url(warning.id), tz=city.timezone)
        for warning, city, cap in active
    ]
    regional = active_regional_entries(session, now)
    entries.extend(regional)
    updated = max(
        [cap.sent for _w, _c, cap in active] + [entry.sent for entry in regional], default=now
    )
    body = render_atom(
        entries, feed_id=self_url, title=FEED_TITLE, updated=updated, self_url=self_url
    )
    return body, len(entries)
