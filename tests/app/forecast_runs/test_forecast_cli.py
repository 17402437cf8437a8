"""`hazewarn forecast run|list|show` and `hazewarn verify`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.database import session_scope
from app.forecast_runs.cli import parse_issue_time
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.forecast_runs.service import latest_run

from .conftest import ISSUE, GridWriter

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(ForecastRun)) or 0,
            session.scalar(select(func.count()).select_from(ForecastHourly)) or 0,
            session.scalar(select(func.count()).select_from(ForecastDaily)) or 0,
        )


def test_run_stores_a_run_and_a_bad_grid_stores_nothing(
    seeded: str, grid: GridWriter, tiny_model_path: Path, tmp_path: Path
) -> None:
    good = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--grid",
            str(grid()),
            "--at",
            "2017-01-10T12:00+08:00",
            "--model",
            str(tiny_model_path),
        ],
        env=WIDE,
    )
    assert good.exit_code == 0, good.output
    assert "issued 2017-01-10T04:00Z: 2 cities, leads 1..72 h" in good.output
    assert _counts() == (1, 144, 6)
    with session_scope() as session:
        first = latest_run(session)
        assert first is not None and first.issued_at == ISSUE

    later = "2017-01-10T05:00Z"
    # The grid ends a day short of the 72 h the model forecasts: refused, nothing stored.
    short = grid("short.nc", start=ISSUE + timedelta(hours=1), steps=40)
    refused = runner.invoke(
        cli,
        ["forecast", "run", "--grid", str(short), "--at", later, "--model", str(tiny_model_path)],
        env=WIDE,
    )
    assert refused.exit_code == 2
    assert "bad grid:" in refused.output and "nothing stored" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    # Not a grid at all.
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"CDF\x01 this is not really netcdf")
    broken = runner.invoke(
        cli,
        ["forecast", "run", "--grid", str(junk), "--at", later, "--model", str(tiny_model_path)],
    )
    assert broken.exit_code == 2 and "bad grid:" in broken.output
    assert _counts() == (1, 144, 6)
    with session_scope() as session:
        assert latest_run(session).id == first.id  # type: ignore[union-attr]

    listed = runner.invoke(cli, ["forecast", "list"], env=WIDE)
    assert listed.exit_code == 0 and "latest" in listed.output
    shown = runner.invoke(cli, ["forecast", "show", "--city", "110000"], env=WIDE)
    assert shown.exit_code == 0
    assert "2017-01-11" in shown.output and "sha256" in shown.output


def test_run_refuses_a_missing_model_and_a_bad_time(
    seeded: str, grid: GridWriter, tmp_path: Path, tiny_model_path: Path
) -> None:
    path = str(grid())
    missing = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--grid",
            path,
            "--at",
            "2017-01-10T04:00Z",
            "--model",
            str(tmp_path / "none.joblib"),
        ],
    )
    assert missing.exit_code == 2 and "no such model file" in missing.output
    mid_hour = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--grid",
            path,
            "--at",
            "2017-01-10T04:30Z",
            "--model",
            str(tiny_model_path),
        ],
    )
    assert mid_hour.exit_code == 2 and "not on the hour" in mid_hour.output
    assert _counts() == (0, 0, 0)


def test_the_default_model_path_comes_from_settings(
    seeded: str, grid: GridWriter, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("HAZEWARN_MODEL_PATH", str(tiny_model_path))
    get_settings.cache_clear()
    result = runner.invoke(
        cli, ["forecast", "run", "--grid", str(grid()), "--at", "2017-01-10T04:00", "--drill"]
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "drill run" in result.output
    with session_scope() as session:
        assert latest_run(session) is None
        assert latest_run(session, include_drill=True) is not None


def test_issue_times_parse_to_utc() -> None:
    assert parse_issue_time("2017-01-10T12:00+08:00") == ISSUE
    assert parse_issue_time("2017-01-10T04:00Z") == ISSUE
    assert parse_issue_time("2017-01-10 04:00") == ISSUE  # no offset: UTC


def test_a_grid_missing_a_city_names_it(
    seeded: str, grid: GridWriter, tiny_model_path: Path
) -> None:
    narrow = grid("narrow.nc", lon=(115.5, 117.0))  # Tianjin is at 117.20 E
    result = runner.invoke(
        cli,
        [
            "forecast",
            "run",
            "--grid",
            str(narrow),
            "--at",
            "2017-01-10T04:00Z",
            "--model",
            str(tiny_model_path),
        ],
        env=WIDE,
    )
    assert result.exit_code == 2
    assert "does not cover 1 point(s): ['120000']" in result.output
    assert _counts() == (0, 0, 0)
