"""Benchmark: replay of the test year through the pure warning lifecycle (Beijing's plan).

    .venv/bin/python bench/warning_replay.py [--met perfect|history|both] [--rerun]
                                             [--predictions-dir DIR] [--no-write]

The backtest's forecasts (`preds.csv` from `hazewarn backtest ... --predictions preds.csv`,
forecasting/backtest.py) are replayed as successive runs, one per day (issue 12:00 local),
for the Beijing test stations Tiantan, Wanliu and Wanshouxigong, in two years:

- the **training year** 2015-03-01..2016-02-25, with the backtest trained up to 2015-02-28:
  every candidate decision setting (probability cut-offs for AQI > 200 and > 300, the
  quantile of the AQI values, whether a warning in force may be downgraded) is replayed
  and the best by the aims is chosen — Beijing's plan ships the one chosen with `perfect`;
- the **test year** 2016-03-01..2017-02-25 (the issue-3 protocol): the plan as shipped,
  and for comparison the chosen setting (if the plan differs) and the plain p90 and p50
  readings.

Both met modes by default: `perfect` stands in for operation (weather forecasts drive the
runs), `history` uses no weather after issue. The four backtests are run with
`hazewarn backtest` into ``--predictions-dir`` (bench/out/warning_replay/) and reused from
there on later calls unless ``--rerun``.

For each run (the city is the mean of the three stations):

1. the daily AQI path (PM2.5 sub-index, HJ 633-2012): the days of an ongoing warning and
   today from the observed hours up to the issue hour plus the hourly forecast of the rest
   of today (`alerts.daily.daily_aqi_path`; today counts with 12 hours when the file has no
   hourly rows), then D+1..D+3 from the daily rows (the setting's quantile), decided by
   `alerts.daily.decide_by_probability` on the daily ``p_gt_150``/``p_gt_250`` when the
   setting decides by probability;
2. `alerts.criteria.evaluate` with Beijing's criteria set (`beijing-2016`) and
   `alerts.episodes.step` with Beijing's lifecycle policy (24 h lead, 36 h lift, 36 h merge
   gap, the setting's ``downgrade_in_force``). Every level is treated as approved when
   proposed: the replay measures the forecast and the rules, not a duty officer's delay.

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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from common import BENCHMARKS, REPO, machine_info, shared_data, write_section

from alerts.criteria import DailyAQI, evaluate
from alerts.daily import (
    DecideFrom,
    ForecastHour,
    daily_aqi_path,
    decide_by_probability,
    heavy_under_way,
)
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


@dataclass(frozen=True)
class Year:
    """One replayed year: the backtest trains up to ``train_end`` and forecasts
    ``start``..``end``."""

    name: str
    train_end: date
    start: date
    end: date


#: The issue's test year, and the last year of its training period, on which the
#: probability cut-offs are chosen (the backtest then trains up to 2015-02-28).
TEST_YEAR = Year("test", date(2016, 2, 29), date(2016, 3, 1), date(2017, 2, 25))
TRAINING_YEAR = Year("training", date(2015, 2, 28), date(2015, 3, 1), date(2016, 2, 25))
HEAVY = 200  # daily AQI above this is heavy pollution
OBSERVED_MIN_HOURS = 20  # GB 3095: an observed daily mean needs 20 valid hours
TODAY_MIN_HOURS = 12  # 00:00..12:00 observed when the file has no hourly forecast rows


def station_file(name: str) -> Path:
    [path] = (shared_data() / "beijing_multisite").glob(f"PRSA_Data_{name}_*.csv")
    return path


# --- inputs ---------------------------------------------------------------------------------


def run_backtest(met: str, year: Year, folder: Path) -> Path:
    """Run the backtest of issue 3 for ``year`` with ``hazewarn backtest`` (the command and
    protocol of issue 3, dates as ``year`` says) and return its predictions file."""
    preds = folder / f"preds-{year.name}-{met}.csv"
    hazewarn = REPO / ".venv" / "bin" / "hazewarn"
    command = [
        str(hazewarn),
        "backtest",
        "--train",
        *[str(station_file(s)) for s in TRAIN],
        "--test",
        *[str(station_file(s)) for s in TEST],
        "--train-end",
        year.train_end.isoformat(),
        "--test-start",
        year.start.isoformat(),
        "--test-end",
        year.end.isoformat(),
        "--met",
        met,
        "--threads",
        "1",
        "--out",
        str(folder / f"metrics-{year.name}-{met}.json"),
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
    """One forecast day of the city: quantiles (µg/m³) and the calibrated exceedance
    probabilities P(daily mean > 150 / 250 µg/m³), each the mean over the test stations
    (NaN when the file has none)."""

    p50: float
    p90: float
    p_gt_150: float = math.nan
    p_gt_250: float = math.nan


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
    for column in ("p_gt_150", "p_gt_250"):
        frame[column] = pd.to_numeric(frame.get(column, math.nan), errors="coerce")
    frame["issue_time"] = pd.to_datetime(frame["issue_time"], utc=True)
    columns = ["p50", "p90", "p_gt_150", "p_gt_250"]
    mean = frame.groupby(["issue_time", "kind", "lead"])[columns].mean().reset_index()
    runs: dict[datetime, Run] = {}
    for row in mean.to_dict("records"):
        issued: datetime = pd.Timestamp(row["issue_time"]).to_pydatetime()
        run = runs.setdefault(issued, Run(issued))
        lead, p50, p90 = int(row["lead"]), float(row["p50"]), float(row["p90"])
        if row["kind"] == "daily":
            run.daily[lead] = DailyForecast(
                p50, p90, float(row["p_gt_150"]), float(row["p_gt_250"])
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


@dataclass(frozen=True)
class Reading:
    """How a run's forecast days are read: ``decide_from`` as a plan says it (``p50``,
    ``p90`` or ``probability`` with ``cutoffs``: daily AQI threshold → probability cut-off,
    `alerts.daily.decide_by_probability`)."""

    decide_from: str
    cutoffs: tuple[tuple[int, float], ...] = ()
    hourly: DecideFrom = "p50"
    downgrade_in_force: bool = True

    @property
    def quantile(self) -> DecideFrom:
        """The quantile of the hourly forecast and of the daily AQI values."""
        if self.decide_from == "probability":
            return self.hourly
        return "p90" if self.decide_from == "p90" else "p50"

    def describe(self) -> str:
        hold = "" if self.downgrade_in_force else "; level held while in force"
        if self.decide_from != "probability":
            return f"daily AQI of {self.decide_from}{hold}"
        pairs = ", ".join(f"AQI > {a}: P ≥ {c:.2f}" for a, c in self.cutoffs)
        return f"probability ({pairs}; AQI values of {self.hourly}{hold})"


def plan_reading() -> Reading:
    """The reading Beijing's plan as shipped names."""
    plan = load_plans()[CITY]
    cutoffs = tuple(sorted((plan.probability_cutoffs or {}).items()))
    return Reading(plan.decide_from, cutoffs, plan.hourly_quantile, plan.downgrade_in_force)


