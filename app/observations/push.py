"""Observations pushed by monitoring networks (`POST /v1/observations`) and the
observation inbox the scheduler imports.

Both go through the file import (`app.observations.service.import_parsed` after
`forecasting.observations.read_observation_file`): the same checks, QC flags and merge
rule (a station-hour's pollutant value is replaced, never duplicated, so pushing the same
rows again changes nothing), all or nothing.

A push body is the long format, one pollutant value per row: CSV with the header
``station,time,pollutant,value,unit[,city]`` (``text/csv``) or JSON lines, one object per
line with those keys (``application/x-ndjson`` or ``application/jsonl``). JSON lines are
written out as the same CSV, so one reader checks both; a refusal names the row (the data
row, 1-based: the CSV line after the header, or the JSON line) and the field.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from app.database import session_scope
from app.observations.service import import_observations, import_parsed
from forecasting.observations import (
    LONG_REQUIRED,
    ObservationFileError,
    read_observation_file,
)

log = logging.getLogger("hazewarn.observations")

__all__ = [
    "CSV_TYPES",
    "JSONL_TYPES",
    "PushError",
    "import_push",
    "process_observation_inbox",
]

CSV_TYPES = frozenset({"text/csv", "application/csv"})
JSONL_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/json-lines"})
LONG_COLUMNS: tuple[str, ...] = (*LONG_REQUIRED, "city")
#: Files the observation inbox takes, by suffix (CSV of any supported format, JSON lines).
INBOX_SUFFIXES = frozenset({".csv", ".jsonl", ".ndjson"})


class PushError(ValueError):
    """A refused push: the data row (1-based; None for the whole body), the field, why."""

    def __init__(self, row: int | None, field: str | None, reason: str) -> None:
        self.row = row
        self.field = field
        self.reason = reason
        where = f"row {row}: " if row is not None else ""
        super().__init__(where + reason)


def _field_of(reason: str) -> str | None:
    """The column a reader's refusal is about, from its wording."""
    text = reason.lower()
    for prefix, name in (
        ("bad time", "time"),
        ("unknown pollutant", "pollutant"),
        ("unknown unit", "unit"),
        ("duplicate value", "pollutant"),
        ("unknown station", "station"),
        ("station is empty", "station"),
        ("station ", "station"),
    ):
        if text.startswith(prefix):
            return name
    if "number column" in text:
        return text.rsplit("'", 2)[-2] if text.count("'") >= 2 else "value"
    return None


