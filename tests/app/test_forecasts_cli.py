"""`hazewarn backtest`, `hazewarn model train` and `hazewarn model show`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.forecasts.cli import expand_multi_value
from forecasting.backtest import PREDICTION_COLUMNS

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _file(shared_data: Path, station: str) -> str:
    return str(shared_data / "beijing_multisite" / f"PRSA_Data_{station}_20130301-20170228.csv")


def test_multi_value_options_expand() -> None:
    args = ["--train", "a", "b", "--met", "perfect", "--test", "c", "d", "e", "--out", "m.json"]
    assert expand_multi_value(args, ("--train", "--test")) == [
        "--train", "a", "--train", "b", "--met", "perfect",
        "--test", "c", "--test", "d", "--test", "e", "--out", "m.json",
    ]  # fmt: skip
    assert expand_multi_value(["--train=a", "b"], ("--train",)) == ["--train=a", "--train", "b"]


def test_backtest_writes_metrics_and_predictions(shared_data: Path, tmp_path: Path) -> None:
    out, preds = tmp_path / "metrics.json", tmp_path / "preds.csv"
    result = runner.invoke(
        cli,
        [
            "backtest",
            "--train",
            _file(shared_data, "Dongsi"),
            "--test",
            _file(shared_data, "Tiantan"),
            _file(shared_data, "Wanliu"),
            "--train-end",
            "2014-06-30",
            "--test-start",
            "2014-07-01",
            "--test-end",
            "2014-07-10",
            "--met",
            "history",
            "--out",
            str(out),
            "--predictions",
            str(preds),
            "--trees",
            "15",
            "--threads",
            "1",
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert set(metrics["daily"]) == {"1", "2", "3"}
    assert metrics["meta"]["met_mode"] == "history"
    assert metrics["meta"]["test_stations"] == ["Beijing/Tiantan", "Beijing/Wanliu"]
    assert metrics["meta"]["runtime_s"] > 0
    frame = pd.read_csv(preds)
    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert len(frame) == 2 * 10 * (72 + 3)
    assert "D+1" in result.output


def test_model_train_and_show(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "models" / "m.joblib"
    trained = runner.invoke(
        cli,
        [
            "model",
            "train",
            "--obs",
            _file(shared_data, "Dongsi"),
            "--met",
            "perfect",
            "--train-end",
            "2014-04-30",
            "--out",
            str(path),
            "--trees",
            "10",
            "--threads",
            "1",
        ],
        env=WIDE,
    )
    assert trained.exit_code == 0, trained.output
    assert path.is_file()
    assert "perfect-20140430" in trained.output
    shown = runner.invoke(cli, ["model", "show", str(path)], env=WIDE)
    assert shown.exit_code == 0, shown.output
    assert "perfect-20140430" in shown.output and "Dongsi" in shown.output
    described = runner.invoke(cli, ["model", "show", str(path), "--json"], env=WIDE)
    data = json.loads(described.output)
    assert data["training"]["train_end"] == "2014-04-30"
    assert data["config"]["max_iter"] == 10
    assert data["config"]["daily_max_iter"] == 15  # resolved and stored, not null
    assert "lead" in data["features"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-end", "2016-02-30"], "--train-end '2016-02-30' is not a date"),
        (["--met", "oracle"], "--met must be one of history, perfect"),
        (["--test-start", "2016-01-01"], "--test-start must come after --train-end"),
        (["--timezone", "Mars/Olympus"], "not an IANA time zone"),
    ],
)
def test_backtest_refuses_bad_options(shared_data: Path, args: list[str], message: str) -> None:
    base = [
        "backtest",
        "--train",
        _file(shared_data, "Dongsi"),
        "--test",
        _file(shared_data, "Tiantan"),
    ]
    result = runner.invoke(cli, base + args, env=WIDE)
    assert result.exit_code == 2
    assert message in result.output


def test_missing_files_fail_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["backtest", "--train", str(tmp_path / "none.csv"), "--test", "x.csv"], env=WIDE
    )
    assert result.exit_code == 2
    assert "no such file" in result.output
    shown = runner.invoke(cli, ["model", "show", str(tmp_path / "none.joblib")], env=WIDE)
    assert shown.exit_code == 2 and "no such model file" in shown.output
    garbage = tmp_path / "garbage.joblib"
    garbage.write_text("not a model")
    shown = runner.invoke(cli, ["model", "show", str(garbage)], env=WIDE)
    assert shown.exit_code == 2 and "cannot read model" in shown.output


def test_backtest_refuses_a_station_hour_given_twice(shared_data: Path, tmp_path: Path) -> None:
    """Issue 10 case: `hazewarn backtest` silently dropped duplicate hours; it now stops
    with exit 2 naming the file and line of the second one."""
    five = shared_data / "five_cities" / "BeijingPM20100101_20151231.csv"
    stateair = shared_data / "stateair_pm25" / "Beijing_2015_HourlyPM25_created20160201.csv"
    result = runner.invoke(
        cli,
        [
            *("backtest", "--train", str(five), str(stateair), "--test", str(stateair)),
            *("--out", str(tmp_path / "m.json"), "--predictions", str(tmp_path / "p.csv")),
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2, result.output
    assert f"{stateair}, line 2: duplicate station-hour: Beijing/US Post" in result.output
    assert not (tmp_path / "m.json").exists()
