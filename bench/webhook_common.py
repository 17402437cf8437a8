"""Shared set-up of the webhook benchmarks (`webhook_fanout.py`, `crash_dispatch.py`).

Subscriptions pointing at the local receivers, outbox events, the dispatcher as a real
``hazewarn dispatcher`` process and bounded polling. The scratch database, the machine
facts and the docs/benchmarks.md writer are in `common.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import IO, Any

from common import REPO


def make_subscriptions(
    urls: list[str], event_types: list[str] | None = None
) -> list[tuple[int, str]]:
    """One admin-owned subscription per URL: [(id, secret)] (no URL check: loopback)."""
    from app.auth.service import Role, create_key, principal_of
    from app.database import session_scope
    from app.subscriptions.service import Filters, create_subscription
    from app.timestamps import utcnow

    made = []
    with session_scope() as session:
        owner = principal_of(create_key(session, name="bench", role=Role.ADMIN, now=utcnow()).row)
        filters = Filters(cities=[], levels=[], event_types=event_types or [])
        for url in urls:
            created = create_subscription(
                session, owner, url=url, description="bench", filters=filters, now=utcnow()
            )
            made.append((created.row.id, created.secret))
    return made


def warning_data(n: int, city_code: str = "110000") -> dict[str, Any]:
    """A warning-like payload of about 1.1 KB (the size measured.md uses)."""
    return {
        "warning": {
            "id": str(n),
            "city_code": city_code,
            "city_name_zh": "北京市",
            "city_name_en": "Beijing",
            "level": "orange",
            "state": "issued",
            "drill": False,
            "effective": "2026-01-05T00:00:00+08:00",
            "expires": "2026-01-07T00:00:00+08:00",
            "aqi_forecast": 268,
            "primary_pollutant": "PM2.5",
            "response_level": "Ⅱ",
            "required_cut_pct": 20,
            "actions": [
                {
                    "sector": sector,
                    "department": "市生态环境局",
                    "effective_at": "2026-01-05T00:00:00+08:00",
                    "text_zh": text_zh,
                }
                for sector, text_zh in (
                    ("industry", "重点行业企业按照应急减排清单落实二级响应减排措施"),
                    ("construction", "全市停止土石方作业、建筑拆除、喷涂粉刷等施工作业"),
                    ("traffic", "国四及以下重型柴油货车禁止上路行驶"),
                    ("public", "儿童、老年人和患有心脏病、肺病等慢性疾病患者尽量留在室内"),
                )
            ],
        }
    }


def enqueue(n: int, event_type: str = "warning.issued") -> str:
    """Commit one event (fanned out to every matching subscription); its id."""
    from app.database import session_scope
    from app.outbox.service import enqueue_event
    from app.timestamps import utcnow

    with session_scope() as session:
        return enqueue_event(
            session, event_type, warning_data(n), now=utcnow(), city_code="110000", level="orange"
        ).id


def enqueue_ping(subscription_id: int) -> str:
    from app.database import session_scope
    from app.outbox.service import enqueue_ping as ping
    from app.subscriptions.models import Subscription
    from app.timestamps import utcnow

    with session_scope() as session:
        sub = session.get(Subscription, subscription_id)
        assert sub is not None
        return ping(session, sub, utcnow()).id


def start_dispatcher(url: str, args: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`hazewarn dispatcher ARGS` as its own process (its own group, so kill -9 is clean)."""
    command = [sys.executable, "-c", "from app.cli import main; main()", "dispatcher", *args]
    # The receivers listen on loopback, which production refuses (SSRF rules).
    env = os.environ | {
        "HAZEWARN_DATABASE_URL": url,
        "HAZEWARN_ALLOW_PRIVATE_WEBHOOKS": "true",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_dispatcher(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass (bounded loops only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
