"""Every table, imported in one place so Alembic and `create_all` see the whole schema."""

from app.cities.models import City
from app.database import Base
from app.observations.models import Observation
from app.stations.models import Station

__all__ = ["Base", "City", "Observation", "Station"]
