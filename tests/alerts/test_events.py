"""Event envelopes and their JSON Schema (docs/events.schema.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alerts.events import EVENT_TYPES, MAX_BODY_BYTES, encode_event, make_event
from alerts.levels import Level
from alerts.regional import MemberStatus, compliance, declare
from contingency_plans.loader import load_regions

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"
WHEN = datetime(2026, 1, 4, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def sample_warning(**changes: Any) -> dict[str, Any]:
    warning: dict[str, Any] = {
        "id": "42",
        "city_code": "110000",
        "city_name_zh": "北京市",
        "city_name_en": "Beijing",
        "level": "orange",
        "state": "issued",
        "drill": False,
        "effective": "2026-01-05T12:00:00Z",
        "onset": "2026-01-05T16:00:00Z",
        "expires": "2026-01-07T16:00:00Z",
        "aqi_forecast": 285,
        "primary_pollutant": "PM2.5",
        "response_level": "Ⅱ",
        "required_cut_pct": 20,
        "regional_warning_id": None,
        "forecast_run_id": "run-2026010400",
        "plan_version": "sha256:ab12",
        "cap_identifier": "11000000000000_20260104160000_0",
        "cap_url": "https://hazewarn.example/v1/cap/42.xml",
        "actions": [
            {
                "sector": "construction_dust",
                "department": "市住房城乡建设委",
                "effective_at": "2026-01-05T12:00:00Z",
                "text_zh": "建筑工地停止土石方作业",
                "text_en": "Construction sites stop earthworks",
                "quantity": None,
            },
            {
                "sector": "industry",
                "department": "市生态环境局",
                "effective_at": "2026-01-05T12:00:00+08:00",
                "text_zh": "工业企业减排20%",
                "quantity": 20,
            },
        ],
    }
    warning.update(changes)
    return warning


def sample_regional(**changes: Any) -> dict[str, Any]:
    regional: dict[str, Any] = {
        "id": "17",
        "region_id": "jjj-2+26",
        "status": "issued",
        "level": "orange",
        "starts_at": "2026-01-05T02:00:00Z",
        "ends_at": "2026-01-07T16:00:00Z",
        "starts_at_local": "2026-01-05T10:00:00+08:00",
        "members": ["110000", "120000", "130100"],
        "triggering": ["110000", "130100"],
        "proposed_at": "2026-01-04T02:00:00Z",
        "issued_at": "2026-01-04T03:10:00Z",
        "issued_by": "MEE duty coordinator",
        "lifted_at": None,
        "lifted_by": None,
        "reason": "2 member cities forecast orange or above",
        "drill": False,
        "approve_by": "2026-01-04T08:00:00Z",
        "late": False,
        "cap_url": "https://hazewarn.example/v1/cap/regional/17.xml",
        "forecast_run_id": "run-2026010400",
    }
    regional.update(changes)
    return regional


def sample_compliance(city: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "city_code": city,
        "status": "lagging",
        "lagging": True,
        "required_level": "orange",
        "required_from": "2026-01-05T02:00:00Z",
        "city_warning_id": None,
        "city_level": None,
        "issued_at": None,
        "issued_by": None,
        "acknowledged_at": None,
        "actions_in_force": 0,
        "reason": "no warning (needs orange) and not acknowledged",
    }
    row.update(changes)
    return row


SAMPLES: dict[str, dict[str, Any]] = {
    "regional.proposed": sample_regional(
        status="proposed", issued_at=None, issued_by=None, late=True
    ),
    "regional.issued": sample_regional(),
    "regional.updated": sample_regional(level="red", previous_level="orange", change="level"),
    "regional.lifted": sample_regional(
        status="lifted", lifted_at="2026-01-06T04:00:00Z", lifted_by="MEE duty coordinator"
    ),
    "regional.lagging": {
        **sample_regional(),
        "compliance": [
            sample_compliance("120000"),
            sample_compliance(
                "130100",
                city_warning_id="88",
                city_level="yellow",
                issued_at="2026-01-04T09:00:00Z",
                issued_by="Shijiazhuang duty officer",
                acknowledged_at="2026-01-05T01:00:00+08:00",
                actions_in_force=12,
                reason="only yellow (needs orange)",
            ),
        ],
    },
    "warning.proposed": {
        "warning": sample_warning(state="proposed"),
        "approval_required": True,
    },
    "warning.issued": {"warning": sample_warning()},
    "warning.updated": {
        "warning": sample_warning(level="red", response_level="Ⅰ", state="upgraded"),
        "previous_level": "orange",
        "change": "raise",
        "reason_en": "Forecast daily AQI above 300",
    },
    "warning.lifted": {
        "warning": sample_warning(state="lifted"),
        "lifted_at": "2026-01-07T04:00:00Z",
    },
    "warning.acknowledged": {
        "warning_id": "42",
        "city_code": "110000",
        "level": "orange",
        "acknowledged_at": "2026-01-04T08:05:00Z",
        "acknowledged_by": "Beijing emergency office",
    },
    "forecast.published": {
        "run_id": "run-2026010400",
        "issued_at": "2026-01-04T00:30:00Z",
        "valid_from": "2026-01-04T00:00:00Z",
        "valid_to": "2026-01-07T00:00:00Z",
        "model_version": "hgb-2026.1",
        "cities": [
            {"city_code": "110000", "max_daily_aqi": 285, "level": "orange"},
            {"city_code": "310000", "max_daily_aqi": 95, "level": None},
        ],
    },
    "endpoint.disabled": {
        "endpoint_id": "7",
        "url": "https://office.example.cn/hooks/hazewarn",
        "reason": "gone",
        "disabled_at": "2026-01-04T08:00:05Z",
        "failing_since": None,
        "last_status_code": 410,
        "last_error": None,
    },
    "endpoint.ping": {
        "endpoint_id": "7",
        "url": "https://office.example.cn/hooks/hazewarn",
    },
}


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sample_events_validate(validator: jsonschema.protocols.Validator, event_type: str) -> None:
    event = make_event(event_type, SAMPLES[event_type], f"evt_{event_type}", WHEN)
    # What receivers see is the encoded body, so validate that round trip.
    validator.validate(json.loads(encode_event(event)))


@pytest.mark.parametrize(
    ("event_type", "break_it"),
    [
        ("warning.issued", lambda d: d["warning"].pop("level")),
        ("warning.issued", lambda d: d["warning"].update(level="purple")),
        ("warning.issued", lambda d: d["warning"].update(city_code="1100")),
        ("warning.issued", lambda d: d["warning"]["actions"][0].pop("department")),
        ("warning.updated", lambda d: d.pop("previous_level")),
        ("warning.lifted", lambda d: d.update(lifted_at="yesterday")),
        ("warning.acknowledged", lambda d: d.pop("acknowledged_by")),
        ("forecast.published", lambda d: d["cities"][0].update(max_daily_aqi=900)),
        ("endpoint.disabled", lambda d: d.update(reason="bored")),
        ("endpoint.ping", lambda d: d.pop("endpoint_id")),
        ("regional.proposed", lambda d: d.pop("region_id")),
        ("regional.issued", lambda d: d.update(status="upgraded")),
        ("regional.issued", lambda d: d.update(members=[])),
        ("regional.issued", lambda d: d.update(members=["110000", "1200"])),
        ("regional.issued", lambda d: d.update(starts_at="tomorrow")),
        ("regional.updated", lambda d: d.update(level="purple")),
        ("regional.updated", lambda d: d.update(previous_level="purple")),
        ("regional.lifted", lambda d: d.update(drill="no")),
        ("regional.lagging", lambda d: d.pop("compliance")),
        ("regional.lagging", lambda d: d.update(compliance=[])),
        ("regional.lagging", lambda d: d["compliance"][0].update(status="complied")),
        ("regional.lagging", lambda d: d["compliance"][0].pop("reason")),
        ("regional.lagging", lambda d: d["compliance"][1].update(actions_in_force=-1)),
    ],
)
def test_broken_samples_are_refused(
    validator: jsonschema.protocols.Validator, event_type: str, break_it: Any
) -> None:
    data = json.loads(json.dumps(SAMPLES[event_type]))  # deep copy
    break_it(data)
    event = make_event(event_type, data, "evt_1", WHEN)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(event)


def test_data_of_one_type_does_not_pass_as_another(
    validator: jsonschema.protocols.Validator,
) -> None:
    event = make_event("warning.acknowledged", SAMPLES["warning.issued"], "evt_1", WHEN)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(event)


def test_regional_events_carry_a_regional_warning_not_a_city_one(
    validator: jsonschema.protocols.Validator,
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(make_event("regional.issued", SAMPLES["warning.issued"], "e1", WHEN))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(make_event("warning.issued", SAMPLES["regional.issued"], "e1", WHEN))


def test_lagging_rows_from_the_pure_compliance_validate(
    validator: jsonschema.protocols.Validator,
) -> None:
    region = load_regions()["jjj-2+26"]
    state, _ = declare(
        region, Level.ORANGE, WHEN, None, region.member_codes[:3],
        at=WHEN, actor="MEE", reason="letter", drill=False,
    )  # fmt: skip
    own = MemberStatus(Level.YELLOW, "88", WHEN, "office", None, 3)
    rows = compliance(state, {"120000": own}, at=WHEN + timedelta(hours=3), grace=2)
    lagging = [row.to_dict() for row in rows if row.lagging]
    assert [row["city_code"] for row in lagging] == ["110000", "120000", "130100"]
    data = {**sample_regional(members=list(state.members)), "compliance": lagging}
    validator.validate(json.loads(encode_event(make_event("regional.lagging", data, "e", WHEN))))


def test_envelope_shape_and_time() -> None:
    beijing = WHEN.astimezone(timezone(timedelta(hours=8)))
    event = make_event("warning.issued", {"warning": {}}, "evt_01HZX", beijing)
    assert event == {
        "id": "evt_01HZX",
        "type": "warning.issued",
        "timestamp": "2026-01-04T08:00:00.000Z",
        "data": {"warning": {}},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("warning.deleted", {}, "evt_1", WHEN), "unknown event type"),
        (("warning.issued", {}, "", WHEN), "event id"),
        (("warning.issued", {}, "evt 1", WHEN), "event id"),
        (("warning.issued", {}, "x" * 129, WHEN), "event id"),
        (("warning.issued", {}, "evt_1", datetime(2026, 1, 4)), "timezone"),
    ],
)
def test_make_event_refuses_bad_input(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_event(*args)


def test_encode_event_is_compact_utf8_and_bounded() -> None:
    event = make_event("warning.issued", {"city": "北京市"}, "evt_1", WHEN)
    body = encode_event(event)
    assert "北京市".encode() in body
    assert b": " not in body
    assert json.loads(body) == event
    too_big = make_event("warning.issued", {"blob": "x" * MAX_BODY_BYTES}, "evt_1", WHEN)
    with pytest.raises(ValueError, match="bytes"):
        encode_event(too_big)
    with pytest.raises(ValueError, match="JSON"):
        encode_event(make_event("warning.issued", {"x": float("nan")}, "evt_1", WHEN))
    with pytest.raises(ValueError, match="JSON"):
        encode_event(make_event("warning.issued", {"x": WHEN}, "evt_1", WHEN))
