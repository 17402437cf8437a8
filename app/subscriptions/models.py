"""The `subscriptions` and `subscription_secrets` tables.

A subscription is one receiver endpoint (a city office's URL) with filters. Its signing
secrets live in their own table so a rotation can keep the old secret signing until
``expires_at`` while the new one is already in use.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.timestamps import UtcDateTime


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    owner_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    owner_role: Mapped[str] = mapped_column(
        String(32), comment="role of the key that created it (staff get endpoint.disabled)"
    )
    owner_name: Mapped[str] = mapped_column(String(128), default="")
    city_codes: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="filter; empty = every city (staff only)"
    )
    region_codes: Mapped[list[str] | None] = mapped_column(
        JSON, default=list, comment="filter: regional events of these regions (null = none)"
    )
    levels: Mapped[list[str]] = mapped_column(JSON, default=list, comment="filter; empty = all")
    event_types: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="filter; empty = all"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="set when disabled (dashboard flag); null = active"
    )
    disabled_reason: Mapped[str | None] = mapped_column(
        String(32), comment="gone, sustained_failure or manual"
    )
    failing_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="first failed attempt since the last success"
    )
    throttled_until: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="after 429/502/504: hold back every delivery until then"
    )


class SubscriptionSecret(Base):
    __tablename__ = "subscription_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    # Kept in clear: HMAC signing needs the key itself (a hash would be useless here).
    secret: Mapped[str] = mapped_column(String(128), comment="whsec_ + base64")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="null = current; set on rotation to end the overlap"
    )
