"""Fixtures of the warning tests: cities and plans, forecast runs written directly, keys.

Forecast runs are inserted as rows (no model, no grid): `make_run` writes a run whose
hourly p90 follows a PM2.5 value per local day (p50 is 70 % of it, so a plan deciding from
p90 sees the heavier path). Runs are issued an hour before the real clock's current hour,
so that API actions stamped with the real time come after them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from app.auth.service import create_key
from app.cities.service import sync_registry
from app.database import get_sessionmaker, session_scope
from app.forecast_runs.service import store_scenario_run
from app.observations.models import Observation
from app.plans.service import load_plan_files
from app.stations.models import Station
from app.timestamps import utcnow
from contingency_plans.loader import PLANS_DIR

BEIJING = "110000"
SHIJIAZHUANG = "130100"
TIANJIN = "120000"
ZONE = ZoneInfo("Asia/Shanghai")
CLEAN = 30.0  # µg/m³: AQI 43
HEAVY = 200.0  # µg/m³: AQI 250 (> 200)
SEVERE = 300.0  # µg/m³: AQI 350 (> 300)


def plan_file(code: str) -> Path:
    [path] = PLANS_DIR.glob(f"{code}-*.yaml")
    return path


def load_plans(session: Session, codes: list[str], now: datetime | None = None) -> None:
    sync_registry(session)
    load_plan_files(session, [plan_file(code) for code in codes], now or utcnow())


def run_time() -> datetime:
    """An issue time on the hour, an hour before now."""
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def local_day(moment: datetime, offset_days: int = 0) -> date:
    return moment.astimezone(ZONE).date() + timedelta(days=offset_days)


def make_run(
    session: Session,
    issued_at: datetime,
    days: Mapping[str, Mapping[date, float]],
    *,
    hours: int = 144,
    drill: bool = False,
) -> int:
    """Store a forecast run: per city, hourly p90 = the day's PM2.5 (µg/m³, default clean)
    for the ``hours`` after ``issued_at``. Returns the run id (flushed, not committed)."""
    return store_scenario_run(
        session,
        issued_at,
        days,
        hours=hours,
        default_pm25=CLEAN,
        drill=drill,
        model_version="test",
    )


def add_observations(
    session: Session, city: str, start: datetime, end: datetime, pm25: float
) -> None:
    """One station of ``city`` reporting ``pm25`` every hour in ``[start, end)``."""
    station_id = f"T{city}"
    if session.get(Station, station_id) is None:
        session.add(
            Station(
                id=station_id, name_en=f"test {city}", city_code=city, lat=0.0, lon=0.0, aliases=[]
            )
        )
        session.flush()
    moment = start
    while moment < end:
        session.add(Observation(station_id=station_id, time=moment, pm25=pm25, source="test"))
        moment += timedelta(hours=1)
    session.flush()


ORANGE_PATH = (HEAVY, SEVERE, HEAVY)  # 3 days > 200 with one > 300: orange (beijing-2016)


def heavy_days(
    issued_at: datetime, values: tuple[float, ...], first_offset: int = 2
) -> dict[date, float]:
    """PM2.5 per local day: ``values`` from the day ``first_offset`` after the issue day."""
    return {local_day(issued_at, first_offset + i): v for i, v in enumerate(values)}


@pytest.fixture
def plans(database_url: str) -> Iterator[None]:
    """Cities synced; Beijing and Shijiazhuang plans loaded."""
    with session_scope() as session:
        load_plans(session, [BEIJING, SHIJIAZHUANG])
    yield


@pytest.fixture
def session(plans: None) -> Iterator[Session]:
    s = get_sessionmaker()()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def keys(plans: None) -> dict[str, str]:
    """Raw API keys by name: admin, duty, beijing and tianjin city offices, coordinator."""
    made: dict[str, str] = {}
    with session_scope() as s:
        now = utcnow()
        for name, role, cities, regions in (
            ("admin", "admin", [], []),
            ("duty", "duty_officer", [], []),
            ("beijing", "city_office", [BEIJING], []),
            ("tianjin", "city_office", [TIANJIN], []),
            ("coordinator", "coordinator", [], ["jjj-2+26"]),
        ):
            created = create_key(
                s, name=f"{name} key", role=role, now=now, city_codes=cities, region_codes=regions
            )
            made[name] = created.key
    return made


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def hw() -> ModuleType:
    """This module, so tests reach its helpers and constants (``hw.make_run(...)``)."""
    return sys.modules[__name__]
