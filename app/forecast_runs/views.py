"""Forecast endpoints: `/v1/forecasts/latest`, `/v1/forecast-runs[/{id}]`,
`/v1/cities/{code}/forecast` and `/v1/cities/{code}/skill`.

Every instant is returned in UTC and in the city's local time with its offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from app.cities.models import City
from app.cities.service import get_city
from app.deps import DbSession
from app.errors import ProblemError, problem_responses
from app.forecast_runs.models import ForecastDaily, ForecastHourly, ForecastRun
from app.forecast_runs.schemas import (
    CityDays,
    CityForecast,
    CityRef,
    CitySkill,
    DailyRead,
    DailySkill,
    HourlyRead,
    HourlySkill,
    LatestForecasts,
    RunDetail,
    RunList,
    RunSummary,
)
from app.forecast_runs.service import (
    city_scores,
    get_run,
    latest_run,
    list_runs,
    local_midnight_utc,
    run_daily,
    run_hourly,
)
from app.request_limits import INT32_MAX

router = APIRouter(tags=["forecasts"])

CityCode = Annotated[
    str, Path(pattern=r"^\d{6}$", description="GB/T 2260 code, 6 digits", examples=["110000"])
]
#: Lead days shown by /v1/forecasts/latest.
LATEST_LEAD_DAYS = (1, 2, 3)


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


@router.get("/v1/cities/{code}/forecast", response_model=CityForecast)
def city_forecast(
    db: DbSession,
    code: CityCode,
    run: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="run id; default the latest run")
    ] = None,
) -> CityForecast:
    """One city's hourly PM2.5 quantiles and daily probabilities from one run."""
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
    return CityForecast(
        run=RunSummary.model_validate(found, from_attributes=True),
        city=_city_ref(city),
        issued_at=found.issued_at,
        issued_at_local=_local(found.issued_at, zone),
        hourly=[_hourly_read(row, zone) for row in hourly],
        daily=[_daily_read(row, city.timezone) for row in daily],
    )


@router.get("/v1/cities/{code}/skill", response_model=CitySkill)
def city_skill(
    db: DbSession,
    code: CityCode,
    window: Annotated[
        str | None,
        Query(
            pattern=r"^(\d{1,4}d|run:\d+)$",
            description="'<n>d' or 'run:<id>'; default the pooled window verified last",
        ),
    ] = None,
) -> CitySkill:
    """Skill per lead (RMSE, MAE, bias, CSI at 75 and 150 µg/m³, Brier score of P(> 150),
    n) from `hazewarn verify`."""
    city = get_city(db, code)
    if city is None:
        raise ProblemError(404, "Not found", f"no city with code {code}", field="path.code")
    chosen, scores, windows = city_scores(db, code, window)
    if window is not None and not scores:
        raise ProblemError(
            404,
            "Not found",
            f"no skill scores for city {code} in window {window} (run `hazewarn verify`)",
            field="query.window",
        )
    zone = ZoneInfo(city.timezone)
    table: dict[tuple[str, int], dict[str, float | None]] = {}
    counts: dict[tuple[str, int], int] = {}
    for score in scores:
        key = (score.kind, score.lead)
        table.setdefault(key, {})[score.metric] = score.value
        counts[key] = max(counts.get(key, 0), score.n)
    daily = [
        DailySkill(
            lead=lead,
            rmse=m.get("rmse"),
            mae=m.get("mae"),
            bias=m.get("bias"),
            csi_75=m.get("csi_75"),
            csi_150=m.get("csi_150"),
            brier_150=m.get("brier_150"),
            n=counts[(kind, lead)],
        )
        for (kind, lead), m in sorted(table.items())
        if kind == "daily"
    ]
    hourly = [
        HourlySkill(
            lead=lead,
            rmse=m.get("rmse"),
            mae=m.get("mae"),
            bias=m.get("bias"),
            n=counts[(kind, lead)],
        )
        for (kind, lead), m in sorted(table.items())
        if kind == "hourly"
    ]
    first = scores[0] if scores else None
    return CitySkill(
        city=_city_ref(city),
        window=chosen,
        window_start=first.window_start if first else None,
        window_start_local=_local(first.window_start, zone) if first else None,
        window_end=first.window_end if first else None,
        window_end_local=_local(first.window_end, zone) if first else None,
        run_count=first.run_count if first else 0,
        computed_at=first.computed_at if first else None,
        windows=windows,
        daily=daily,
        hourly=hourly,
    )
