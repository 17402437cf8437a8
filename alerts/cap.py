"""CAP 1.2 rendering of heavy-pollution warnings, and the Atom index of active alerts.

City warnings (`CapWarning`, `render_cap`) and regional warnings (`RegionalCapAlert`,
`render_regional_alert`, from `alerts.cap_regional`) share the building blocks of
`alerts.cap_common`; import all of them from here.

Pure: every time is a parameter, nothing is read or written. The mapping follows
``shared/domain/standards.md`` §5 (CAP 1.2 structure, NEWRS identifiers, the
heavy-pollution mapping table and CAP Feeds v1.0); ``docs/publishing.md`` has the full table.

Output is UTF-8 XML bytes, valid against the OASIS CAP 1.2 schema (tests check every case
against ``shared/domain/cap/CAP-v1.2.xsd``). All times are written as
``YYYY-MM-DDThh:mm:ss+08:00`` in the city's zone (never ``Z``, which CAP forbids).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from alerts.cap_common import (
    ATOM_NAMESPACE,
    BEIJING_TIME,
    CAP_MIME_TYPE,
    CAP_NAMESPACE,
    CITY_CODE,
    COLOUR_ZH,
    GEOCODE_VALUE_NAME,
    LEVELS,
    MSG_TYPES,
    PARAM_AQI_FORECAST,
    PARAM_COLOUR,
    PARAM_PRIMARY_POLLUTANT,
    PARAM_REGIONAL_WARNING,
    PARAM_REQUIRED_CUT,
    PARAM_RESPONSE_LEVEL,
    RESPONSE_LEVEL_BY_LEVEL,
    SCOPES,
    SEVERITY_BY_LEVEL,
    STATUSES,
    CapArea,
    CapReference,
    Level,
    MsgType,
    Scope,
    Status,
    add_info,
    alert_element,
    cap_identifier,
    check_cap_id,
    check_message,
    en_time,
    format_cap_time,
    level_mapping,
    references_text,
    to_bytes,
    utc_offset_label,
    zh_time,
)
from alerts.cap_regional import (
    RegionalCapAlert,
    check_regional_alert,
    regional_texts,
    render_regional_alert,
)

__all__ = [
    "ATOM_NAMESPACE",
    "BEIJING_TIME",
    "CAP_MIME_TYPE",
    "CAP_NAMESPACE",
    "COLOUR_ZH",
    "GEOCODE_VALUE_NAME",
    "LEVELS",
    "MSG_TYPES",
    "PARAM_AQI_FORECAST",
    "PARAM_COLOUR",
    "PARAM_PRIMARY_POLLUTANT",
    "PARAM_REGIONAL_WARNING",
    "PARAM_REQUIRED_CUT",
    "PARAM_RESPONSE_LEVEL",
    "RESPONSE_LEVEL_BY_LEVEL",
    "SCOPES",
    "SEVERITY_BY_LEVEL",
    "STATUSES",
    "AtomEntry",
    "CapArea",
    "CapReference",
    "CapWarning",
    "Level",
    "MsgType",
    "RegionalCapAlert",
    "Scope",
    "Status",
    "atom_entry_id",
    "cap_identifier",
    "cap_mapping",
    "check_cap_id",
    "check_regional_alert",
    "check_warning",
    "format_cap_time",
    "is_active",
    "references_text",
    "render_atom",
    "render_cap",
    "render_regional_alert",
]


@dataclass(frozen=True)
class CapWarning:
    """Everything one CAP message about one city's warning says.

    Times are timezone-aware datetimes (any zone; rendered in the city's zone). ``sent`` is
    the time this message is issued; ``effective``/``onset``/``expires`` are the warning
    window. ``in_force`` says whether the measures already apply at ``sent`` (it moves
    urgency and certainty, standards note §5.3). ``aqi_forecast`` is the highest forecast
    daily AQI (dimensionless, 0–500). ``required_cut_pct`` is the emission cut the level
    demands, in percent. ``measures_*`` are short instruction lines, one per measure.
    """

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    references: tuple[CapReference, ...]
    city_code: str
    city_name_zh: str
    city_name_en: str
    level: Level
    effective: datetime
    onset: datetime
    expires: datetime
    in_force: bool
    aqi_forecast: int
    primary_pollutant: str
    required_cut_pct: int | None = None
    regional_warning_id: str | None = None
    measures_zh: tuple[str, ...] = ()
    measures_en: tuple[str, ...] = ()
    web: str | None = None
    sender_name_zh: str | None = None
    sender_name_en: str | None = None
    scope: Scope = "Public"

    def __post_init__(self) -> None:
        # Accept lists and plain (sender, identifier, sent) tuples; store immutable tuples.
        references = tuple(CapReference(*ref) for ref in self.references)
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "measures_zh", tuple(self.measures_zh))
        object.__setattr__(self, "measures_en", tuple(self.measures_en))


def check_warning(w: CapWarning) -> None:
    """Raise ValueError naming the first field of ``w`` that CAP or this mapping refuses."""
    check_message(
        identifier=w.identifier,
        sender=w.sender,
        status=w.status,
        msg_type=w.msg_type,
        scope=w.scope,
        level=w.level,
        times={"sent": w.sent, "effective": w.effective, "onset": w.onset, "expires": w.expires},
        references=w.references,
        web=w.web,
    )
    if not CITY_CODE.match(w.city_code):
        raise ValueError(f"city_code {w.city_code!r} is not a six-digit GB/T 2260 code")
    if not w.city_name_zh.strip() or not w.city_name_en.strip():
        raise ValueError("city_name_zh and city_name_en must not be empty")
    if not 0 <= w.aqi_forecast <= 500:
        raise ValueError(f"aqi_forecast {w.aqi_forecast} must be within 0-500")
    if not w.primary_pollutant.strip():
        raise ValueError("primary_pollutant must not be empty")
    if w.required_cut_pct is not None and not 0 <= w.required_cut_pct <= 100:
        raise ValueError(f"required_cut_pct {w.required_cut_pct} must be within 0-100")
    if w.regional_warning_id is not None and not w.regional_warning_id.strip():
        raise ValueError("regional_warning_id must not be blank (use None)")


def cap_mapping(w: CapWarning) -> tuple[str, str, str, tuple[str, ...]]:
    """(urgency, severity, certainty, responseTypes) for ``w`` (standards note §5.3).

    A lift (Cancel) keeps the severity of the lifted level and says Past/Observed/AllClear.
    """
    return level_mapping(w.level, w.msg_type, w.in_force)


def _texts_zh(w: CapWarning, zone: ZoneInfo) -> dict[str, str]:
    colour = COLOUR_ZH[w.level]
    grade = RESPONSE_LEVEL_BY_LEVEL[w.level]
    event = f"重污染天气{colour}预警"
    drill = "【演练】" if w.status == "Exercise" else ""
    verb = {"Alert": "发布", "Update": "更新", "Cancel": "解除"}[w.msg_type]
    headline = f"{drill}{w.city_name_zh}{verb}{event}"
    if w.msg_type == "Cancel":
        description = (
            f"{w.city_name_zh}空气质量已好转，自{zh_time(w.sent, zone)}起解除{event}，"
            f"终止{grade}级应急响应。"
        )
    else:
        description = (
            f"预计{zh_time(w.onset, zone)}至{zh_time(w.expires, zone)}，"
            f"{w.city_name_zh}将出现重污染天气过程，日均空气质量指数（AQI）最高约"
            f"{w.aqi_forecast}，首要污染物为{w.primary_pollutant}。"
            f"自{zh_time(w.effective, zone)}起启动{grade}级（{colour}）应急响应"
        )
        if w.required_cut_pct is not None:
            description += f"，重点污染物排放量减排比例不低于{w.required_cut_pct}%"
        description += "。"
        if w.regional_warning_id is not None:
            description += f"本预警执行区域预警（编号{w.regional_warning_id}）。"
    if w.status == "Exercise":
        description = "本信息为应急演练，并非真实预警。" + description
    return {"event": event, "headline": headline, "description": description}


def _texts_en(w: CapWarning, zone: ZoneInfo) -> dict[str, str]:
    grade = RESPONSE_LEVEL_BY_LEVEL[w.level]
    event = f"Heavy air pollution {w.level} warning"
    drill = "EXERCISE: " if w.status == "Exercise" else ""
    verb = {"Alert": "issued", "Update": "updated", "Cancel": "lifted"}[w.msg_type]
    headline = f"{drill}{w.city_name_en}: {event.lower()} {verb}"
    offset = utc_offset_label(w.sent, zone)
    if w.msg_type == "Cancel":
        description = (
            f"Air quality in {w.city_name_en} has improved. The {event.lower()} is lifted "
            f"from {en_time(w.sent, zone)} ({offset}) and the level {grade} emergency "
            "response ends."
        )
    else:
        description = (
            f"Heavy air pollution is forecast in {w.city_name_en} from "
            f"{en_time(w.onset, zone)} to {en_time(w.expires, zone)} ({offset}), with "
            f"daily AQI up to about {w.aqi_forecast}; primary pollutant "
            f"{w.primary_pollutant}. The level {grade} ({w.level}) emergency response "
            f"starts {en_time(w.effective, zone)}"
        )
        if w.required_cut_pct is not None:
            description += (
                f"; emissions of key pollutants must be cut by at least {w.required_cut_pct}%"
            )
        description += "."
        if w.regional_warning_id is not None:
            description += f" This warning applies regional warning {w.regional_warning_id}."
    if w.status == "Exercise":
        description = "This is an exercise, not a real warning. " + description
    return {"event": event, "headline": headline, "description": description}


def _parameters(w: CapWarning) -> list[tuple[str, str]]:
    params = [
        (PARAM_AQI_FORECAST, str(w.aqi_forecast)),
        (PARAM_PRIMARY_POLLUTANT, w.primary_pollutant),
        (PARAM_RESPONSE_LEVEL, RESPONSE_LEVEL_BY_LEVEL[w.level]),
        (PARAM_COLOUR, w.level),
    ]
    if w.required_cut_pct is not None:
        params.append((PARAM_REQUIRED_CUT, str(w.required_cut_pct)))
    if w.regional_warning_id is not None:
        params.append((PARAM_REGIONAL_WARNING, w.regional_warning_id))
    return params


def render_cap(w: CapWarning, tz: str = "Asia/Shanghai") -> bytes:
    """The CAP 1.2 alert for ``w`` as UTF-8 XML bytes, times in ``tz`` with their offset.

    One ``info`` in zh-CN and one in en-US. Raises ValueError when ``w`` breaks a CAP rule
    (bad identifier or sender, naive time, Update/Cancel without references, ...).
    """
    check_warning(w)
    zone = ZoneInfo(tz)
    alert = alert_element(
        identifier=w.identifier,
        sender=w.sender,
        sent=w.sent,
        status=w.status,
        msg_type=w.msg_type,
        scope=w.scope,
        references=w.references,
        zone=zone,
    )
    area = CapArea(w.city_code, w.city_name_zh, w.city_name_en)
    for language, texts, sender_name, measures in (
        ("zh-CN", _texts_zh(w, zone), w.sender_name_zh, w.measures_zh),
        ("en-US", _texts_en(w, zone), w.sender_name_en, w.measures_en),
    ):
        add_info(
            alert,
            language=language,
            texts=texts,
            mapping=cap_mapping(w),
            window=(w.effective, w.onset, w.expires),
            zone=zone,
            sender_name=sender_name,
            instructions=measures,
            web=w.web,
            parameters=_parameters(w),
            areas=(area,),
        )
    return to_bytes(alert)


def is_active(w: CapWarning | RegionalCapAlert, now: datetime) -> bool:
    """Whether ``w`` belongs in the Atom index at ``now``: not a lift and not yet expired."""
    return w.msg_type != "Cancel" and w.expires > now


@dataclass(frozen=True)
class AtomEntry:
    """One active alert in the Atom index (CAP Feeds v1.0).

    ``identifier``/``sender``/``sent`` are the CAP message's; ``cap_url`` is where the full
    CAP document is served; ``title`` and ``summary`` are plain text.
    """

    identifier: str
    sender: str
    sent: datetime
    expires: datetime
    title: str
    summary: str
    cap_url: str
    author: str

    @classmethod
    def from_warning(
        cls, w: CapWarning | RegionalCapAlert, cap_url: str, tz: str = "Asia/Shanghai"
    ) -> AtomEntry:
        """The entry for the CAP message ``w`` (a city's or a regional one), titled and
        summarised in both languages."""
        zone = ZoneInfo(tz)
        if isinstance(w, RegionalCapAlert):
            check_regional_alert(w)
            zh, en = regional_texts(w, zone)
        else:
            check_warning(w)
            zh, en = _texts_zh(w, zone), _texts_en(w, zone)
        return cls(
            identifier=w.identifier,
            sender=w.sender,
            sent=w.sent,
            expires=w.expires,
            title=f"{zh['headline']} / {en['headline']}",
            summary=f"{zh['description']}\n{en['description']}",
            cap_url=cap_url,
            author=w.sender_name_zh or w.sender,
        )


def atom_entry_id(sender: str, identifier: str) -> str:
    """A stable Atom entry id (an IRI, as Atom requires) for one CAP message.

    NEWRS identifiers are not IRIs, so the id is a name-based UUID of ``sender,identifier``:
    it changes exactly when the CAP identifier changes (a new Update is a new entry).
    """
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'cap:{sender},{identifier}')}"


def _atom(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM_NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def render_atom(
    entries: Sequence[AtomEntry],
    feed_id: str,
    title: str,
    updated: datetime,
    self_url: str,
    *,
    author: str = "hazewarn",
    tz: str = "Asia/Shanghai",
) -> bytes:
    """An Atom index of active CAP alerts (OASIS CAP Feeds v1.0) as UTF-8 XML bytes.

    One ``entry`` per alert: ``id`` from the CAP sender and identifier, ``updated`` = CAP
    ``sent``, a ``link rel="alternate" type="application/cap+xml"`` to the full CAP, and
    ``cap:identifier``/``cap:sender``/``cap:sent``/``cap:expires`` extension elements so
    readers can match entries to CAP messages without fetching them. The caller passes only
    active alerts (see ``is_active``): expired and cancelled ones are left out of the index.
    ``feed_id`` must be an IRI (e.g. the feed's canonical URL); ``updated`` is the time of
    the newest change. Entries are written newest first.
    """
    zone = ZoneInfo(tz)
    if ":" not in feed_id:
        raise ValueError(f"feed_id {feed_id!r} must be an IRI (e.g. the feed URL)")
    identifiers = [(entry.sender, entry.identifier) for entry in entries]
    if len(set(identifiers)) != len(identifiers):
        raise ValueError("the same CAP message appears twice in the feed")
    feed = etree.Element(
        f"{{{ATOM_NAMESPACE}}}feed", nsmap={None: ATOM_NAMESPACE, "cap": CAP_NAMESPACE}
    )
    _atom(feed, "id", feed_id)
    _atom(feed, "title", title)
    _atom(feed, "updated", format_cap_time(updated, zone))
    feed_author = _atom(feed, "author")
    _atom(feed_author, "name", author)
    self_link = _atom(feed, "link")
    self_link.set("rel", "self")
    self_link.set("href", self_url)
    self_link.set("type", "application/atom+xml")
    for entry in sorted(entries, key=lambda e: e.sent, reverse=True):
        check_cap_id(entry.identifier, "identifier")
        check_cap_id(entry.sender, "sender")
        item = _atom(feed, "entry")
        _atom(item, "id", atom_entry_id(entry.sender, entry.identifier))
        _atom(item, "title", entry.title)
        _atom(item, "updated", format_cap_time(entry.sent, zone))
        entry_author = _atom(item, "author")
        _atom(entry_author, "name", entry.author)
        link = _atom(item, "link")
        link.set("rel", "alternate")
        link.set("type", CAP_MIME_TYPE)
        link.set("href", entry.cap_url)
        _atom(item, "summary", entry.summary)
        for tag, text in (
            ("identifier", entry.identifier),
            ("sender", entry.sender),
            ("sent", format_cap_time(entry.sent, zone)),
            ("expires", format_cap_time(entry.expires, zone)),
        ):
            etree.SubElement(item, f"{{{CAP_NAMESPACE}}}{tag}").text = text
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))
