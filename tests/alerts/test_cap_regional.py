"""CAP 1.2 of regional warnings: one alert, one area per member city, Update/Cancel chain.

Every output is validated against the OASIS XSD (../shared/domain/cap/CAP-v1.2.xsd).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from alerts.cap import (
    CAP_NAMESPACE,
    AtomEntry,
    CapArea,
    CapReference,
    RegionalCapAlert,
    cap_identifier,
    is_active,
    render_atom,
    render_regional_alert,
)
from contingency_plans.loader import load_regions

NS = {"cap": CAP_NAMESPACE}
SENT = datetime(2026, 1, 4, 8, 0, tzinfo=UTC)  # 16:00 Beijing time
SENDER = "hazewarn.mee.gov.cn"
JJJ = load_regions()["jjj-2+26"]
MEMBERS = tuple(CapArea(m.code, m.name_zh, m.name_en) for m in JJJ.members)


@pytest.fixture(scope="module")
def cap_schema(shared_domain: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared_domain / "cap" / "CAP-v1.2.xsd")))


def make_alert(**changes: object) -> RegionalCapAlert:
    base = RegionalCapAlert(
        identifier=cap_identifier("000000", SENT, 0),
        sender=SENDER,
        sent=SENT,
        status="Actual",
        msg_type="Alert",
        references=(),
        regional_warning_id="jjj-2+26:20260104T080000Z",
        region_id=JJJ.id,
        region_name_zh=JJJ.region.name_zh,
        region_name_en=JJJ.region.name_en,
        level="orange",
        effective=SENT + timedelta(hours=24),
        onset=SENT + timedelta(hours=24),
        expires=SENT + timedelta(days=3),
        in_force=False,
        members=MEMBERS,
        instructions_zh=("各成员城市启动不低于橙色的应急响应",),
        instructions_en=("Member cities run at least the orange response",),
        web="https://hazewarn.example/v1/regional-warnings/1",
        sender_name_zh=JJJ.coordinator.zh,
        sender_name_en=JJJ.coordinator.en,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def parse_valid(xml: bytes, schema: etree.XMLSchema) -> etree._Element:
    root = etree.fromstring(xml)
    schema.assertValid(root)
    return root


def areas(info: etree._Element) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (
            area.findtext("cap:areaDesc", namespaces=NS),
            area.findtext("cap:geocode/cap:valueName", namespaces=NS),
            area.findtext("cap:geocode/cap:value", namespaces=NS),
        )
        for area in info.findall("cap:area", NS)
    ]


@pytest.mark.parametrize("status", ["Actual", "Exercise"])
@pytest.mark.parametrize("level", ["yellow", "orange", "red"])
def test_one_alert_with_one_area_per_member(
    cap_schema: etree.XMLSchema, status: str, level: str
) -> None:
    root = parse_valid(render_regional_alert(make_alert(status=status, level=level)), cap_schema)
    assert root.findtext("cap:status", namespaces=NS) == status
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.find("cap:references", NS) is None
    zh, en = root.findall("cap:info", NS)
    assert zh.findtext("cap:language", namespaces=NS) == "zh-CN"
    assert en.findtext("cap:language", namespaces=NS) == "en-US"
    assert len(areas(zh)) == len(areas(en)) == len(JJJ.members) == 28
    assert areas(zh)[0] == ("北京市", "GB/T 2260", "110000")
    assert areas(en)[-1] == ("Puyang", "GB/T 2260", "410900")
    assert [code for _, _, code in areas(zh)] == list(JJJ.member_codes)
    headline = zh.findtext("cap:headline", namespaces=NS) or ""
    assert ("【演练】" in headline) == (status == "Exercise")
    assert ("note" in [el.tag.split("}")[1] for el in root]) == (status == "Exercise")
    parameters = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in en.findall("cap:parameter", NS)
    }
    assert parameters["WARNING_COLOUR"] == level
    assert parameters["REGIONAL_WARNING_ID"] == "jjj-2+26:20260104T080000Z"
    assert parameters["REGION_ID"] == "jjj-2+26"
    assert "28 member cities" in (en.findtext("cap:description", namespaces=NS) or "")


def test_fewer_members_fewer_areas(cap_schema: etree.XMLSchema) -> None:
    root = parse_valid(render_regional_alert(make_alert(members=MEMBERS[:3])), cap_schema)
    for info in root.findall("cap:info", NS):
        assert len(areas(info)) == 3


def test_update_and_cancel_reference_the_earlier_messages(cap_schema: etree.XMLSchema) -> None:
    alert = make_alert()
    update = make_alert(
        identifier=cap_identifier("000000", SENT + timedelta(hours=3), 0),
        sent=SENT + timedelta(hours=3),
        msg_type="Update",
        level="red",
        references=(CapReference(alert.sender, alert.identifier, alert.sent),),
    )
    cancel = make_alert(
        identifier=cap_identifier("000000", SENT + timedelta(days=2), 0),
        sent=SENT + timedelta(days=2),
        msg_type="Cancel",
        level="red",
        in_force=True,
        references=(
            *update.references,
            CapReference(update.sender, update.identifier, update.sent),
        ),
    )
    chain = [parse_valid(render_regional_alert(a), cap_schema) for a in (alert, update, cancel)]
    assert [r.findtext("cap:msgType", namespaces=NS) for r in chain] == [
        "Alert",
        "Update",
        "Cancel",
    ]
    assert chain[1].findtext("cap:references", namespaces=NS) == (
        f"{SENDER},{alert.identifier},2026-01-04T16:00:00+08:00"
    )
    assert chain[2].findtext("cap:references", namespaces=NS) == (
        f"{SENDER},{alert.identifier},2026-01-04T16:00:00+08:00 "
        f"{SENDER},{update.identifier},2026-01-04T19:00:00+08:00"
    )
    lifted = chain[2].find("cap:info", NS)
    assert lifted is not None
    assert lifted.findtext("cap:responseType", namespaces=NS) == "AllClear"
    assert "解除" in (lifted.findtext("cap:headline", namespaces=NS) or "")
    assert len(areas(lifted)) == 28


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"msg_type": "Update"}, "must reference the earlier"),
        ({"members": ()}, "at least one member"),
        ({"members": (*MEMBERS[:2], MEMBERS[0])}, r"members\[2\].code 110000 is listed twice"),
        ({"members": (CapArea("1100", "北京", "Beijing"),)}, "not a GB/T 2260 code"),
        ({"members": (CapArea("110000", " ", "Beijing"),)}, "Chinese and English names"),
        ({"regional_warning_id": " "}, "regional_warning_id must not be empty"),
        ({"identifier": "a b"}, "must not contain spaces"),
        ({"sent": datetime(2026, 1, 4)}, "has no timezone"),
        ({"expires": SENT}, "expires must not be before"),
        ({"level": "purple"}, "level 'purple'"),
    ],
)
def test_refuses_what_cap_forbids(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_regional_alert(make_alert(**changes))


def test_atom_lists_regional_alerts_beside_city_ones() -> None:
    alert = make_alert()
    entry = AtomEntry.from_warning(alert, "https://hazewarn.example/v1/cap/regional/1.xml")
    assert entry.title.startswith(f"{JJJ.region.name_zh}发布区域重污染天气橙色预警")
    cancel = make_alert(msg_type="Cancel", references=((SENDER, alert.identifier, SENT),))
    assert is_active(alert, SENT) and not is_active(cancel, SENT)
    feed = etree.fromstring(render_atom([entry], "https://x/feed", "t", SENT, "https://x/feed"))
    assert feed.findtext("{*}entry/{urn:oasis:names:tc:emergency:cap:1.2}identifier") == (
        alert.identifier
    )
