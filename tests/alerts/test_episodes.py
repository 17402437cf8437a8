"""Every lifecycle rule of the episode state machine, on plain values and fixed times."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.criteria import Evaluation, evaluate
from alerts.episodes import (
    SYSTEM,
    Decision,
    EpisodeError,
    EpisodeState,
    Kind,
    Policy,
    RunInfo,
    Status,
    approve,
    cancel,
    chains,
    change_level,
    clear_hours,
    downgrade,
    extend,
    lift,
    path_first_day,
    reject,
    step,
    upgrade,
)
from alerts.levels import Level

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
D0 = date(2016, 12, 10)
BLUE, YELLOW, ORANGE, RED = Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED
POLICY = Policy()


def day(offset: int) -> date:
    return D0 + timedelta(days=offset)


def at(offset: int, hour: int = 8) -> datetime:
    """Local time on day D0 + offset (+08:00)."""
    return datetime.combine(day(offset), time(hour), tzinfo=TZ)


def ev(first: int, *aqis: int, criteria: str = "national-2017") -> Evaluation:
    """Evaluation of a path starting on day D0 + first."""
    return evaluate([(day(first + i), a) for i, a in enumerate(aqis)], criteria)


def run(
    name: str, when: datetime, *, under_way: bool = False, drill: bool = False, plan: str = "p1"
) -> RunInfo:
    return RunInfo(name, when, plan, "beijing", ZONE, drill=drill, heavy_under_way=under_way)


class Chain:
    """Feeds successive runs to `step`, keeping the state."""

    def __init__(self, policy: Policy = POLICY, drill: bool = False) -> None:
        self.policy = policy
        self.drill = drill
        self.state: EpisodeState | None = None
        self.count = 0

    def feed(self, when: datetime, evaluation: Evaluation, under_way: bool = False) -> Decision:
        self.count += 1
        info = run(f"r{self.count}", when, under_way=under_way, drill=self.drill)
        decision = step(self.state, evaluation, info, self.policy)
        self.state = decision.new_state
        return decision

    def kinds(self, when: datetime, evaluation: Evaluation) -> list[Kind]:
        return [t.kind for t in self.feed(when, evaluation).transitions]


# --- issuing and lead time --------------------------------------------------------------------


def test_issue_ahead_names_run_plan_time_and_lead() -> None:
    decision = step(None, ev(0, 100, 100, 250, 260, 100), run("r1", at(0)), POLICY)
    (tr,) = decision.transitions
    state = decision.new_state
    assert state is not None
    assert tr.kind == Kind.ISSUED and tr.public and tr.actor == SYSTEM
    assert (tr.status_before, tr.status_after) == (None, Status.ISSUED)
    assert (tr.level_before, tr.level_after) == (None, YELLOW)
    assert (tr.run_id, tr.plan_version, tr.at) == ("r1", "p1", at(0))
    assert tr.effective_from == at(2, 0) and tr.valid_until == at(4, 0)
    assert tr.lead_hours == pytest.approx(40) and not tr.late
    assert "黄色预警" in tr.reason_zh and "Yellow heavy-pollution warning" in tr.reason_en
    assert state.episode_id == "beijing:r1" and state.first_day == day(2)
    assert not state.in_force(at(1, 23)) and state.in_force(at(2, 0))


def test_issue_with_short_lead_is_flagged_late() -> None:
    decision = step(None, ev(1, 100, 250, 260, 100), run("r1", at(1, 20)), POLICY)
    (tr,) = decision.transitions
    assert tr.kind == Kind.ISSUED and tr.lead_hours == pytest.approx(4) and tr.late
    assert tr.effective_from == at(2, 0)


def test_heavy_pollution_under_way_issues_at_once_and_is_not_late() -> None:
    evaluation = ev(2, 250, 260, 100)
    under = step(None, evaluation, run("r1", at(2, 10), under_way=True), POLICY)
    (tr,) = under.transitions
    assert tr.effective_from == at(2, 10) and tr.lead_hours == 0 and not tr.late
    assert "立即发布" in tr.reason_zh
    # The same forecast without the under-way finding is a late warning.
    (late,) = step(None, evaluation, run("r1", at(2, 10)), POLICY).transitions
    assert late.late and late.effective_from == at(2, 10)


def test_a_chain_too_far_ahead_waits_for_a_later_run() -> None:
    chain = Chain()
    far = ev(0, 100, 100, 100, 250, 260)  # first day starts 64 h after 08:00 day 0
    assert chain.feed(at(0), far).transitions == () and chain.state is None
    (tr,) = chain.feed(at(1), ev(1, 100, 100, 250, 260)).transitions  # now 40 h ahead
    assert tr.kind == Kind.ISSUED and tr.lead_hours == pytest.approx(40)
    eager = Chain(Policy(issue_horizon_hours=None))
    assert [t.kind for t in eager.feed(at(0), far).transitions] == [Kind.ISSUED]


# --- no re-announcement, upgrades, oscillation -------------------------------------------------


def test_unchanged_warning_is_never_reannounced() -> None:
    chain = Chain()
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))
    for offset, hour in [(0, 14), (0, 20), (1, 8)]:
        decision = chain.feed(at(offset, hour), ev(offset, *([100, 100, 250, 260, 100][offset:])))
        assert decision.transitions == ()
    assert chain.state is not None and chain.state.run_id == "r4"  # state follows the run


def test_higher_level_upgrades_at_once() -> None:
    chain = Chain()
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))
    (tr,) = chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 330, 250, 100)).transitions
    assert tr.kind == Kind.UPGRADED and tr.public
    assert (tr.level_before, tr.level_after) == (YELLOW, RED)
    assert (tr.status_before, tr.status_after) == (Status.ISSUED, Status.UPGRADED)
    assert tr.valid_until == at(6, 0)  # window follows the longer episode


def test_oscillating_runs_keep_the_higher_level() -> None:
    chain = Chain()
    orange = ev(0, 100, 100, 250, 320, 250, 100)
    yellow = ev(0, 100, 100, 250, 260, 100)
    chain.feed(at(0, 2), orange)
    times = [at(0, 8), at(0, 14), at(0, 20), at(1, 2), at(1, 8)]
    for when, evaluation in zip(times, [yellow, orange, yellow, orange, yellow], strict=True):
        assert chain.feed(when, evaluation).transitions == ()
    assert chain.state is not None and chain.state.level == ORANGE


def test_downgrade_needs_consecutive_lower_runs_over_36_hours() -> None:
    chain = Chain()
    chain.feed(at(0, 2), ev(0, 100, 100, 250, 320, 250, 100))
    yellow = ev(0, 100, 100, 250, 260, 100)
    assert chain.feed(at(0, 8), yellow).transitions == ()  # 1 lower run
    assert chain.feed(at(0, 20), yellow).transitions == ()  # 2 runs but only 12 h
    assert chain.feed(at(1, 8), yellow).transitions == ()  # 3 runs, 24 h: one day is not enough
    (tr,) = chain.feed(at(1, 20), yellow).transitions  # 4 runs, 36 h
    assert (
        tr.kind == Kind.DOWNGRADED
        and tr.public
        and (tr.level_before, tr.level_after) == (ORANGE, YELLOW)
    )
    assert "4" in tr.reason_en and "36 h" in tr.reason_en


def test_daily_runs_alternating_levels_do_not_flap() -> None:
    """One run a day: a single lower day between higher ones never downgrades."""
    chain = Chain()
    orange = ev(0, 100, 100, 250, 320, 250, 100)
    yellow = ev(0, 100, 100, 250, 260, 100)
    chain.feed(at(0, 12), orange)
    assert chain.feed(at(1, 12), yellow).transitions == ()
    assert chain.feed(at(2, 12), yellow).transitions == ()  # 2 runs, 24 h: was a downgrade
    assert chain.feed(at(3, 12), orange).transitions == ()  # back up: nothing to announce
    assert chain.state is not None
    assert chain.state.level == ORANGE


def test_downgrade_goes_to_the_highest_of_the_lower_runs() -> None:
    chain = Chain(Policy(downgrade_runs=2, downgrade_hours=0))
    chain.feed(at(0, 2), ev(0, 100, 100, 250, 320, 330, 250, 100))  # red
    chain.feed(at(0, 8), ev(0, 100, 100, 250, 320, 250, 100))  # orange
    (tr,) = chain.feed(at(0, 14), ev(0, 100, 100, 250, 100)).transitions  # blue
    assert (tr.kind, tr.level_after) == (Kind.DOWNGRADED, ORANGE)


def test_a_run_at_the_level_resets_the_lower_count() -> None:
    chain = Chain(Policy(downgrade_runs=2, downgrade_hours=0))
    orange = ev(0, 100, 100, 250, 320, 250, 100)
    yellow = ev(0, 100, 100, 250, 260, 100)
    chain.feed(at(0, 2), orange)
    assert chain.feed(at(0, 8), yellow).transitions == ()
    assert chain.feed(at(0, 14), orange).transitions == ()
    assert chain.feed(at(0, 20), yellow).transitions == ()
    assert [t.kind for t in chain.feed(at(1, 2), yellow).transitions] == [Kind.DOWNGRADED]


def test_a_plan_may_hold_the_level_of_a_warning_in_force_until_it_is_lifted() -> None:
    chain = Chain(Policy(downgrade_runs=2, downgrade_hours=0, downgrade_in_force=False))
    orange = ev(0, 100, 100, 250, 320, 250, 100)  # days 2-4
    yellow = ev(0, 100, 100, 250, 260, 100)
    chain.feed(at(0, 2), orange)
    # Before the warning takes effect its level still follows the damped forecast.
    chain.feed(at(0, 8), yellow)
    assert [t.kind for t in chain.feed(at(0, 14), yellow).transitions] == [Kind.DOWNGRADED]
    assert [t.kind for t in chain.feed(at(1, 2), orange).transitions] == [Kind.UPGRADED]
    # In force (from day 2): lower runs, however many, change nothing.
    assert chain.state is not None and chain.state.in_force(at(2, 8))
    for when in (at(2, 8), at(2, 14), at(2, 20), at(3, 2)):
        assert chain.feed(when, ev(2, 250, 260, 100)).transitions == ()
    assert chain.state.level == ORANGE
    # A duty officer may still downgrade by hand, and the lift rule still ends it.
    assert downgrade(
        chain.state, YELLOW, actor="li", reason="好转", at=at(3, 3)
    ).new_state.level == (YELLOW)
    assert [t.kind for t in chain.feed(at(3, 8), ev(3, 100, 100, 100)).transitions] == [Kind.LIFTED]


# --- lifting and the merge gap -----------------------------------------------------------------


def issued_in_force() -> Chain:
    chain = Chain()
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))  # yellow, days 2-3
    assert chain.state is not None and chain.state.in_force(at(2, 0))
    return chain


def test_lift_when_the_forecast_stays_below_for_36_hours() -> None:
    chain = issued_in_force()
    # Day 4 08:00, path from the episode's first day: today and the next two days clean.
    (tr,) = chain.feed(at(4, 8), ev(2, 250, 260, 100, 100, 100)).transitions
    assert tr.kind == Kind.LIFTED and tr.public and tr.status_after == Status.LIFTED
    assert "64" in tr.reason_en and "36 h" in tr.reason_en
    assert chain.state is not None and chain.state.closed_at == at(4, 8)


@pytest.mark.parametrize(
    ("when", "aqis", "expected_clear"),
    [
        (at(4, 8), (100, 100, 100), 64.0),
        (at(4, 20), (100, 100, 250), 28.0),  # only 4 h of today + 24 h: not 36 h
        (at(4, 20), (100, 100), 28.0),  # the path ends: what follows is unknown
        (at(4, 8), (210, 100, 100), 0.0),  # today itself above 200
        (at(4, 13), (100, 100, 250), 35.0),
        (at(4, 11), (100, 100, 250), 37.0),
    ],
)
def test_clear_hours(when: datetime, aqis: tuple[int, ...], expected_clear: float) -> None:
    evaluation = ev(4, *aqis)
    assert clear_hours(evaluation, when, ZONE) == pytest.approx(expected_clear)
    chain = issued_in_force()
    kinds = [t.kind for t in chain.feed(when, evaluation).transitions]
    # Not lifted: a heavy day within the merge gap continues (and may extend) the episode.
    assert (Kind.LIFTED in kinds) == (expected_clear >= 36)


@pytest.mark.parametrize(
    ("when", "path_from", "aqis", "today_aqi", "expected_clear"),
    [
        # A station outage: too few observed hours, so the path starts tomorrow. Without
        # today's AQI from the hours it has, today is not clear and nothing ever lifts.
        (at(4, 14), 5, (100, 100, 100), None, 0.0),
        (at(4, 14), 5, (100, 100, 100), 43, 82.0),  # the rest of today and three days
        (at(4, 14), 5, (100, 100, 100), 250, 0.0),  # tonight's forecast is heavy
        (at(4, 14), 5, (100, 250), 43, 34.0),  # 10 h + 24 h: not 36 h
        # Today in the path (observed + forecast, a whole day): the path's value counts.
        (at(4, 14), 4, (100, 100, 100), 250, 58.0),
        (at(4, 14), 4, (250, 100, 100), 43, 0.0),
    ],
)
def test_clear_hours_with_today_from_the_hours_it_has(
    when: datetime,
    path_from: int,
    aqis: tuple[int, ...],
    today_aqi: int | None,
    expected_clear: float,
) -> None:
    evaluation = ev(path_from, *aqis)
    assert clear_hours(evaluation, when, ZONE, today_aqi) == pytest.approx(expected_clear)


def test_a_warning_in_force_lifts_during_a_station_outage() -> None:
    chain = issued_in_force()
    # Day 4 14:00, no observation today: the path starts on day 5, clean for three days.
    outage = ev(5, 100, 100, 100)
    assert chain.state is not None
    kept = step(chain.state, outage, run("r2", at(4, 14)), POLICY)
    assert kept.transitions == () and kept.new_state is not None
    assert kept.new_state.status == Status.ISSUED
    info = RunInfo("r2", at(4, 14), "p1", "beijing", ZONE, today_aqi=43)
    (tr,) = step(chain.state, outage, info, POLICY).transitions
    assert tr.kind == Kind.LIFTED and tr.public and "82" in tr.reason_en


def test_restart_within_merge_gap_continues_instead_of_lifting() -> None:
    chain = issued_in_force()
    # Day 4 08:00: today clean, then one clean day, heavy again on day 6 (24 h gap).
    # Clear for 40 h >= 36 h, but the restart is within the 48 h merge gap: no lift.
    policy = Policy(merge_gap_hours=48)
    chain.policy = policy
    decision = chain.feed(at(4, 8), ev(2, 250, 260, 100, 100, 250, 260, 100))
    assert [t.kind for t in decision.transitions] == [Kind.EXTENDED]
    assert decision.new_state is not None and decision.new_state.valid_until == at(8, 0)


def test_episode_restarting_within_merge_gap_after_lift_keeps_its_id() -> None:
    chain = issued_in_force()
    chain.feed(at(4, 8), ev(2, 250, 260, 100, 100, 100))
    assert chain.state is not None and chain.state.status == Status.LIFTED
    first_id = chain.state.episode_id
    # Next run: heavy again from day 5 00:00, 16 h after the lift (within 36 h).
    (tr,) = chain.feed(at(4, 14), ev(4, 100, 250, 260, 100)).transitions
    assert tr.kind == Kind.ISSUED and tr.episode_id == first_id
    assert tr.status_before == Status.LIFTED and "Continues episode" in tr.reason_en


def test_episode_restarting_after_merge_gap_is_a_new_episode() -> None:
    chain = issued_in_force()
    chain.feed(at(4, 8), ev(2, 250, 260, 100, 100, 100))
    first_id = chain.state.episode_id if chain.state else None
    (tr,) = chain.feed(at(5, 8), ev(5, 100, 100, 250, 260)).transitions  # day 7: 64 h after lift
    assert tr.kind == Kind.ISSUED and tr.episode_id != first_id and tr.status_before is None


def test_chains_merge_spans_across_short_gaps() -> None:
    evaluation = ev(0, 250, 100, 250, 260, 100, 100, 250)
    merged = chains(evaluation, day(0), 36)
    assert [(c.first_day, c.last_day, c.level) for c in merged] == [
        (day(0), day(3), YELLOW),
        (day(6), day(6), BLUE),
    ]
    assert len(chains(evaluation, day(0), 0)) == 3
    assert chains(evaluation, day(4), 36)[0].first_day == day(6)  # spans ended before today


# --- the last day of a long episode -----------------------------------------------------------


def test_path_from_the_episode_start_keeps_a_red_episode_red() -> None:
    chain = Chain()
    chain.feed(at(0), ev(0, 100, 100, 250, 320, 330, 250, 100))  # red, days 2-5
    state = chain.state
    assert state is not None and state.level == RED
    assert path_first_day(state, day(5)) == day(2)
    assert path_first_day(None, day(5)) == day(5)
    assert path_first_day(state, day(9)) == day(6)  # at most 3 days back
    for offset in (3, 4, 5):
        evaluation = ev(2, *[250, 320, 330, 250, 100, 100][: offset - 2 + 3])
        assert chain.feed(at(offset, 8), evaluation).transitions == ()
    assert chain.state is not None and chain.state.level == RED


# --- approval ---------------------------------------------------------------------------------


NEEDS_OFFICER = Policy(auto_levels=frozenset({BLUE, YELLOW}))


def proposed_orange() -> Chain:
    chain = Chain(NEEDS_OFFICER)
    (tr,) = chain.feed(at(0), ev(0, 100, 100, 250, 320, 250, 100)).transitions
    assert tr.kind == Kind.PROPOSED and not tr.public
    assert (tr.status_after, tr.level_after, tr.proposed_level_after) == (
        Status.PROPOSED,
        None,
        ORANGE,
    )
    assert "2016-12-11 00:00+0800" in tr.reason_zh  # decide by 24 h before day 2
    return chain


def test_levels_needing_approval_wait_as_proposals() -> None:
    chain = proposed_orange()
    assert chain.state is not None and chain.state.pending is not None
    assert chain.state.pending.issue_by == at(1, 0)
    assert chain.feed(at(0, 14), ev(0, 100, 100, 250, 320, 250, 100)).transitions == ()
    # A higher forecast revises the proposal; a lower one keeps the higher proposal.
    (tr,) = chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 330, 250)).transitions
    assert (tr.kind, tr.proposed_level_before, tr.proposed_level_after) == (
        Kind.PROPOSED,
        ORANGE,
        RED,
    )
    assert chain.feed(at(1, 2), ev(1, 100, 250, 320, 250, 100)).transitions == ()
    assert chain.state is not None and chain.state.pending is not None
    assert chain.state.pending.level == RED


def test_approve_issues_with_actor_reason_and_before_after() -> None:
    chain = proposed_orange()
    assert chain.state is not None
    decision = approve(chain.state, actor="duty:wang", reason="会商确认", at=at(0, 9))
    (tr,) = decision.transitions
    assert tr.kind == Kind.ISSUED and tr.public and tr.actor == "duty:wang"
    assert (tr.status_before, tr.status_after) == (Status.PROPOSED, Status.ISSUED)
    assert (tr.level_before, tr.level_after) == (None, ORANGE)
    assert (tr.proposed_level_before, tr.proposed_level_after) == (ORANGE, None)
    assert tr.run_id == "r1" and tr.plan_version == "p1" and tr.at == at(0, 9)
    assert "会商确认" in tr.reason_zh and "duty:wang" in tr.reason_en
    assert tr.lead_hours == pytest.approx(39) and not tr.late
    assert tr.effective_from == at(2, 0)


def test_approval_after_the_decide_by_time_is_late() -> None:
    chain = proposed_orange()
    assert chain.state is not None
    (tr,) = approve(chain.state, actor="wang", reason="ok", at=at(1, 6)).transitions
    assert tr.late and tr.lead_hours == pytest.approx(18)


def test_approve_at_another_level_holds_it() -> None:
    chain = proposed_orange()
    assert chain.state is not None
    decision = approve(chain.state, actor="wang", reason="更严", at=at(0, 9), level=RED)
    assert decision.new_state is not None and decision.new_state.level == RED
    chain.state = decision.new_state
    chain.policy = Policy(
        auto_levels=frozenset({BLUE, YELLOW}), downgrade_runs=1, downgrade_hours=0
    )
    orange = ev(0, 100, 100, 250, 320, 250, 100)
    assert chain.feed(at(0, 14), orange).transitions == ()  # not below the officer's red


def test_change_level_edits_a_proposal_without_issuing() -> None:
    chain = proposed_orange()
    assert chain.state is not None
    decision = change_level(chain.state, YELLOW, actor="wang", reason="预报偏高", at=at(0, 9))
    (tr,) = decision.transitions
    assert tr.kind == Kind.LEVEL_CHANGED and not tr.public
    assert (tr.proposed_level_before, tr.proposed_level_after) == (ORANGE, YELLOW)
    assert decision.new_state is not None and decision.new_state.status == Status.PROPOSED


def test_rejected_proposal_is_not_proposed_again_at_the_same_level() -> None:
    chain = proposed_orange()
    assert chain.state is not None
    decision = reject(chain.state, actor="wang", reason="不同意", at=at(0, 9))
    (tr,) = decision.transitions
    assert tr.kind == Kind.REJECTED and not tr.public and tr.status_after == Status.REJECTED
    assert tr.proposed_level_before == ORANGE and "不同意" in tr.reason_zh
    chain.state = decision.new_state
    assert chain.feed(at(0, 14), ev(0, 100, 100, 250, 320, 250, 100)).transitions == ()
    assert chain.feed(at(0, 20), ev(0, 100, 100, 250, 260, 250, 100)).transitions == ()
    (again,) = chain.feed(at(1, 2), ev(1, 100, 250, 320, 330, 250)).transitions
    assert again.kind == Kind.PROPOSED and again.proposed_level_after == RED
    assert again.episode_id == "beijing:r1"


def test_proposal_cancelled_when_the_forecast_drops() -> None:
    chain = proposed_orange()
    (tr,) = chain.feed(at(0, 14), ev(0, 100, 100, 150, 120)).transitions
    assert tr.kind == Kind.CANCELLED and not tr.public and tr.status_after == Status.CANCELLED


def test_upgrade_needing_approval_is_proposed_on_an_active_warning() -> None:
    chain = Chain(NEEDS_OFFICER)
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))  # yellow issued automatically
    (tr,) = chain.feed(at(0, 14), ev(0, 100, 100, 250, 320, 250, 100)).transitions
    assert tr.kind == Kind.PROPOSED and (tr.level_after, tr.proposed_level_after) == (
        YELLOW,
        ORANGE,
    )
    assert chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 250, 100)).transitions == ()
    assert chain.state is not None
    (up,) = approve(chain.state, actor="wang", reason="同意", at=at(0, 21)).transitions
    assert (
        up.kind == Kind.UPGRADED
        and up.public
        and (up.level_before, up.level_after) == (YELLOW, ORANGE)
    )


def test_rejected_upgrade_is_not_proposed_again() -> None:
    chain = Chain(NEEDS_OFFICER)
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))
    chain.feed(at(0, 14), ev(0, 100, 100, 250, 320, 250, 100))
    assert chain.state is not None
    decision = reject(chain.state, actor="wang", reason="no", at=at(0, 15))
    assert decision.new_state is not None and decision.new_state.status == Status.ISSUED
    chain.state = decision.new_state
    assert chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 250, 100)).transitions == ()


# --- cancelled warnings -----------------------------------------------------------------------


def test_issued_warning_not_in_force_is_cancelled_after_damping() -> None:
    chain = Chain(Policy(downgrade_hours=12))  # the default 36 h outlasts this warning's lead
    chain.feed(at(0), ev(0, 100, 100, 250, 260, 100))
    clean = ev(0, 100, 100, 150, 120, 100)
    assert chain.feed(at(0, 14), clean).transitions == ()  # one lower run: keep
    assert chain.feed(at(0, 20), clean).transitions == ()  # two, but only 6 h apart
    (tr,) = chain.feed(at(1, 2), clean).transitions
    assert tr.kind == Kind.CANCELLED and tr.public and tr.status_after == Status.CANCELLED


# --- duty officer actions on an active warning ------------------------------------------------


def active_yellow() -> EpisodeState:
    decision = step(None, ev(0, 100, 100, 250, 260, 100), run("r1", at(0)), POLICY)
    assert decision.new_state is not None
    return decision.new_state


def test_manual_upgrade_downgrade_extend_record_before_and_after() -> None:
    state = active_yellow()
    up = upgrade(state, ORANGE, actor="wang", reason="会商", at=at(1))
    (t1,) = up.transitions
    assert (t1.kind, t1.level_before, t1.level_after, t1.actor) == (
        Kind.UPGRADED,
        YELLOW,
        ORANGE,
        "wang",
    )
    assert t1.public and t1.run_id == "r1" and t1.at == at(1)
    assert up.new_state is not None
    down = downgrade(up.new_state, BLUE, actor="li", reason="好转", at=at(1, 12))
    (t2,) = down.transitions
    assert (t2.kind, t2.level_before, t2.level_after) == (Kind.DOWNGRADED, ORANGE, BLUE)
    assert down.new_state is not None
    ext = extend(down.new_state, at(6, 0), actor="li", reason="延长", at=at(1, 13))
    (t3,) = ext.transitions
    assert t3.kind == Kind.EXTENDED and t3.valid_until == at(6, 0) and t3.public
    assert ext.new_state is not None and ext.new_state.last_day == day(5)


def test_manual_downgrade_is_not_undone_by_the_next_run() -> None:
    chain = Chain()
    chain.feed(at(0), ev(0, 100, 100, 250, 320, 250, 100))  # orange
    assert chain.state is not None
    chain.state = downgrade(chain.state, YELLOW, actor="wang", reason="x", at=at(0, 9)).new_state
    assert chain.feed(at(0, 14), ev(0, 100, 100, 250, 320, 250, 100)).transitions == ()
    (tr,) = chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 330, 250)).transitions
    assert (tr.kind, tr.level_after) == (Kind.UPGRADED, RED)  # only above the level it had


def test_manual_lift_then_restart_is_only_proposed_and_only_above() -> None:
    chain = issued_in_force()
    assert chain.state is not None
    decision = lift(chain.state, actor="wang", reason="提前解除", at=at(2, 12))
    (tr,) = decision.transitions
    assert tr.kind == Kind.LIFTED and tr.public and tr.actor == "wang"
    chain.state = decision.new_state
    assert chain.feed(at(2, 14), ev(2, 250, 260, 100)).transitions == ()  # yellow again
    (again,) = chain.feed(at(2, 20), ev(2, 250, 320, 250, 100)).transitions  # orange
    assert again.kind == Kind.PROPOSED and not again.public  # auto level, yet proposed
    assert again.episode_id == tr.episode_id


def test_manual_cancel_before_effect_and_refusals() -> None:
    state = active_yellow()
    (tr,) = cancel(state, actor="wang", reason="误报", at=at(0, 9)).transitions
    assert tr.kind == Kind.CANCELLED and tr.public
    with pytest.raises(EpisodeError, match="in force; lift it instead"):
        cancel(state, actor="wang", reason="x", at=at(2, 9))
    with pytest.raises(EpisodeError, match="reason"):
        lift(state, actor="wang", reason=" ", at=at(2, 9))
    with pytest.raises(EpisodeError, match="actor"):
        lift(state, actor="", reason="x", at=at(2, 9))
    with pytest.raises(EpisodeError, match="nothing waiting"):
        approve(state, actor="wang", reason="x", at=at(0, 9))
    with pytest.raises(EpisodeError, match="not above"):
        upgrade(state, YELLOW, actor="wang", reason="x", at=at(0, 9))
    with pytest.raises(EpisodeError, match="not after"):
        extend(state, at(3, 0), actor="wang", reason="x", at=at(0, 9))
    with pytest.raises(EpisodeError, match="older"):
        lift(state, actor="wang", reason="x", at=at(0, 7))
    closed = lift(state, actor="wang", reason="x", at=at(2, 9)).new_state
    assert closed is not None
    with pytest.raises(EpisodeError, match="cannot lift"):
        lift(closed, actor="wang", reason="x", at=at(2, 10))


# --- drills and guards ------------------------------------------------------------------------


def test_drill_flag_is_carried_and_never_mixed() -> None:
    chain = Chain(drill=True)
    (tr,) = chain.feed(at(0), ev(0, 100, 100, 250, 260, 100)).transitions
    assert tr.drill and chain.state is not None and chain.state.drill
    (up,) = upgrade(chain.state, RED, actor="wang", reason="演练", at=at(0, 9)).transitions
    assert up.drill
    with pytest.raises(EpisodeError, match="drill"):
        step(chain.state, ev(0, 100), run("real", at(0, 10)), POLICY)


def test_runs_out_of_order_or_for_another_city_are_refused() -> None:
    state = active_yellow()
    with pytest.raises(EpisodeError, match="older"):
        step(state, ev(0, 100), run("old", at(0, 7)), POLICY)
    other = RunInfo("r2", at(0, 9), "p1", "tianjin", ZONE)
    with pytest.raises(EpisodeError, match="tianjin"):
        step(state, ev(0, 100), other, POLICY)
    with pytest.raises(ValueError, match="aware"):
        step(None, ev(0, 100), run("naive", datetime(2016, 12, 10, 8)), POLICY)


def test_no_level_and_no_state_is_no_episode() -> None:
    decision = step(None, ev(0, 120, 180, 200), run("r1", at(0)), POLICY)
    assert decision == Decision((), None)


def test_policy_from_a_plan() -> None:
    from types import SimpleNamespace

    plan = SimpleNamespace(
        approval=SimpleNamespace(auto=["blue", "yellow"], duty_officer=["orange", "red"]),
        lead_time_hours=48,
        lift_after_hours=36,
        episode_merge_gap_hours=24,
    )
    policy = Policy.from_plan(plan, downgrade_runs=3)
    assert policy.auto_levels == frozenset({BLUE, YELLOW})
    assert (policy.lead_hours, policy.lift_hours, policy.merge_gap_hours) == (48, 36, 24)
    assert policy.downgrade_runs == 3
    assert policy.downgrade_in_force  # the default when a plan does not say
    plan.downgrade_in_force = False
    assert not Policy.from_plan(plan).downgrade_in_force


def test_pending_downgrade_is_withdrawn_when_the_forecast_comes_back() -> None:
    chain = Chain(Policy(auto_levels=frozenset({ORANGE, RED}), downgrade_runs=1, downgrade_hours=0))
    chain.feed(at(0), ev(0, 100, 100, 250, 320, 250, 100))  # orange, automatic
    (proposal,) = chain.feed(at(0, 14), ev(0, 100, 100, 250, 260, 100)).transitions
    assert proposal.kind == Kind.PROPOSED and proposal.proposed_level_after == YELLOW
    assert proposal.level_after == ORANGE  # still in force while the downgrade waits
    (withdrawn,) = chain.feed(at(0, 20), ev(0, 100, 100, 250, 320, 250, 100)).transitions
    assert withdrawn.kind == Kind.WITHDRAWN and not withdrawn.public
    assert (withdrawn.proposed_level_before, withdrawn.proposed_level_after) == (YELLOW, None)


def test_upgrade_while_in_force_keeps_the_start() -> None:
    chain = issued_in_force()
    (tr,) = chain.feed(at(2, 8), ev(2, 250, 320, 330, 250, 100)).transitions
    assert (tr.kind, tr.level_before, tr.level_after) == (Kind.UPGRADED, YELLOW, RED)
    assert tr.effective_from == at(2, 0) and tr.valid_until == at(6, 0)
