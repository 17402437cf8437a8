"""A forecast run on a dask cluster: `HAZEWARN_DASK_SCHEDULER_ADDRESS` makes the cluster
compute the run's lazy grid read, and the stored run is the one computed locally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import LocalCluster, get_task_stream
from sqlalchemy import select

from app.config import get_settings
from app.database import session_scope
from app.forecast_runs.cluster import connect
from app.forecast_runs.models import ForecastHourly
from app.forecast_runs.service import LoadedModel, run_forecast

from .conftest import ISSUE, GridWriter


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    """A one-worker cluster in this process (threads, loopback), made the configured one."""
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as local:
        monkeypatch.setenv("HAZEWARN_DASK_SCHEDULER_ADDRESS", local.scheduler_address)
        get_settings.cache_clear()
        yield local
    get_settings.cache_clear()


def _p50(run_id: int) -> list[tuple[str, int, float]]:
    with session_scope() as session:
        rows = session.execute(
            select(ForecastHourly.city_code, ForecastHourly.lead_h, ForecastHourly.p50)
            .where(ForecastHourly.run_id == run_id)
            .order_by(ForecastHourly.city_code, ForecastHourly.lead_h)
        )
        return [(city, lead, round(p50, 6)) for city, lead, p50 in rows]


def test_without_an_address_nothing_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAZEWARN_DASK_SCHEDULER_ADDRESS", raising=False)
    get_settings.cache_clear()
    assert connect() is None


def test_a_lazy_run_computes_on_the_cluster(
    seeded: str, grid: GridWriter, tiny_model: LoadedModel, cluster: LocalCluster
) -> None:
    path = grid()
    with session_scope() as session:
        local_id = run_forecast(session, [path], ISSUE, tiny_model, drill=True).id
    client = connect()
    assert client is not None
    try:
        assert client.scheduler.address == cluster.scheduler_address
        with get_task_stream(client) as stream, session_scope() as session:
            cluster_id = run_forecast(session, [path], ISSUE, tiny_model, chunks="auto").id
        assert len(stream.data) > 0  # the grid's chunks were read on the cluster's worker
    finally:
        client.close()
    assert _p50(cluster_id) == _p50(local_id)
    assert len(_p50(cluster_id)) == 2 * 72
