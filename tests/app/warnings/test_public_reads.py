"""Public reads from memory (`app.warnings.public_reads`): the same bytes as a fresh
render, changes shown at once (this process), after the recheck interval (elsewhere) or at
the next expiry, ETag and 304."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.timestamps import utcnow
from app.warnings import evaluation

LIST = "/v1/warnings?active=true"


def issue_blue(session: Session, hw: Any, city: str) -> int:
    issued = hw.run_time()
    run_id = hw.make_run(session, issued, {city: hw.heavy_days(issued, (hw.HEAVY,))})
    result = evaluation.evaluate_run(session, run_id, utcnow())
    session.commit()
    [warning_id] = next(c for c in result.cities if c.city_code == city).warning_ids
    return int(warning_id)


@pytest.fixture
def recheck(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_to(seconds: float) -> None:
        monkeypatch.setenv("HAZEWARN_PUBLIC_READ_RECHECK_SECONDS", str(seconds))
        get_settings.cache_clear()

    yield set_to
    get_settings.cache_clear()


def test_cached_answers_are_the_bytes_of_a_fresh_render_with_etag_and_304(
    client: TestClient, session: Session, keys: dict[str, str], hw: Any, recheck: Any
) -> None:
    recheck(3600)
    issue_blue(session, hw, hw.BEIJING)
    first = client.get(LIST)
    second = client.get(LIST)
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.content == second.content
    assert first.json()["total"] == 1
    # A city office sees what the public sees, rendered without the cache: same bytes.
    office = client.get(LIST, headers={"Authorization": f"Bearer {keys['tianjin']}"})
    assert office.content == first.content
    etag = first.headers["etag"]
    assert second.headers["etag"] == etag
    unchanged = client.get(LIST, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    feed = client.get("/v1/feeds/cap.atom")
    again = client.get("/v1/feeds/cap.atom", headers={"If-None-Match": feed.headers["etag"]})
    assert feed.status_code == 200 and again.status_code == 304
    # Answers from memory count under their route in the metrics, like any request.
    metrics = client.get("/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("hazewarn_http_requests_total{")
        and 'route="/v1/warnings"' in line
        and 'status="304"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1


def test_a_change_in_this_process_shows_at_once(
    client: TestClient, session: Session, hw: Any, recheck: Any
) -> None:
    recheck(3600)  # only the local generation can show it
    issue_blue(session, hw, hw.BEIJING)
    assert client.get(LIST).json()["total"] == 1
    feed = client.get("/v1/feeds/cap.atom").content
    hw.load_plans(session, [hw.TIANJIN])
    session.commit()
    issue_blue(session, hw, hw.TIANJIN)
    assert client.get(LIST).json()["total"] == 2
    assert client.get("/v1/feeds/cap.atom").content.count(b"<entry>") == feed.count(b"<entry>") + 1


def test_a_change_made_elsewhere_shows_after_the_recheck(
    client: TestClient, session: Session, hw: Any, recheck: Any, database_url: str
) -> None:
    recheck(0)
    warning_id = issue_blue(session, hw, hw.BEIJING)
    before = client.get(LIST).json()["items"][0]
    assert before["acknowledged_by"] is None
    # Another process (its own engine, no ORM session here): an acknowledgement.
    other = create_engine(database_url)
    with other.begin() as conn:
        conn.execute(
            text(
                "UPDATE warnings SET acknowledged_at = :at, acknowledged_by = 'elsewhere' "
                "WHERE id = :id"
            ),
            {
                "at": (utcnow() + timedelta(seconds=1)).replace(tzinfo=None)
                if other.dialect.name == "sqlite"
                else utcnow() + timedelta(seconds=1),
                "id": warning_id,
            },
        )
    other.dispose()
    assert client.get(LIST).json()["items"][0]["acknowledged_by"] == "elsewhere"


def test_an_expiry_changes_the_answer_without_any_write(
    client: TestClient, session: Session, hw: Any, recheck: Any, database_url: str
) -> None:
    recheck(3600)  # no version check: only the expiry can end the cached answer
    warning_id = issue_blue(session, hw, hw.BEIJING)
    soon = utcnow() + timedelta(seconds=2)
    other = create_engine(database_url)
    with other.begin() as conn:
        conn.execute(
            text("UPDATE warnings SET expires = :at WHERE id = :id"),
            {
                "at": soon.replace(tzinfo=None) if other.dialect.name == "sqlite" else soon,
                "id": warning_id,
            },
        )
    other.dispose()
    from app.warnings.public_reads import public_cache

    public_cache.clear()
    assert client.get(LIST).json()["total"] == 1
    deadline = time.monotonic() + 60
    while utcnow() <= soon and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get(LIST).json()["total"] == 0