def _forecast_aqi(day: date, forecast: DailyForecast, quantile: DecideFrom) -> int | None:
    value = forecast.p90 if quantile == "p90" else forecast.p50
    if math.isnan(value):
        return None
    result = daily_aqi({"pm25_24h": max(0.0, value)}, day=day)
    assert result.aqi is not None
    return result.aqi


def path_for(
    run: Run,
    state: EpisodeState | None,
    hours: pd.Series,
    reading: Reading,
) -> tuple[tuple[DailyAQI, ...], bool]:
    """The run's daily AQI path and whether heavy pollution is already under way."""
    quantile = reading.quantile
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
    probabilities: dict[date, dict[float, float]] = {}
    for lead in sorted(run.daily):
        day = today + timedelta(days=lead)
        if not path or path[-1].day != day - timedelta(days=1):
            break  # the path must hold consecutive days
        forecast = run.daily[lead]
        aqi = _forecast_aqi(day, forecast, quantile)
        if aqi is None:
            break  # no forecast for that day: the path ends before it
        path.append(DailyAQI(day, aqi))
        probabilities[day] = {150.0: forecast.p_gt_150, 250.0: forecast.p_gt_250}
    decided = tuple(path)
    if reading.decide_from == "probability":
        decided = decide_by_probability(decided, probabilities, dict(reading.cutoffs))
    under_way = heavy_under_way(observed, run.hourly, run.issued_at, ZONE, quantile)
    return decided, under_way


def replay(
    runs: Sequence[Run], hours: pd.Series, reading: Reading
) -> tuple[list[Warning], list[Transition]]:
    plan = load_plans()[CITY]
    version = plan_version(plan)
    # Every level counts as approved when proposed: the replay scores forecast and rules.
    policy = Policy.from_plan(
        plan, auto_levels=frozenset(LEVELS), downgrade_in_force=reading.downgrade_in_force
    )
    state: EpisodeState | None = None
    warnings: list[Warning] = []
    current: Warning | None = None
    transitions: list[Transition] = []
    for run in runs:
        path, under_way = path_for(run, state, hours, reading)
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


