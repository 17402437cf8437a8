"""Logging: structured JSON lines for machines, readable lines for people at a terminal.

Every log record, from hazewarn's own ``logging.getLogger`` calls, from structlog loggers
and from libraries (uvicorn, APScheduler, SQLAlchemy), goes through one structlog
``ProcessorFormatter`` on the root handler. Ids bound with
``structlog.contextvars.bind_contextvars`` (``request_id`` per HTTP request, ``run_id``,
``warning_id``, ``event_id``, ``job``) appear in every line logged while they are bound.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

__all__ = ["HANDLER_NAME", "configure_logging", "ensure_logging", "wants_json"]

HANDLER_NAME = "hazewarn"

#: Libraries whose INFO chatter would drown ours.
_QUIET = {
    "alembic": logging.WARNING,
    "apscheduler": logging.WARNING,
    "httpx": logging.WARNING,
    "uvicorn.access": logging.WARNING,
}


def _drop_color_message(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # uvicorn adds a copy of each message with terminal colour codes as an extra.
    event.pop("color_message", None)
    return event


def wants_json(log_format: str, stream: IO[str]) -> bool:
    """JSON unless asked for the console format or (auto) writing to a terminal."""
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def configure_logging(
    log_format: str = "auto", level: str = "INFO", stream: IO[str] | None = None
) -> None:
    """Send every log record to ``stream`` (stderr) as JSON or console lines.

    JSON fields: ``timestamp`` (ISO 8601 UTC), ``level``, ``logger``, ``event`` (the
    message), the bound context ids, any ``extra=`` fields, and ``exception`` with the
    traceback when there is one.
    """
    stream = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    renderer: Any
    if wants_json(log_format, stream):
        renderer = structlog.processors.JSONRenderer()
        final: list[Any] = [structlog.processors.dict_tracebacks]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(stream))
        final = []
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *final,
            renderer,
        ],
    )
    handler: logging.Handler = (
        _StderrHandler() if stream is sys.stderr else logging.StreamHandler(stream)
    )
    handler.setFormatter(formatter)
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        # Ours, and the default stderr handler basicConfig may have put there; others
        # (pytest's capture, an embedding application's) stay.
        if old.get_name() == HANDLER_NAME or type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, logging.getLevelName(level)))
    # uvicorn configures its own handlers unless told not to; send its records to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    structlog.configure(
        processors=[
            *shared[:1],
            structlog.stdlib.filter_by_level,
            *shared[1:],
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is logged (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def ensure_logging() -> None:
    """Configure logging from the settings unless this process already did (uvicorn's
    worker processes import the app without going through the CLI)."""
    if any(handler.get_name() == HANDLER_NAME for handler in logging.getLogger().handlers):
        return
    from app.config import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


def _isatty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())
