"""A member's episode follows a regional warning: start at the notified level and time,
hold while linked, end on the regional lift (`alerts.regional_link`, via `alerts.regional`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.criteria import Evaluation, evaluate
from alerts.episodes import (
    EpisodeError,
    EpisodeState,
    Kind,
    Policy,
    RunInfo,
    Status,
    downgrade,
    lift,
    step,
)
from alerts.levels import Level
from alerts.regional import RegionalNotice, join, release

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
D0 = date(2016, 12, 10)
BLUE, YELLOW, ORANGE, RED = Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED


def at(offset: int, hour: int = 8) -> datetime:
    return datetime.combine(D0 + timedelta(days=offset), time(hour), tzinfo=TZ)


def ev(first: int, *aqis: int) -> Evaluation:
    return evaluate([(D0 + timedelta(days=first + i), a) for i, a in enumerate(aqis)], "mee-2018")


def notice(level: Level = ORANGE, lifted_at: datetime | None = None) -> RegionalNotice:
    return RegionalNotice(
        notice_id="N1",
        region="jjj",
        level=level,
        start=at(1, 0),
        members=frozenset({"beijing", "tianjin", "langfang"}),
        issuer="mee",
        issued_at=at(0, 10),
        until=at(4, 0),
        lifted_at=lifted_at,
    )


def run(name: str, when: datetime, city: str = "beijing") -> RunInfo:
    return RunInfo(name, when, "p1", city, ZONE)


def joined(state: EpisodeState | None = None) -> EpisodeState:
    decision = join(state, notice(), city="beijing", zone=ZONE, plan_version="p1", at=at(0, 11))
    assert decision.new_state is not None
    return decision.new_state


def test_member_without_a_warning_starts_at_the_notified_level_and_time() -> None:
    decision = join(None, notice(), city="beijing", zone=ZONE, plan_version="p1", at=at(0, 11))
    (tr,) = decision.transitions
    state = decision.new_state
    assert state is not None
    assert tr.kind == Kind.ISSUED and tr.public and tr.level_after == ORANGE
    assert tr.effective_from == at(1, 0) and tr.valid_until == at(4, 0)
    assert tr.run_id == "regional:N1" and tr.actor == "mee" and tr.plan_version == "p1"
    assert state.regionally_triggered and state.regional_level == ORANGE
    assert "区域预警N1" in tr.reason_zh


def test_member_below_the_notified_level_is_upgraded() -> None:
    own = step(None, ev(0, 100, 250, 260, 100), run("r1", at(0)), Policy()).new_state
    assert own is not None and own.level == YELLOW
    (tr,) = join(
        own, notice(), city="beijing", zone=ZONE, plan_version="p1", at=at(0, 11)
    ).transitions
    assert (tr.kind, tr.level_before, tr.level_after) == (Kind.UPGRADED, YELLOW, ORANGE)


def test_member_at_or_above_is_only_linked() -> None:
    own = step(None, ev(0, 100, 250, 320, 330, 250), run("r1", at(0)), Policy()).new_state
    assert own is not None and own.level == RED
    decision = join(own, notice(), city="beijing", zone=ZONE, plan_version="p1", at=at(0, 11))
    (tr,) = decision.transitions
    assert tr.kind == Kind.LINKED and not tr.public and tr.level_after == RED
    assert decision.new_state is not None and decision.new_state.regional_notice_id == "N1"


def test_linked_warning_is_never_lifted_nor_lowered_below_the_regional_level() -> None:
    state = joined()
    policy = Policy(downgrade_runs=1, downgrade_hours=0)
    for offset in (2, 3, 4):
        decision = step(state, ev(offset, 100, 100, 100), run(f"r{offset}", at(offset)), policy)
        assert decision.transitions == ()
        assert decision.new_state is not None
        state = decision.new_state
    assert state.status == Status.ISSUED and state.level == ORANGE
    with pytest.raises(EpisodeError, match="regional"):
        lift(state, actor="wang", reason="x", at=at(4, 9))
    with pytest.raises(EpisodeError, match="regional"):
        downgrade(state, YELLOW, actor="wang", reason="x", at=at(4, 9))


def test_regionally_triggered_warning_ends_on_the_regional_notice() -> None:
    state = joined()
    decision = release(state, notice(lifted_at=at(3, 12)), at=at(3, 12))
    (tr,) = decision.transitions
    assert tr.kind == Kind.LIFTED and tr.public and tr.run_id == "regional:N1"
    assert decision.new_state is not None and decision.new_state.status == Status.LIFTED


def test_own_warning_returns_to_its_own_rules_when_the_notice_ends() -> None:
    own = step(None, ev(0, 100, 250, 260, 100), run("r1", at(0)), Policy()).new_state
    linked = join(own, notice(), city="beijing", zone=ZONE, plan_version="p1", at=at(0, 11))
    assert linked.new_state is not None
    # While linked, a clean forecast does not lift it.
    held = step(linked.new_state, ev(3, 100, 100, 100), run("r2", at(3)), Policy())
    assert held.transitions == () and held.new_state is not None
    released = release(held.new_state, notice(), at=at(3, 9))
    (tr,) = released.transitions
    assert tr.kind == Kind.UNLINKED and not tr.public
    assert released.new_state is not None and released.new_state.status == Status.UPGRADED
    (lifted,) = step(
        released.new_state, ev(3, 100, 100, 100), run("r3", at(3, 10)), Policy()
    ).transitions
    assert lifted.kind == Kind.LIFTED


def test_join_and_release_refusals() -> None:
    with pytest.raises(EpisodeError, match="not a member"):
        join(None, notice(), city="shanghai", zone=ZONE, plan_version="p1", at=at(0, 11))
    with pytest.raises(EpisodeError, match="already lifted"):
        join(None, notice(lifted_at=at(2)), city="beijing", zone=ZONE, plan_version="p1", at=at(2))
    own = step(None, ev(0, 100, 250, 260, 100), run("r1", at(0)), Policy()).new_state
    assert own is not None
    with pytest.raises(EpisodeError, match="does not follow"):
        release(own, notice(), at=at(1))
    with pytest.raises(ValueError, match="aware"):
        RegionalNotice("N2", "jjj", ORANGE, datetime(2016, 12, 11), frozenset({"x"}), "mee", at(0))
