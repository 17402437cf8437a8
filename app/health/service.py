"""Heartbeats and the readiness checks behind `/health/ready` and `hazewarn health check`.

Every check reads the database or a file and says what it saw; none raises. A check that
fails makes readiness fail only when it is named in ``HAZEWARN_HEALTH_REQUIRED``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from app.config import Settings
from app.health.models import Heartbeat

__all__ = [
    "CHECKS",
    "ROLES",
    "Check",
    "Readiness",
    "heartbeat_check",
    "instance_name",
    "readiness",
    "record_heartbeat",
]

#: Process roles that record heartbeats.
ROLES = ("scheduler", "dispatcher")
#: Every readiness check, in the order the body lists them.
CHECKS = ("database", "model", "forecast", "outbox", "scheduler", "dispatcher")
#: Heartbeats of process runs older than this are deleted when a process beats.
HEARTBEAT_KEEP = timedelta(days=1)


def instance_name() -> str:
    """host-pid, unique per running process."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


def record_heartbeat(
    session: Session, role: str, instance: str, now: datetime, started_at: datetime
) -> None:
    """Record that ``instance`` (a process of ``role``) is alive at ``now``; forget beats of
    process runs that stopped more than a day ago. Flushed, not committed."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    beat = session.get(Heartbeat, (role, instance))
    if beat is None:
        host, _, pid = instance.rpartition("-")
        beat = Heartbeat(
            role=role,
            instance=instance,
            host=host or instance,
            pid=int(pid) if pid.isdigit() else os.getpid(),
            started_at=started_at,
            beat_at=now,
        )
        session.add(beat)
    else:
        beat.beat_at = now
    session.execute(
        delete(Heartbeat).where(Heartbeat.role == role, Heartbeat.beat_at < now - HEARTBEAT_KEEP)
    )
    session.flush()


@dataclass
class Check:
    """The outcome of one readiness check."""

    name: str
    ok: bool
    detail: str
    required: bool = True
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "required": self.required, "detail": self.detail, **self.values}


@dataclass
class Readiness:
    checks: list[Check]

    @property
    def failing(self) -> list[str]:
        """Names of the required checks that fail."""
        return [check.name for check in self.checks if check.required and not check.ok]

    @property
    def ready(self) -> bool:
        return not self.failing

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            "failing": self.failing,
            "checks": {check.name: check.as_dict() for check in self.checks},
        }


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def _age(now: datetime, then: datetime) -> str:
    seconds = (now - then).total_seconds()
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------- database


def database_check(engine: Engine) -> Check:
    """Reachable and migrated to this package's head revision (a SQLite file must exist;
    SQLite would otherwise quietly create an empty one)."""
    url = make_url(str(engine.url))
    file_db = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if file_db and not Path(str(url.database)).is_file():
        return Check("database", False, f"SQLite file {url.database} is missing")
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure is the finding
        return Check("database", False, f"unreachable: {type(exc).__name__}: {_first_line(exc)}")
    if revision is None:
        return Check("database", False, "not migrated: run `hazewarn db upgrade`")
    head = _head_revision()
    if revision != head:
        return Check(
            "database",
            False,
            f"schema at {revision}, this hazewarn needs {head}: run `hazewarn db upgrade`",
            values={"revision": revision},
        )
    return Check(
        "database", True, f"reachable, schema at {revision}", values={"revision": revision}
    )


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    from app.migrate import head_revision

    return head_revision()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


# --------------------------------------------------------------------------- model

_loaded: dict[str, tuple[float, int, str]] = {}


def model_check(path: Path, now: datetime) -> Check:
    """The model file exists and loads (loaded again only when the file changes); its age
    is the time since it was written."""
    from app.forecast_runs.service import ForecastRunError, load_model_file

    file = Path(path)
    if not file.is_file():
        return Check("model", False, f"no model file at {file}")
    stat = file.stat()
    key = str(file.resolve())
    cached = _loaded.get(key)
    if cached is None or cached[:2] != (stat.st_mtime, stat.st_size):
        try:
            version = load_model_file(file).version
        except ForecastRunError as exc:
            _loaded.pop(key, None)
            return Check("model", False, str(exc))
        cached = (stat.st_mtime, stat.st_size, version)
        _loaded[key] = cached
    written = datetime.fromtimestamp(stat.st_mtime, tz=now.tzinfo)
    age = now - written
    return Check(
        "model",
        True,
        f"{file.name} loaded (version {cached[2]}), written {_age(now, written)} ago",
        values={"path": str(file), "version": cached[2], "age_seconds": _seconds(age)},
    )


# --------------------------------------------------------------------------- forecast runs


def forecast_check(session: Session, now: datetime, stale_after: timedelta) -> Check:
    """The latest stored forecast run is younger than ``stale_after``."""
    from app.forecast_runs.models import ForecastRun

    latest = session.execute(
        select(ForecastRun.id, ForecastRun.created_at).order_by(ForecastRun.created_at.desc())
    ).first()
    if latest is None:
        return Check("forecast", False, "no forecast run stored yet")
    run_id, created = latest
    age = now - created
    values = {"run_id": run_id, "age_seconds": _seconds(age)}
    if age > stale_after:
        return Check(
            "forecast",
            False,
            f"latest run {run_id} is stale: stored {_age(now, created)} ago "
            f"(limit {_age(now, now - stale_after)})",
            values=values,
        )
    return Check(
        "forecast", True, f"latest run {run_id} stored {_age(now, created)} ago", values=values
    )


# --------------------------------------------------------------------------- outbox


def outbox_check(session: Session, now: datetime, stale_after: timedelta) -> Check:
    """No delivery has been due for longer than ``stale_after`` (the dispatchers keep up);
    reports the depth and the oldest pending event's age as well."""
    from app.outbox.models import Delivery
    from app.outbox.service import DeliveryStatus

    pending = Delivery.status == DeliveryStatus.PENDING.value
    depth, oldest = session.execute(
        select(func.count(), func.min(Delivery.created_at)).where(pending)
    ).one()
    oldest_due = session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(pending, Delivery.next_attempt_at <= now)
    )
    values: dict[str, Any] = {"pending": int(depth or 0)}
    if oldest is not None:
        values["oldest_pending_age_seconds"] = _seconds(now - _aware(oldest))
    if oldest_due is not None and now - _aware(oldest_due) > stale_after:
        return Check(
            "outbox",
            False,
            f"a delivery has been due for {_age(now, _aware(oldest_due))} "
            f"(limit {_age(now, now - stale_after)}): are the dispatchers running?",
            values=values,
        )
    detail = f"{values['pending']} pending" + (
        f", oldest created {_age(now, _aware(oldest))} ago" if oldest is not None else ""
    )
    return Check("outbox", True, detail, values=values)


