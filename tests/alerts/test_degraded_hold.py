"""`alerts.episodes.hold_if_degraded`: a degraded run never lowers or ends a warning."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.episodes import Decision, Kind, Status, Transition, hold_if_degraded

AT = datetime(2016, 12, 20, 4, tzinfo=UTC)


def _transition(kind: Kind) -> Transition:
    return Transition(
        episode_id="110000:1",
        kind=kind,
        at=AT,
        status_before=Status.ISSUED,
        status_after=Status.ISSUED,
        level_before=None,
        level_after=None,
        proposed_level_before=None,
        proposed_level_after=None,
        run_id="2",
        plan_version="v",
        actor="system",
        reason_zh="",
        reason_en="",
        public=False,
        drill=False,
        effective_from=None,
        valid_until=None,
    )


def test_a_degraded_run_holds_withdrawals_downgrades_lifts_and_cancellations() -> None:
    """Issue 10 case: a temperature-only run withdrew a pending yellow proposal in the
    middle of a red-alert episode; a degraded run's lowering step waits for an officer."""
    for kind in (Kind.WITHDRAWN, Kind.DOWNGRADED, Kind.LIFTED, Kind.CANCELLED):
        decision = Decision(transitions=(_transition(kind),), new_state=None)
        held = hold_if_degraded(None, decision, degraded=True)
        assert held.transitions == () and held.new_state is None
        # A complete run does it.
        assert hold_if_degraded(None, decision, degraded=False) is decision


def test_a_degraded_run_may_still_raise_a_warning() -> None:
    for kind in (Kind.PROPOSED, Kind.UPGRADED, Kind.ISSUED, Kind.EXTENDED):
        decision = Decision(transitions=(_transition(kind),), new_state=None)
        assert hold_if_degraded(None, decision, degraded=True) is decision
