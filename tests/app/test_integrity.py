"""`app.integrity.check_database`: passes on a sound database, names each kind of damage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.integrity import check_database

NOW = datetime(2026, 1, 15, 1, 10, tzinfo=UTC)


def _beijing_with_a_proposal() -> int:
    """Beijing's plan, a run forecasting four days of severe pollution and its warnings
    evaluation (a proposal, its audit line and outbox event, one subscription): the run id."""
    from app.auth.service import Role, create_key, principal_of
    from app.cities.service import sync_registry
    from app.database import session_scope
    from app.forecast_runs.service import store_scenario_run
    from app.plans.service import load_plan_files
    from app.subscriptions.service import Filters, create_subscription
    from app.warnings.evaluation import evaluate_run
    from contingency_plans.loader import PLANS_DIR

    with session_scope() as session:
        sync_registry(session)
        load_plan_files(session, [PLANS_DIR / "110000-beijing.yaml"], NOW)
        owner = principal_of(create_key(session, name="t", role=Role.ADMIN, now=NOW).row)
        create_subscription(
            session,
            owner,
            url="http://127.0.0.1:9/hook",
            description="test",
            filters=Filters(cities=[], levels=[], event_types=[]),
            now=NOW,
        )
        run_id = store_scenario_run(session, NOW, {"110000": {}}, hours=96, default_pm25=360.0)
        evaluate_run(session, run_id, NOW)
        return run_id


def _damage_without_foreign_keys(database_url: str, statement: str) -> None:
    """Run ``statement`` with foreign keys not enforced (as a crashed writer or a
    hand-edited database could leave it)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        raw = sqlite3.connect(str(make_url(database_url).database))  # keys off by default
        try:
            raw.execute(statement)
            raw.commit()
        finally:
            raw.close()
    else:
        from app.database import session_scope

        with session_scope() as session:
            session.execute(text("SET LOCAL session_replication_role = replica"))
            session.execute(text(statement))


def _sql(statement: str) -> Callable[[str], None]:
    def damage(database_url: str) -> None:
        from app.database import session_scope

        with session_scope() as session:
            session.execute(text(statement))

    return damage


DAMAGE: dict[str, tuple[Callable[[str], None], str]] = {
    "half-stored run": (
        _sql("DELETE FROM forecast_daily"),
        "has daily rows for 0",
    ),
    "warning issued twice": (
        _sql(
            "INSERT INTO warning_events (warning_id, episode_id, city_code, at, actor, kind, "
            "reason, reason_zh, reason_en, public, drill, late) "
            "SELECT id, episode_id, city_code, created_at, 'x', 'issued', '', '', '', "
            "false, false, false FROM warnings"
        ),
        # one 'issued' line is fine (there is none yet: the warning is proposed); add two
        "",
    ),
    "unknown delivery state": (
        _sql("UPDATE deliveries SET status = 'sending'"),
        "unknown state 'sending'",
    ),
    "delivered without an attempt": (
        _sql("UPDATE deliveries SET status = 'delivered', delivered_at = next_attempt_at"),
        "without a successful attempt",
    ),
    "audit line missing": (
        lambda url: _damage_without_foreign_keys(url, "DELETE FROM warning_events"),
        "without any audit line",
    ),
    "orphan delivery": (
        lambda url: _damage_without_foreign_keys(url, "DELETE FROM outbox_events"),
        "deliveries.event_id",
    ),
}


def test_a_sound_database_passes(database_url: str) -> None:
    from app.database import session_scope
    from app.outbox.models import Delivery
    from app.warnings.models import CityWarning, WarningEvent

    _beijing_with_a_proposal()
    with session_scope() as session:
        # The check has something to look at: a proposal, its audit and its delivery.
        assert session.query(CityWarning).count() >= 1
        assert session.query(WarningEvent).count() >= 1
        assert session.query(Delivery).count() >= 1
        assert check_database(session) == []


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_kind_of_damage_is_found(database_url: str, kind: str) -> None:
    from app.database import session_scope

    _beijing_with_a_proposal()
    damage, expected = DAMAGE[kind]
    damage(database_url)
    if kind == "warning issued twice":
        damage(database_url)
        expected = "'issued' audit lines"
    with session_scope() as session:
        problems = check_database(session)
    assert problems, kind
    assert any(expected in line for line in problems), problems
