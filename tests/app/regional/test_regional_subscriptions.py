"""Region filters of subscriptions: who may follow which region, and that regional events
reach exactly the endpoints following the region or one of its members (SQLite and
PostgreSQL; routing checked on the stored deliveries)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.outbox.models import Delivery, OutboxEvent
from app.regional import service
from app.timestamps import utcnow
from app.warnings.actors import Actor

from .conftest import JJJ, Keys

HOOK = "http://127.0.0.1:9/hook"  # never called: routing is checked on the deliveries


def test_who_may_follow_a_region_and_who_gets_its_events(
    client: TestClient, db: Session, keys: Keys, allow_private: None
) -> None:
    def create(key: str, **body: object) -> dict[str, object]:
        response = client.post(
            "/v1/subscriptions", headers=keys.auth(key), json={"url": HOOK, **body}
        )
        return {"status": response.status_code, **response.json()}

    mee = create("jjj")
    assert mee["status"] == 201 and mee["regions"] == [JJJ]  # a coordinator's own by default
    assert create("fenwei", regions=[JJJ])["status"] == 403
    assert create("beijing", regions=[JJJ])["status"] == 403
    unknown = create("duty", regions=["atlantis"])
    assert unknown["status"] == 422 and unknown["errors"][0]["field"] == "body.regions"  # type: ignore[index]
    duty_region = create("duty", regions=[JJJ], cities=["610100"])
    assert duty_region["status"] == 201 and duty_region["regions"] == [JJJ]
    beijing = create("beijing")
    fenwei = create("fenwei")
    assert fenwei["regions"] == ["fenwei"]

    now = utcnow()
    row = service.declare(
        db,
        JJJ,
        Actor("MEE", None, "coordinator"),
        now,
        level="orange",  # type: ignore[arg-type]
        starts_at=now + timedelta(hours=3),
        ends_at=None,
        member_codes=None,
        reason="letter",
    )
    db.commit()
    event = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "regional.issued")).one()
    assert event.region_code == JJJ and row.members == event.member_codes
    targets = set(db.scalars(select(Delivery.subscription_id).where(Delivery.event_id == event.id)))
    # The region's coordinator, the staff endpoint following the region (though its city
    # filter is Xi'an), Beijing's office (a member); never the Fenwei coordinator.
    assert targets == {mee["id"], duty_region["id"], beijing["id"]}
