"""Hypothesis properties of the warning rules: a higher daily-AQI path never lowers the
criteria level; no sequence of runs makes the episode machine announce a warning that did
not change, or change an episode without an audit line for each step."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.criteria import all_criteria_sets, evaluate
from alerts.episodes import EpisodeState, Policy, RunInfo, Transition, local_day, step
from alerts.levels import Level

ZONE = "Asia/Shanghai"
D0 = date(2016, 12, 10)
CRITERIA = sorted(all_criteria_sets())
PROPERTY = settings(
    max_examples=150, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def rank(level: Level | None) -> int:
    return 0 if level is None else level.rank


@PROPERTY
@given(
    criteria=st.sampled_from(CRITERIA),
    path=st.lists(st.integers(0, 500), min_size=1, max_size=8),
    raises=st.lists(st.integers(0, 200), min_size=8, max_size=8),
)
def test_a_higher_path_never_lowers_the_level(
    criteria: str, path: list[int], raises: list[int]
) -> None:
    higher = [min(500, a + r) for a, r in zip(path, raises, strict=False)]
    days = [D0 + timedelta(days=i) for i in range(len(path))]
    low = evaluate(list(zip(days, path, strict=True)), criteria).level
    high = evaluate(list(zip(days, higher, strict=True)), criteria).level
    assert rank(high) >= rank(low), (path, higher)


def public(state: EpisodeState | None) -> tuple[object, ...] | None:
    """What the public sees of an episode."""
    if state is None:
        return None
    return (state.episode_id, state.status, state.level, state.effective_from, state.valid_until)


def audited(state: EpisodeState | None) -> tuple[object, ...] | None:
    """What the audit trail follows: status, level in force, level waiting."""
    if state is None or state.is_closed:
        return None
    waiting = state.pending.level if state.pending else None
    return (state.status, state.level, waiting)


def check_chain(before: EpisodeState | None, transitions: tuple[Transition, ...]) -> None:
    """Each transition starts where the previous one (or the state) ended; a new episode
    starts from nothing, a closed one that continues (merge gap) from where it closed."""
    status = None if before is None else before.status
    level = None if before is None else before.level
    for t in transitions:
        starts_afresh = t.status_before is None and t.level_before is None
        if not (starts_afresh and (before is None or before.is_closed)):
            assert (t.status_before, t.level_before) == (status, level), t
        status, level = t.status_after, t.level_after


RUNS = st.lists(
    st.tuples(
        st.integers(1, 30),  # hours after the previous run
        st.lists(st.integers(0, 500), min_size=4, max_size=6),  # daily AQI from the run's day
    ),
    min_size=1,
    max_size=12,
)


@PROPERTY
@given(
    runs=RUNS,
    criteria=st.sampled_from(CRITERIA),
    proposals=st.booleans(),
    downgrade_in_force=st.booleans(),
)
def test_runs_never_reannounce_an_unchanged_warning_or_skip_an_audit_line(
    runs: list[tuple[int, list[int]]], criteria: str, proposals: bool, downgrade_in_force: bool
) -> None:
    auto = frozenset({Level.BLUE}) if proposals else frozenset(Level)
    policy = Policy(auto_levels=auto, downgrade_in_force=downgrade_in_force)
    state: EpisodeState | None = None
    when = datetime.combine(D0, time(8), tzinfo=ZoneInfo(ZONE))
    for n, (gap, path) in enumerate(runs):
        when += timedelta(hours=gap)
        today = local_day(when, ZONE)
        evaluation = evaluate(
            [(today + timedelta(days=i), a) for i, a in enumerate(path)], criteria
        )
        info = RunInfo(f"r{n}", when, "p1", "110000", ZONE)
        decision = step(state, evaluation, info, policy)
        after = decision.new_state
        if public(after) == public(state):
            assert decision.public_transitions == (), (n, decision.transitions)
        if audited(after) != audited(state) and not (
            after is not None and state is not None and after.episode_id != state.episode_id
        ):
            assert decision.transitions, (n, state, after)
        check_chain(state, decision.transitions)
        if decision.transitions and after is not None and not after.is_closed:
            last = decision.transitions[-1]
            assert (last.status_after, last.level_after) == (after.status, after.level)
        state = after
