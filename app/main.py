"""`create_app()`: the FastAPI application with every router mounted."""

from __future__ import annotations

from fastapi import FastAPI

from app.errors import install_problem_handlers
from app.health.views import router as health_router


def create_app() -> FastAPI:
    app = FastAPI(
        title="hazewarn",
        version="0.1.0",
        description="Heavy-pollution early warning: forecasts, warnings, actions, webhooks, CAP.",
    )
    install_problem_handlers(app)
    app.include_router(health_router)
    # Routers of each domain are mounted below, one line each.
    return app
