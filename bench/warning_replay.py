"""Benchmark: replay of the test year through the pure warning lifecycle (Beijing's plan).

    .venv/bin/python bench/warning_replay.py [--predictions preds.csv] [--met history]
                                             [--no-write]

The backtest's forecasts (`preds.csv` from `hazewarn backtest ... --predictions preds.csv`,
forecasting/backtest.py) are replayed as successive runs, one per test day (issue 12:00
local), 2016-03-01 to 2017-02-25, for the Beijing test stations Tiantan, Wanliu and
Wanshouxigong. Without ``--predictions`` the script runs that backtest itself (the command
and protocol of issue 3, ``--met`` as given) into a temporary folder.

For each run (the city is the mean of the three stations):

1. the daily AQI path (PM2.5 sub-index, HJ 633-2012): the days of an ongoing warning and
   today from the observed hours up to the issue hour plus the hourly forecast of the rest
   of today (`alerts.daily.daily_aqi_path`; today counts with 12 hours when the file has no
   hourly rows), then D+1..D+3 from the daily rows (the plan's quantile, p90);
2. `alerts.criteria.evaluate` with Beijing's criteria set (`beijing-2016`) and
   `alerts.episodes.step` with Beijing's lifecycle policy (24 h lead, 36 h lift, 36 h merge
   gap). Every level is treated as approved when proposed: the replay measures the
   forecast and the rules, not a duty officer's delay.

Scored against the observed daily AQI (city mean of the three stations, a day counts with
≥ 20 valid hours):

- heavy-pollution **episodes**: ≥ 2 consecutive days with observed daily AQI > 200;
- **warned**: a warning was issued before the episode ended whose days overlap it; its
  **lead** is the time from the issue to the start of the episode's first day (≥ 24 h is
  the aim); **missed**: no such warning;
- **false warning**: an issued warning none of whose days had an observed AQI > 200;
- **level changes**: upgrades and downgrades of each warning.

Aims: ≥ 70 % of episodes warned ≥ 24 h ahead, no more false warnings than warned episodes,
no warning changing level more than twice. Writes `## Warning replay` in
docs/benchmarks.md (only that section) with the machine it ran on.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from common import BENCHMARKS, REPO, machine_info, shared_data, write_section

from alerts.criteria import DailyAQI, evaluate
from alerts.daily import DecideFrom, ForecastHour, daily_aqi_path, heavy_under_way
from alerts.episodes import (
    EpisodeState,
    Kind,
    Policy,
    RunInfo,
    Transition,
    day_end,
    day_start,
    path_first_day,
    step,
)
from alerts.levels import LEVELS
from contingency_plans.loader import load_plans, plan_version
from forecasting.aqi import daily_aqi

SECTION = "Warning replay"
CITY = "110000"
ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
TRAIN = ("Aotizhongxin", "Changping", "Dongsi", "Guanyuan", "Gucheng", "Shunyi")
TEST = ("Tiantan", "Wanliu", "Wanshouxigong")
TEST_START, TEST_END = date(2016, 3, 1), date(2017, 2, 25)
HEAVY = 200  # daily AQI above this is heavy pollution
OBSERVED_MIN_HOURS = 20  # GB 3095: an observed daily mean needs 20 valid hours
TODAY_MIN_HOURS = 12  # 00:00..12:00 observed when the file has no hourly forecast rows


def station_file(name: str) -> Path:
    [path] = (shared_data() / "beijing_multisite").glob(f"PRSA_Data_{name}_*.csv")
    return path


# --- inputs ---------------------------------------------------------------------------------


def run_backtest(met: str, folder: Path) -> Path:
    """Run the backtest of issue 3 and return its predictions file: the `hazewarn backtest`
    command when the CLI has it, else `forecasting.backtest.run_backtest` in this process
    (the same protocol)."""
    preds = folder / "preds.csv"
    hazewarn = REPO / ".venv" / "bin" / "hazewarn"
    listed = subprocess.run([str(hazewarn), "--help"], capture_output=True, text=True, cwd=REPO)
    if "backtest" not in listed.stdout:
        from forecasting.backtest import BacktestConfig
        from forecasting.backtest import run_backtest as backtest
        from forecasting.observations import read_observations

        print(f"running forecasting.backtest.run_backtest (--met {met}) ...", flush=True)
        train = pd.concat([read_observations(station_file(s)) for s in TRAIN], ignore_index=True)
        test = pd.concat([read_observations(station_file(s)) for s in TEST], ignore_index=True)
        config = BacktestConfig(
            train_end=date(2016, 2, 29),
            test_start=TEST_START,
            test_end=TEST_END,
            met_mode=met,  # type: ignore[arg-type]
        )
        result = backtest(train, test, config, progress=lambda m: print(" ", m, flush=True))
        result.predictions.to_csv(preds, index=False)
        return preds
    command = [
        str(hazewarn),
        "backtest",
        "--train",
        *[str(station_file(s)) for s in TRAIN],
        "--test",
        *[str(station_file(s)) for s in TEST],
        "--train-end",
        "2016-02-29",
        "--test-start",
        TEST_START.isoformat(),
        "--test-end",
        TEST_END.isoformat(),
        "--met",
        met,
        "--out",
        str(folder / "metrics.json"),
        "--predictions",
        str(preds),
    ]
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    return preds


def observed_city_hours() -> pd.Series:
    """Hourly PM2.5 (µg/m³) of the city: mean over the test stations reporting, UTC index."""
    from forecasting.observations import read_observations

    frames = [read_observations(station_file(name))[["time", "pm25"]] for name in TEST]
    joined = pd.concat(frames)
    return joined.groupby("time")["pm25"].mean().dropna().sort_index()


def observed_daily_aqi(hours: pd.Series) -> dict[date, int]:
    """Observed daily PM2.5 AQI per local day (days with ≥ 20 valid hours)."""
    local = hours.tz_convert(TZ)
    days = [moment.date() for moment in pd.DatetimeIndex(local.index)]
    out: dict[date, int] = {}
    for day, values in local.groupby(days):
        if len(values) >= OBSERVED_MIN_HOURS:
            assert isinstance(day, date)
            result = daily_aqi({"pm25_24h": float(values.mean())}, day=day)
            assert result.aqi is not None
            out[day] = result.aqi
    return out


@dataclass
class DailyForecast:
    """One forecast day of the city: quantiles (µg/m³) and the backtest's calibrated
    warning decisions (share of the test stations with ``warn_150``/``warn_250`` = 1; NaN
    when the file has none)."""

    p50: float
    p90: float
    warn_150: float = math.nan
    warn_250: float = math.nan


@dataclass
class Run:
    """One issue time: daily forecast (lead day → forecast) and hourly forecast hours."""

    issued_at: datetime
    daily: dict[int, DailyForecast] = field(default_factory=dict)
    hourly: list[ForecastHour] = field(default_factory=list)


def read_runs(path: Path) -> list[Run]:
    """The city runs of a predictions file: per issue time, the mean over the test
    stations of each quantile and warning decision."""
    frame = pd.read_csv(path)
    missing = {"station", "issue_time", "kind", "lead", "p50", "p90"} - set(frame.columns)
    if missing:
        sys.exit(f"{path}: missing columns {sorted(missing)}")
    wanted = {s.lower() for s in TEST}
    frame = frame[frame["station"].astype(str).str.lower().isin(wanted)].copy()
    if frame.empty:
        sys.exit(f"{path}: no rows for the test stations {', '.join(TEST)}")
    for column in ("warn_150", "warn_250"):
        frame[column] = pd.to_numeric(frame.get(column, math.nan), errors="coerce")
    frame["issue_time"] = pd.to_datetime(frame["issue_time"], utc=True)
    columns = ["p50", "p90", "warn_150", "warn_250"]
    mean = frame.groupby(["issue_time", "kind", "lead"])[columns].mean().reset_index()
    runs: dict[datetime, Run] = {}
    for row in mean.to_dict("records"):
        issued: datetime = pd.Timestamp(row["issue_time"]).to_pydatetime()
        run = runs.setdefault(issued, Run(issued))
        lead, p50, p90 = int(row["lead"]), float(row["p50"]), float(row["p90"])
        if row["kind"] == "daily":
            run.daily[lead] = DailyForecast(
                p50, p90, float(row["warn_150"]), float(row["warn_250"])
            )
        elif row["kind"] == "hourly":
            run.hourly.append(ForecastHour(issued + timedelta(hours=lead), p50, p90))
    return [runs[key] for key in sorted(runs)]


# --- the replay ------------------------------------------------------------------------------


@dataclass
class Warning:
    """One issued warning as the replay saw it."""

    issued_at: datetime
    level_at_issue: str
    levels: list[str]
    first_day: date
    last_day: date
    closed_at: datetime | None = None
    changes: int = 0
    lead_hours: float | None = None

    def days(self) -> list[date]:
        last = self.last_day
        if self.closed_at is not None:
            last = min(last, self.closed_at.astimezone(TZ).date())
        first = self.first_day
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


#: How a run's forecast days are read: the plan's quantile, p50, or the backtest's
#: calibrated exceedance decisions (``warn``: a day counts as > 200 when the majority of
#: the test stations have ``warn_150`` = 1 and as > 300 with ``warn_250`` = 1; otherwise
#: its p50 AQI, capped at 200).
Decide = str
VARIANTS: dict[str, str] = {
    "p90": "the plan as shipped: daily AQI of p90",
    "p50": "daily AQI of p50",
    "warn": "the backtest's calibrated decisions warn_150 / warn_250 (p50 otherwise)",
}


def _forecast_aqi(day: date, forecast: DailyForecast, decide: Decide) -> int | None:
    value = forecast.p90 if decide == "p90" else forecast.p50
    if math.isnan(value):
        return None
    result = daily_aqi({"pm25_24h": max(0.0, value)}, day=day)
    assert result.aqi is not None
    if decide != "warn":
        return result.aqi
    if math.isnan(forecast.warn_150):
        return None
    aqi = max(result.aqi, HEAVY + 1) if forecast.warn_150 >= 0.5 else min(result.aqi, HEAVY)
    if forecast.warn_250 >= 0.5:
        aqi = max(aqi, 301)
    return aqi


def path_for(
    run: Run,
    state: EpisodeState | None,
    hours: pd.Series,
    decide: Decide,
) -> tuple[tuple[DailyAQI, ...], bool]:
    """The run's daily AQI path and whether heavy pollution is already under way."""
    quantile: DecideFrom = "p90" if decide == "p90" else "p50"
    today = run.issued_at.astimezone(TZ).date()
    first = path_first_day(state, today)
    start = min(day_start(first, ZONE), run.issued_at - timedelta(hours=24))
    observed = hours[(hours.index >= start) & (hours.index <= run.issued_at)]
    end_of_today = day_end(today, ZONE)
    today_hours = [h for h in run.hourly if h.valid_time < end_of_today]
    min_hours = 18 if today_hours else TODAY_MIN_HOURS
    head = daily_aqi_path(
        observed, today_hours, ZONE, quantile, first_day=first, min_hours=min_hours
    )
    path = list(head)
    for lead in sorted(run.daily):
        day = today + timedelta(days=lead)
        if not path or path[-1].day != day - timedelta(days=1):
            break  # the path must hold consecutive days
        aqi = _forecast_aqi(day, run.daily[lead], decide)
        if aqi is None:
            break  # no forecast for that day: the path ends before it
        path.append(DailyAQI(day, aqi))
    under_way = heavy_under_way(observed, run.hourly, run.issued_at, ZONE, quantile)
    return tuple(path), under_way


