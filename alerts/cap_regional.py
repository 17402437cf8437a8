"""CAP 1.2 rendering of a regional warning: one alert, one ``<area>`` per member city. Pure.

One CAP message per state of a regional warning: ``Alert`` when issued, ``Update`` when its
level, members or end change, ``Cancel`` when lifted; each later message references the
earlier ones. Each language's ``<info>`` has one ``<area>`` per member city (its name, and
its GB/T 2260 code as ``geocode`` ``valueName="GB/T 2260"``), like a city alert has one.
The building blocks are shared with city alerts (`alerts.cap_common`); import from
`alerts.cap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.cap_common import (
    CITY_CODE,
    COLOUR_ZH,
    PARAM_COLOUR,
    PARAM_REGIONAL_WARNING,
    PARAM_RESPONSE_LEVEL,
    RESPONSE_LEVEL_BY_LEVEL,
    CapArea,
    CapReference,
    Level,
    MsgType,
    Scope,
    Status,
    add_info,
    alert_element,
    check_message,
    en_time,
    level_mapping,
    to_bytes,
    utc_offset_label,
    zh_time,
)

__all__ = ["PARAM_REGION", "RegionalCapAlert", "check_regional_alert", "render_regional_alert"]

PARAM_REGION = "REGION_ID"


@dataclass(frozen=True)
class RegionalCapAlert:
    """Everything one CAP message about one regional warning says.

    ``members`` are the member cities the warning covers (one ``<area>`` each);
    ``effective`` is when members start, ``onset``/``expires`` the episode window (for a
    warning that runs until lifted, the caller gives the expected end). ``in_force`` says
    whether members already run the level at ``sent``. ``instructions_*`` are short lines.
    """

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    references: tuple[CapReference, ...]
    regional_warning_id: str
    region_id: str
    region_name_zh: str
    region_name_en: str
    level: Level
    effective: datetime
    onset: datetime
    expires: datetime
    in_force: bool
    members: tuple[CapArea, ...]
    instructions_zh: tuple[str, ...] = ()
    instructions_en: tuple[str, ...] = ()
    web: str | None = None
    sender_name_zh: str | None = None
    sender_name_en: str | None = None
    scope: Scope = "Public"

    def __post_init__(self) -> None:
        # Accept lists and plain tuples; store immutable tuples of the named types.
        object.__setattr__(self, "references", tuple(CapReference(*r) for r in self.references))
        object.__setattr__(self, "members", tuple(CapArea(*m) for m in self.members))
        object.__setattr__(self, "instructions_zh", tuple(self.instructions_zh))
        object.__setattr__(self, "instructions_en", tuple(self.instructions_en))


def check_regional_alert(a: RegionalCapAlert) -> None:
    """Raise ValueError naming the first field of ``a`` that CAP or this mapping refuses."""
    check_message(
        identifier=a.identifier,
        sender=a.sender,
        status=a.status,
        msg_type=a.msg_type,
        scope=a.scope,
        level=a.level,
        times={"sent": a.sent, "effective": a.effective, "onset": a.onset, "expires": a.expires},
        references=a.references,
        web=a.web,
    )
    for name in ("regional_warning_id", "region_id", "region_name_zh", "region_name_en"):
        if not getattr(a, name).strip():
            raise ValueError(f"{name} must not be empty")
    if not a.members:
        raise ValueError("members must name at least one member city")
    seen: set[str] = set()
    for index, member in enumerate(a.members):
        if not CITY_CODE.match(member.code):
            raise ValueError(f"members[{index}].code {member.code!r} is not a GB/T 2260 code")
        if member.code in seen:
            raise ValueError(f"members[{index}].code {member.code} is listed twice")
        if not member.name_zh.strip() or not member.name_en.strip():
            raise ValueError(f"members[{index}] needs its Chinese and English names")
        seen.add(member.code)


def regional_texts(a: RegionalCapAlert, zone: ZoneInfo) -> tuple[dict[str, str], dict[str, str]]:
    """(Chinese, English) event, headline and description of ``a``."""
    colour, grade, count = COLOUR_ZH[a.level], RESPONSE_LEVEL_BY_LEVEL[a.level], len(a.members)
    exercise = a.status == "Exercise"
    event_zh = f"区域重污染天气{colour}预警"
    verb_zh = {"Alert": "发布", "Update": "更新", "Cancel": "解除"}[a.msg_type]
    if a.msg_type == "Cancel":
        text_zh = (
            f"{a.region_name_zh}{event_zh}（编号{a.regional_warning_id}）自"
            f"{zh_time(a.sent, zone)}起解除，各成员城市按本市预案管理。"
        )
    else:
        text_zh = (
            f"预计{zh_time(a.onset, zone)}至{zh_time(a.expires, zone)}，{a.region_name_zh}"
            f"将出现区域性重污染天气过程。自{zh_time(a.effective, zone)}起，{count}个成员城市"
            f"启动不低于{grade}级（{colour}）的应急响应（区域预警编号{a.regional_warning_id}）。"
        )
    event_en = f"Regional heavy air pollution {a.level} warning"
    verb_en = {"Alert": "issued", "Update": "updated", "Cancel": "lifted"}[a.msg_type]
    offset = utc_offset_label(a.sent, zone)
    if a.msg_type == "Cancel":
        text_en = (
            f"The {event_en.lower()} for {a.region_name_en} ({a.regional_warning_id}) is "
            f"lifted from {en_time(a.sent, zone)} ({offset}); member cities follow their "
            "own plans again."
        )
    else:
        text_en = (
            f"Regional heavy air pollution is forecast across {a.region_name_en} from "
            f"{en_time(a.onset, zone)} to {en_time(a.expires, zone)} ({offset}). From "
            f"{en_time(a.effective, zone)} the {count} member cities run at least the level "
            f"{grade} ({a.level}) emergency response (regional warning {a.regional_warning_id})."
        )
    zh = {
        "event": event_zh,
        "headline": f"{'【演练】' if exercise else ''}{a.region_name_zh}{verb_zh}{event_zh}",
        "description": ("本信息为应急演练，并非真实预警。" if exercise else "") + text_zh,
    }
    en = {
        "event": event_en,
        "headline": f"{'EXERCISE: ' if exercise else ''}{a.region_name_en}: "
        f"{event_en.lower()} {verb_en}",
        "description": ("This is an exercise, not a real warning. " if exercise else "") + text_en,
    }
    return zh, en


def render_regional_alert(a: RegionalCapAlert, tz: str = "Asia/Shanghai") -> bytes:
    """The CAP 1.2 alert for the regional warning message ``a`` as UTF-8 XML bytes.

    One ``info`` in zh-CN and one in en-US (as for city alerts), each with one ``area`` per
    member city. Raises ValueError when ``a`` breaks a CAP rule.
    """
    check_regional_alert(a)
    zone = ZoneInfo(tz)
    alert = alert_element(
        identifier=a.identifier,
        sender=a.sender,
        sent=a.sent,
        status=a.status,
        msg_type=a.msg_type,
        scope=a.scope,
        references=a.references,
        zone=zone,
    )
    parameters = [
        (PARAM_RESPONSE_LEVEL, RESPONSE_LEVEL_BY_LEVEL[a.level]),
        (PARAM_COLOUR, a.level),
        (PARAM_REGIONAL_WARNING, a.regional_warning_id),
        (PARAM_REGION, a.region_id),
    ]
    zh, en = regional_texts(a, zone)
    for language, texts, sender_name, instructions in (
        ("zh-CN", zh, a.sender_name_zh, a.instructions_zh),
        ("en-US", en, a.sender_name_en, a.instructions_en),
    ):
        add_info(
            alert,
            language=language,
            texts=texts,
            mapping=level_mapping(a.level, a.msg_type, a.in_force),
            window=(a.effective, a.onset, a.expires),
            zone=zone,
            sender_name=sender_name,
            instructions=instructions,
            web=a.web,
            parameters=parameters,
            areas=a.members,
        )
    return to_bytes(alert)
