"""A consistency check of a hazewarn database, for the crash benchmarks and operators.

`check_database` reads (never writes) and returns one line per problem found:

- every foreign key of the schema points at an existing row (SQLite enforces them only
  per connection, and a crash must not leave orphans either way);
- every warning has its audit lines, and no warning was issued twice (two ``issued``
  audit lines, or two ``warning.issued`` outbox events naming it);
- every audit line that names an outbox event names one that exists;
- every forecast run is whole: it has hourly and daily rows for exactly the cities it
  counts (``city_count``) — a run is stored in one transaction, so never half of it;
- every delivery is in a known state: ``delivered`` with a time and a successful attempt
  logged, ``pending`` with a next attempt time, or ``failed``/``dead`` (given up).
"""

from __future__ import annotations

import json

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.models import Base
from app.outbox.models import Delivery, DeliveryAttempt, OutboxEvent
from app.warnings.models import CityWarning, WarningEvent

__all__ = ["DELIVERY_STATES", "check_database"]

#: Every state a delivery row may be in.
DELIVERY_STATES = frozenset({"pending", "delivered", "failed", "dead"})


def _orphans(session: Session) -> list[str]:
    """Rows whose foreign key names a row that does not exist, for every key of the schema."""
    problems = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            if len(fk.columns) != 1:  # none today; a composite key would need its own join
                continue
            column = next(iter(fk.columns))
            target = fk.elements[0].column
            missing = session.scalar(
                select(func.count())
                .select_from(table.outerjoin(target.table, column == target))
                .where(column.is_not(None), target.is_(None))
            )
            if missing:
                problems.append(
                    f"{table.name}.{column.name}: {missing} row(s) name a missing "
                    f"{target.table.name}.{target.name}"
                )
    return problems


def _warnings(session: Session) -> list[str]:
    problems = []
    unaudited = session.scalars(
        select(CityWarning.id)
        .outerjoin(WarningEvent, WarningEvent.warning_id == CityWarning.id)
        .where(WarningEvent.id.is_(None))
    ).all()
    if unaudited:
        problems.append(f"warnings without any audit line: {sorted(unaudited)}")
    twice = session.execute(
        select(WarningEvent.warning_id, func.count())
        .where(WarningEvent.kind == "issued", WarningEvent.warning_id.is_not(None))
        .group_by(WarningEvent.warning_id)
        .having(func.count() > 1)
    ).all()
    for warning_id, count in twice:
        problems.append(f"warning {warning_id} has {count} 'issued' audit lines")
    issued_events: dict[str, int] = {}
    for (payload,) in session.execute(
        select(OutboxEvent.payload).where(OutboxEvent.type == "warning.issued")
    ):
        warning = (json.loads(payload).get("data") or {}).get("warning") or {}
        key = str(warning.get("id"))
        issued_events[key] = issued_events.get(key, 0) + 1
    for key, count in sorted(issued_events.items()):
        if count > 1:
            problems.append(f"warning {key} was announced as issued {count} times")
    dangling = session.scalar(
        select(func.count())
        .select_from(WarningEvent)
        .outerjoin(OutboxEvent, OutboxEvent.id == WarningEvent.outbox_event_id)
        .where(WarningEvent.outbox_event_id.is_not(None), OutboxEvent.id.is_(None))
    )
    if dangling:
        problems.append(f"{dangling} audit line(s) name an outbox event that does not exist")
    return problems


def _runs(session: Session) -> list[str]:
    problems = []
    for table, label in ((ForecastHourly, "hourly"), (ForecastDaily, "daily")):
        cities = (
            select(table.run_id, func.count(func.distinct(table.city_code)).label("n"))
            .group_by(table.run_id)
            .subquery()
        )
        rows = session.execute(
            select(ForecastRun.id, ForecastRun.city_count, cities.c.n)
            .outerjoin(cities, cities.c.run_id == ForecastRun.id)
            .where(func.coalesce(cities.c.n, 0) != ForecastRun.city_count)
        ).all()
        for run_id, expected, found in rows:
            problems.append(
                f"forecast run {run_id} counts {expected} cities but has {label} rows "
                f"for {found or 0}"
            )
    return problems


def _deliveries(session: Session) -> list[str]:
    problems = []
    unknown = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.status.not_in(sorted(DELIVERY_STATES)))
        .group_by(Delivery.status)
    ).all()
    for status, count in unknown:
        problems.append(f"{count} deliveries in unknown state {status!r}")
    undated = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status == "delivered", Delivery.delivered_at.is_(None))
    )
    if undated:
        problems.append(f"{undated} delivered deliveries without a delivery time")
    unattempted = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .outerjoin(
            DeliveryAttempt,
            and_(DeliveryAttempt.delivery_id == Delivery.id, DeliveryAttempt.outcome == "success"),
        )
        .where(Delivery.status == "delivered", DeliveryAttempt.id.is_(None))
    )
    if unattempted:
        problems.append(f"{unattempted} delivered deliveries without a successful attempt logged")
    stuck = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at.is_(None))
    )
    if stuck:
        problems.append(f"{stuck} pending deliveries without a next attempt time")
    return problems


def check_database(session: Session) -> list[str]:
    """Every consistency problem of the database (see the module docstring); [] when sound."""
    return [
        *_orphans(session),
        *_warnings(session),
        *_runs(session),
        *_deliveries(session),
    ]
