"""Syncing the registry into the `cities` table."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cities.models import City
from app.cities.registry import load_registry
from app.cities.service import list_cities, sync_registry


def test_sync_inserts_every_city_then_changes_nothing(db: Session) -> None:
    expected = len(load_registry())
    first = sync_registry(db)
    db.commit()
    assert (first.inserted, first.updated, first.unchanged) == (expected, 0, 0)

    second = sync_registry(db)
    db.commit()
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, expected)
    assert db.scalar(select(func.count()).select_from(City)) == expected


def test_sync_restores_edited_facts(db: Session) -> None:
    sync_registry(db)
    db.commit()
    beijing = db.get(City, "110000")
    assert beijing is not None
    beijing.lat = 0.0
    beijing.regions = []
    db.commit()

    summary = sync_registry(db)
    db.commit()
    assert summary.updated == 1
    db.expire_all()
    beijing = db.get(City, "110000")
    assert beijing is not None
    assert beijing.lat == 39.9042
    assert beijing.regions == ["jjj-2+26"]
    assert beijing.name_zh == "北京市"


def test_region_filter(db: Session) -> None:
    sync_registry(db)
    db.commit()
    fenwei = [c.code for c in list_cities(db, region="fenwei")]
    assert fenwei == sorted(fenwei) and len(fenwei) == 12 and "610100" in fenwei
    assert len(list_cities(db, region="jjj-2+26")) == 28
    assert list_cities(db, region="nowhere") == []
