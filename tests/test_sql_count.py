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


@pytest.fixture
async def resolver_twin(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """A twin of the shared app on the same engine with compiled reads off."""
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    headers = backend.headers(ADMIN, admin=True)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as twin:
        yield twin
    await stop(server, task)


async def test_dashboard_statements_do_not_grow_with_breadth(
    backend: Backend, resolver_twin: httpx.AsyncClient, dashboard_query: str
) -> None:
    """Each breadth is seeded once and asked of both apps: the shared one (compiled reads where
    it can) and its twin on the resolver path."""
    assert backend.client is not None
    clients = {"default": backend.client, "resolver": resolver_twin}
    counts: dict[str, dict[int, int]] = {name: {} for name in clients}
    plans: dict[str, str] = {}
    for n in (1, 10, 50):
        await truncate(backend)
        await seed_bulk(backend.sessions, projects=n, seed=n)
        for name, client in clients.items():
            backend.sql.start()
            response = await client.post("/graphql", json={"query": dashboard_query})
            counts[name][n] = backend.sql.stop()
            plans[name] = response.headers["x-mlgraph-plan"]
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
    for name, by_breadth in counts.items():
        assert by_breadth[1] == by_breadth[10] == by_breadth[50], (name, by_breadth)
    compiled = backend.name == "postgresql"
    assert plans == {"default": "compiled" if compiled else "resolver", "resolver": "resolver"}
    assert counts["default"][50] == 1 if compiled else counts["default"][50] <= DASHBOARD_DEPTH + 1
    assert counts["resolver"][50] <= DASHBOARD_DEPTH + 1, backend.sql.statements
