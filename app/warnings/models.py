"""The `episodes`, `warnings` and `warning_events` tables.

- An **episode** is one city's stretch of heavy pollution as `alerts.episodes` tracks it;
  ``state`` holds the whole pure `EpisodeState` as JSON (so every rule keeps its memory:
  pending changes, downgrade damping, levels an officer held or refused), and the other
  columns repeat what queries need.
- A **warning** is one announced warning of an episode, from its proposal or first issue
  to its lift (or rejection, or cancellation). An episode that closes and restarts within
  the plan's merge gap keeps its episode but gets a new warning (a new CAP ``Alert``).
  ``payload`` is the warning object of the webhook events (docs/events.schema.json) with
  its actions. The ``cap_*`` columns describe the last CAP message and the chain of
  earlier ones it references.
- A **warning event** is one line of the append-only audit trail: who (a principal or
  ``system``), when (UTC), what, why, the state before and after, and the forecast run and
  plan version behind it. Rows are never updated or deleted (enforced below).

Times are UTC (`UtcDateTime`); ``first_day``/``last_day`` are the city's local days.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_city_drill_updated", "city_code", "drill", "updated_at"),)

    id: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="episode id of alerts.episodes, e.g. 110000:42"
    )
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(
        String(16), comment="proposed, issued, upgraded, downgraded, lifted, rejected, cancelled"
    )
    level: Mapped[str | None] = mapped_column(String(16), comment="level in force, if any")
    pending_level: Mapped[str | None] = mapped_column(
        String(16), comment="level of a change waiting for a duty officer"
    )
    first_day: Mapped[date] = mapped_column(Date, comment="first triggering day, city's local")
    last_day: Mapped[date] = mapped_column(Date, comment="last triggering day, city's local")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="episode opened, UTC")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="last change, UTC")
    lifted_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="closed (lifted, rejected or cancelled), UTC"
    )
    drill: Mapped[bool] = mapped_column(Boolean, default=False, comment="exercise episode")
    regional_warning_id: Mapped[str | None] = mapped_column(
        String(64), comment="regional notice the episode follows, if any"
    )
    run_id: Mapped[str] = mapped_column(String(64), comment="last forecast run behind it")
    plan_version: Mapped[str] = mapped_column(String(12))
    state: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="the full alerts.episodes.EpisodeState"
    )


class CityWarning(Base):
    __tablename__ = "warnings"
    __table_args__ = (
        Index("ix_warnings_city_created", "city_code", "created_at"),
        Index("ix_warnings_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    episode_id: Mapped[str] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(
        String(16), comment="level in force; the proposed level while proposed"
    )
    state: Mapped[str] = mapped_column(
        String(16), comment="proposed, issued, upgraded, downgraded, lifted, rejected, cancelled"
    )
    pending_level: Mapped[str | None] = mapped_column(
        String(16), comment="a change of an active warning waiting for a duty officer"
    )
    pending_kind: Mapped[str | None] = mapped_column(
        String(16), comment="issued (new warning), upgraded or downgraded"
    )
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    issue_by: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="latest approval that keeps the lead time (new warnings)"
    )
    proposed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, comment="first issued, UTC")
    level_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="when the current level was decided"
    )
    effective: Mapped[datetime] = mapped_column(
        UtcDateTime, comment="window start (prospective while proposed)"
    )
    expires: Mapped[datetime] = mapped_column(UtcDateTime, comment="window end")
    lifted_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="closed (lifted, rejected, cancelled)"
    )
    forecast_run_id: Mapped[str] = mapped_column(String(64), comment="run behind the decision")
    plan_version: Mapped[str] = mapped_column(String(12))
    aqi_forecast: Mapped[int] = mapped_column(Integer, comment="highest forecast daily AQI")
    lead_hours: Mapped[float | None] = mapped_column(
        Float, comment="hours from issue to the first day's start"
    )
    late: Mapped[bool] = mapped_column(Boolean, default=False, comment="under the lead time")
    reason_zh: Mapped[str] = mapped_column(Text, default="")
    reason_en: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSON, comment="the warning object of the events, with its actions"
    )
    drill: Mapped[bool] = mapped_column(Boolean, default=False, comment="exercise warning")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_key_id: Mapped[int | None] = mapped_column(Integer)
    cap_sequence: Mapped[int] = mapped_column(
        Integer, default=0, comment="CAP messages sent for this warning"
    )
    cap_identifier: Mapped[str | None] = mapped_column(String(64), comment="last CAP message")
    cap_sent: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cap_msg_type: Mapped[str | None] = mapped_column(String(16), comment="Alert, Update, Cancel")
    cap_references: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, comment="earlier CAP messages: sender, identifier, sent"
    )
    regional_warning_id: Mapped[int | None] = mapped_column(
        ForeignKey("regional_warnings.id", ondelete="SET NULL"),
        index=True,
        comment="the regional warning that raised it, if any",
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WarningEvent(Base):
    """One append-only audit line (never updated or deleted)."""

    __tablename__ = "warning_events"
    __table_args__ = (Index("ix_warning_events_warning", "warning_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"))
    episode_id: Mapped[str] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    city_code: Mapped[str] = mapped_column(String(6))
    at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when, UTC")
    actor: Mapped[str] = mapped_column(String(128), comment="'system' or the principal's name")
    actor_key_id: Mapped[int | None] = mapped_column(Integer, comment="API key id, if any")
    actor_role: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(
        String(32), comment="what: proposed, issued, upgraded, ..., acknowledged"
    )
    reason: Mapped[str] = mapped_column(Text, default="", comment="why, as the actor gave it")
    reason_zh: Mapped[str] = mapped_column(Text, default="")
    reason_en: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    run_id: Mapped[str | None] = mapped_column(String(64), comment="forecast run behind it")
    plan_version: Mapped[str | None] = mapped_column(String(12))
    public: Mapped[bool] = mapped_column(Boolean, default=False, comment="announced")
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_hours: Mapped[float | None] = mapped_column(Float)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    outbox_event_id: Mapped[str | None] = mapped_column(
        String(128), comment="the webhook event written with it, if any"
    )


class AuditTrailError(RuntimeError):
    """Someone tried to change or delete an audit line."""


@event.listens_for(WarningEvent, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: WarningEvent) -> None:
    raise AuditTrailError(f"warning_events row {target.id} is append-only")


@event.listens_for(WarningEvent, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: WarningEvent) -> None:
    raise AuditTrailError(f"warning_events row {target.id} is append-only")
