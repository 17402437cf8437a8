"""Forecast endpoints: `/v1/forecasts/latest`, `/v1/forecast-runs[/{id}]`,
`/v1/cities/{code}/forecast` and `/v1/cities/{code}/skill`.

Every instant is returned in UTC and in the city's local time with its offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from app.cities.models import City
from app.cities.service import get_city
from app.deps import DbSession
from app.errors import ProblemError, problem_responses
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.forecast_runs.schemas import (
    CityDays,
    CityForecastWithRecord,
    CityRef,
    CitySkill,
    DailyRead,
    DailySkill,
    HourlyRead,
    HourlySkill,
    LatestForecasts,
    ModelRecord,
    RecentSkill,
    ReliabilityBin,
    RunDetail,
    RunList,
    RunSummary,
    TierScore,
)
from app.forecast_runs.service import (
    city_scores,
    get_run,
    latest_run,
    list_runs,
    local_midnight_utc,
    run_daily,
    run_hourly,
    skill_between,
)
from app.request_limits import INT32_MAX
from app.timestamps import utcnow

router = APIRouter(tags=["forecasts"])

CityCode = Annotated[
    str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, 6 digits", examples=["110000"])
]
#: Lead days shown by /v1/forecasts/latest.
LATEST_LEAD_DAYS = (1, 2, 3)
#: Days before a run's issue whose verified runs make the forecast's "recent skill".
RECENT_SKILL_DAYS = 30
SKILL_THRESHOLDS = (75.0, 150.0, 250.0)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(UTC).astimezone(zone)


def _city_ref(city: City) -> CityRef:
    return CityRef(
        code=city.code, name_zh=city.name_zh, name_en=city.name_en, timezone=city.timezone
    )


def _daily_read(row: ForecastDaily, timezone: str) -> DailyRead:
    starts = local_midnight_utc(row.local_date, timezone)
    return DailyRead(
        local_date=row.local_date,
        lead_day=row.lead_day,
        starts_at=starts,
        starts_at_local=_local(starts, ZoneInfo(timezone)),
        p10=row.p10,
        p50=row.p50,
        p90=row.p90,
        p_gt_75=row.p_gt_75,
        p_gt_115=row.p_gt_115,
        p_gt_150=row.p_gt_150,
        p_gt_250=row.p_gt_250,
        aqi_version=row.aqi_version,
        aqi_p50=row.aqi_p50,
        aqi_p90=row.aqi_p90,
    )


def _hourly_read(row: ForecastHourly, zone: ZoneInfo) -> HourlyRead:
    return HourlyRead(
        valid_time=row.valid_time,
        valid_time_local=_local(row.valid_time, zone),
        lead_h=row.lead_h,
        p10=row.p10,
        p50=row.p50,
        p90=row.p90,
    )


def _no_run_yet() -> ProblemError:
    return ProblemError(
        404, "Not found", "no forecast run has been stored yet (run `hazewarn forecast run`)"
    )


@router.get(
    "/v1/forecasts/latest", response_model=LatestForecasts, responses=problem_responses(404)
)
def latest_forecasts(db: DbSession) -> LatestForecasts:
    """The latest run (latest issue time, drills excluded) and each city's D+1..D+3."""
    run = latest_run(db)
    if run is None:
        raise _no_run_yet()
    rows = run_daily(db, run.id, lead_days=LATEST_LEAD_DAYS)
    cities = {c.code: c for c in db.query(City).filter(City.code.in_({r.city_code for r in rows}))}
    by_city: dict[str, list[DailyRead]] = {}
    for row in rows:
        city = cities[row.city_code]
        by_city.setdefault(row.city_code, []).append(_daily_read(row, city.timezone))
    return LatestForecasts(
        run=RunSummary.model_validate(run, from_attributes=True),
        cities=[
            CityDays(city=_city_ref(cities[code]), days=days) for code, days in by_city.items()
        ],
    )