def observed_episodes(aqi: dict[date, int], year: Year) -> list[Episode]:
    """Runs of ≥ 2 consecutive days with observed daily AQI > 200 starting in ``year``."""
    episodes: list[Episode] = []
    run: list[date] = []
    day = year.start
    while day <= year.end + timedelta(days=3):
        if aqi.get(day, 0) > HEAVY:
            run.append(day)
        else:
            if len(run) >= 2 and run[0] <= year.end:
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
    reading: Reading
    figures: dict[str, float]
    episodes: list[Episode]
    warnings: list[Warning]
    seconds: float


def run_reading(
    runs: Sequence[Run], hours: pd.Series, aqi: dict[date, int], year: Year, reading: Reading
) -> Outcome:
    started = time.perf_counter()
    warnings, _transitions = replay(runs, hours, reading)
    seconds = time.perf_counter() - started
    episodes = observed_episodes(aqi, year)
    return Outcome(reading, score(episodes, warnings, aqi), episodes, warnings, seconds)


def _rank(outcome: Outcome) -> tuple[float, ...]:
    """Better first when sorted descending: aims met, episodes warned ≥ 24 h ahead, fewer
    false warnings, fewer level changes."""
    f = outcome.figures
    met = sum(ok for _aim, _result, ok in aims_met(f))
    return (met, f["warned_24h"], -f["false"], -f["max_changes"])


#: Decision settings tried on the training year: P(daily PM2.5 > 150 µg/m³) cut-offs for
#: AQI > 200, P(> 250 µg/m³) cut-offs for AQI > 300, the quantile of the AQI values and
#: hourly forecast, and whether a warning in force may be downgraded by the system.
CUTOFFS_200 = tuple(round(0.10 + 0.05 * i, 2) for i in range(15))  # 0.10 .. 0.80
CUTOFFS_300 = (0.2, 0.3, 0.5, 0.7)
HOURLY_QUANTILES: tuple[DecideFrom, ...] = ("p50", "p90")
DOWNGRADE_IN_FORCE = (True, False)
#: Met modes replayed: `perfect` stands in for operation (forecasts driven by weather
#: forecast grids) and chooses the plan's settings; `history` uses no weather after issue.
MET_MODES = ("perfect", "history")
OUT = REPO / "bench" / "out" / "warning_replay"


def candidates() -> list[Reading]:
    return [
        Reading("probability", ((200, c2), (300, c3)), hourly, downgrade)
        for downgrade in DOWNGRADE_IN_FORCE
        for hourly in HOURLY_QUANTILES
        for c2 in CUTOFFS_200
        for c3 in CUTOFFS_300
    ]


