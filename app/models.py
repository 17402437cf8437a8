"""Every table, imported in one place so Alembic and `create_all` see the whole schema."""

from app.auth.models import ApiKey  # noqa: F401
from app.cities.models import City
from app.database import Base
from app.forecast_runs.models import ForecastRun  # noqa: F401
from app.health.models import Heartbeat  # noqa: F401
from app.observations.models import Observation
from app.outbox.models import Delivery, DeliveryAttempt, OutboxEvent  # noqa: F401
from app.plans.models import PlanVersion  # noqa: F401
from app.regional.models import RegionalWarning, RegionalWarningEvent  # noqa: F401
from app.stations.models import Station
from app.subscriptions.models import Subscription, SubscriptionSecret  # noqa: F401
from app.warnings.models import CityWarning, Episode, WarningEvent  # noqa: F401

__all__ = ["Base", "City", "Observation", "Station"]
