"""CAP 1.2 rendering of heavy-pollution warnings, and the Atom index of active alerts.

Pure: every time is a parameter, nothing is read or written. The mapping follows
``shared/domain/standards.md`` §5 (CAP 1.2 structure, NEWRS identifiers, the
heavy-pollution mapping table and CAP Feeds v1.0); ``docs/publishing.md`` has the full table.

Output is UTF-8 XML bytes, valid against the OASIS CAP 1.2 schema (tests check every case
against ``shared/domain/cap/CAP-v1.2.xsd``). All times are written as
``YYYY-MM-DDThh:mm:ss+08:00`` in the city's zone (never ``Z``, which CAP forbids).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

from lxml import etree

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
CAP_MIME_TYPE = "application/cap+xml"
BEIJING_TIME = ZoneInfo("Asia/Shanghai")

Level = Literal["blue", "yellow", "orange", "red"]
Status = Literal["Actual", "Exercise"]
MsgType = Literal["Alert", "Update", "Cancel"]
Scope = Literal["Public", "Restricted"]

LEVELS: tuple[str, ...] = get_args(Level)
STATUSES: tuple[str, ...] = get_args(Status)
MSG_TYPES: tuple[str, ...] = get_args(MsgType)
SCOPES: tuple[str, ...] = get_args(Scope)

# Standards note §5.3. Severity comes from the colour (a MeteoAlarm-style convention, not a
# Chinese rule); the colour itself also goes into a parameter because whether the Chinese
# profile replaces severity with colour words is unconfirmed.
SEVERITY_BY_LEVEL: dict[str, str] = {
    "blue": "Minor",
    "yellow": "Moderate",
    "orange": "Severe",
    "red": "Extreme",
}
# Ⅳ (blue, lowest) .. Ⅰ (red, highest): the emergency-response grade each colour starts.
RESPONSE_LEVEL_BY_LEVEL: dict[str, str] = {"blue": "Ⅳ", "yellow": "Ⅲ", "orange": "Ⅱ", "red": "Ⅰ"}
RESPONSE_TYPES_BY_LEVEL: dict[str, tuple[str, ...]] = {
    "blue": ("Avoid", "Monitor"),
    "yellow": ("Prepare", "Avoid"),
    "orange": ("Execute", "Avoid"),
    "red": ("Execute", "Avoid"),
}
# Urgency once the warning is in force. CAP "Expected" means "act within about an hour", so
# a warning issued a day ahead is "Future" until its measures take effect. The standards
# table leaves blue at Future throughout; we follow its urgency rule instead ("becomes
# Immediate or Expected when the measures take effect"), because in-force blue advice
# (reduce outdoor activity) applies now.
URGENCY_IN_FORCE_BY_LEVEL: dict[str, str] = {
    "blue": "Expected",
    "yellow": "Expected",
    "orange": "Immediate",
    "red": "Immediate",
}
# Certainty once in force: orange and red measures are triggered by pollution under way.
CERTAINTY_IN_FORCE_BY_LEVEL: dict[str, str] = {
    "blue": "Likely",
    "yellow": "Likely",
    "orange": "Observed",
    "red": "Observed",
}
COLOUR_ZH: dict[str, str] = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}

# Parameter valueNames (machine-readable; identical in both languages).
PARAM_AQI_FORECAST = "AQI_FORECAST_MAX"
PARAM_PRIMARY_POLLUTANT = "PRIMARY_POLLUTANT"
PARAM_RESPONSE_LEVEL = "RESPONSE_LEVEL"
PARAM_REQUIRED_CUT = "REQUIRED_EMISSION_CUT_PCT"
PARAM_REGIONAL_WARNING = "REGIONAL_WARNING_ID"
PARAM_COLOUR = "WARNING_COLOUR"
GEOCODE_VALUE_NAME = "GB/T 2260"

# CAP 1.2 §3.2.1: identifier and sender must not contain spaces, commas, "<" or "&".
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
_CITY_CODE = re.compile(r"^\d{6}$")
_DIGITS = re.compile(r"^\d+$")


class CapReference(NamedTuple):
    """An earlier CAP message, as CAP ``references`` names it."""

    sender: str
    identifier: str
    sent: datetime


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


def check_cap_id(value: str, field: str) -> None:
    """Raise ValueError unless ``value`` is a legal CAP identifier or sender."""
    if not value:
        raise ValueError(f"{field} must not be empty")
    if _FORBIDDEN_IN_ID.search(value):
        raise ValueError(f"{field} {value!r} must not contain spaces, commas, '<' or '&'")


def format_cap_time(when: datetime, tz: ZoneInfo | str = BEIJING_TIME) -> str:
    """``when`` as ``YYYY-MM-DDThh:mm:ss±hh:mm`` in ``tz`` (never ``Z``; seconds truncated)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {when.isoformat()} has no timezone; CAP needs an offset")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = when.astimezone(zone)
    offset = local.utcoffset()
    assert offset is not None  # a ZoneInfo always gives an offset
    if offset % timedelta(minutes=1):
        raise ValueError(f"offset {offset} of {zone} is not whole minutes; CAP cannot say it")
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{local:%Y-%m-%dT%H:%M:%S}{sign}{hours:02d}:{mins:02d}"