@router.get("/v1/forecast-runs", response_model=RunList)
def forecast_runs(
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> RunList:
    """Stored runs, latest issue time first (drills included, flagged)."""
    runs, total = list_runs(db, limit=limit, offset=offset)
    return RunList(
        items=[RunSummary.model_validate(r, from_attributes=True) for r in runs], total=total
    )


@router.get("/v1/forecast-runs/{run_id}", response_model=RunDetail)
def forecast_run(
    db: DbSession, run_id: Annotated[int, Path(ge=1, le=INT32_MAX, description="run id")]
) -> RunDetail:
    """One run: model, inputs (grid files with sizes and hashes, observation window) and
    per-city counts."""
    run = get_run(db, run_id)
    if run is None:
        raise ProblemError(
            404, "Not found", f"no forecast run with id {run_id}", field="path.run_id"
        )
    return RunDetail.model_validate(run, from_attributes=True)


@router.get("/v1/cities/{code}/forecast", response_model=CityForecastWithRecord)
def city_forecast(
    db: DbSession,
    code: CityCode,
    run: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="run id; default the latest run")
    ] = None,
) -> CityForecastWithRecord:
    """One city's hourly PM2.5 quantiles and daily probabilities from one run, with its
    track record: the model (version, training window, the skill it shipped with), the
    run's input provenance, and the verified skill of the city's forecasts issued in the
    30 days before this run."""
    city = get_city(db, code)
    if city is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    found: ForecastRun | None
    if run is None:
        found = latest_run(db)
        if found is None:
            raise _no_run_yet()
    else:
        found = get_run(db, run)
        if found is None:
            raise ProblemError(
                404, "Not found", f"no forecast run with id {run}", field="query.run"
            )
    hourly = run_hourly(db, found.id, code)
    daily = run_daily(db, found.id, code)
    if not hourly and not daily:
        raise ProblemError(
            404,
            "Not found",
            f"forecast run {found.id} has no forecast for city {code} (no stations then?)",
            field="path.code",
        )
    zone = ZoneInfo(city.timezone)
    inputs = dict(found.inputs or {})
    recorded = inputs.pop("model", None)
    model = (
        ModelRecord(
            version=recorded.get("version", found.model_version),
            met_mode=recorded.get("met_mode"),
            training=recorded.get("training") or {},
            shipped_skill=recorded.get("shipped_skill") or {},
        )
        if isinstance(recorded, dict)
        else None
    )
    # Runs issued before this one only: a forecast's record is what was known then
    # (the run itself cannot be verified yet when it is shown).
    report = skill_between(
        db,
        code,
        found.issued_at - timedelta(days=RECENT_SKILL_DAYS),
        found.issued_at - timedelta(microseconds=1),
    )
    return CityForecastWithRecord(
        run=RunSummary.model_validate(found, from_attributes=True),
        city=_city_ref(city),
        issued_at=found.issued_at,
        issued_at_local=_local(found.issued_at, zone),
        hourly=[_hourly_read(row, zone) for row in hourly],
        daily=[_daily_read(row, city.timezone) for row in daily],
        model=model,
        inputs=inputs,
        recent_skill=RecentSkill(
            days=RECENT_SKILL_DAYS,
            run_count=len(report.run_ids),
            daily=[_daily_skill(lead, m) for lead, m in sorted(report.daily.items())],
        ),
    )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _tiers(m: dict[str, Any], kind: str) -> list[TierScore]:
    return [
        TierScore(
            threshold=t,
            observed_events=None
            if m.get(f"observed_events_{t:g}") is None
            else int(m[f"observed_events_{t:g}"]),
            pod=_number(m.get(f"{kind}_pod_{t:g}")),
            far=_number(m.get(f"{kind}_far_{t:g}")),
            csi=_number(m.get(f"{kind}_csi_{t:g}")),
        )
        for t in SKILL_THRESHOLDS
        if f"{kind}_csi_{t:g}" in m
    ]


def _daily_skill(lead: int, m: dict[str, Any], n: int | None = None) -> DailySkill:
    """One lead's daily skill from the flat scores of `score_daily` (computed or stored)."""
    reliability = m.get("reliability_150") or []
    return DailySkill(
        lead=lead,
        rmse=_number(m.get("rmse")),
        mae=_number(m.get("mae")),
        bias=_number(m.get("bias")),
        csi_75=_number(m.get("p50_csi_75")),
        csi_150=_number(m.get("p50_csi_150")),
        brier_150=_number(m.get("brier_150")),
        n=int(n if n is not None else m.get("n", 0)),
        p50=_tiers(m, "p50"),
        warnings=_tiers(m, "warn"),
        brier={
            key.removeprefix("brier_"): _number(value)
            for key, value in m.items()
            if key.startswith("brier_")
        },
        reliability_150=[
            ReliabilityBin(
                bin_lower=b["bin_lower"],
                bin_upper=b["bin_upper"],
                n=int(b["n"]),
                mean_probability=_number(b["mean_probability"]),
                observed_frequency=_number(b["observed_frequency"]),
            )
            for b in reliability
        ],
    )


def _hourly_skill(lead: int, m: dict[str, Any], n: int | None = None) -> HourlySkill:
    return HourlySkill(
        lead=lead,
        rmse=_number(m.get("rmse")),
        mae=_number(m.get("mae")),
        bias=_number(m.get("bias")),
        n=int(n if n is not None else m.get("n", 0)),
    )


