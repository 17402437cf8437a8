"""CAP 1.2 rendering and the Atom index: every output is validated against the OASIS XSD."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from alerts.cap import (
    ATOM_NAMESPACE,
    CAP_MIME_TYPE,
    CAP_NAMESPACE,
    AtomEntry,
    CapReference,
    CapWarning,
    atom_entry_id,
    cap_identifier,
    format_cap_time,
    is_active,
    render_atom,
    render_cap,
)

NS = {"cap": CAP_NAMESPACE, "atom": ATOM_NAMESPACE}
CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
SENT = datetime(2026, 1, 4, 8, 0, tzinfo=UTC)  # 16:00 Beijing time
SENDER = "hazewarn.beijing.gov.cn"


@pytest.fixture(scope="module")
def cap_schema(shared_domain: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared_domain / "cap" / "CAP-v1.2.xsd")))


def make_warning(**changes: object) -> CapWarning:
    base = CapWarning(
        identifier=cap_identifier("110000", SENT, 0),
        sender=SENDER,
        sent=SENT,
        status="Actual",
        msg_type="Alert",
        references=(),
        city_code="110000",
        city_name_zh="北京市",
        city_name_en="Beijing",
        level="orange",
        effective=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),  # 20:00 Beijing
        onset=datetime(2026, 1, 5, 16, 0, tzinfo=UTC),  # 2026-01-06 00:00 Beijing
        expires=datetime(2026, 1, 7, 16, 0, tzinfo=UTC),
        in_force=False,
        aqi_forecast=285,
        primary_pollutant="PM2.5",
        required_cut_pct=20,
        regional_warning_id="JJJ-2026-003",
        measures_zh=("工业企业按绩效分级落实减排措施", "建筑工地停止土石方作业"),
        measures_en=(
            "Industry cuts emissions by performance grade",
            "Construction sites stop earthworks",
        ),
        web="https://hazewarn.example/v1/warnings/42",
        sender_name_zh="北京市空气重污染应急指挥部",
        sender_name_en="Beijing Heavy Air Pollution Emergency Command",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def parse_valid(xml: bytes, schema: etree.XMLSchema) -> etree._Element:
    root = etree.fromstring(xml)
    schema.assertValid(root)
    return root


def infos(root: etree._Element) -> dict[str, etree._Element]:
    return {
        info.findtext("cap:language", namespaces=NS): info for info in root.findall("cap:info", NS)
    }


def params(info: etree._Element) -> dict[str, str]:
    return {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in info.findall("cap:parameter", NS)
    }


def all_times(root: etree._Element) -> list[str]:
    tags = ("sent", "effective", "onset", "expires")
    return [el.text for tag in tags for el in root.iter(f"{{{CAP_NAMESPACE}}}{tag}")]


EXPECTED_BY_LEVEL = {
    # level: (severity, urgency before/in force, certainty in force, response types, grade)
    "blue": ("Minor", "Expected", "Likely", ["Avoid", "Monitor"], "Ⅳ", "蓝色"),
    "yellow": ("Moderate", "Expected", "Likely", ["Prepare", "Avoid"], "Ⅲ", "黄色"),
    "orange": ("Severe", "Immediate", "Observed", ["Execute", "Avoid"], "Ⅱ", "橙色"),
    "red": ("Extreme", "Immediate", "Observed", ["Execute", "Avoid"], "Ⅰ", "红色"),
}


@pytest.mark.parametrize("level", list(EXPECTED_BY_LEVEL))
@pytest.mark.parametrize("in_force", [False, True])
def test_alert_for_each_level_is_valid_and_mapped(
    cap_schema: etree.XMLSchema, level: str, in_force: bool
) -> None:
    severity, urgency_in_force, certainty_in_force, responses, grade, colour = EXPECTED_BY_LEVEL[
        level
    ]
    root = parse_valid(render_cap(make_warning(level=level, in_force=in_force)), cap_schema)

    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:status", namespaces=NS) == "Actual"
    assert root.find("cap:references", NS) is None
    by_language = infos(root)
    assert list(by_language) == ["zh-CN", "en-US"]
    for info in by_language.values():
        assert [c.text for c in info.findall("cap:category", NS)] == ["Env", "Health"]
        assert info.findtext("cap:severity", namespaces=NS) == severity
        expected_urgency = urgency_in_force if in_force else "Future"
        expected_certainty = certainty_in_force if in_force else "Likely"
        assert info.findtext("cap:urgency", namespaces=NS) == expected_urgency
        assert info.findtext("cap:certainty", namespaces=NS) == expected_certainty
        assert [r.text for r in info.findall("cap:responseType", NS)] == responses
        assert params(info)["RESPONSE_LEVEL"] == grade
        assert params(info)["WARNING_COLOUR"] == level
    zh, en = by_language["zh-CN"], by_language["en-US"]
    assert zh.findtext("cap:event", namespaces=NS) == f"重污染天气{colour}预警"
    assert en.findtext("cap:event", namespaces=NS) == f"Heavy air pollution {level} warning"


def test_times_are_beijing_offsets_never_z(cap_schema: etree.XMLSchema) -> None:
    xml = render_cap(make_warning())
    root = parse_valid(xml, cap_schema)
    times = all_times(root)
    assert len(times) == 1 + 2 * 3
    assert all(CAP_TIME.match(t) for t in times), times
    assert root.findtext("cap:sent", namespaces=NS) == "2026-01-04T16:00:00+08:00"
    zh = infos(root)["zh-CN"]
    assert zh.findtext("cap:effective", namespaces=NS) == "2026-01-05T20:00:00+08:00"
    assert zh.findtext("cap:onset", namespaces=NS) == "2026-01-06T00:00:00+08:00"
    assert zh.findtext("cap:expires", namespaces=NS) == "2026-01-08T00:00:00+08:00"
    assert b"Z<" not in xml


def test_input_zone_does_not_matter() -> None:
    utc = make_warning()
    shifted = replace(
        utc,
        sent=utc.sent.astimezone(timezone(timedelta(hours=-5))),
        expires=utc.expires.astimezone(timezone(timedelta(hours=3))),
    )
    assert render_cap(utc) == render_cap(shifted)


def test_both_languages_area_geocode_and_parameters(cap_schema: etree.XMLSchema) -> None:
    root = parse_valid(render_cap(make_warning()), cap_schema)
    by_language = infos(root)
    zh, en = by_language["zh-CN"], by_language["en-US"]
    assert zh.findtext("cap:area/cap:areaDesc", namespaces=NS) == "北京市"
    assert en.findtext("cap:area/cap:areaDesc", namespaces=NS) == "Beijing"
    for info in (zh, en):
        geocode = info.find("cap:area/cap:geocode", NS)
        assert geocode is not None
        assert geocode.findtext("cap:valueName", namespaces=NS) == "GB/T 2260"
        assert geocode.findtext("cap:value", namespaces=NS) == "110000"
        assert params(info) == {
            "AQI_FORECAST_MAX": "285",
            "PRIMARY_POLLUTANT": "PM2.5",
            "RESPONSE_LEVEL": "Ⅱ",
            "WARNING_COLOUR": "orange",
            "REQUIRED_EMISSION_CUT_PCT": "20",
            "REGIONAL_WARNING_ID": "JJJ-2026-003",
        }
        assert info.findtext("cap:web", namespaces=NS) == "https://hazewarn.example/v1/warnings/42"
    assert zh.findtext("cap:headline", namespaces=NS) == "北京市发布重污染天气橙色预警"
    assert "285" in zh.findtext("cap:description", namespaces=NS)
    assert "2026年1月6日0时" in zh.findtext("cap:description", namespaces=NS)
    assert zh.findtext("cap:instruction", namespaces=NS).splitlines() == [
        "工业企业按绩效分级落实减排措施",
        "建筑工地停止土石方作业",
    ]
    en_description = en.findtext("cap:description", namespaces=NS)
    assert "6 Jan 2026 00:00 to 8 Jan 2026 00:00 (UTC+08:00)" in en_description
    assert "at least 20%" in en_description
    assert en.findtext("cap:senderName", namespaces=NS).startswith("Beijing")


def test_optional_parameters_are_left_out(cap_schema: etree.XMLSchema) -> None:
    w = make_warning(required_cut_pct=None, regional_warning_id=None, web=None, measures_zh=())
    root = parse_valid(render_cap(w), cap_schema)
    zh = infos(root)["zh-CN"]
    assert "REQUIRED_EMISSION_CUT_PCT" not in params(zh)
    assert "REGIONAL_WARNING_ID" not in params(zh)
    assert zh.find("cap:web", NS) is None
    assert zh.find("cap:instruction", NS) is None


def test_update_references_the_earlier_message(cap_schema: etree.XMLSchema) -> None:
    first = make_warning()
    later = SENT + timedelta(hours=6)
    update = make_warning(
        identifier=cap_identifier("110000", later, 0),
        sent=later,
        msg_type="Update",
        level="red",
        references=(CapReference(first.sender, first.identifier, first.sent),),
    )
    root = parse_valid(render_cap(update), cap_schema)
    assert root.findtext("cap:msgType", namespaces=NS) == "Update"
    assert root.findtext("cap:references", namespaces=NS) == (
        f"{SENDER},11000000000000_20260104160000_0,2026-01-04T16:00:00+08:00"
    )
    assert infos(root)["en-US"].findtext("cap:severity", namespaces=NS) == "Extreme"


def test_references_are_space_separated_triples(cap_schema: etree.XMLSchema) -> None:
    refs = (
        CapReference(SENDER, "11000000000000_20260104160000_0", SENT),
        CapReference(SENDER, "11000000000000_20260104220000_1", SENT + timedelta(hours=6)),
    )
    root = parse_valid(render_cap(make_warning(msg_type="Update", references=refs)), cap_schema)
    triples = root.findtext("cap:references", namespaces=NS).split(" ")
    assert [t.split(",") for t in triples] == [
        [SENDER, "11000000000000_20260104160000_0", "2026-01-04T16:00:00+08:00"],
        [SENDER, "11000000000000_20260104220000_1", "2026-01-04T22:00:00+08:00"],
    ]


def test_lift_is_cancel_with_all_clear(cap_schema: etree.XMLSchema) -> None:
    first = make_warning()
    lift = make_warning(
        identifier=cap_identifier("110000", SENT + timedelta(days=2), 0),
        sent=SENT + timedelta(days=2),
        msg_type="Cancel",
        in_force=True,
        references=(CapReference(first.sender, first.identifier, first.sent),),
    )
    root = parse_valid(render_cap(lift), cap_schema)
    assert root.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert root.find("cap:references", NS) is not None
    for info in infos(root).values():
        assert [r.text for r in info.findall("cap:responseType", NS)] == ["AllClear"]
        assert info.findtext("cap:urgency", namespaces=NS) == "Past"
        assert info.findtext("cap:certainty", namespaces=NS) == "Observed"
    assert infos(root)["zh-CN"].findtext("cap:headline", namespaces=NS) == (
        "北京市解除重污染天气橙色预警"
    )


def test_exercise_in_drill_mode(cap_schema: etree.XMLSchema) -> None:
    root = parse_valid(render_cap(make_warning(status="Exercise")), cap_schema)
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"
    assert root.findtext("cap:note", namespaces=NS)
    by_language = infos(root)
    assert by_language["zh-CN"].findtext("cap:headline", namespaces=NS).startswith("【演练】")
    assert by_language["en-US"].findtext("cap:headline", namespaces=NS).startswith("EXERCISE")


def test_restricted_scope_carries_a_restriction(cap_schema: etree.XMLSchema) -> None:
    root = parse_valid(render_cap(make_warning(scope="Restricted")), cap_schema)
    assert root.findtext("cap:scope", namespaces=NS) == "Restricted"
    assert root.findtext("cap:restriction", namespaces=NS)


def test_text_is_escaped_not_injected(cap_schema: etree.XMLSchema) -> None:
    w = make_warning(measures_en=("Stop <b>works</b> & close sites",))
    root = parse_valid(render_cap(w), cap_schema)
    instruction = infos(root)["en-US"].findtext("cap:instruction", namespaces=NS)
    assert instruction == "Stop <b>works</b> & close sites"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"identifier": "has space"}, "identifier"),
        ({"identifier": "a,b"}, "identifier"),
        ({"sender": "x<y"}, "sender"),
        ({"sender": "a&b"}, "sender"),
        ({"identifier": ""}, "identifier"),
        ({"sent": datetime(2026, 1, 4, 8, 0)}, "sent"),
        ({"msg_type": "Update"}, "reference"),
        ({"msg_type": "Cancel"}, "reference"),
        ({"status": "Test"}, "status"),
        ({"level": "purple"}, "level"),
        ({"city_code": "1100"}, "city_code"),
        ({"aqi_forecast": 501}, "aqi_forecast"),
        ({"required_cut_pct": 120}, "required_cut_pct"),
        ({"expires": datetime(2026, 1, 5, 0, 0, tzinfo=UTC)}, "expires"),
        ({"web": "javascript:alert(1)"}, "web"),
        (
            {"msg_type": "Update", "references": (CapReference("bad sender", "x", SENT),)},
            r"references\[0\].sender",
        ),
    ],
)
def test_refuses_what_cap_forbids(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_cap(make_warning(**changes))


def test_cap_identifier_follows_newrs_form() -> None:
    identifier = cap_identifier("130100", datetime(2026, 12, 31, 17, 30, 5, tzinfo=UTC), 7)
    # 17:30:05 UTC is 01:30:05 the next day in Beijing.
    assert identifier == "13010000000000_20270101013005_7"
    assert len(identifier) == 31
    assert cap_identifier("110000", SENT, 0, agency_code="123").startswith("110000123000")
    with pytest.raises(ValueError, match="seq"):
        cap_identifier("110000", SENT, 10)
    with pytest.raises(ValueError, match="city_code"):
        cap_identifier("11000A", SENT, 0)
    with pytest.raises(ValueError, match="agency_code"):
        cap_identifier("110000", SENT, 0, agency_code="12")
    with pytest.raises(ValueError, match="timezone"):
        cap_identifier("110000", datetime(2026, 1, 1), 0)


def test_format_cap_time_other_zones() -> None:
    when = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert format_cap_time(when, "UTC") == "2026-07-01T12:00:00+00:00"
    assert format_cap_time(when, "America/New_York") == "2026-07-01T08:00:00-04:00"
    assert format_cap_time(when.replace(microsecond=999_999)) == "2026-07-01T20:00:00+08:00"


def test_is_active() -> None:
    w = make_warning()
    assert is_active(w, w.expires - timedelta(seconds=1))
    assert not is_active(w, w.expires)
    lift = make_warning(msg_type="Cancel", references=(CapReference(SENDER, "x", SENT),))
    assert not is_active(lift, SENT)


def test_atom_index_links_each_entry_to_its_cap() -> None:
    beijing = make_warning()
    tianjin = make_warning(
        identifier=cap_identifier("120000", SENT + timedelta(hours=1), 0),
        sent=SENT + timedelta(hours=1),
        city_code="120000",
        city_name_zh="天津市",
        city_name_en="Tianjin",
        level="yellow",
    )
    entries = [
        AtomEntry.from_warning(beijing, "https://hazewarn.example/v1/cap/42.xml"),
        AtomEntry.from_warning(tianjin, "https://hazewarn.example/v1/cap/43.xml"),
    ]
    xml = render_atom(
        entries,
        feed_id="https://hazewarn.example/v1/feeds/cap.atom",
        title="hazewarn active alerts",
        updated=tianjin.sent,
        self_url="https://hazewarn.example/v1/feeds/cap.atom",
    )
    feed = etree.fromstring(xml)
    assert feed.tag == f"{{{ATOM_NAMESPACE}}}feed"
    assert feed.findtext("atom:id", namespaces=NS) == "https://hazewarn.example/v1/feeds/cap.atom"
    assert feed.findtext("atom:updated", namespaces=NS) == "2026-01-04T17:00:00+08:00"
    assert feed.find("atom:author/atom:name", NS) is not None
    self_link = feed.find("atom:link[@rel='self']", NS)
    assert self_link is not None
    assert self_link.get("href") == "https://hazewarn.example/v1/feeds/cap.atom"

    items = feed.findall("atom:entry", NS)
    assert len(items) == 2
    newest, oldest = items  # newest first
    assert newest.findtext("cap:identifier", namespaces=NS) == tianjin.identifier
    assert newest.findtext("atom:updated", namespaces=NS) == "2026-01-04T17:00:00+08:00"
    assert newest.findtext("atom:id", namespaces=NS) == atom_entry_id(SENDER, tianjin.identifier)
    assert oldest.findtext("atom:updated", namespaces=NS) == "2026-01-04T16:00:00+08:00"
    link = oldest.find("atom:link[@rel='alternate']", NS)
    assert link is not None
    assert link.get("type") == CAP_MIME_TYPE == "application/cap+xml"
    assert link.get("href") == "https://hazewarn.example/v1/cap/42.xml"
    assert "北京市发布重污染天气橙色预警" in oldest.findtext("atom:title", namespaces=NS)
    assert "Beijing" in oldest.findtext("atom:title", namespaces=NS)


def test_atom_entry_id_tracks_the_cap_identifier() -> None:
    first = atom_entry_id(SENDER, "11000000000000_20260104160000_0")
    assert first == atom_entry_id(SENDER, "11000000000000_20260104160000_0")
    assert first.startswith("urn:uuid:")
    assert first != atom_entry_id(SENDER, "11000000000000_20260104220000_0")


def test_empty_atom_feed_and_bad_input() -> None:
    feed = etree.fromstring(
        render_atom([], "urn:uuid:0d9a1a9e-0000-4000-8000-000000000000", "t", SENT, "https://x/f")
    )
    assert feed.findall("atom:entry", NS) == []
    entry = AtomEntry.from_warning(make_warning(), "https://x/1.xml")
    with pytest.raises(ValueError, match="twice"):
        render_atom([entry, entry], "https://x/f", "t", SENT, "https://x/f")
    with pytest.raises(ValueError, match="IRI"):
        render_atom([entry], "not an iri", "t", SENT, "https://x/f")


def test_the_schema_check_is_not_vacuous(cap_schema: etree.XMLSchema) -> None:
    xml = render_cap(make_warning())
    with_z = xml.replace(
        b"<sent>2026-01-04T16:00:00+08:00</sent>", b"<sent>2026-01-04T08:00:00Z</sent>"
    )
    assert with_z != xml
    assert not cap_schema.validate(etree.fromstring(with_z))
    bad_severity = xml.replace(b"<severity>Severe</severity>", b"<severity>Orange</severity>")
    assert not cap_schema.validate(etree.fromstring(bad_severity))


@settings(max_examples=60, deadline=None)
@given(
    level=st.sampled_from(["blue", "yellow", "orange", "red"]),
    status=st.sampled_from(["Actual", "Exercise"]),
    msg_type=st.sampled_from(["Alert", "Update", "Cancel"]),
    in_force=st.booleans(),
    sent=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    hours=st.integers(min_value=0, max_value=240),
    aqi=st.integers(min_value=0, max_value=500),
    cut=st.none() | st.integers(min_value=0, max_value=100),
    name=st.text(min_size=1, max_size=20).filter(
        lambda s: s.strip() and all(c.isprintable() for c in s)
    ),
)
def test_any_valid_warning_renders_valid_cap(
    cap_schema: etree.XMLSchema,
    level: str,
    status: str,
    msg_type: str,
    in_force: bool,
    sent: datetime,
    hours: int,
    aqi: int,
    cut: int | None,
    name: str,
) -> None:
    references = () if msg_type == "Alert" else (CapReference(SENDER, "earlier", sent),)
    w = make_warning(
        identifier=cap_identifier("110000", sent, 0),
        sent=sent,
        effective=sent,
        onset=sent + timedelta(hours=hours),
        expires=sent + timedelta(hours=hours + 24),
        level=level,
        status=status,
        msg_type=msg_type,
        in_force=in_force,
        references=references,
        aqi_forecast=aqi,
        required_cut_pct=cut,
        city_name_en=name,
        measures_en=(name,),
    )
    root = parse_valid(render_cap(w), cap_schema)
    assert all(CAP_TIME.match(t) for t in all_times(root))
