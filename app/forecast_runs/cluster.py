"""Forecast runs on a dask cluster.

A forecast run reads its grids lazily through dask when asked (`hazewarn forecast run
--lazy`, and the scheduler's inbox for large grids). When ``HAZEWARN_DASK_SCHEDULER_ADDRESS``
names a running ``distributed`` scheduler, `connect` makes it this process's default dask
scheduler, so that reading, regridding and interpolating the grid chunks runs on the
cluster's workers; the model, the database and the run's bookkeeping stay here. The
workers must see the grid files at the same paths (shared storage).
"""

from __future__ import annotations

import logging
from typing import Any

from app.config import Settings, get_settings

__all__ = ["connect"]

log = logging.getLogger("hazewarn.dask")


def connect(settings: Settings | None = None) -> Any:
    """A `distributed.Client` on the configured cluster, set as dask's default scheduler
    for this process; None when no cluster is configured (dask then runs in threads here)."""
    settings = settings or get_settings()
    address = settings.dask_scheduler_address
    if not address:
        return None
    from distributed import Client

    client = Client(address, set_as_default=True, timeout=settings.dask_connect_timeout_seconds)
    workers = len(client.scheduler_info().get("workers", {}))
    log.info("dask: forecast runs compute on %s (%d workers)", address, workers)
    return client