@router.get("/v1/cities/{code}/skill", response_model=CitySkill)
def city_skill(
    db: DbSession,
    code: CityCode,
    window: Annotated[
        str | None,
        Query(
            pattern=r"^(\d{1,4}d|run:\d+)$",
            description="a stored window: '<n>d' or 'run:<id>'; default the pooled window "
            "verified last",
        ),
    ] = None,
    days: Annotated[
        int | None,
        Query(
            ge=1,
            le=3660,
            description="compute now over the runs issued in the last n days (service clock)",
        ),
    ] = None,
    start: Annotated[
        date | None,
        Query(alias="from", description="compute now over runs issued from this local day"),
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="... up to and including this local day")
    ] = None,
) -> CitySkill:
    """Skill per lead: RMSE, MAE, bias; POD/FAR/CSI at 75/150/250 µg/m³ of p50 and of the
    model's warning decisions; Brier scores of P(> T); and (computed windows) the
    reliability table of P(> 150). Daily means count days with ≥ 18 valid hours; an event
    is a daily mean above the threshold (docs/forecasting.md).

    Without parameters, or with ``window``, the scores stored by verification (the
    scheduler verifies each run as its observations arrive; `hazewarn verify`). With
    ``days`` or ``from``/``to``, computed now over the runs issued in that window."""
    city = get_city(db, code)
    if city is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    zone = ZoneInfo(city.timezone)
    if days is not None or start is not None or end is not None:
        if window is not None:
            raise ProblemError(
                422, "Invalid request", "give either window or days/from/to", field="query.window"
            )
        if days is not None and (start is not None or end is not None):
            raise ProblemError(
                422, "Invalid request", "give either days or from/to", field="query.days"
            )
        now = utcnow()
        if days is not None:
            first, last, label = now - timedelta(days=days), now, f"{days}d"
        else:
            if start is None or end is None:
                missing = "query.from" if start is None else "query.to"
                raise ProblemError(422, "Invalid request", "from and to go together", field=missing)
            if end < start:
                raise ProblemError(
                    422, "Invalid request", f"to ({end}) is before from ({start})", field="query.to"
                )
            first = datetime.combine(start, time.min, zone).astimezone(UTC)
            last = datetime.combine(end + timedelta(days=1), time.min, zone).astimezone(
                UTC
            ) - timedelta(microseconds=1)
            label = f"{start.isoformat()}..{end.isoformat()}"
        report = skill_between(db, code, first, last)
        _, _, stored = city_scores(db, code, None)
        return CitySkill(
            city=_city_ref(city),
            window=label,
            window_start=report.first_issue,
            window_start_local=_local(report.first_issue, zone) if report.first_issue else None,
            window_end=report.last_issue,
            window_end_local=_local(report.last_issue, zone) if report.last_issue else None,
            run_count=len(report.run_ids),
            computed_at=now,
            windows=stored,
            daily=[_daily_skill(lead, m) for lead, m in sorted(report.daily.items())],
            hourly=[_hourly_skill(lead, m) for lead, m in sorted(report.hourly.items())],
        )
    chosen, scores, windows = city_scores(db, code, window)
    if window is not None and not scores:
        raise ProblemError(
            404,
            "Not found",
            f"no skill scores for city {code} in window {window} (run `hazewarn verify`)",
            field="query.window",
        )
    table: dict[tuple[str, int], dict[str, Any]] = {}
    counts: dict[tuple[str, int], int] = {}
    for score in scores:
        key = (score.kind, score.lead)
        table.setdefault(key, {})[score.metric] = score.value
        counts[key] = max(counts.get(key, 0), score.n)
    daily = [
        _daily_skill(lead, m, counts[(kind, lead)])
        for (kind, lead), m in sorted(table.items())
        if kind == "daily"
    ]
    hourly = [
        _hourly_skill(lead, m, counts[(kind, lead)])
        for (kind, lead), m in sorted(table.items())
        if kind == "hourly"
    ]
    first_score = scores[0] if scores else None
    return CitySkill(
        city=_city_ref(city),
        window=chosen,
        window_start=first_score.window_start if first_score else None,
        window_start_local=_local(first_score.window_start, zone) if first_score else None,
        window_end=first_score.window_end if first_score else None,
        window_end_local=_local(first_score.window_end, zone) if first_score else None,
        run_count=first_score.run_count if first_score else 0,
        computed_at=first_score.computed_at if first_score else None,
        windows=windows,
        daily=daily,
        hourly=hourly,
    )
