"""Boosting iterations per met mode, chosen on validation inside the training years.

Runs `hazewarn backtest` on the validation protocol that every modelling choice used
(docs/forecasting.md "How the choices were made"): train on the six training stations up
to 2015-02-28, forecast the same six stations at 12:00 local every day from 2015-03-01 to
2016-02-26, never touching the test year. Once per met mode and per ``--trees`` value
(default 200, 300, 400), each in a fresh process, and writes the section
``## Boosting iterations (validation)`` of docs/benchmarks.md: daily-mean RMSE ratios to
persistence and climatology, CSI(>150) of the warning decisions and of p50, the mean hourly
ratio to the better baseline, and the command's runtime. `forecasting.model.DEFAULT_ITERATIONS`
holds the choice this table supports.

    .venv/bin/python bench/iterations.py [--trees 200 300 400] [--modes perfect history]
        [--threads 1] [--out-dir DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import REPO, machine_info, shared_data, write_section
from skill import MODES, TRAIN_STATIONS, backtest_command

TITLE = "Boosting iterations (validation)"
VALIDATION = (
    "--train-end",
    "2015-02-28",
    "--test-start",
    "2015-03-01",
    "--test-end",
    "2016-02-26",
)


def run(data: Path, mode: str, trees: int, out_dir: Path, threads: int) -> dict[str, Any]:
    name = f"{mode}-{trees}"
    command = backtest_command(
        data,
        mode,
        out_dir,
        threads,
        test=TRAIN_STATIONS,
        protocol=VALIDATION,
        trees=trees,
        name=name,
    )
    print(f"running {name} ...", flush=True)
    started = time.monotonic()
    subprocess.run(
        command, check=True, cwd=REPO, env={**os.environ, "COLUMNS": "120"}, capture_output=True
    )
    metrics = json.loads((out_dir / f"metrics-{name}.json").read_text())
    return {"mode": mode, "trees": trees, "seconds": time.monotonic() - started, "m": metrics}


def row(result: dict[str, Any]) -> str:
    m = result["m"]
    daily, dec = m["daily"], m["decisions"]
    pers = m["baselines"]["persistence"]["daily"]
    clim = m["baselines"]["climatology"]["daily"]
    days = ("1", "2", "3")
    ratios = " / ".join(f"{daily[k]['rmse'] / pers[k]['rmse']:.3f}" for k in days)
    to_clim = " / ".join(f"{daily[k]['rmse'] / clim[k]['rmse']:.3f}" for k in days)
    warn = " / ".join(f"{dec[k]['csi_150']:.3f}" for k in days)
    p50 = " / ".join(f"{daily[k]['csi_150']:.3f}" for k in days)
    hourly = [e["ratio_to_better_baseline"] for e in m["hourly_all_leads"].values()]
    return (
        f"| `{result['mode']}` | {result['trees']} | {ratios} | {to_clim} | {warn} | {p50} "
        f"| {sum(hourly) / len(hourly):.3f} (worst {max(hourly):.3f}) "
        f"| {result['seconds']:.0f} s |"
    )


def section(results: list[dict[str, Any]], trees: list[int], threads: int) -> str:
    lines = [
        "The validation protocol of every modelling choice (docs/forecasting.md): train on "
        "Aotizhongxin, Changping, Dongsi, Guanyuan, Gucheng and Shunyi up to 2015-02-28, "
        "forecast the same six stations at 12:00 Beijing time every day from 2015-03-01 to "
        "2016-02-26 (the test year 2016-03..2017-02 is not read). `hazewarn backtest ... "
        f"--trees N` for N in {', '.join(map(str, trees))} (the daily model gets 1.5 × N), "
        f"each in a fresh process with {threads} native thread(s). Command: "
        "`.venv/bin/python bench/iterations.py`.",
        "",
        "| met | trees | D+1 / D+2 / D+3 RMSE ÷ persistence | ÷ climatology "
        "| CSI(>150) warning decisions | CSI(>150) p50 | hourly ÷ better baseline, mean "
        "| runtime |",
        "|---|---:|---|---|---|---|---|---:|",
    ]
    lines += [row(r) for r in results]
    lines += [
        "",
        "`forecasting.model.DEFAULT_ITERATIONS` takes 300 with forecast weather (`perfect`) "
        "and 200 without (`history`); the hourly models' prediction time grows in proportion "
        "(see `## Forecast run speed`).",
        "",
        machine_info(["scikit-learn", "pandas", "numpy"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="+", type=int, default=[200, 300, 400])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--threads", type=int, default=1, help="native threads per backtest")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "out" / "iterations")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = shared_data()
    results = [
        run(data, mode, trees, args.out_dir, args.threads)
        for mode in args.modes
        for trees in args.trees
    ]
    body = section(results, args.trees, args.threads)
    if args.no_write:
        print(body)
    else:
        write_section(TITLE, body)
        print(f"wrote ## {TITLE} to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
