"""One validated settings object, read from ``HAZEWARN_*`` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAZEWARN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///hazewarn.db",
        description="SQLAlchemy URL; a SQLite file in the working directory by default, "
        "postgresql+psycopg://user:pass@host/db in production.",
    )
    shared_data: Path = Field(
        default=Path("../shared/data"),
        description="Folder of the public datasets used by tests, benchmarks and the demo.",
    )
    data_cache: Path = Field(
        default=Path("var/data"),
        description="Folder `hazewarn data fetch` downloads the public datasets into (the "
        "layout of ../shared/data: HAZEWARN_SHARED_DATA can point at it).",
    )
    data_mirror_url: str | None = Field(
        default=None,
        description="Fetch datasets from this mirror ({url}/{dataset}/{file}) instead of "
        "their publishers; the pinned hashes still decide.",
    )
    host: str = Field(default="127.0.0.1", description="Address `hazewarn serve` binds.")
    port: int = Field(default=8000, description="Port `hazewarn serve` listens on.")
    page_size_max: int = Field(default=5000, description="Largest page a list endpoint returns.")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Largest request body the API accepts, in bytes; larger gets a 413 problem.",
    )
    allow_private_webhooks: bool = Field(
        default=False,
        description="Accept webhook URLs in private, loopback, link-local or reserved ranges "
        "(tests and local benchmarks only; production refuses them against SSRF).",
    )
    secret_overlap_hours: float = Field(
        default=24,
        ge=0,
        description="After a webhook secret rotation the old secret keeps signing this long.",
    )
    model_path: Path = Field(
        default=Path("var/models/pm25.joblib"),
        description="PM2.5 model artefact used by `hazewarn forecast run` and the scheduler.",
    )
    # --- warnings (docs/warnings-service.md) ---
    drill: bool = Field(
        default=False,
        description="Drill mode: every forecast run is evaluated as an exercise (warnings, "
        "events and CAP marked as such, CAP status=Exercise).",
    )
    ack_grace_minutes: float = Field(
        default=120,
        ge=0,
        description="A city office that has not acknowledged an active warning this long "
        "after its last change shows in /v1/warnings/unacknowledged.",
    )
    cap_sender: str = Field(
        default="hazewarn.example.cn",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender> of our messages (no spaces, commas, '<' or '&').",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Absolute base URL of the API, for CAP and Atom links.",
    )
    public_read_recheck_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Anonymous warning-list and Atom answers are served from memory; each "
        "process checks the database for changes made elsewhere at most this often "
        "(its own changes show at once; 0 checks on every request).",
    )
    clock_offset_seconds: float = Field(
        default=0,
        description="Shift of the service clock (app.timestamps.utcnow), in seconds. "
        "`hazewarn demo` sets it to replay a past episode (in the hazewarn-demo.env it "
        "writes, so every command of the demo's folder shares it); keep 0 in production.",
    )
    forecast_issue_tolerance_minutes: float = Field(
        default=15,
        ge=0,
        description="A forecast run's issue time may be at most this far after the service "
        "clock (clock skew); a later one is refused.",
    )
    # --- the scheduler process (`hazewarn scheduler`, docs/scheduler.md) ---
    grid_inbox: Path = Field(
        default=Path("var/grid-inbox"),
        description="Folder the scheduler watches: each new grid file (NetCDF, GRIB, Zarr) "
        "gets a forecast run, then moves to done/ (or failed/ with the reason beside it).",
    )
    grid_inbox_poll_seconds: float = Field(default=60, gt=0, description="Inbox check interval.")
    grid_settle_seconds: float = Field(
        default=30,
        ge=0,
        description="A grid file is taken only when unchanged this long (still being copied).",
    )
    feed_source: str | None = Field(
        default=None,
        pattern=r"^(gfs|ifs)$",
        description="Weather feed the scheduler fetches into the grid inbox: gfs (NOAA GFS "
        "through Herbie) or ifs (ECMWF open data); unset: none.",
    )
    feed_base_url: str | None = Field(
        default=None,
        description="Mirror of the feed in the publisher's URL layout (unset: the publisher's "
        "own servers).",
    )
    feed_domain: str = Field(
        default="15,55,70,140",
        pattern=r"^-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$",
        description="Area cut from the feed: south,north,west,east in degrees.",
    )
    feed_max_lead_hours: int = Field(
        default=96, ge=1, le=384, description="Longest lead fetched (hours after the cycle)."
    )
    feed_step_hours: int = Field(default=3, ge=1, le=24, description="Lead hours fetched: every N.")
    feed_poll_minutes: float = Field(
        default=30, gt=0, description="How often the scheduler looks for a new feed cycle."
    )
    observation_inbox: Path = Field(
        default=Path("var/observation-inbox"),
        description="Folder the scheduler imports observation files from (CSV as `hazewarn "
        "obs import` reads, or long-format JSON lines): each moves to done/, or failed/ with "
        "the reason beside it.",
    )
    observation_inbox_poll_seconds: float = Field(
        default=60, gt=0, description="Observation inbox check interval."
    )
    scheduler_runs_dispatcher: bool = Field(
        default=True,
        description="The scheduler also runs the outbox dispatcher loop (one-machine set-up); "
        "false when dispatchers run as their own processes.",
    )
    scheduler_verify_time: str = Field(
        default="01:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Daily `verify` job time, HH:MM in the scheduler's zone (default UTC).",
    )
    scheduler_unack_check_minutes: float = Field(
        default=15, gt=0, description="How often unacknowledged warnings are flagged."
    )
    scheduler_history_run_hours: str = Field(
        default="",
        pattern=r"^$|^([01]?\d|2[0-3])(,([01]?\d|2[0-3]))*$",
        description="Hours (scheduler zone, comma-separated, e.g. 8,20) at which the "
        "scheduler makes a history-only forecast run for cities without a weather feed "
        "(empty: none).",
    )
    history_model_path: Path | None = Field(
        default=None,
        description="Model trained without forecast weather (--met history) for the "
        "history-only runs (unset: HAZEWARN_MODEL_PATH, which must then be one).",
    )
    scheduler_verify_poll_minutes: float = Field(
        default=15,
        gt=0,
        description="How often the scheduler verifies stored runs whose observations have "
        "arrived (service clock).",
    )
    verify_wait_hours: float = Field(
        default=48,
        ge=0,
        description="A run whose observations are still incomplete this long after its last "
        "forecast day is verified with what arrived.",
    )
    scheduler_timezone: str = Field(
        default="UTC",
        description="IANA zone the scheduler's clock times (verify, monthly ranking) are read "
        "in; jobs fire at that local time across daylight-saving changes.",
    )
    scheduler_ranking_time: str = Field(
        default="02:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Monthly ranking job: HH:MM on the 1st of each month (scheduler zone), "
        "for the month before.",
    )
    rankings_dir: Path = Field(
        default=Path("var/rankings"),
        description="Folder the monthly ranking job writes YYYY-MM.json into.",
    )
    scheduler_job_retries: int = Field(
        default=3, ge=0, description="A failed scheduled job is tried again this many times."
    )
    scheduler_retry_seconds: float = Field(
        default=30,
        gt=0,
        description="First retry delay of a failed job; each further retry waits twice as long.",
    )
    scheduler_metrics_port: int | None = Field(
        default=None,
        description="Serve the scheduler process's Prometheus metrics (job runs, failures) on "
        "this port (unset: not served).",
    )
    dask_scheduler_address: str | None = Field(
        default=None,
        description="A distributed scheduler (tcp://host:8786): lazy grid reads of forecast runs "
        "compute on its workers, and the scheduler's inbox reads every grid lazily. Unset: "
        "dask runs in this process.",
    )
    dask_connect_timeout_seconds: float = Field(
        default=30, gt=0, description="How long to wait for the dask scheduler at start."
    )
    # --- health, logs (docs/operations.md) ---
    heartbeat_seconds: float = Field(
        default=15, gt=0, description="How often the scheduler and dispatchers record a heartbeat."
    )
    heartbeat_stale_seconds: float = Field(
        default=90,
        gt=0,
        description="A scheduler or dispatcher whose last heartbeat is older counts as down.",
    )
    health_forecast_stale_hours: float = Field(
        default=30,
        gt=0,
        description="/health/ready fails when the latest forecast run is older than this.",
    )
    health_outbox_stale_seconds: float = Field(
        default=600,
        gt=0,
        description="/health/ready fails when a webhook delivery has been due this long.",
    )
    health_required: str = Field(
        default="database,model,forecast,outbox,scheduler,dispatcher",
        pattern=r"^\s*((database|model|forecast|outbox|scheduler|dispatcher)\s*(,\s*|$))*$",
        description="Checks /health/ready needs to pass (comma-separated); the others are "
        "reported but do not fail readiness.",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="Log lines: JSON, human-readable console, or auto (console when stderr is "
        "a terminal, else JSON).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )
    access_log: bool = Field(
        default=True, description="Log one line per HTTP request (with its request id)."
    )
    sql_echo: bool = Field(default=False, description="Log every SQL statement (debugging).")

    @field_validator("scheduler_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @property
    def health_required_checks(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.health_required.split(",") if name.strip())


#: The file `hazewarn demo` writes in the folder it runs in (`app.demo_serve`).
DEMO_ENV_FILE = Path("hazewarn-demo.env")


def env_files() -> tuple[Path, ...]:
    """The dotenv files the settings read under the environment variables, later ones
    winning: ``.env`` then `DEMO_ENV_FILE` in the working folder (so every command run
    where the demo ran shares its database and clock), or only ``HAZEWARN_ENV_FILE`` when
    set (empty: none)."""
    name = os.environ.get("HAZEWARN_ENV_FILE")
    if name is None:
        return (Path(".env"), DEMO_ENV_FILE)
    return (Path(name),) if name else ()


def demo_env_file() -> Path | None:
    """Where `hazewarn demo` writes its environment: `DEMO_ENV_FILE`, or
    ``HAZEWARN_ENV_FILE`` when set (empty: nowhere)."""
    name = os.environ.get("HAZEWARN_ENV_FILE")
    if name is None:
        return DEMO_ENV_FILE
    return Path(name) if name else None


@lru_cache
def get_settings() -> Settings:
    return Settings(_env_file=env_files() or None)
