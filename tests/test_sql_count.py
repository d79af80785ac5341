"""The dashboard query costs a fixed number of SQL statements, however broad the data."""

from __future__ import annotations

from mlgraph.seed import seed_bulk
from tests.conftest import Backend, truncate

# projects + totalCount, pipelines, runs, models, versions, deployments, drift metrics
DASHBOARD_DEPTH = 7


async def test_dashboard_statements_do_not_grow_with_breadth(
    backend: Backend, dashboard_query: str
) -> None:
    counts = {}
    for n in (1, 10, 50):
        await truncate(backend)
        await seed_bulk(backend.sessions, projects=n, seed=n)
        backend.sql.start()
        data = await backend.data(dashboard_query)
        counts[n] = backend.sql.stop()
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
    assert counts[50] <= DASHBOARD_DEPTH + 1, backend.sql.statements
