"""`create_app()`: the FastAPI application with every router mounted."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from app import __version__
from app.auth.views import router as auth_router
from app.cities.views import router as cities_router
from app.config import get_settings
from app.dashboard.views import router as dashboard_router
from app.errors import install_problem_handlers
from app.forecast_runs.views import router as forecast_runs_router
from app.health.views import router as health_router
from app.logs import ensure_logging
from app.metrics import RequestMiddleware
from app.observations.views import router as observations_router
from app.openapi import install_openapi
from app.outbox.views import router as outbox_router
from app.plans.views import router as plans_router
from app.regional.views import router as regional_router
from app.request_limits import BodyLimitMiddleware, check_integer_ranges
from app.security_headers import SecurityHeadersMiddleware
from app.stations.views import router as stations_router
from app.subscriptions.views import router as subscriptions_router
from app.warnings.evaluation import register_run_hook
from app.warnings.public_reads import PublicReadMiddleware
from app.warnings.views import router as warnings_router


def create_app() -> FastAPI:
    ensure_logging()
    app = FastAPI(
        title="hazewarn",
        version=__version__,
        description="Heavy-pollution early warning: forecasts, warnings, actions, webhooks, CAP.",
        # Integers beyond 64 bits get a 422 problem, on every route (app.request_limits).
        dependencies=[Depends(check_integer_ranges)],
    )
    install_problem_handlers(app)
    # Innermost middleware (added first): anonymous public reads still fresh in memory are
    # answered before routing; outer middleware sees them like any request.
    app.add_middleware(PublicReadMiddleware)
    # Every forecast run stored in this process is evaluated for warnings (idempotent).
    register_run_hook()
    app.add_middleware(RequestMiddleware)
    install_openapi(app)
    # Larger bodies get a 413 problem before any endpoint reads them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=get_settings().max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(health_router)
    # Routers of each domain are mounted below, one line each.
    app.include_router(cities_router)
    app.include_router(forecast_runs_router)
    app.include_router(stations_router)
    app.include_router(observations_router)
    app.include_router(plans_router)
    app.include_router(auth_router)
    app.include_router(subscriptions_router)
    app.include_router(outbox_router)
    app.include_router(warnings_router)
    app.include_router(regional_router)
    app.include_router(dashboard_router)
    return app
