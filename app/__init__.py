"""hazewarn's service layer: settings, database, API, CLI, scheduler, dispatcher, dashboard."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hazewarn")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
