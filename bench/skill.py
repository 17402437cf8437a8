"""Forecast skill: the issue-3 backtest in both met modes, into docs/benchmarks.md.

Runs exactly the documented command once per met mode,

    hazewarn backtest --train <six stations> --test Tiantan Wanliu Wanshouxigong \\
        --train-end 2016-02-29 --test-start 2016-03-01 --test-end 2017-02-25 \\
        --met {perfect,history} --out metrics.json --predictions preds.csv

each in a fresh process (so the runtime is the command's own), keeps the metrics and
predictions under ``--out-dir`` (default bench/out/skill, not in git), and replaces the
``## Forecast skill`` section of docs/benchmarks.md with the tables: daily scores per lead
with 95 % block-bootstrap intervals, ratios to persistence and climatology, CSI/POD/FAR of
p50 and of the warning decisions, the Brier skill score of P(> 150), every hourly lead,
and the issue's targets marked met or not met.

    .venv/bin/python bench/skill.py [--threads 1] [--out-dir DIR] [--no-write]
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

TRAIN_STATIONS = ("Aotizhongxin", "Changping", "Dongsi", "Guanyuan", "Gucheng", "Shunyi")
TEST_STATIONS = ("Tiantan", "Wanliu", "Wanshouxigong")
PROTOCOL = ("--train-end", "2016-02-29", "--test-start", "2016-03-01", "--test-end", "2017-02-25")
MODES = ("perfect", "history")
TITLE = "Forecast skill"


def station_file(data: Path, station: str) -> Path:
    return data / "beijing_multisite" / f"PRSA_Data_{station}_20130301-20170228.csv"


def backtest_command(
    data: Path,
    mode: str,
    out_dir: Path,
    threads: int | None,
    *,
    test: tuple[str, ...] = TEST_STATIONS,
    protocol: tuple[str, ...] = PROTOCOL,
    trees: int | None = None,
    name: str | None = None,
) -> list[str]:
    """The `hazewarn backtest` command line: by default the issue-3 protocol, writing
    ``metrics-<name>.json`` and ``preds-<name>.csv`` (name: the met mode) to ``out_dir``."""
    name = name or mode
    command = [str(REPO / ".venv" / "bin" / "hazewarn"), "backtest", "--train"]
    command += [str(station_file(data, s)) for s in TRAIN_STATIONS]
    command += ["--test"] + [str(station_file(data, s)) for s in test]
    command += [*protocol, "--met", mode]
    command += ["--out", str(out_dir / f"metrics-{name}.json")]
    command += ["--predictions", str(out_dir / f"preds-{name}.csv")]
    if threads is not None:
        command += ["--threads", str(threads)]
    if trees is not None:
        command += ["--trees", str(trees)]
    return command


def run_mode(
    data: Path, mode: str, out_dir: Path, threads: int | None
) -> tuple[dict[str, Any], float]:
    command = backtest_command(data, mode, out_dir, threads)
    print(f"running the {mode} backtest ...", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "COLUMNS": "120"})
    elapsed = time.monotonic() - started
    metrics = json.loads((out_dir / f"metrics-{mode}.json").read_text())
    return metrics, elapsed


def saved(out_dir: Path, mode: str) -> tuple[dict[str, Any], float]:
    """Metrics of an earlier run, with the command's own recorded runtime."""
    metrics = json.loads((out_dir / f"metrics-{mode}.json").read_text())
    return metrics, float(metrics["meta"].get("runtime_s", float("nan")))


# --------------------------------------------------------------------------- formatting


