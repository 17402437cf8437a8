"""Evaluating a forecast run: proposals or issued warnings per the plan, no
re-announcement, drill, and one transaction for warnings, audit and outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.database import get_sessionmaker
from app.forecast_runs import service as forecast_runs
from app.outbox.models import OutboxEvent
from app.plans.service import load_plan_files
from app.timestamps import utcnow
from app.warnings import (
    evaluation,
)
from app.warnings.models import CityWarning, Episode, WarningEvent


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count(CityWarning.id))) or 0,
        session.scalar(select(func.count(WarningEvent.id))) or 0,
        session.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
    )


def test_heavy_path_is_proposed_where_the_plan_needs_approval(session: Session, hw: Any) -> None:
    issued = hw.run_time()
    run_id = hw.make_run(
        session,
        issued,
        {
            hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH),
            hw.SHIJIAZHUANG: hw.heavy_days(issued, hw.ORANGE_PATH),
        },
    )
    result = evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()

    by_city = {outcome.city_code: outcome for outcome in result.cities}
    assert by_city[hw.BEIJING].transitions == ["proposed"]
    beijing = session.scalars(select(CityWarning).where(CityWarning.city_code == hw.BEIJING)).one()
    assert (beijing.state, beijing.level) == ("proposed", "orange")
    assert beijing.issued_at is None and beijing.cap_identifier is None  # nothing announced
    # Beijing decides by probability: the severe day's P(> 250 µg/m³) reaches the plan's
    # cut-off, so it counts as above 300 although its p50 (210 µg/m³) is AQI 260.
    assert beijing.aqi_forecast == 301
    assert beijing.forecast_run_id == str(run_id)
    start = hw.local_day(issued, 2)
    assert beijing.effective.astimezone(hw.ZONE).date() == start
    assert beijing.issue_by == beijing.effective - timedelta(hours=24)
    # Shijiazhuang follows mee-2018 (orange: > 200 for 72 h), also waiting for an officer.
    sjz = session.scalars(select(CityWarning).where(CityWarning.city_code == hw.SHIJIAZHUANG)).one()
    assert (sjz.state, sjz.level) == ("proposed", "orange")

    [audit] = session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == beijing.id)
    ).all()
    assert (audit.actor, audit.kind, audit.run_id) == ("system", "proposed", str(run_id))
    assert audit.plan_version == beijing.plan_version and len(audit.plan_version) == 12
    assert audit.before is None and audit.after["proposed_level"] == "orange"
    event = session.get(OutboxEvent, audit.outbox_event_id)
    assert event is not None and event.type == "warning.proposed" and event.audience == "staff"


def test_auto_level_is_issued_at_once_with_its_lead_time(session: Session, hw: Any) -> None:
    issued = hw.run_time()
    # One heavy day: blue, which Beijing's plan issues automatically.
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
    evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    warning = session.scalars(select(CityWarning)).one()
    assert (warning.state, warning.level) == ("issued", "blue")
    assert warning.issued_at == issued
    first_day_start = warning.effective
    assert warning.lead_hours == (first_day_start - issued).total_seconds() / 3600
    assert warning.lead_hours >= 24 and not warning.late
    assert warning.cap_msg_type == "Alert" and warning.cap_sequence == 1
    assert [a["sector"] for a in warning.payload["actions"]]  # the plan's blue measures
    event = session.scalars(select(OutboxEvent)).one()
    assert event.type == "warning.issued" and event.level == "blue"


def test_the_plan_approval_rule_decides_between_proposal_and_issue(
    session: Session, hw: Any, tmp_path: Path
) -> None:
    # The same Beijing plan with orange issued automatically.
    text = hw.plan_file(hw.BEIJING).read_text(encoding="utf-8")
    text = text.replace("auto: [blue]", "auto: [blue, yellow, orange]").replace(
        "duty_officer: [yellow, orange, red]", "duty_officer: [red]"
    )
    changed = tmp_path / "110000-beijing.yaml"
    changed.write_text(text, encoding="utf-8")
    [outcome] = load_plan_files(session, [changed], utcnow())
    assert outcome.status == "added"
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, hw.ORANGE_PATH)})
    evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    warning = session.scalars(select(CityWarning)).one()
    assert (warning.state, warning.level) == ("issued", "orange")
    assert warning.plan_version == outcome.version


def test_re_evaluating_or_an_unchanged_new_run_announces_nothing(session: Session, hw: Any) -> None:
    issued = hw.run_time() - timedelta(hours=6)
    days = {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,), first_offset=2)}
    first = hw.make_run(session, issued, days)
    evaluation.evaluate_run(session, first, utcnow())
    session.commit()
    before = counts(session)
    assert before[0] == 1 and before[2] == 1

    again = evaluation.evaluate_run(session, first, utcnow())
    session.commit()
    assert counts(session) == before
    assert again.cities[0].status == "skipped" and again.transitions == 0

    # A later run with the same forecast changes nothing public: no event, no CAP.
    second = hw.make_run(session, issued + timedelta(hours=6), days)
    result = evaluation.evaluate_run(session, second, utcnow())
    session.commit()
    assert result.transitions == 0
    assert counts(session) == before
    warning = session.scalars(select(CityWarning)).one()
    assert warning.cap_sequence == 1
    episode = session.scalars(select(Episode)).one()
    assert episode.run_id == str(second)  # the rules remember which run they saw last


def test_an_older_run_evaluated_late_is_skipped(session: Session, hw: Any) -> None:
    issued = hw.run_time() - timedelta(hours=6)
    days = {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))}
    older = hw.make_run(session, issued, days)
    newer = hw.make_run(session, issued + timedelta(hours=6), days)
    evaluation.evaluate_run(session, newer, utcnow())
    result = evaluation.evaluate_run(session, older, utcnow())
    assert result.cities[0].status == "skipped" and "newer" in result.cities[0].note


def test_rollback_leaves_no_warning_audit_or_outbox_event(
    database_url: str, plans: None, hw: Any
) -> None:
    session = get_sessionmaker()()
    try:
        issued = hw.run_time()
        run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
        session.commit()
        evaluation.evaluate_run(session, run_id, utcnow())
        assert counts(session) == (1, 1, 1)  # written in the open transaction
        session.rollback()
        assert counts(session) == (0, 0, 0)
    finally:
        session.close()


def test_drill_runs_mark_everything_and_never_touch_real_episodes(
    session: Session, hw: Any
) -> None:
    issued = hw.run_time()
    days = {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))}
    real = hw.make_run(session, issued, days)
    drill = hw.make_run(session, issued, days, drill=True)
    evaluation.evaluate_run(session, real, utcnow())
    evaluation.evaluate_run(session, drill, utcnow())
    session.commit()
    warnings = session.scalars(select(CityWarning).order_by(CityWarning.id)).all()
    assert [(w.drill, w.state) for w in warnings] == [(False, "issued"), (True, "issued")]
    assert warnings[0].cap_identifier != warnings[1].cap_identifier
    assert warnings[1].payload["drill"] is True
    drill_events = session.scalars(select(WarningEvent).where(WarningEvent.drill.is_(True))).all()
    assert len(drill_events) == 1


def test_the_drill_setting_turns_a_real_run_into_an_exercise(
    session: Session, hw: Any, monkeypatch: Any
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_DRILL", "true")
    get_settings.cache_clear()
    try:
        issued = hw.run_time()
        run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
        result = evaluation.evaluate_run(session, run_id, utcnow())
        assert result.drill
        assert session.scalars(select(CityWarning)).one().drill
    finally:
        monkeypatch.delenv("HAZEWARN_DRILL")
        get_settings.cache_clear()


def test_observed_hours_count_and_heavy_pollution_under_way_issues_at_once(
    session: Session, hw: Any, tmp_path: Path
) -> None:
    text = hw.plan_file(hw.BEIJING).read_text(encoding="utf-8")
    changed = tmp_path / "110000-beijing.yaml"
    text = text.replace("auto: [blue]", "auto: [blue, yellow]").replace(
        "duty_officer: [yellow, orange, red]", "duty_officer: [orange, red]"
    )
    # Today's rest is read from the hourly p90 (as the scenario makes it heavy).
    text = text.replace(
        "decide_from: probability\nprobability_cutoffs:\n  200: 0.30\n  300: 0.50\n",
        "decide_from: p90\n",
    )
    assert "decide_from: p90" in text
    changed.write_text(text, encoding="utf-8")
    [outcome] = load_plan_files(session, [changed], utcnow())
    assert outcome.status == "added", outcome.problems
    issued = hw.run_time()
    # Observed heavy for the last 30 hours; the forecast keeps it heavy today and tomorrow.
    hw.add_observations(
        session, hw.BEIJING, issued - timedelta(hours=30), issued + timedelta(hours=1), hw.HEAVY
    )
    run_id = hw.make_run(
        session,
        issued,
        {hw.BEIJING: {hw.local_day(issued): hw.HEAVY, hw.local_day(issued, 1): hw.HEAVY}},
    )
    evaluation.evaluate_run(session, run_id, utcnow())
    warning = session.scalars(select(CityWarning)).one()
    # Today (observed + forecast hours) and tomorrow: two days > 200, yellow, in force now.
    assert (warning.state, warning.level) == ("issued", "yellow")
    assert warning.effective == issued and not warning.late


def test_the_forecast_runs_hook_evaluates_the_run(session: Session, hw: Any) -> None:
    evaluation.register_run_hook()
    evaluation.register_run_hook()  # once only
    assert forecast_runs.after_run_hooks.count(evaluation.evaluate_after_run) == 1
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
    run = session.get(forecast_runs.ForecastRun, run_id)
    for hook in forecast_runs.after_run_hooks:
        hook(session, run)
    assert session.scalars(select(CityWarning)).one().state == "issued"


def test_the_audit_trail_is_append_only(session: Session, hw: Any) -> None:
    import pytest

    from app.warnings.models import AuditTrailError

    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {hw.BEIJING: hw.heavy_days(issued, (hw.HEAVY,))})
    evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    entry = session.scalars(select(WarningEvent)).one()
    entry.reason = "rewritten"
    with pytest.raises(AuditTrailError):
        session.flush()
    session.rollback()
    session.delete(session.scalars(select(WarningEvent)).one())
    with pytest.raises(AuditTrailError):
        session.flush()
    session.rollback()
    assert session.scalars(select(WarningEvent)).one().reason != "rewritten"


def test_a_clean_forecast_lifts_a_warning_during_a_station_outage(
    session: Session, hw: Any
) -> None:
    from datetime import UTC

    # The outage run is at 14:00 local (the last one before now): its forecast covers only
    # 15:00-23:00 of today, too few hours for a day of the path.
    latest = hw.run_time().astimezone(hw.ZONE)
    outage_run = latest.replace(hour=14)
    if outage_run > latest:
        outage_run -= timedelta(days=1)
    outage_run = outage_run.astimezone(UTC)
    # 30 h earlier (08:00 the day before): a heavy day forecast for the outage run's day,
    # issued blue and in force from that day's start.
    first = outage_run - timedelta(hours=30)
    run_id = hw.make_run(session, first, {hw.BEIJING: {hw.local_day(outage_run): hw.HEAVY}})
    evaluation.evaluate_run(session, run_id, utcnow())
    warning = session.scalars(select(CityWarning)).one()
    assert (warning.state, warning.level) == ("issued", "blue")
    assert warning.effective <= outage_run < warning.expires

    # The outage run: clean air for the next 144 h, and no observation of the city today.
    clean = hw.make_run(session, outage_run, {hw.BEIJING: {}})
    result = evaluation.evaluate_run(session, clean, utcnow())
    session.commit()
    assert result.cities[0].transitions == ["lifted"]
    session.refresh(warning)
    assert (warning.state, warning.cap_msg_type) == ("lifted", "Cancel")
    assert "36 h" in warning.reason_en
    lifted = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "warning.lifted")).one()
    assert lifted.city_code == hw.BEIJING and lifted.audience == "subscribers"


def _set_probability(session: Session, run_id: int, days: list[Any], p150: float) -> None:
    from sqlalchemy import update

    from app.forecast_runs.models import ForecastDaily

    session.execute(
        update(ForecastDaily)
        .where(ForecastDaily.run_id == run_id, ForecastDaily.local_date.in_(days))
        .values(p_gt_150=p150)
    )


def test_beijing_decides_forecast_days_by_their_exceedance_probability(
    session: Session, hw: Any
) -> None:
    issued = hw.run_time()
    heavy = hw.heavy_days(issued, (hw.HEAVY, hw.HEAVY))
    # p90 heavy on both days, but P(> 150 µg/m³) under Beijing's cut-off (0.30): no warning.
    doubtful = hw.make_run(session, issued, {hw.BEIJING: heavy})
    _set_probability(session, doubtful, list(heavy), 0.25)
    [outcome] = [
        o
        for o in evaluation.evaluate_run(session, doubtful, utcnow()).cities
        if o.city_code == "110000"
    ]
    assert outcome.level is None and outcome.transitions == []
    assert session.scalars(select(CityWarning)).all() == []

    # p90 of 120 µg/m³ is AQI 158, but P(> 150 µg/m³) = 0.35 counts both days as > 200.
    later = issued + timedelta(minutes=30)
    moderate = {day: 120.0 for day in heavy}
    likely = hw.make_run(session, later, {hw.BEIJING: moderate})
    _set_probability(session, likely, list(heavy), 0.35)
    evaluation.evaluate_run(session, likely, utcnow())
    session.commit()
    warning = session.scalars(select(CityWarning)).one()
    assert (warning.state, warning.level) == ("proposed", "yellow")
    assert warning.aqi_forecast == 201  # the AQI a day counts with when only P says > 200