def tune(
    runs: Sequence[Run], hours: pd.Series, aqi: dict[date, int], year: Year
) -> tuple[Outcome, list[Outcome]]:
    """Replay ``year`` with every candidate setting; the best by `_rank` (the middle one
    of a tie, so the choice does not sit on the edge of a plateau) and all outcomes, best
    first."""
    outcomes = [run_reading(runs, hours, aqi, year, reading) for reading in candidates()]
    ranked = sorted(outcomes, key=_rank, reverse=True)
    best = [o for o in ranked if _rank(o) == _rank(ranked[0])]
    best.sort(key=lambda o: (not o.reading.downgrade_in_force, o.reading.hourly, o.reading.cutoffs))
    return best[len(best) // 2], ranked


def _reading_row(item: Outcome) -> str:
    f = item.figures
    met = sum(ok for _aim, _result, ok in aims_met(f))
    return (
        f"| {f['episodes']:.0f} | {f['warned']:.0f} | "
        f"{f['warned_24h']:.0f} ({100 * f['share_24h']:.0f} %) | {f['missed']:.0f} | "
        f"{f['warnings']:.0f} | {f['false']:.0f} | {f['max_changes']:.0f} | {met} of 3 |"
    )


READING_COLUMNS = (
    "episodes | warned | ≥ 24 h ahead | missed | warnings | false | most level changes | aims met |"
)
READING_ALIGN = "---:|---:|---:|---:|---:|---:|---:|---:|"


@dataclass
class MetResult:
    """The replays of one met mode: the training-year tuning and the test year."""

    met: str
    chosen: Outcome
    tried: list[Outcome]
    shipped: Outcome
    others: list[Outcome]
    runs: int


def _episode_cells(e: Episode) -> str:
    w = e.warning
    if w is None:
        return "missed | — | — | — |"
    return (
        f"{w.issued_at.astimezone(TZ):%m-%d %H:%M} | {' → '.join(w.levels)} | "
        f"{fmt_lead(e.lead_hours)} | {w.changes} |"
    )


def report(results: list[MetResult], source: str, seconds: float) -> str:
    by_met = {r.met: r for r in results}
    primary = by_met.get("perfect", results[0])
    shipped = primary.shipped
    same = primary.chosen.reading == shipped.reading
    lines = [
        "Replay of the test year (2016-03-01 to 2017-02-25, one run a day at 12:00 local) for "
        "the Beijing test stations Tiantan, Wanliu and Wanshouxigong (city = their mean), "
        "through the pure `alerts` lifecycle with Beijing's plan (`beijing-2016`, 24 h lead, "
        "36 h lift, 36 h merge gap, downgrade after lower runs spanning ≥ 36 h; every "
        "proposal counted as approved at once). Forecasts: " + source + ". Path: observed "
        "days of an ongoing warning and today (observed hours + hourly forecast), then the "
        "daily forecasts D+1..D+3, each the mean over the three stations. Observed daily AQI: "
        "PM2.5 sub-index of the city mean, days with ≥ 20 valid hours. Command: "
        "`.venv/bin/python bench/warning_replay.py` (runs the four backtests it needs, or "
        "reuses them from `bench/out/warning_replay/`).",
        "",
        "`perfect` (observed weather after issue standing in for the weather forecast) is the "
        "set-up of operation, where runs are driven by weather-forecast grids; `history` (no "
        "weather after issue at all) is the floor a city without a weather forecast would "
        "get.",
        "",
        "### Settings chosen on the training year",
        "",
        "Beijing's plan decides forecast days by probability (`decide_from: probability`): a "
        "day counts as AQI > 200 when P(daily PM2.5 > 150 µg/m³) reaches one cut-off and as "
        "AQI > 300 when P(> 250 µg/m³) reaches another, and the plan may hold the level of a "
        "warning in force until it is lifted (`downgrade_in_force: false`). These settings "
        "were chosen on the **training period only**: the same replay of 2015-03-01 to "
        "2016-02-25, with the backtest trained up to 2015-02-28 (`perfect`), trying "
        f"{len(candidates())} settings ({len(CUTOFFS_200)} × {len(CUTOFFS_300)} cut-offs, "
        "AQI values of p50 or p90, downgrades of a warning in force allowed or not) and "
        "keeping the best by aims met, then episodes warned ≥ 24 h ahead, then fewest false "
        "warnings, then fewest level changes (the middle of a tie). Best settings on the "
        "training year:",
        "",
        "| setting | " + READING_COLUMNS,
        "|---|" + READING_ALIGN,
        *[f"| {o.reading.describe()} " + _reading_row(o) for o in primary.tried[:6]],
        "",
        f"Chosen: {primary.chosen.reading.describe()}; "
        + (
            "the plan as shipped uses exactly these."
            if same
            else f"**the plan as shipped uses {shipped.reading.describe()} instead.**"
        ),
    ]
    if "history" in by_met and primary.met != "history":
        lines += [
            "",
            "The same search on the `history` training year would choose "
            f"{by_met['history'].chosen.reading.describe()} (not used).",
        ]
    lines += [
        "",
        "### Test year",
        "",
        f"Aims, the plan as shipped ({shipped.reading.describe()}):",
        "",
        "| aim | " + " | ".join(f"`{r.met}`" for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for index, (aim, _result, _ok) in enumerate(aims_met(shipped.figures)):
        cells = []
        for r in results:
            _aim, result, ok = aims_met(r.shipped.figures)[index]
            cells.append(f"{result}: {'met' if ok else '**not met**'}")
        lines.append(f"| {aim} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The same test-year replay with the forecast days read other ways (everything else equal):",
        "",
        "| met | forecast days read as | " + READING_COLUMNS,
        "|---|---|" + READING_ALIGN,
    ]
    for r in results:
        for o in [r.shipped, *r.others]:
            label = o.reading.describe() + (" (plan as shipped)" if o is r.shipped else "")
            lines.append(f"| `{r.met}` | {label} " + _reading_row(o))
    lines += [
        "",
        "Episodes, plan as shipped (lead = issue to the start of the episode's first "
        "observed day):",
        "",
        "| observed episode | days | peak AQI | "
        + " | ".join(f"`{r.met}`: warned at | levels | lead | changes" for r in results)
        + " |",
        "|---|---:|---:|" + "---|---|---:|---:|" * len(results),
    ]
    for index, e in enumerate(shipped.episodes):
        row = " | ".join(_episode_cells(r.shipped.episodes[index])[:-2] for r in results)
        lines.append(f"| {e.days[0]} – {e.days[-1]} | {len(e.days)} | {e.peak} | {row} |")
    for r in results:
        warnings = r.shipped.warnings
        lead_hours = sorted(w.lead_hours for w in warnings if w.lead_hours is not None)
        if not lead_hours:
            continue
        lines += [
            "",
            f"`{r.met}`, every warning issued: lead to its first forecast day median "
            f"{lead_hours[len(lead_hours) // 2]:.0f} h (shortest {lead_hours[0]:.0f} h, "
            f"longest {lead_hours[-1]:.0f} h) over {len(lead_hours)} warnings; level changes "
            + ", ".join(
                f"{n} × {sum(1 for w in warnings if w.changes == n)}"
                for n in sorted({w.changes for w in warnings})
            )
            + ".",
        ]
    replays = sum(len(r.tried) + 1 + len(r.others) for r in results)
    runs = ", ".join(f"{r.runs} `{r.met}`" for r in results)
    lines += [
        "",
        f"Test-year runs: {runs}; {replays} replays in {seconds:.1f} s. "
        + machine_info(("pandas",)),
    ]
    return "\n".join(lines)


def year_runs(preds: Path, year: Year) -> list[Run]:
    runs = [
        r for r in read_runs(preds) if year.start <= r.issued_at.astimezone(TZ).date() <= year.end
    ]
    if not runs:
        sys.exit(f"{preds}: no runs in {year.start}..{year.end}")
    if all(math.isnan(f.p_gt_150) for run in runs for f in run.daily.values()):
        sys.exit(f"{preds}: no p_gt_150 column (made before preds.csv carried probabilities)")
    return runs


def predictions(met: str, year: Year, folder: Path, rerun: bool) -> Path:
    """The backtest's preds.csv for ``met`` and ``year``: reused from ``folder`` unless
    ``rerun``, else made there."""
    path = folder / f"preds-{year.name}-{met}.csv"
    if path.exists() and not rerun:
        print(f"reusing {path}", flush=True)
        return path
    return run_backtest(met, year, folder)


def replay_met(
    met: str, folder: Path, rerun: bool, hours: pd.Series, aqi: dict[date, int]
) -> MetResult:
    test_runs = year_runs(predictions(met, TEST_YEAR, folder, rerun), TEST_YEAR)
    train_runs = year_runs(predictions(met, TRAINING_YEAR, folder, rerun), TRAINING_YEAR)
    print(f"replaying ({met}) ...", flush=True)
    chosen, tried = tune(train_runs, hours, aqi, TRAINING_YEAR)
    shipped = run_reading(test_runs, hours, aqi, TEST_YEAR, plan_reading())
    others = [run_reading(test_runs, hours, aqi, TEST_YEAR, Reading(q)) for q in ("p90", "p50")]
    if chosen.reading != shipped.reading:
        others.insert(0, run_reading(test_runs, hours, aqi, TEST_YEAR, chosen.reading))
    return MetResult(met, chosen, tried, shipped, others, len(test_runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--predictions-dir",
        type=Path,
        default=OUT,
        help="where the backtests' preds-{test,training}-{perfect,history}.csv are kept",
    )
    parser.add_argument("--rerun", action="store_true", help="rerun the backtests even if kept")
    parser.add_argument(
        "--met", choices=(*MET_MODES, "both"), default="both", help="backtest met mode(s)"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()

    folder: Path = args.predictions_dir
    folder.mkdir(parents=True, exist_ok=True)
    mets = MET_MODES if args.met == "both" else (args.met,)
    hours = observed_city_hours()
    aqi = observed_daily_aqi(hours)
    started = time.perf_counter()
    results = [replay_met(met, folder, args.rerun, hours, aqi) for met in mets]
    seconds = time.perf_counter() - started
    source = "`hazewarn backtest --met perfect|history` predictions (preds.csv) of each year"
    body = report(results, source, seconds)
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"\nwrote ## {SECTION} in {BENCHMARKS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