def cap_identifier(
    city_code: str,
    sent: datetime,
    seq: int,
    *,
    agency_code: str = "000",
    unit_code: str = "000",
    extra_code: str = "00",
) -> str:
    """A NEWRS-style identifier ``ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`` (31 characters).

    Standards note §5.2: ZZZZZZ the GB/T 2260 code of the city, DDD the GB/T 4657 agency
    code (``agency_code``; "000" until the provincial platform assigns ours), UUU "000",
    XX "00", then the Beijing-time entry time (``sent``, converted to +08:00 whatever its
    zone) and one sequence digit ``seq`` 0–9. Two messages for one city in the same second
    need different ``seq``; the caller picks it.
    """
    if not _CITY_CODE.match(city_code):
        raise ValueError(f"city_code {city_code!r} is not a six-digit GB/T 2260 code")
    for name, value, width in (
        ("agency_code", agency_code, 3),
        ("unit_code", unit_code, 3),
        ("extra_code", extra_code, 2),
    ):
        if len(value) != width or not _DIGITS.match(value):
            raise ValueError(f"{name} {value!r} must be {width} digits")
    if not 0 <= seq <= 9:
        raise ValueError(f"seq {seq} must be a single digit 0-9")
    if sent.tzinfo is None or sent.utcoffset() is None:
        raise ValueError("sent has no timezone")
    beijing = sent.astimezone(BEIJING_TIME)
    return f"{city_code}{agency_code}{unit_code}{extra_code}_{beijing:%Y%m%d%H%M%S}_{seq}"


def check_warning(w: CapWarning) -> None:
    """Raise ValueError naming the first field of ``w`` that CAP or this mapping refuses."""
    check_cap_id(w.identifier, "identifier")
    check_cap_id(w.sender, "sender")
    if w.status not in STATUSES:
        raise ValueError(f"status {w.status!r} must be one of {', '.join(STATUSES)}")
    if w.msg_type not in MSG_TYPES:
        raise ValueError(f"msg_type {w.msg_type!r} must be one of {', '.join(MSG_TYPES)}")
    if w.scope not in SCOPES:
        raise ValueError(f"scope {w.scope!r} must be one of {', '.join(SCOPES)}")
    if w.level not in LEVELS:
        raise ValueError(f"level {w.level!r} must be one of {', '.join(LEVELS)}")
    if not _CITY_CODE.match(w.city_code):
        raise ValueError(f"city_code {w.city_code!r} is not a six-digit GB/T 2260 code")
    if not w.city_name_zh.strip() or not w.city_name_en.strip():
        raise ValueError("city_name_zh and city_name_en must not be empty")
    for name in ("sent", "effective", "onset", "expires"):
        when: datetime = getattr(w, name)
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"{name} {when.isoformat()} has no timezone")
    if w.expires < w.onset or w.expires < w.effective:
        raise ValueError("expires must not be before effective or onset")
    if w.msg_type in ("Update", "Cancel") and not w.references:
        raise ValueError(f"a {w.msg_type} must reference the earlier message(s)")
    for index, ref in enumerate(w.references):
        check_cap_id(ref.sender, f"references[{index}].sender")
        check_cap_id(ref.identifier, f"references[{index}].identifier")
        if ref.sent.tzinfo is None or ref.sent.utcoffset() is None:
            raise ValueError(f"references[{index}].sent has no timezone")
    if not 0 <= w.aqi_forecast <= 500:
        raise ValueError(f"aqi_forecast {w.aqi_forecast} must be within 0-500")
    if not w.primary_pollutant.strip():
        raise ValueError("primary_pollutant must not be empty")
    if w.required_cut_pct is not None and not 0 <= w.required_cut_pct <= 100:
        raise ValueError(f"required_cut_pct {w.required_cut_pct} must be within 0-100")
    if w.regional_warning_id is not None and not w.regional_warning_id.strip():
        raise ValueError("regional_warning_id must not be blank (use None)")
    if w.web is not None and not w.web.startswith(("https://", "http://")):
        raise ValueError(f"web {w.web!r} must be an absolute http(s) URL")


