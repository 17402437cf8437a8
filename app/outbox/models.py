"""The `outbox_events`, `deliveries` and `delivery_attempts` tables.

An event row and one delivery row per matching subscription are written in the same
transaction as the change that caused them, so a crash can never lose an event. The
dispatcher claims due deliveries (``claimed_by``/``claimed_until`` is a lease: a killed
dispatcher's claims expire and are picked up again), sends them and logs every attempt.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime

# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(128), primary_key=True, comment="event id = webhook-id")
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(
        Text, comment="the exact JSON body sent (and signed) on every attempt"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    city_code: Mapped[str | None] = mapped_column(String(6), index=True)
    level: Mapped[str | None] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(
        String(32), comment="regional events: the region (subscription region filter)"
    )
    member_codes: Mapped[list[str] | None] = mapped_column(
        JSON, comment="regional events: member cities (matched against city filters)"
    )
    audience: Mapped[str] = mapped_column(
        String(16), default="subscribers", comment="subscribers, staff or one"
    )
    target_subscription_id: Mapped[int | None] = mapped_column(
        Integer, comment="audience 'one' (a test ping): the only subscription it goes to"
    )


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(
        String(16), comment="pending, delivered, failed (schedule used up) or dead (disabled)"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer, comment="HTTP status, null = none")
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64), index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_subscription", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    attempt_number: Mapped[int] = mapped_column(Integer, comment="1 for the first attempt")
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer, comment="null = no response")
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(
        String(24), comment="success, retry, throttle or disable_endpoint"
    )