def _jsonl_to_csv(body: bytes) -> str:
    """JSON lines to long-format CSV, row for row; a line that is not an object with the
    long-format keys is refused with its number."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PushError(None, None, f"body is not UTF-8 ({exc.reason})") from None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LONG_COLUMNS)
    rows = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise PushError(number, None, "empty line: one JSON object per line")
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PushError(number, None, f"not JSON: {exc.msg}") from None
        if not isinstance(item, dict):
            raise PushError(number, None, "not a JSON object")
        for key in LONG_REQUIRED:
            if key not in item:
                raise PushError(number, key, f"missing {key!r}")
        value = item["value"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise PushError(number, "value", f"value {value!r} is not a number or null")
        for key in ("station", "time", "pollutant", "unit"):
            if not isinstance(item[key], str):
                raise PushError(number, key, f"{key} must be a string")
        city = item.get("city")
        if city is not None and not isinstance(city, str):
            raise PushError(number, "city", "city must be a string or null")
        number_text = "" if value is None else value
        writer.writerow(
            [
                item["station"],
                item["time"],
                item["pollutant"],
                number_text,
                item["unit"],
                city or "",
            ]
        )
        rows += 1
    if rows == 0:
        raise PushError(None, None, "empty body: no rows")
    return out.getvalue()


@dataclass(frozen=True)
class PushSummary:
    rows: int
    station_hours: int
    inserted: int
    updated: int
    unchanged: int


def import_push(
    session: Session,
    body: bytes,
    media_type: str,
    *,
    allowed_station_ids: frozenset[str] | None,
    source: str,
) -> PushSummary:
    """Check and store a pushed body all or nothing (module docstring). Raises `PushError`
    naming the row and field; `StationScopeError` (a `PushError` cause) for a station
    outside ``allowed_station_ids``. Does not commit."""
    if media_type in JSONL_TYPES:
        content = _jsonl_to_csv(body).encode("utf-8")
    elif media_type in CSV_TYPES:
        content = body
    else:
        raise PushError(
            None,
            "header.content-type",
            f"unsupported media type {media_type!r}: send text/csv or application/x-ndjson",
        )
    with tempfile.TemporaryDirectory(prefix="hazewarn-push-") as folder:
        path = Path(folder) / "push.csv"
        path.write_bytes(content)
        try:
            parsed = read_observation_file(path)
            if parsed.source != "long-csv":
                raise ObservationFileError(
                    path, 1, "want the long format: station,time,pollutant,value,unit[,city]"
                )
            summary = import_parsed(
                session, [parsed], allowed_station_ids=allowed_station_ids, source=source
            )
        except ObservationFileError as exc:
            row = exc.line - 1 if exc.line is not None and exc.line > 1 else None
            field = "header" if exc.line == 1 else _field_of(exc.reason)
            raise PushError(row, field, exc.reason) from exc
    return PushSummary(
        rows=parsed.rows_read,
        station_hours=summary.rows_read,
        inserted=summary.inserted,
        updated=summary.updated,
        unchanged=summary.unchanged,
    )


# --------------------------------------------------------------------------- inbox

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class ObservationInboxOutcome:
    name: str
    status: str  # "imported" or "failed"
    rows: int = 0
    detail: str = ""


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` (created), never overwriting an earlier file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    shutil.move(str(path), str(target))
    return target


def inbox_files(inbox: Path, settle_seconds: float) -> list[Path]:
    """Observation files in ``inbox`` (not its done/ and failed/, not names starting with
    ``.``), unchanged for ``settle_seconds`` (still being copied otherwise), oldest first.
    Settling is judged on the file system's clock, which wrote the times (not the service
    clock, which a replay may shift)."""
    if not inbox.is_dir():
        return []
    cutoff = time.time() - settle_seconds
    ready = [
        p
        for p in inbox.iterdir()
        if p.is_file()
        and p.suffix.lower() in INBOX_SUFFIXES
        and not p.name.startswith(".")
        and p.stat().st_mtime <= cutoff
    ]
    return sorted(ready, key=lambda p: (p.stat().st_mtime, p.name))


def process_observation_inbox(
    now: datetime,
    *,
    inbox: Path,
    settle_seconds: float = 30.0,
    sessions: SessionFactory = session_scope,
) -> list[ObservationInboxOutcome]:
    """Import every ready file of the observation inbox, each all or nothing in its own
    transaction: CSV of any supported format (`hazewarn obs import`) or long-format JSON
    lines. An imported file moves to ``done/``; a refused one to ``failed/`` with
    ``<name>.error.txt`` giving the time and the reason (line and field); the next file is
    still processed."""
    outcomes: list[ObservationInboxOutcome] = []
    for path in inbox_files(inbox, settle_seconds):
        try:
            with sessions() as session:
                if path.suffix.lower() in {".jsonl", ".ndjson"}:
                    pushed = import_push(
                        session,
                        path.read_bytes(),
                        "application/x-ndjson",
                        allowed_station_ids=None,
                        source="inbox",
                    )
                    rows = pushed.station_hours
                else:
                    rows = import_observations(session, [path]).rows_read
            _move(path, inbox / "done")
            outcomes.append(ObservationInboxOutcome(path.name, "imported", rows))
            log.info("observation inbox: %s imported (%d station-hours)", path.name, rows)
        except Exception as exc:  # one bad file must not stop the others
            detail = f"{type(exc).__name__}: {exc}"
            try:
                moved = _move(path, inbox / "failed")
                moved.with_name(moved.name + ".error.txt").write_text(
                    f"{now.isoformat()}\n{detail}\n", encoding="utf-8"
                )
            except OSError as move_error:
                detail += f" (and it could not be moved to failed/: {move_error})"
            outcomes.append(ObservationInboxOutcome(path.name, "failed", detail=detail))
            log.error("observation inbox: %s failed: %s", path.name, detail)
    return outcomes
