"""One validated settings object, read from ``HAZEWARN_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    host: str = "127.0.0.1"
    port: int = 8000
    page_size_max: int = 5000
    sql_echo: bool = False


@lru_cache
def get_settings() -> Settings:
    return Settings()