def cap_mapping(w: CapWarning) -> tuple[str, str, str, tuple[str, ...]]:
    """(urgency, severity, certainty, responseTypes) for ``w`` (standards note §5.3).

    A lift (Cancel) keeps the severity of the lifted level and says Past/Observed/AllClear.
    """
    severity = SEVERITY_BY_LEVEL[w.level]
    if w.msg_type == "Cancel":
        return "Past", severity, "Observed", ("AllClear",)
    if w.in_force:
        urgency = URGENCY_IN_FORCE_BY_LEVEL[w.level]
        certainty = CERTAINTY_IN_FORCE_BY_LEVEL[w.level]
    else:
        urgency, certainty = "Future", "Likely"
    return urgency, severity, certainty, RESPONSE_TYPES_BY_LEVEL[w.level]


def references_text(references: Sequence[CapReference], tz: ZoneInfo | str) -> str:
    """CAP ``references``: space-separated ``sender,identifier,sent`` triples."""
    return " ".join(
        f"{ref.sender},{ref.identifier},{format_cap_time(ref.sent, tz)}" for ref in references
    )


def _zh_time(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    text = f"{local.year}年{local.month}月{local.day}日{local.hour}时"
    return text + (f"{local.minute}分" if local.minute else "")


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _en_time(when: datetime, zone: ZoneInfo) -> str:
    # Month names spelt out here: strftime's %b follows the process locale.
    local = when.astimezone(zone)
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year} {local:%H:%M}"


def _utc_offset_label(when: datetime, zone: ZoneInfo) -> str:
    # "+08:00" from the full CAP form "YYYY-MM-DDThh:mm:ss+08:00".
    return "UTC" + format_cap_time(when, zone)[-6:]