def replay(
    runs: Sequence[Run], hours: pd.Series, decide: Decide
) -> tuple[list[Warning], list[Transition]]:
    plan = load_plans()[CITY]
    version = plan_version(plan)
    # Every level counts as approved when proposed: the replay scores forecast and rules.
    policy = Policy.from_plan(plan, auto_levels=frozenset(LEVELS))
    state: EpisodeState | None = None
    warnings: list[Warning] = []
    current: Warning | None = None
    transitions: list[Transition] = []
    for run in runs:
        path, under_way = path_for(run, state, hours, decide)
        evaluation = evaluate(path, plan.criteria_set)
        info = RunInfo(
            run_id=run.issued_at.isoformat(),
            issued_at=run.issued_at,
            plan_version=version,
            city=CITY,
            zone=ZONE,
            heavy_under_way=under_way,
        )
        decision = step(state, evaluation, info, policy)
        for t in decision.transitions:
            transitions.append(t)
            after = decision.new_state
            assert after is not None
            if t.kind == Kind.ISSUED:
                assert t.level_after is not None
                current = Warning(
                    issued_at=t.at,
                    level_at_issue=t.level_after.value,
                    levels=[t.level_after.value],
                    first_day=after.first_day,
                    last_day=after.last_day,
                    lead_hours=t.lead_hours,
                )
                warnings.append(current)
            elif current is not None and t.kind in (Kind.UPGRADED, Kind.DOWNGRADED):
                assert t.level_after is not None
                current.changes += 1
                current.levels.append(t.level_after.value)
            elif current is not None and t.kind in (Kind.LIFTED, Kind.CANCELLED):
                current.closed_at = t.at
                current = None
            if current is not None:
                current.first_day = min(current.first_day, after.first_day)
                current.last_day = max(current.last_day, after.last_day)
        state = decision.new_state
    return warnings, transitions


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Episode:
    days: list[date]
    peak: int
    warning: Warning | None = None

    @property
    def start(self) -> datetime:
        return day_start(self.days[0], ZONE)

    @property
    def lead_hours(self) -> float | None:
        if self.warning is None:
            return None
        return (self.start - self.warning.issued_at).total_seconds() / 3600