def f(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def ci(interval: list[float | None] | None, spec: str = ".2f") -> str:
    if not interval or interval[0] is None or interval[1] is None:
        return ""
    return f" [{format(interval[0], spec)}–{format(interval[1], spec)}]"


def with_ci(value: float | None, interval: list[float | None] | None, spec: str = ".2f") -> str:
    return f(value, spec) + ci(interval, spec)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(mode: str, m: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, achieved, met) rows of the issue's table for one met mode."""
    daily, base, dec, prob = m["daily"], m["baselines"], m["decisions"], m["probabilities"]
    cis = m["intervals"]["daily"]

    def interval(k: str, name: str) -> str:
        return ci(cis[k][name], ".3f")

    pers = base["persistence"]["daily"]
    clim = base["climatology"]["daily"]
    ratio = {k: daily[k]["rmse"] / pers[k]["rmse"] for k in daily}
    ratio_clim = {k: daily[k]["rmse"] / clim[k]["rmse"] for k in daily}
    rows: list[tuple[str, str, bool]] = []
    hourly = m["hourly_all_leads"]
    worst = max(hourly.values(), key=lambda e: e["ratio_to_better_baseline"])
    worst_lead = max(hourly, key=lambda k: hourly[k]["ratio_to_better_baseline"])
    if mode == "perfect":
        rows.append(
            (
                "D+1 RMSE ≤ 0.42 × persistence",
                f"{ratio['1']:.4f} ×{interval('1', 'ratio_to_persistence')}",
                ratio["1"] <= 0.42,
            )
        )
        for k in ("2", "3"):
            rows.append(
                (
                    f"D+{k} RMSE ≤ 0.45 × persistence",
                    f"{ratio[k]:.4f} ×{interval(k, 'ratio_to_persistence')}",
                    ratio[k] <= 0.45,
                )
            )
        for k in ("1", "2", "3"):
            csi, pod = dec[k]["csi_150"], dec[k]["pod_150"]
            rows.append(
                (
                    f"D+{k} CSI(>150) ≥ 0.60, POD ≥ 0.70 (warning decisions)",
                    f"CSI {f(csi, '.3f')}{interval(k, 'warn_csi_150')}, POD {f(pod, '.3f')} "
                    f"(p50: CSI {f(daily[k]['csi_150'], '.3f')}, "
                    f"POD {f(daily[k]['pod_150'], '.3f')})",
                    csi is not None and pod is not None and csi >= 0.60 and pod >= 0.70,
                )
            )
        rows.append(
            (
                "D+1 CSI(>75) ≥ 0.70 (warning decisions)",
                f"{f(dec['1']['csi_75'], '.3f')} (p50: {f(daily['1']['csi_75'], '.3f')})",
                (dec["1"]["csi_75"] or 0) >= 0.70,
            )
        )
        rows.append(
            ("D+1 BSS(>150) > 0.3", f(prob["1"]["bss_150"]), (prob["1"]["bss_150"] or 0) > 0.3)
        )
    else:
        rows.append(
            (
                "D+1 RMSE ≤ 0.72 × persistence and ≤ 0.85 × climatology",
                f"{ratio['1']:.4f} ×{interval('1', 'ratio_to_persistence')} and "
                f"{ratio_clim['1']:.4f} ×{interval('1', 'ratio_to_climatology')}",
                ratio["1"] <= 0.72 and ratio_clim["1"] <= 0.85,
            )
        )
        for k in ("2", "3"):
            rows.append(
                (
                    f"D+{k} RMSE below both baselines",
                    f"{ratio[k]:.4f} × persistence, {ratio_clim[k]:.4f} ×"
                    f"{interval(k, 'ratio_to_climatology')} climatology",
                    ratio[k] < 1 and ratio_clim[k] < 1,
                )
            )
        rows.append(
            (
                "D+1 CSI(>150) ≥ 0.30 (warning decisions)",
                f"{f(dec['1']['csi_150'], '.3f')} (p50: {f(daily['1']['csi_150'], '.3f')})",
                (dec["1"]["csi_150"] or 0) >= 0.30,
            )
        )
        rows.append(
            (
                "D+1 CSI(>75) ≥ 0.48 (warning decisions)",
                f"{f(dec['1']['csi_75'], '.3f')} (p50: {f(daily['1']['csi_75'], '.3f')})",
                (dec["1"]["csi_75"] or 0) >= 0.48,
            )
        )
        rows.append(
            ("D+1 BSS(>150) > 0.1", f(prob["1"]["bss_150"]), (prob["1"]["bss_150"] or 0) > 0.1)
        )
    rows.append(
        (
            "hourly p50 beats the better baseline at every lead 1–72 h",
            f"worst lead {worst_lead} h: {worst['ratio_to_better_baseline']:.3f} × "
            f"{worst['better_baseline']}",
            all(e["ratio_to_better_baseline"] < 1 for e in hourly.values()),
        )
    )
    return rows


def mode_section(mode: str, m: dict[str, Any], elapsed: float) -> str:
    daily, base, dec, prob, cis = (
        m["daily"],
        m["baselines"],
        m["decisions"],
        m["probabilities"],
        m["intervals"]["daily"],
    )
    pers, clim = base["persistence"]["daily"], base["climatology"]["daily"]
    lines = [f"### `--met {mode}`", ""]
    lines.append(
        f"Model {m['meta']['model_version']}; warning cut-offs (chosen on the last training "
        f"year): {', '.join(f'> {k}: p ≥ {v:.2f}' for k, v in m['meta']['warn_cutoffs'].items())}. "
        f"Runtime of the command: {elapsed:.0f} s."
    )
    lines += [
        "",
        "Targets of issue 3, with the 95 % interval of the achieved figure where it has one.",
        "",
        "| target (issue 3) | achieved | |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {a} | {verdict(ok)} |" for t, a, ok in targets(mode, m)]
    lines += [
        "",
        "Daily mean PM2.5 (µg/m³), pooled over the three test stations; 95 % intervals in "
        "brackets.",
        "",
        "| day | n | RMSE model | RMSE persistence | RMSE climatology | model / persistence "
        "| model / climatology | MAE model |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in sorted(daily, key=int):
        c = cis[k]
        lines.append(
            f"| D+{k} | {daily[k]['n']} | {with_ci(daily[k]['rmse'], c['rmse'], '.1f')} "
            f"| {with_ci(pers[k]['rmse'], c['rmse_persistence'], '.1f')} "
            f"| {with_ci(clim[k]['rmse'], c['rmse_climatology'], '.1f')} "
            f"| {with_ci(daily[k]['rmse'] / pers[k]['rmse'], c['ratio_to_persistence'], '.3f')} "
            f"| {with_ci(daily[k]['rmse'] / clim[k]['rmse'], c['ratio_to_climatology'], '.3f')} "
            f"| {with_ci(daily[k]['mae'], c['mae'], '.1f')} |"
        )
    lines += hindsight_lines(m)
    lines += [
        "",
        "Exceedance of the daily mean: CSI / POD / FAR of the p50 forecast and of the warning "
        "decisions (`warn_T`: calibrated P(> T) ≥ cut-off), with persistence for reference.",
        "",
        "| day | threshold | p50 CSI | p50 POD | p50 FAR | warn CSI | warn POD | warn FAR "
        "| warn freq. bias | persistence CSI |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in sorted(daily, key=int):
        c = cis[k]
        for t in ("75", "150", "250"):
            lines.append(
                f"| D+{k} | > {t} | {with_ci(daily[k][f'csi_{t}'], c[f'p50_csi_{t}'])} "
                f"| {with_ci(daily[k][f'pod_{t}'], c[f'p50_pod_{t}'])} "
                f"| {with_ci(daily[k][f'far_{t}'], c[f'p50_far_{t}'])} "
                f"| {with_ci(dec[k][f'csi_{t}'], c[f'warn_csi_{t}'])} "
                f"| {with_ci(dec[k][f'pod_{t}'], c[f'warn_pod_{t}'])} "
                f"| {with_ci(dec[k][f'far_{t}'], c[f'warn_far_{t}'])} "
                f"| {f(dec[k][f'fbias_{t}'])} | {f(pers[k][f'csi_{t}'])} |"
            )
    lines += [
        "",
        "Probability of a daily mean above 150 µg/m³: Brier score, the climatological "
        "reference (station-month frequency in the training period) and the skill score.",
        "",
        "| day | observed frequency | Brier | Brier climatology | BSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for k in sorted(prob, key=int):
        p = prob[k]
        lines.append(
            f"| D+{k} | {f(p['observed_frequency_150'], '.3f')} | {f(p['brier_150'], '.4f')} "
            f"| {f(p['brier_climatology_150'], '.4f')} "
            f"| {with_ci(p['bss_150'], cis[k]['bss_150'])} |"
        )
    reliability = prob["1"]["reliability_150"]
    lines += [
        "",
        "Reliability of P(> 150) at D+1 (forecasts per probability bin, mean forecast, observed "
        "frequency): "
        + "; ".join(
            f"{r['bin_lower']:.1f}–{r['bin_upper']:.1f}: n {r['n']}, "
            f"{f(r['mean_probability'])} vs {f(r['observed_frequency'])}"
            for r in reliability
            if r["n"]
        )
        + ".",
    ]
    hourly = m["hourly_all_leads"]
    lines += [
        "",
        "Hourly PM2.5, every lead (µg/m³ RMSE; ratio = model / the better baseline at that "
        "lead, 95 % interval):",
        "",
        "| lead (h) | n | model | persistence | climatology | ratio to better |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for lead in sorted(hourly, key=int):
        e = hourly[lead]
        lines.append(
            f"| {lead} | {e['n']} | {with_ci(e['rmse'], e['rmse_ci'], '.1f')} "
            f"| {f(e['rmse_persistence'], '.1f')} | {f(e['rmse_climatology'], '.1f')} "
            f"| {with_ci(e['ratio_to_better_baseline'], e['ratio_to_better_baseline_ci'], '.3f')} "
            f"({e['better_baseline']}) |"
        )
    return "\n".join(lines)


def hindsight_lines(m: dict[str, Any]) -> list[str]:
    """The hindsight ceiling: what the best re-weighting of the forecasts could reach."""
    ceiling = m["hindsight"]
    lines = [
        "",
        "Hindsight ceiling (`hindsight` in metrics.json): the RMSE of the best linear "
        "combination of p50, persistence and climatology, fitted by least squares on these "
        "very test cases. It is not a forecast (the weights know the answers); it bounds "
        "what any recalibration or blending of these three could reach on the test year, so a "
        "ratio target it misses needs new information, not re-weighting.",
        "",
        "| day | model / persistence | ceiling / persistence | model / climatology "
        "| ceiling / climatology | weights p50, persistence, climatology |",
        "|---|---:|---:|---:|---:|---|",
    ]
    pers = m["baselines"]["persistence"]["daily"]
    clim = m["baselines"]["climatology"]["daily"]
    for k in sorted(ceiling["daily"], key=int):
        e, model = ceiling["daily"][k], m["daily"][k]["rmse"]
        w = e["coefficients"]
        lines.append(
            f"| D+{k} | {model / pers[k]['rmse']:.3f} | {f(e['ratio_to_persistence'], '.3f')} "
            f"| {model / clim[k]['rmse']:.3f} | {f(e['ratio_to_climatology'], '.3f')} "
            f"| {w['p50']:.2f}, {w['persistence']:.2f}, {w['climatology']:.2f} |"
        )
    hourly = ceiling["hourly"]

    def to_better(e: dict[str, Any]) -> float:
        return max(e["ratio_to_persistence"], e["ratio_to_climatology"])

    worst = max(hourly, key=lambda lead: to_better(hourly[lead]))
    # Leads where even the hindsight blend gains under 1 % on the better baseline.
    flat = sorted(int(lead) for lead in hourly if to_better(hourly[lead]) > 0.99)
    lines += [
        "",
        f"Hourly: the ceiling's worst lead is {worst} h at {to_better(hourly[worst]):.3f} × the "
        "better baseline"
        + (
            f"; at {len(flat)} lead(s) ({_lead_ranges(flat)}) even the hindsight blend gains "
            "less than 1 % on it."
            if flat
            else "."
        ),
    ]
    return lines


def _lead_ranges(leads: list[int]) -> str:
    """[1, 2, 3, 7] -> '1–3 h, 7 h'."""
    parts: list[str] = []
    start = previous = leads[0]
    for lead in [*leads[1:], None]:
        if lead is not None and lead == previous + 1:
            previous = lead
            continue
        parts.append(f"{start}–{previous} h" if previous > start else f"{start} h")
        if lead is not None:
            start = previous = lead
    return ", ".join(parts)


def section(results: dict[str, tuple[dict[str, Any], float]]) -> str:
    bootstrap = next(iter(results.values()))[0]["meta"]["bootstrap"]
    commands = []
    for mode in results:
        command = backtest_command(Path("../shared/data"), mode, Path("bench/out/skill"), None)
        command[0] = "hazewarn"
        commands.append(" ".join(command))
    intro = [
        "The issue-3 backtest: train on Aotizhongxin, Changping, Dongsi, Guanyuan, Gucheng and "
        "Shunyi up to 2016-02-29, forecast Tiantan, Wanliu and Wanshouxigong at 12:00 Beijing "
        "time every day from 2016-03-01 to 2017-02-25 (inputs up to and including that hour), "
        "score hourly leads 1–72 h and the daily means of D+1..D+3 (days with ≥ 18 hours). "
        "`perfect`: the stations' observed weather after issue stands in for a perfect "
        "weather forecast; `history`: no weather after issue. Scores are pooled over stations "
        "and days on the cases where the model and both baselines exist; intervals come from "
        f"a block bootstrap over issue weeks ({bootstrap}). "
        "Method and protocol: docs/forecasting.md. Command: `.venv/bin/python bench/skill.py`, "
        "which runs",
        "",
        "```",
        *commands,
        "```",
        "",
    ]
    body = "\n".join(intro)
    for mode, (metrics, elapsed) in results.items():
        body += "\n" + mode_section(mode, metrics, elapsed) + "\n"
    body += "\n" + machine_info(["scikit-learn", "pandas", "numpy"]) + "\n"
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "out" / "skill")
    parser.add_argument(
        "--threads", type=int, default=1, help="native threads (1 is fastest on a busy machine)"
    )
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from the metrics already in --out-dir, without running",
    )
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data = args.data or shared_data()
    if args.render_only:
        results = {mode: saved(args.out_dir, mode) for mode in args.modes}
    else:
        results = {mode: run_mode(data, mode, args.out_dir, args.threads) for mode in args.modes}
    body = section(results)
    if args.no_write:
        print(body)
    else:
        write_section(TITLE, body)
        print(f"wrote ## {TITLE} to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
