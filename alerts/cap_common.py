"""The CAP 1.2 building blocks shared by the city and the regional alerts. Pure.

Constants and tables of the heavy-pollution mapping (standards note §5.3), identifiers and
times as CAP writes them, the checks every message passes, and the XML of the alert header
and of one ``<info>`` block. `alerts.cap` re-exports the public names; import from there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
CITY_CODE = re.compile(r"^\d{6}$")
_DIGITS = re.compile(r"^\d+$")


class CapReference(NamedTuple):
    """An earlier CAP message, as CAP ``references`` names it."""

    sender: str
    identifier: str
    sent: datetime


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
    if not CITY_CODE.match(city_code):
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


def check_message(
    *,
    identifier: str,
    sender: str,
    status: str,
    msg_type: str,
    scope: str,
    level: str,
    times: dict[str, datetime],
    references: Sequence[CapReference],
    web: str | None,
) -> None:
    """Raise ValueError naming the first field that CAP or this mapping refuses (the checks
    every message shares; ``times`` maps field names to sent/effective/onset/expires)."""
    check_cap_id(identifier, "identifier")
    check_cap_id(sender, "sender")
    if status not in STATUSES:
        raise ValueError(f"status {status!r} must be one of {', '.join(STATUSES)}")
    if msg_type not in MSG_TYPES:
        raise ValueError(f"msg_type {msg_type!r} must be one of {', '.join(MSG_TYPES)}")
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} must be one of {', '.join(SCOPES)}")
    if level not in LEVELS:
        raise ValueError(f"level {level!r} must be one of {', '.join(LEVELS)}")
    for name, when in times.items():
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"{name} {when.isoformat()} has no timezone")
    if times["expires"] < times["onset"] or times["expires"] < times["effective"]:
        raise ValueError("expires must not be before effective or onset")
    if msg_type in ("Update", "Cancel") and not references:
        raise ValueError(f"a {msg_type} must reference the earlier message(s)")
    for index, ref in enumerate(references):
        check_cap_id(ref.sender, f"references[{index}].sender")
        check_cap_id(ref.identifier, f"references[{index}].identifier")
        if ref.sent.tzinfo is None or ref.sent.utcoffset() is None:
            raise ValueError(f"references[{index}].sent has no timezone")
    if web is not None and not web.startswith(("https://", "http://")):
        raise ValueError(f"web {web!r} must be an absolute http(s) URL")


def level_mapping(
    level: str, msg_type: str, in_force: bool
) -> tuple[str, str, str, tuple[str, ...]]:
    """(urgency, severity, certainty, responseTypes) of a message (standards note §5.3).

    A lift (Cancel) keeps the severity of the lifted level and says Past/Observed/AllClear.
    """
    severity = SEVERITY_BY_LEVEL[level]
    if msg_type == "Cancel":
        return "Past", severity, "Observed", ("AllClear",)
    if in_force:
        return (
            URGENCY_IN_FORCE_BY_LEVEL[level],
            severity,
            CERTAINTY_IN_FORCE_BY_LEVEL[level],
            RESPONSE_TYPES_BY_LEVEL[level],
        )
    return "Future", severity, "Likely", RESPONSE_TYPES_BY_LEVEL[level]


def references_text(references: Sequence[CapReference], tz: ZoneInfo | str) -> str:
    """CAP ``references``: space-separated ``sender,identifier,sent`` triples."""
    return " ".join(
        f"{ref.sender},{ref.identifier},{format_cap_time(ref.sent, tz)}" for ref in references
    )


def zh_time(when: datetime, zone: ZoneInfo) -> str:
    local = when.astimezone(zone)
    text = f"{local.year}年{local.month}月{local.day}日{local.hour}时"
    return text + (f"{local.minute}分" if local.minute else "")


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def en_time(when: datetime, zone: ZoneInfo) -> str:
    # Month names spelt out here: strftime's %b follows the process locale.
    local = when.astimezone(zone)
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year} {local:%H:%M}"


def utc_offset_label(when: datetime, zone: ZoneInfo) -> str:
    # "+08:00" from the full CAP form "YYYY-MM-DDThh:mm:ss+08:00".
    return "UTC" + format_cap_time(when, zone)[-6:]


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
    if text is not None:
        element.text = text
    return element


def value_pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    pair = sub(parent, tag)
    sub(pair, "valueName", name)
    sub(pair, "value", value)


class CapArea(NamedTuple):
    """One ``<area>``: a city by name and GB/T 2260 code."""

    code: str
    name_zh: str
    name_en: str


def alert_element(
    *,
    identifier: str,
    sender: str,
    sent: datetime,
    status: str,
    msg_type: str,
    scope: str,
    references: Sequence[CapReference],
    zone: ZoneInfo,
) -> etree._Element:
    """The ``<alert>`` root with its header, up to ``references``."""
    alert = etree.Element(f"{{{CAP_NAMESPACE}}}alert", nsmap={None: CAP_NAMESPACE})
    sub(alert, "identifier", identifier)
    sub(alert, "sender", sender)
    sub(alert, "sent", format_cap_time(sent, zone))
    sub(alert, "status", status)
    sub(alert, "msgType", msg_type)
    sub(alert, "scope", scope)
    if scope == "Restricted":
        # CAP requires <restriction> with scope=Restricted.
        sub(alert, "restriction", "仅限应急管理部门 / Emergency management offices only")
    if status == "Exercise":
        sub(alert, "note", "应急演练，非真实预警 / Exercise, not a real warning")
    if references:
        sub(alert, "references", references_text(references, zone))
    return alert


def add_info(
    alert: etree._Element,
    *,
    language: str,
    texts: dict[str, str],
    mapping: tuple[str, str, str, tuple[str, ...]],
    window: tuple[datetime, datetime, datetime],
    zone: ZoneInfo,
    sender_name: str | None,
    instructions: Sequence[str],
    web: str | None,
    parameters: Sequence[tuple[str, str]],
    areas: Sequence[CapArea],
) -> None:
    """One ``<info>`` in ``language`` (``zh-CN`` names areas in Chinese, else in English).

    ``texts`` holds event, headline and description; ``window`` is (effective, onset,
    expires); ``mapping`` comes from `level_mapping`."""
    urgency, severity, certainty, response_types = mapping
    info = sub(alert, "info")
    sub(info, "language", language)
    sub(info, "category", "Env")
    sub(info, "category", "Health")
    sub(info, "event", texts["event"])
    for response_type in response_types:
        sub(info, "responseType", response_type)
    sub(info, "urgency", urgency)
    sub(info, "severity", severity)
    sub(info, "certainty", certainty)
    for tag, when in zip(("effective", "onset", "expires"), window, strict=True):
        sub(info, tag, format_cap_time(when, zone))
    if sender_name:
        sub(info, "senderName", sender_name)
    sub(info, "headline", texts["headline"])
    sub(info, "description", texts["description"])
    if instructions:
        sub(info, "instruction", "\n".join(instructions))
    if web is not None:
        sub(info, "web", web)
    for name, value in parameters:
        value_pair(info, "parameter", name, value)
    for city in areas:
        area = sub(info, "area")
        sub(area, "areaDesc", city.name_zh if language == "zh-CN" else city.name_en)
        value_pair(area, "geocode", GEOCODE_VALUE_NAME, city.code)


def to_bytes(element: etree._Element) -> bytes:
    """UTF-8 XML with its declaration, pretty-printed."""
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8", pretty_print=True))
