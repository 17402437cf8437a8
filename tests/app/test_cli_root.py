"""The root command: `--version`, and one line saying to migrate when the schema is missing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from app import __version__, migrate
from app.cli import cli
from app.database import reset_caches


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"hazewarn {__version__}"
    assert __version__ != "0+unknown"


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "create", "--role", "admin", "--name", "ops"],
        ["warnings", "list", "--active"],
        ["outbox", "status"],
    ],
)
def test_a_command_on_an_unmigrated_database_says_to_upgrade(
    unmigrated_database_url: str, command: list[str]
) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: the database at ")
    assert "has no hazewarn schema yet: run `hazewarn db upgrade`" in lines[0]


def test_a_database_behind_the_package_names_both_revisions(unmigrated_database_url: str) -> None:
    from app.cli import schema_problem

    migrate.upgrade(unmigrated_database_url, "e4c58fc96a8e")  # before the heartbeats table
    reset_caches()
    problem = schema_problem()
    assert problem is not None
    assert f"is at revision e4c58fc96a8e, this hazewarn needs {migrate.head_revision()}" in problem
    result = CliRunner().invoke(cli, ["health", "check", "--role", "scheduler"])
    assert result.exit_code == 2
    assert "run `hazewarn db upgrade`" in result.output
    ready = CliRunner().invoke(cli, ["health", "check"])
    assert ready.exit_code == 2
    assert "FAIL database    schema at e4c58fc96a8e" in ready.output
    migrate.upgrade(unmigrated_database_url)
    reset_caches()
    assert schema_problem() is None


def test_other_database_errors_are_not_mistaken_for_a_missing_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAZEWARN_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/none")
    reset_caches()
    from app.cli import schema_problem

    assert schema_problem() is None
    reset_caches()
