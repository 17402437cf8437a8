"""The pure regional rules (`alerts.regional`): proposal, floor, refusals, lifecycle, compliance."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.criteria import Evaluation, evaluate
from alerts.episodes import Policy, RunInfo, Status, step
from alerts.levels import LEVELS, Level
from alerts.regional import (
    MemberStatus,
    RegionalError,
    RegionalState,
    adjust,
    approve,
    compliance,
    declare,
    effective_level,
    extend,
    join,
    lift,
    member_floor,
    open_proposal,
    propose,
    reconsider,
    refuse_member_change,
    reject,
    release,
)
from contingency_plans.loader import load_regions
from contingency_plans.schema import Region

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
D0 = date(2026, 1, 4)
NOW = datetime.combine(D0, time(10), tzinfo=TZ)  # 02:00 UTC
BLUE, YELLOW, ORANGE, RED = Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED
CODES = tuple(f"{130100 + 100 * i}" for i in range(10))  # ten made-up members


def make_region(members: int = 10, **criteria: Any) -> Region:
    return Region.model_validate(
        {
            "region": {"id": "test", "name_zh": "测试区域", "name_en": "Test region"},
            "coordinator": {"zh": "协调办", "en": "Coordination office"},
            "members": [
                {"code": code, "name_zh": f"城市{code}", "name_en": f"City {code}"}
                for code in CODES[:members]
            ],
            "source_note": "test",
            "criteria": criteria,
        }
    )


def days(levels: Mapping[int, Level | None], cities: int, offset: int = 0) -> dict[str, Any]:
    """The first ``cities`` members at ``levels[day]`` on each day D0+day (+offset)."""
    return {
        code: {D0 + timedelta(days=day + offset): level for day, level in levels.items()}
        for code in CODES[:cities]
    }


def local(day: int, hour: int = 0) -> datetime:
    return datetime.combine(D0 + timedelta(days=day), time(hour), tzinfo=TZ)


# --- proposal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "cities", "expected"),
    [
        ({"min_cities": 3}, 2, None),  # N-1
        ({"min_cities": 3}, 3, ORANGE),  # N
        ({"min_cities": 3}, 4, ORANGE),  # N+1
        ({}, 2, None),  # the default is 3
        ({}, 3, ORANGE),
        ({"min_share": 0.5}, 4, None),  # 50 % of 10 is 5
        ({"min_share": 0.5}, 5, ORANGE),
        ({"min_share": 0.5}, 6, ORANGE),
        ({"min_share": 0.25}, 2, None),  # 2.5 rounds up to 3
        ({"min_share": 0.25}, 3, ORANGE),
        ({"min_cities": 8, "min_share": 0.3}, 3, ORANGE),  # both given: either suffices
        ({"min_cities": 2, "min_share": 0.9}, 2, ORANGE),
        ({"min_cities": 8, "min_share": 0.9}, 7, None),
    ],
)
def test_proposal_needs_enough_members(
    criteria: dict[str, Any], cities: int, expected: Level | None
) -> None:
    proposal = propose(make_region(**criteria), days({1: ORANGE}, cities), at=NOW, zone=ZONE)
    assert (proposal.level if proposal else None) == expected
    if proposal is not None:
        assert proposal.triggering == CODES[:cities]
        assert proposal.members == CODES
        assert proposal.region_id == "test"


@pytest.mark.parametrize(
    ("member_days", "expected"),
    [
        # two cities on day 0 and two others on day 1: never three on the same day
        ({**days({0: ORANGE}, 2), **{c: {D0 + timedelta(1): ORANGE} for c in CODES[5:7]}}, None),
        (days({0: ORANGE, 1: None}, 3), (ORANGE, 0, 0)),
        (days({2: ORANGE}, 3), (ORANGE, 2, 2)),  # last day of the 3-day window
        (days({3: RED}, 10), None),  # beyond the window
        (days({-1: RED}, 10), None),  # yesterday does not count
        (days({0: YELLOW, 1: ORANGE, 2: YELLOW}, 4), (ORANGE, 1, 1)),
        (days({0: ORANGE, 1: YELLOW, 2: ORANGE}, 3), (ORANGE, 0, 2)),
    ],
)
def test_proposal_counts_members_on_one_day_within_the_window(
    member_days: dict[str, Any], expected: tuple[Level, int, int] | None
) -> None:
    proposal = propose(make_region(min_cities=3), member_days, at=NOW, zone=ZONE)
    if expected is None:
        assert proposal is None
        return
    assert proposal is not None
    level, first, last = expected
    assert proposal.level == level
    assert (proposal.first_day, proposal.last_day) == (D0 + timedelta(first), D0 + timedelta(last))
    assert proposal.ends_at == local(last + 1).astimezone(UTC)


def test_proposal_takes_the_highest_qualifying_level() -> None:
    member_days = {
        **days({1: RED}, 2),  # two red: not enough for red
        **{c: {D0 + timedelta(1): ORANGE} for c in CODES[2:4]},  # with them, four at orange+
    }
    proposal = propose(make_region(min_cities=3), member_days, at=NOW, zone=ZONE)
    assert proposal is not None and proposal.level == ORANGE
    assert proposal.triggering == CODES[:4]
    three_red = {**member_days, CODES[2]: {D0 + timedelta(1): RED}}
    proposal = propose(make_region(min_cities=3), three_red, at=NOW, zone=ZONE)
    assert proposal is not None and proposal.level == RED and proposal.triggering == CODES[:3]
    assert "3" in proposal.reason and "red" in proposal.reason


def test_proposal_only_at_the_region_levels_and_only_for_members() -> None:
    region = make_region(levels=["orange", "red"])
    assert propose(region, days({1: YELLOW}, 10), at=NOW, zone=ZONE) is None
    outsiders = {f"{310100 + 100 * i}": {D0: RED} for i in range(5)}
    assert propose(region, outsiders, at=NOW, zone=ZONE) is None
    as_text = {code: {D0: "orange"} for code in CODES[:3]}  # codes from JSON/DB rows
    assert propose(region, as_text, at=NOW, zone=ZONE) is not None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lead_hours", "first_day", "starts_at"),
    [
        (24, 0, NOW + timedelta(hours=24)),  # the lead time rules
        (24, 1, NOW + timedelta(hours=24)),  # 10:00 on day 1 is after its midnight
        (24, 2, local(2)),  # the first day's local midnight rules
        (0, 0, NOW),
        (0, 1, local(1)),
        (48, 1, NOW + timedelta(hours=48)),
    ],
)
def test_lead_time_sets_the_start(lead_hours: int, first_day: int, starts_at: datetime) -> None:
    region = make_region(lead_hours=lead_hours)
    proposal = propose(region, days({first_day: ORANGE}, 3), at=NOW, zone=ZONE)
    assert proposal is not None and proposal.starts_at == starts_at
    assert proposal.starts_at.utcoffset() == timedelta(0)


def test_shipped_regions_propose_with_their_criteria() -> None:
    jjj = load_regions()["jjj-2+26"]
    members = jjj.member_codes
    assert len(members) == 28 and jjj.criteria.required_count(28) == 3
    member_days = {code: {D0 + timedelta(1): ORANGE} for code in members[:20]}
    proposal = propose(jjj, member_days, at=NOW, zone=ZONE)
    assert proposal is not None and proposal.level == ORANGE and len(proposal.members) == 28


# --- floor and refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "regional", "expected"),
    [
        (None, None, None),
        (None, YELLOW, YELLOW),
        (YELLOW, ORANGE, ORANGE),
        (RED, ORANGE, RED),  # a member above the regional level keeps its own
        (ORANGE, ORANGE, ORANGE),
        (BLUE, None, BLUE),
    ],
)
def test_effective_level_is_the_higher(
    own: Level | None, regional: Level | None, expected: Level | None
) -> None:
    assert effective_level(own, regional) == expected


def issued(level: Level = ORANGE, **changes: Any) -> RegionalState:
    state, _ = declare(
        make_region(),
        level,
        local(1),
        local(4),
        CODES[:5],
        at=NOW,
        actor="coordinator",
        reason="regional orange",
        drill=False,
        id="R1",
    )
    return RegionalState(**{**state.__dict__, **changes})


@pytest.mark.parametrize(
    ("city", "when", "states", "floor"),
    [
        (CODES[0], local(1, 12), "issued", ORANGE),
        (CODES[0], local(0, 23), "issued", None),  # not started
        (CODES[0], local(4), "issued", None),  # ended
        (CODES[7], local(1, 12), "issued", None),  # not a member of this warning
        (CODES[0], local(1, 12), "proposed", None),
        (CODES[0], local(1, 12), "lifted", None),
        (CODES[0], local(1, 12), "both", RED),  # the highest in force
    ],
)
def test_member_floor(city: str, when: datetime, states: str, floor: Level | None) -> None:
    active = {
        "issued": [issued()],
        "proposed": [issued(status="proposed")],
        "lifted": [issued(status="lifted", lifted_at=local(1, 6))],
        "both": [issued(), issued(RED, id="R2")],
    }[states]
    assert member_floor(city, when, active) == floor


@pytest.mark.parametrize(
    ("target", "when", "refused"),
    [
        (None, local(1, 12), True),  # lift early
        (YELLOW, local(1, 12), True),  # downgrade below
        (BLUE, local(2, 12), True),
        (ORANGE, local(1, 12), False),  # down to the regional level is fine
        (RED, local(1, 12), False),
        (None, local(0, 12), False),  # before the regional start
        (None, local(4, 1), False),  # after the regional end
    ],
)
def test_member_cannot_lift_or_downgrade_below_the_regional_level(
    target: Level | None, when: datetime, refused: bool
) -> None:
    reason = refuse_member_change(CODES[0], target, when, [issued()])
    assert (reason is not None) == refused
    if reason is not None:
        assert "regional warning R1" in reason and "orange" in reason and CODES[0] in reason
        assert "区域预警R1" in reason


# --- a member's own episode around a regional warning ---------------------------------------


def ev(first: int, *aqis: int) -> Evaluation:
    return evaluate([(D0 + timedelta(days=first + i), a) for i, a in enumerate(aqis)], "mee-2018")


def run(name: str, when: datetime, city: str) -> RunInfo:
    return RunInfo(name, when, "p1", city, ZONE)


def test_regional_lift_leaves_a_member_warned_on_its_own_forecast() -> None:
    state = issued(YELLOW)
    notice = state.as_notice()
    heavy = ev(0, 100, 250, 260, 260, 100)  # its own forecast: orange
    own = step(None, heavy, run("r1", NOW, CODES[0]), Policy()).new_state
    assert own is not None and own.level == ORANGE
    linked = join(own, notice, city=CODES[0], zone=ZONE, plan_version="p1", at=NOW).new_state
    triggered = join(None, notice, city=CODES[1], zone=ZONE, plan_version="p1", at=NOW).new_state
    assert linked is not None and triggered is not None
    assert effective_level(linked.level, member_floor(CODES[0], local(1, 12), [state])) == ORANGE

    lifted, _ = lift(state, at=local(2, 9), actor="coordinator", reason="air cleared")
    kept = release(linked, lifted.as_notice(), at=local(2, 9)).new_state
    ended = release(triggered, lifted.as_notice(), at=local(2, 9)).new_state
    assert kept is not None and kept.is_active and kept.level == ORANGE
    assert ended is not None and ended.status == Status.LIFTED
    # The next evaluation of its own (still heavy) forecast keeps it warned.
    again = step(kept, ev(2, 260, 260, 100), run("r2", local(2, 10), CODES[0]), Policy())
    assert again.new_state is not None and again.new_state.is_active
    assert refuse_member_change(CODES[0], None, local(2, 10), [lifted]) is None


# --- lifecycle ------------------------------------------------------------------------------


def proposed() -> RegionalState:
    proposal = propose(make_region(), days({1: ORANGE}, 4), at=NOW, zone=ZONE)
    assert proposal is not None
    state, transition = open_proposal(proposal, at=NOW, drill=True, id="P1")
    assert transition.kind == "proposed" and transition.before is None
    assert transition.actor == "system" and state.status == "proposed" and state.drill
    return state


MOVES: dict[str, Callable[[RegionalState], Any]] = {
    "approve": lambda s: approve(s, at=NOW, actor="coord"),
    "reject": lambda s: reject(s, at=NOW, actor="coord", reason="not needed"),
    "adjust": lambda s: adjust(s, level=RED, at=NOW, actor="coord", reason="worse"),
    "extend": lambda s: extend(s, ends_at=local(9), at=NOW, actor="coord", reason="longer"),
    "lift": lambda s: lift(s, at=NOW, actor="coord", reason="cleared"),
}
LEGAL = {
    ("proposed", "approve"): ("issued", "issued"),
    ("proposed", "reject"): ("rejected", "rejected"),
    ("proposed", "adjust"): ("updated", "proposed"),
    ("proposed", "extend"): ("updated", "proposed"),
    ("issued", "adjust"): ("updated", "issued"),
    ("issued", "extend"): ("updated", "issued"),
    ("issued", "lift"): ("lifted", "lifted"),
}


def in_status(status: str) -> RegionalState:
    state = proposed()
    if status == "proposed":
        return state
    if status == "rejected":
        return reject(state, at=NOW, actor="coord", reason="no")[0]
    state = approve(state, at=NOW, actor="coord")[0]
    return state if status == "issued" else lift(state, at=NOW, actor="coord", reason="ok")[0]


@pytest.mark.parametrize("status", ["proposed", "issued", "lifted", "rejected"])
@pytest.mark.parametrize("move", sorted(MOVES))
def test_each_transition_is_legal_only_from_its_states(status: str, move: str) -> None:
    before = in_status(status)
    if (status, move) not in LEGAL:
        with pytest.raises(RegionalError, match=f"cannot {move} regional warning P1"):
            MOVES[move](before)
        return
    after, transition = MOVES[move](before)
    kind, new_status = LEGAL[(status, move)]
    assert (transition.kind, after.status) == (kind, new_status)
    assert transition.before == before.to_dict() and transition.after == after.to_dict()
    assert transition.actor == "coord" and transition.at == NOW and transition.reason
    assert transition.warning_id == "P1" and after.updated_at == NOW


def test_transition_details() -> None:
    state = proposed()
    issued_state, tr = approve(state, at=local(1, 12), actor="coord")  # late: start moves
    assert issued_state.starts_at == local(1, 12) and issued_state.approved_by == "coord"
    assert tr.reason == "approved by coord"
    adjusted, _ = adjust(
        issued_state, members=CODES[:2], at=NOW, actor="c", reason="fewer", region=make_region()
    )
    assert adjusted.members == CODES[:2] and adjusted.level == ORANGE
    lifted, _ = lift(adjusted, at=local(2), actor="c", reason="cleared")
    assert (lifted.lifted_at, lifted.lifted_by) == (local(2), "c")
    assert lifted.to_dict()["lifted_at"] == local(2).isoformat()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: reject(s, at=NOW, actor="c", reason=" "), "reason must not be empty"),
        (lambda s: approve(s, at=NOW, actor=""), "actor must not be empty"),
        (lambda s: approve(s, at=datetime(2026, 1, 4), actor="c"), "timezone-aware"),
        (lambda s: approve(s, at=local(9), actor="c"), "would have ended"),
        (lambda s: adjust(s, level=ORANGE, at=NOW, actor="c", reason="x"), "nothing changes"),
        (
            lambda s: adjust(
                s, members=["310100"], at=NOW, actor="c", reason="x", region=make_region()
            ),
            "not members of region test: 310100",
        ),
        (
            lambda s: extend(s, ends_at=local(1), at=NOW, actor="c", reason="x"),
            "is not after its end",
        ),
    ],
)
def test_illegal_moves_say_why(call: Callable[[RegionalState], Any], message: str) -> None:
    with pytest.raises(RegionalError, match=message):
        call(proposed())


def test_declare_issues_at_once_and_checks_members() -> None:
    state, tr = declare(
        make_region(),
        RED,
        local(1),
        None,
        None,
        at=NOW,
        actor="c",
        reason="MEE letter",
        drill=False,
    )
    assert (state.status, tr.kind, tr.before, state.members) == ("issued", "issued", None, CODES)
    assert state.id == "test:20260104T020000Z" and state.approved_by == "c"
    with pytest.raises(RegionalError, match="already runs until lifted"):
        extend(state, ends_at=local(5), at=NOW, actor="c", reason="x")
    with pytest.raises(RegionalError, match="not members"):
        declare(make_region(3), RED, local(1), None, [CODES[5]], at=NOW, actor="c", reason="x",
                drill=False)  # fmt: skip
    with pytest.raises(RegionalError, match="ends_at must be after"):
        declare(make_region(), RED, local(1), local(0), None, at=NOW, actor="c", reason="x",
                drill=False)  # fmt: skip


def test_reconsider_updates_only_a_proposal() -> None:
    state = proposed()
    same = propose(make_region(), days({1: ORANGE}, 4), at=NOW, zone=ZONE)
    assert reconsider(state, same, at=NOW) is None
    assert reconsider(state, None, at=NOW) is None  # a vanished trigger does not withdraw it
    worse = propose(make_region(), days({1: RED}, 5), at=NOW, zone=ZONE)
    result = reconsider(state, worse, at=local(0, 12))
    assert result is not None
    updated, tr = result
    assert (updated.level, updated.status, tr.kind, tr.actor) == (
        RED,
        "proposed",
        "updated",
        "system",
    )
    assert updated.triggering == CODES[:5] and updated.proposed_at == NOW
    issued_state = approve(state, at=NOW, actor="c")[0]
    assert reconsider(issued_state, worse, at=NOW) is None  # only the coordinator changes it


# --- compliance -----------------------------------------------------------------------------

START = local(1)
GRACE = timedelta(hours=2)


@pytest.mark.parametrize(
    ("when", "own", "acknowledged", "status"),
    [
        (START - timedelta(hours=1), None, False, "pending"),
        (START + GRACE - timedelta(seconds=1), None, False, "pending"),
        (START + GRACE, None, False, "lagging"),  # at the boundary the grace is over
        (START + GRACE + timedelta(hours=5), YELLOW, True, "lagging"),  # below the level
        (START + GRACE, ORANGE, False, "lagging"),  # not acknowledged
        (START + GRACE, ORANGE, True, "complied"),
        (START + GRACE, RED, True, "complied"),  # above the level complies too
        (START - timedelta(hours=1), ORANGE, True, "complied"),  # early is fine
        (START + GRACE - timedelta(seconds=1), YELLOW, True, "pending"),
        (local(4), None, False, "not_required"),  # the regional warning has ended
    ],
)
def test_compliance_around_the_grace(
    when: datetime, own: Level | None, acknowledged: bool, status: str
) -> None:
    member = MemberStatus(
        city_level=own,
        city_warning_id="w9" if own else None,
        issued_at=START if own else None,
        issued_by="office" if own else None,
        acknowledged_at=START if acknowledged else None,
        actions_in_force=4 if own else 0,
    )
    rows = compliance(issued(), {CODES[0]: member}, at=when, grace=GRACE)
    assert [row.city for row in rows] == list(CODES[:5])
    row = rows[0]
    assert (row.status, row.lagging) == (status, status == "lagging")
    assert row.reason
    assert (row.city_level, row.city_warning_id, row.actions_in_force) == (
        own,
        member.city_warning_id,
        member.actions_in_force,
    )
    if status != "not_required":
        assert (row.required_level, row.required_from) == (ORANGE, START)
    # the members without any warning of their own
    bare = "pending" if when < START + GRACE else "lagging"
    assert {r.status for r in rows[1:]} == {"not_required" if status == "not_required" else bare}


@pytest.mark.parametrize("status", ["proposed", "lifted", "rejected"])
def test_compliance_not_required_unless_issued(status: str) -> None:
    rows = compliance(in_status(status), {}, at=local(2), grace=2)  # grace in hours
    assert {row.status for row in rows} == {"not_required"}
    assert all(row.required_level is None and not row.lagging for row in rows)


# --- snapshots ------------------------------------------------------------------------------

aware = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


@given(
    status=st.sampled_from(["proposed", "issued", "lifted", "rejected"]),
    level=st.sampled_from(LEVELS),
    start=aware,
    hours=st.none() | st.integers(min_value=1, max_value=500),
    members=st.lists(st.sampled_from(CODES), min_size=1, unique=True),
    drill=st.booleans(),
    approved_by=st.none() | st.text(min_size=1, max_size=20),
    reason=st.text(max_size=40),
    lifted_at=st.none() | aware,
    zone=st.sampled_from([UTC, TZ]),
)
def test_state_round_trips_through_to_dict(
    status: Any,
    level: Level,
    start: datetime,
    hours: int | None,
    members: list[str],
    drill: bool,
    approved_by: str | None,
    reason: str,
    lifted_at: datetime | None,
    zone: Any,
) -> None:
    state = RegionalState(
        id="x:1",
        region_id="jjj-2+26",
        status=status,
        level=level,
        starts_at=start.astimezone(zone),
        ends_at=None if hours is None else start + timedelta(hours=hours),
        members=tuple(members),
        drill=drill,
        approved_by=approved_by,
        triggering=tuple(members[:1]),
        reason=reason,
        proposed_at=start,
        lifted_at=lifted_at,
    )
    snapshot = state.to_dict()
    assert RegionalState.from_dict(json.loads(json.dumps(snapshot))) == state


@given(
    grid=st.lists(
        st.lists(st.sampled_from([None, *LEVELS]), min_size=3, max_size=3),
        min_size=10,
        max_size=10,
    ),
    min_cities=st.integers(min_value=1, max_value=10),
)
def test_any_proposal_is_the_highest_level_enough_members_share_on_a_day(
    grid: list[list[Level | None]], min_cities: int
) -> None:
    region = make_region(min_cities=min_cities)
    member_days = {
        code: {D0 + timedelta(day): level for day, level in enumerate(row)}
        for code, row in zip(CODES, grid, strict=True)
    }

    def count(day: int, level: Level) -> int:
        return sum(1 for row in grid if row[day] is not None and row[day] >= level)

    proposal = propose(region, member_days, at=NOW, zone=ZONE)
    reached = [
        lv for lv in (YELLOW, ORANGE, RED) if any(count(d, lv) >= min_cities for d in range(3))
    ]
    if not reached:
        assert proposal is None
        return
    assert proposal is not None and proposal.level == max(reached)
    first = (proposal.first_day - D0).days
    assert count(first, proposal.level) >= min_cities
    assert all(count(d, proposal.level) < min_cities for d in range(first))
    assert proposal.starts_at >= NOW + timedelta(hours=24)
