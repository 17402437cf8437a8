"""Pydantic models of `/v1/subscriptions`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="https:// endpoint that receives webhooks")
    description: str = Field(default="", max_length=500)
    cities: list[str] | None = Field(
        default=None,
        max_length=500,
        description="GB/T 2260 codes; empty = every city the key may act for",
    )
    regions: list[str] | None = Field(
        default=None,
        max_length=20,
        description="regional events of these regions (default: a coordinator's own)",
    )
    levels: list[str] | None = Field(
        default=None, max_length=4, description="blue, yellow, orange, red; empty = all"
    )
    event_types: list[str] | None = Field(
        default=None, max_length=20, description="e.g. warning.issued; empty = all"
    )


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    cities: list[str] | None = Field(default=None, max_length=500)
    regions: list[str] | None = Field(default=None, max_length=20)
    levels: list[str] | None = Field(default=None, max_length=4)
    event_types: list[str] | None = Field(default=None, max_length=20)
    active: bool | None = Field(
        default=None,
        description="false disables the endpoint (reason manual); true re-enables it",
    )


class SecretRead(BaseModel):
    """A signing secret's dates (never its value after creation)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    expires_at: datetime | None


class SubscriptionRead(BaseModel):
    id: int
    url: str
    description: str
    owner_name: str
    owner_role: str
    cities: list[str]
    regions: list[str] = Field(description="regional events of these regions (docs/regions.md)")
    levels: list[str]
    event_types: list[str]
    active: bool
    disabled_at: datetime | None = Field(description="dashboard flag: when it was disabled")
    disabled_reason: str | None = Field(description="gone, sustained_failure or manual")
    failing_since: datetime | None
    throttled_until: datetime | None
    created_at: datetime
    updated_at: datetime
    signing_secrets: list[SecretRead] = Field(description="secrets signing right now")


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="whsec_ signing secret; shown this once only")


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]
    total: int


class SecretRotated(BaseModel):
    secret: str = Field(description="the new whsec_ secret; shown this once only")
    previous_secrets_expire_at: datetime = Field(
        description="until then every delivery carries signatures of old and new secrets"
    )


class PingAccepted(BaseModel):
    event_id: str
    type: str


class ReplayAccepted(BaseModel):
    since: datetime
    replayed: int
    event_ids: list[str] = Field(description="the first 1,000 event ids re-enqueued")


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt_number: int
    attempted_at: datetime
    status_code: int | None = Field(description="HTTP status; null when no response came")
    latency_ms: float
    error: str | None
    outcome: str = Field(description="success, retry, throttle or disable_endpoint")


class DeliveryRead(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str = Field(description="pending, delivered, failed or dead")
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    attempt_log: list[AttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")


class EndpointHealthRead(BaseModel):
    """One webhook endpoint's delivery health (dashboard flag: failing or disabled)."""

    id: int
    url: str
    owner_name: str
    owner_role: str
    cities: list[str]
    active: bool
    disabled_at: datetime | None
    disabled_reason: str | None = Field(description="gone, sustained_failure or manual")
    failing: bool = Field(description="its latest attempt failed")
    failing_since: datetime | None = Field(description="first failed attempt since a success")
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="HTTP status of the latest attempt")
    last_error: str | None = Field(
        description="the latest attempt's error (e.g. ConnectError, HTTP 500) when it failed"
    )
    consecutive_failures: int = Field(description="failed attempts since the last success")
    pending: int = Field(description="deliveries waiting for this endpoint")


class DeliveryHealthRead(BaseModel):
    """`GET /v1/subscriptions/health`: every endpoint and the outbox depth."""

    endpoints: list[EndpointHealthRead]
    outbox_pending: int = Field(description="deliveries waiting to be sent, all endpoints")
    oldest_pending_at: datetime | None = Field(description="creation of the oldest waiting one")
    oldest_pending_age_seconds: float | None
    checked_at: datetime