def _aware(value: datetime) -> datetime:
    # Aggregates (min) bypass the column type on SQLite and come back naive UTC.
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- heartbeats


def heartbeat_check(session: Session, role: str, now: datetime, stale_after: timedelta) -> Check:
    """A process of ``role`` beat within ``stale_after``."""
    latest = session.execute(
        select(Heartbeat.instance, Heartbeat.beat_at)
        .where(Heartbeat.role == role)
        .order_by(Heartbeat.beat_at.desc())
    ).first()
    if latest is None:
        return Check(role, False, f"no {role} heartbeat recorded")
    instance, beat_at = latest
    alive = session.scalar(
        select(func.count())
        .select_from(Heartbeat)
        .where(Heartbeat.role == role, Heartbeat.beat_at >= now - stale_after)
    )
    values = {"instance": instance, "age_seconds": _seconds(now - beat_at), "alive": alive}
    if now - beat_at > stale_after:
        return Check(
            role,
            False,
            f"last {role} heartbeat {_age(now, beat_at)} ago ({instance}); "
            f"limit {_age(now, now - stale_after)}",
            values=values,
        )
    return Check(role, True, f"{alive} alive, latest beat {_age(now, beat_at)} ago", values=values)


# --------------------------------------------------------------------------- all of it


def readiness(engine: Engine, settings: Settings, now: datetime) -> Readiness:
    """Run every check (the database ones only when the database answers)."""
    required = settings.health_required_checks
    checks = [database_check(engine)]
    checks.append(model_check(settings.model_path, now))
    if checks[0].ok:
        try:
            with Session(engine) as session:
                checks.append(
                    forecast_check(
                        session, now, timedelta(hours=settings.health_forecast_stale_hours)
                    )
                )
                checks.append(
                    outbox_check(
                        session, now, timedelta(seconds=settings.health_outbox_stale_seconds)
                    )
                )
                stale = timedelta(seconds=settings.heartbeat_stale_seconds)
                checks.extend(heartbeat_check(session, role, now, stale) for role in ROLES)
        except Exception as exc:  # the database went away between checks
            checks[0] = Check("database", False, f"unreachable: {type(exc).__name__}")
            del checks[2:]
    if len(checks) == 2:
        checks.extend(Check(name, False, "database unreachable") for name in CHECKS[2:])
    for check in checks:
        check.required = check.name in required
    return Readiness(checks)
