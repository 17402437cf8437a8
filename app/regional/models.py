"""The `regional_warnings` and `regional_warning_events` tables.

- A **regional warning** is one warning of a region's coordinator over its member cities
  (`alerts.regional.RegionalState`): proposed by the forecast evaluation or declared by
  hand, issued, updated, lifted or rejected. ``state`` holds the whole pure state as JSON;
  the other columns repeat it for queries. The ``cap_*`` columns describe the last CAP
  message of the regional alert and the chain of earlier ones it references.
- A **regional warning event** is one line of its append-only audit trail: who, when,
  what, why, the state before and after (rows are never updated or deleted, enforced below
  as for `warning_events`).

City warnings raised by a regional warning name it (`warnings.regional_warning_id`).
Times are UTC (`UtcDateTime`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime

__all__ = ["RegionalAuditError", "RegionalWarning", "RegionalWarningEvent"]


class RegionalWarning(Base):
    __tablename__ = "regional_warnings"
    __table_args__ = (Index("ix_regional_warnings_region_status", "region_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region_id: Mapped[str] = mapped_column(String(32), comment="region id (regions/*.yaml)")
    status: Mapped[str] = mapped_column(String(16), comment="proposed, issued, lifted, rejected")
    level: Mapped[str] = mapped_column(String(16), comment="regional level (floor of members)")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="members start then")
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime, comment="null: until lifted")
    members: Mapped[list[str]] = mapped_column(JSON, comment="member city codes it covers")
    triggering: Mapped[list[str]] = mapped_column(
        JSON, comment="members forecast at or above the level"
    )
    reason: Mapped[str] = mapped_column(Text, default="", comment="why, last given")
    drill: Mapped[bool] = mapped_column(Boolean, default=False, comment="exercise warning")
    forecast_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="SET NULL"), comment="run that proposed it"
    )
    proposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    proposed_by: Mapped[str | None] = mapped_column(String(128))
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    issued_by: Mapped[str | None] = mapped_column(String(128))
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(128))
    lagging_notified: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="members already reported lagging (one event each)"
    )
    state: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="the full alerts.regional.RegionalState"
    )
    cap_sequence: Mapped[int] = mapped_column(Integer, default=0)
    cap_identifier: Mapped[str | None] = mapped_column(String(64), comment="last CAP message")
    cap_sent: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cap_msg_type: Mapped[str | None] = mapped_column(String(16), comment="Alert, Update, Cancel")
    cap_references: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, comment="earlier CAP messages: sender, identifier, sent"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RegionalWarningEvent(Base):
    """One append-only audit line of a regional warning (never updated or deleted)."""

    __tablename__ = "regional_warning_events"
    __table_args__ = (Index("ix_regional_warning_events_warning", "regional_warning_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    regional_warning_id: Mapped[int] = mapped_column(
        ForeignKey("regional_warnings.id", ondelete="CASCADE")
    )
    region_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when, UTC")
    actor: Mapped[str] = mapped_column(String(128), comment="'system' or the principal's name")
    actor_key_id: Mapped[int | None] = mapped_column(Integer, comment="API key id, if any")
    actor_role: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(
        String(32), comment="proposed, issued, updated, lifted, rejected, lagging"
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    outbox_event_id: Mapped[str | None] = mapped_column(String(128))


class RegionalAuditError(RuntimeError):
    """An attempt to change or delete a regional audit line."""


@event.listens_for(RegionalWarningEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: RegionalWarningEvent) -> None:
    raise RegionalAuditError(f"regional_warning_events row {target.id} is append-only")


@event.listens_for(RegionalWarningEvent, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: RegionalWarningEvent) -> None:
    raise RegionalAuditError(f"regional_warning_events row {target.id} is append-only")
