"""Alembic, driven from Python: `hazewarn db upgrade` and the test fixtures use this.

The migration scripts ship inside the package (``app/migrations``) and are found through
`importlib.resources`, so an installed wheel migrates a database without the checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

__all__ = [
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migrations_dir",
    "upgrade",
]

#: Date-prefixed revision files: 20261125_1530_<rev>_<slug>.py (as in alembic.ini).
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


def migrations_dir() -> Path:
    """The folder of the migration scripts inside the installed ``app`` package."""
    return Path(str(files("app") / "migrations"))


def alembic_config(database_url: str) -> Config:
    """An Alembic config without an ini file: scripts from the package, URL from the caller."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("timezone", "UTC")
    config.set_main_option("path_separator", "os")
    # `%` must be doubled for configparser interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision the installed package ships."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
