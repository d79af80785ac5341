"""The dashboard query costs a fixed number of SQL statements, however broad the data: on the
resolver path one per level, on the compiled path (PostgreSQL) one in all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mlgraph.app import create_app
from mlgraph.seed import seed_bulk
from tests.conftest import ADMIN, Backend, serve, stop, truncate

# projects + totalCount, pipelines, runs, models, versions, deployments, drift metrics
DASHBOARD_DEPTH = 7


@pytest.fixture(params=["default", "resolver"])
async def client(
    request: pytest.FixtureRequest, backend: Backend
) -> AsyncIterator[httpx.AsyncClient]:
    """The shared app (compiled reads where it can), or a twin with compiled reads off."""
    if request.param == "default":
        assert backend.client is not None
        yield backend.client
        return
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    headers = backend.headers(ADMIN, admin=True)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as twin:
        yield twin
    await stop(server, task)


async def test_dashboard_statements_do_not_grow_with_breadth(
    backend: Backend, client: httpx.AsyncClient, dashboard_query: str
) -> None:
    counts = {}
    for n in (1, 10, 50):
        await truncate(backend)
        await seed_bulk(backend.sessions, projects=n, seed=n)
        backend.sql.start()
        response = await client.post("/graphql", json={"query": dashboard_query})
        counts[n] = backend.sql.stop()
        data = response.json()["data"]
        projects = data["projects"]["nodes"]
        assert len(projects) == min(n, 20)
        assert data["projects"]["totalCount"] == n
        assert any(
            d["driftMetrics"]["nodes"]
            for p in projects
            for mdl in p["models"]["nodes"]
            for v in mdl["versions"]["nodes"]
            for d in v["deployments"]["nodes"]
        ), "the data set should reach the deepest level"
    assert counts[1] == counts[10] == counts[50], counts
    compiled = response.headers["x-mlgraph-plan"] == "compiled"
    assert compiled == (backend.name == "postgresql" and client is backend.client)
    assert counts[50] == 1 if compiled else counts[50] <= DASHBOARD_DEPTH + 1, (
        backend.sql.statements
    )