def observed_episodes(aqi: dict[date, int]) -> list[Episode]:
    """Runs of ≥ 2 consecutive days with observed daily AQI > 200 in the test year."""
    episodes: list[Episode] = []
    run: list[date] = []
    day = TEST_START
    while day <= TEST_END + timedelta(days=3):
        if aqi.get(day, 0) > HEAVY:
            run.append(day)
        else:
            if len(run) >= 2 and run[0] <= TEST_END:
                episodes.append(Episode(run, max(aqi[d] for d in run)))
            run = []
        day += timedelta(days=1)
    return episodes


def score(
    episodes: list[Episode], warnings: list[Warning], aqi: dict[date, int]
) -> dict[str, float]:
    for episode in episodes:
        end = day_end(episode.days[-1], ZONE)
        candidates = [
            w for w in warnings if w.issued_at < end and set(w.days()) & set(episode.days)
        ]
        episode.warning = min(candidates, key=lambda w: w.issued_at) if candidates else None
    false = [w for w in warnings if not any(aqi.get(d, 0) > HEAVY for d in w.days())]
    warned = [e for e in episodes if e.warning is not None]
    ahead = [e for e in warned if (e.lead_hours or 0) >= 24]
    return {
        "episodes": len(episodes),
        "warned": len(warned),
        "warned_24h": len(ahead),
        "missed": len(episodes) - len(warned),
        "warnings": len(warnings),
        "false": len(false),
        "max_changes": max((w.changes for w in warnings), default=0),
        "share_24h": len(ahead) / len(episodes) if episodes else 0.0,
    }