def _texts_zh(w: CapWarning, zone: ZoneInfo) -> dict[str, str]:
    colour = COLOUR_ZH[w.level]
    grade = RESPONSE_LEVEL_BY_LEVEL[w.level]
    event = f"重污染天气{colour}预警"
    drill = "【演练】" if w.status == "Exercise" else ""
    verb = {"Alert": "发布", "Update": "更新", "Cancel": "解除"}[w.msg_type]
    headline = f"{drill}{w.city_name_zh}{verb}{event}"
    if w.msg_type == "Cancel":
        description = (
            f"{w.city_name_zh}空气质量已好转，自{_zh_time(w.sent, zone)}起解除{event}，"
            f"终止{grade}级应急响应。"
        )
    else:
        description = (
            f"预计{_zh_time(w.onset, zone)}至{_zh_time(w.expires, zone)}，"
            f"{w.city_name_zh}将出现重污染天气过程，日均空气质量指数（AQI）最高约"
            f"{w.aqi_forecast}，首要污染物为{w.primary_pollutant}。"
            f"自{_zh_time(w.effective, zone)}起启动{grade}级（{colour}）应急响应"
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
    offset = _utc_offset_label(w.sent, zone)
    if w.msg_type == "Cancel":
        description = (
            f"Air quality in {w.city_name_en} has improved. The {event.lower()} is lifted "
            f"from {_en_time(w.sent, zone)} ({offset}) and the level {grade} emergency "
            "response ends."
        )
    else:
        description = (
            f"Heavy air pollution is forecast in {w.city_name_en} from "
            f"{_en_time(w.onset, zone)} to {_en_time(w.expires, zone)} ({offset}), with "
            f"daily AQI up to about {w.aqi_forecast}; primary pollutant "
            f"{w.primary_pollutant}. The level {grade} ({w.level}) emergency response "
            f"starts {_en_time(w.effective, zone)}"
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


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _value_pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    pair = _sub(parent, tag)
    _sub(pair, "valueName", name)
    _sub(pair, "value", value)


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


def _info(
    alert: etree._Element, w: CapWarning, zone: ZoneInfo, language: str, texts: dict[str, str]
) -> None:
    urgency, severity, certainty, response_types = cap_mapping(w)
    info = _sub(alert, "info")
    _sub(info, "language", language)
    _sub(info, "category", "Env")
    _sub(info, "category", "Health")
    _sub(info, "event", texts["event"])
    for response_type in response_types:
        _sub(info, "responseType", response_type)
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", certainty)
    _sub(info, "effective", format_cap_time(w.effective, zone))
    _sub(info, "onset", format_cap_time(w.onset, zone))
    _sub(info, "expires", format_cap_time(w.expires, zone))
    sender_name = w.sender_name_zh if language == "zh-CN" else w.sender_name_en
    if sender_name:
        _sub(info, "senderName", sender_name)
    _sub(info, "headline", texts["headline"])
    _sub(info, "description", texts["description"])
    measures = w.measures_zh if language == "zh-CN" else w.measures_en
    if measures:
        _sub(info, "instruction", "\n".join(measures))
    if w.web is not None:
        _sub(info, "web", w.web)
    for name, value in _parameters(w):
        _value_pair(info, "parameter", name, value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", w.city_name_zh if language == "zh-CN" else w.city_name_en)
    _value_pair(area, "geocode", GEOCODE_VALUE_NAME, w.city_code)


def render_cap(w: CapWarning, tz: str = "Asia/Shanghai") -> bytes:
    """The CAP 1.2 alert for ``w`` as UTF-8 XML bytes, times in ``tz`` with their offset.

    One ``info`` in zh-CN and one in en-US. Raises ValueError when ``w`` breaks a CAP rule
    (bad identifier or sender, naive time, Update/Cancel without references, ...).
    """
    check_warning(w)
    zone = ZoneInfo(tz)
    alert = etree.Element(f"{{{CAP_NAMESPACE}}}alert", nsmap={None: CAP_NAMESPACE})
    _sub(alert, "identifier", w.identifier)
    _sub(alert, "sender", w.sender)
    _sub(alert, "sent", format_cap_time(w.sent, zone))
    _sub(alert, "status", w.status)
    _sub(alert, "msgType", w.msg_type)
    _sub(alert, "scope", w.scope)
    if w.scope == "Restricted":
        # CAP requires <restriction> with scope=Restricted.
        _sub(alert, "restriction", "仅限应急管理部门 / Emergency management offices only")
    if w.status == "Exercise":
        _sub(alert, "note", "应急演练，非真实预警 / Exercise, not a real warning")
    if w.references:
        _sub(alert, "references", references_text(w.references, zone))
    _info(alert, w, zone, "zh-CN", _texts_zh(w, zone))
    _info(alert, w, zone, "en-US", _texts_en(w, zone))
    return bytes(etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def is_active(w: CapWarning, now: datetime) -> bool:
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
    def from_warning(cls, w: CapWarning, cap_url: str, tz: str = "Asia/Shanghai") -> AtomEntry:
        """The entry for the CAP message ``w``, titled and summarised in both languages."""
        check_warning(w)
        zone = ZoneInfo(tz)
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