# --- report ----------------------------------------------------------------------------------


def fmt_lead(hours: float | None) -> str:
    return "—" if hours is None else f"{hours:+.0f} h"


def aims_met(figures: dict[str, float]) -> list[tuple[str, str, bool]]:
    return [
        (
            "≥ 70 % of episodes warned ≥ 24 h ahead",
            f"{figures['warned_24h']:.0f} of {figures['episodes']:.0f} "
            f"({100 * figures['share_24h']:.0f} %)",
            figures["share_24h"] >= 0.70,
        ),
        (
            "false warnings ≤ warned episodes",
            f"{figures['false']:.0f} false, {figures['warned']:.0f} warned",
            figures["false"] <= figures["warned"],
        ),
        (
            "no warning changes level more than twice",
            f"most changes in one warning: {figures['max_changes']:.0f}",
            figures["max_changes"] <= 2,
        ),
    ]


@dataclass
class Outcome:
    decide: Decide
    figures: dict[str, float]
    episodes: list[Episode]
    warnings: list[Warning]
    seconds: float


def report(outcomes: list[Outcome], source: str, runs: int) -> str:
    shipped = outcomes[0]
    figures, episodes, warnings = shipped.figures, shipped.episodes, shipped.warnings
    lines = [
        "Replay of the test year (2016-03-01 to 2017-02-25, one run a day at 12:00 local) for "
        "the Beijing test stations Tiantan, Wanliu and Wanshouxigong (city = their mean), "
        "through the pure `alerts` lifecycle with Beijing's plan (`beijing-2016`, 24 h lead, "
        "36 h lift, 36 h merge gap, downgrade after lower runs spanning ≥ 36 h; every "
        "proposal counted as approved at once). Forecasts: " + source + " (with `history` no "
        "weather forecast beyond the issue time is used). Path: observed days of an ongoing "
        "warning and "
        "today (observed hours + hourly forecast), then the daily forecasts D+1..D+3. "
        "Observed daily AQI: PM2.5 sub-index of the city mean, days with ≥ 20 valid hours. "
        "Command: `.venv/bin/python bench/warning_replay.py [--predictions preds.csv]`.",
        "",
        "Aims, for the plan as shipped (decide from p90):",
        "",
        "| aim | result | met |",
        "|---|---|---|",
        *[
            f"| {aim} | {result} | {'yes' if ok else '**no**'} |"
            for aim, result, ok in aims_met(figures)
        ],
        "",
        "The same replay with the forecast days read other ways (everything else equal):",
        "",
        "| forecast days read as | episodes | warned | ≥ 24 h ahead | missed | warnings "
        "| false | most level changes | aims met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for item in outcomes:
        f = item.figures
        met = sum(ok for _aim, _result, ok in aims_met(f))
        lines.append(
            f"| {VARIANTS[item.decide]} | {f['episodes']:.0f} | {f['warned']:.0f} | "
            f"{f['warned_24h']:.0f} ({100 * f['share_24h']:.0f} %) | {f['missed']:.0f} | "
            f"{f['warnings']:.0f} | {f['false']:.0f} | {f['max_changes']:.0f} | {met} of 3 |"
        )
    lines += [
        "",
        "Episodes, plan as shipped (lead = issue to the start of the episode's first "
        "observed day):",
        "",
        "| observed episode | days | peak AQI | warned at | levels | lead | level changes |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for e in episodes:
        w = e.warning
        lines.append(
            f"| {e.days[0]} – {e.days[-1]} | {len(e.days)} | {e.peak} | "
            + (
                f"{w.issued_at.astimezone(TZ):%Y-%m-%d %H:%M} | {' → '.join(w.levels)} | "
                f"{fmt_lead(e.lead_hours)} | {w.changes} |"
                if w is not None
                else "missed | — | — | — |"
            )
        )
    lead_hours = [w.lead_hours for w in warnings if w.lead_hours is not None]
    if lead_hours:
        ordered = sorted(lead_hours)
        lines += [
            "",
            f"Lead time of every warning issued (to its first forecast day): median "
            f"{ordered[len(ordered) // 2]:.0f} h, shortest {ordered[0]:.0f} h, longest "
            f"{ordered[-1]:.0f} h over {len(ordered)} warnings. Level changes per warning: "
            + ", ".join(
                f"{n} change(s) × {sum(1 for w in warnings if w.changes == n)}"
                for n in sorted({w.changes for w in warnings})
            )
            + ".",
        ]
    seconds = sum(item.seconds for item in outcomes)
    lines += [
        "",
        f"{runs} runs × {len(outcomes)} readings replayed in {seconds:.1f} s. "
        + machine_info(("pandas",)),
    ]
    return "\n".join(lines)


def main() -> None:
    import time

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", type=Path, help="preds.csv of the backtest")
    parser.add_argument(
        "--met", choices=("history", "perfect"), default="history", help="backtest met mode"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        if args.predictions is not None:
            preds = args.predictions
            source = f"the backtest's `{preds.name}` given (made with `--met {args.met}`)"
        else:
            preds = run_backtest(args.met, Path(folder))
            source = f"the backtest (`--met {args.met}`) run by the script"
        runs = [
            r
            for r in read_runs(preds)
            if TEST_START <= r.issued_at.astimezone(TZ).date() <= TEST_END
        ]
    if not runs:
        sys.exit("no runs in the test year")
    hours = observed_city_hours()
    aqi = observed_daily_aqi(hours)
    has_decisions = any(not math.isnan(f.warn_150) for run in runs for f in run.daily.values())
    outcomes = []
    for decide in ("p90", "p50", "warn") if has_decisions else ("p90", "p50"):
        started = time.perf_counter()
        warnings, _transitions = replay(runs, hours, decide)
        seconds = time.perf_counter() - started
        episodes = observed_episodes(aqi)
        figures = score(episodes, warnings, aqi)
        outcomes.append(Outcome(decide, figures, episodes, warnings, seconds))
    body = report(outcomes, source, len(runs))
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"\nwrote ## {SECTION} in {BENCHMARKS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
