"""The static cost estimate (GitHub's node formula) in ``extensions.cost``, its limit, and the
``@listSize`` directives a router reads. The page sizes come from the graph declaration."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from mlgraph.app import create_app
from mlgraph.schema import build_schema
from mlgraph.schema.cost import estimate
from mlgraph.storage.graph import ROOT, relation
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop

PROJECTS = ROOT["projects"].default_page
PIPELINES = relation("Project", "pipelines")
RUNS = relation("Pipeline", "runs").default_page
TARGETS = relation("Deployment", "targets").page_cap


@pytest.fixture(params=["default", "resolver"])
async def client(request: pytest.FixtureRequest, db: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """The shared app (compiled reads where they apply, on PostgreSQL), or a twin of it on
    the resolver path: both report the same cost."""
    assert db.client is not None
    if request.param == "default" or db.name == "sqlite":
        yield db.client
        return
    settings = db.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=db.engine))
    async with httpx.AsyncClient(base_url=url, headers=db.headers(ADMIN, admin=True)) as c:
        yield c
    await stop(server, task)


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


NESTED = """query Nested($runs: Int) { projects { nodes {
  pipelines(first: 7) { totalCount nodes { runs(last: $runs) { nodes { id } } } } } } }"""


async def test_nodes_multiply_the_declared_page_sizes_down_the_tree(
    db: Backend, client: httpx.AsyncClient
) -> None:
    # Given no first/last on projects (its declared default page), 7 pipelines each, and the
    # runs' page size from a variable (or, without it, the declared default)
    await f.save(db.sessions, f.project())
    with_variable = await post(client, NESTED, runs=9)
    without = await post(client, NESTED)
    # Then nodes = P + P*7 + P*7*runs, and the points are GitHub's: fetches / 100, at least 1
    assert with_variable["extensions"]["cost"]["nodeCount"] == PROJECTS * (1 + 7 + 7 * 9)
    assert without["extensions"]["cost"]["nodeCount"] == PROJECTS * (1 + 7 + 7 * RUNS)
    fetches = 1 + PROJECTS + PROJECTS * 7
    assert with_variable["extensions"]["cost"]["requestedQueryCost"] == round(fetches / 100)
    assert with_variable["extensions"]["cost"]["maximumNodeCount"] == 500_000
    assert with_variable["data"]["projects"]["nodes"][0]["pipelines"]["totalCount"] == 0


async def test_duplicates_aliases_and_fragments_all_count(
    db: Backend, client: httpx.AsyncClient
) -> None:
    once = "{ projects(first: 10) { nodes { id } } }"
    twice = "{ projects(first: 10) { nodes { id } } projects(first: 10) { nodes { id } } }"
    spread = """{ a: projects(first: 10) { ...P } b: projects(first: 10) { ...P } }
        fragment P on ProjectConnection { nodes { pipelines(first: 2) { nodes { id } } } }"""
    costs = [(await post(client, q))["extensions"]["cost"] for q in (once, twice, spread)]
    assert [c["nodeCount"] for c in costs] == [10, 20, 2 * (10 + 10 * 2)]


async def test_lists_count_their_page_cap(db: Backend, client: httpx.AsyncClient) -> None:
    query = "{ deployments(first: 3) { nodes { targets { version { id } } } } }"
    cost = (await post(client, query))["extensions"]["cost"]
    assert cost["nodeCount"] == 3 + 3 * TARGETS


async def test_over_the_node_limit_nothing_runs(db: Backend) -> None:
    # Given connections four deep at first: 100 (100^4 deployments alone)
    await f.save(db.sessions, f.project())
    query = """{ projects(first: 100) { nodes { pipelines(first: 100) { nodes {
        runs(first: 100) { nodes { id } } } } models(first: 100) { nodes {
        versions(first: 100) { nodes { deployments(first: 100) { nodes { id } } } } } } } } }"""
    db.sql.start()
    body = await db.gql(query)
    # Then it is refused before execution, on either read path, without a statement
    assert db.sql.stop() == 0
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    assert error["extensions"]["nodeCount"] == 100 + 2 * 100**2 + 2 * 100**3 + 100**4
    assert error["extensions"]["maximumNodeCount"] == 500_000


LIMITED = """query($n: Int!) { projects(first: 3) { ...P } }
fragment P on ProjectConnection { __typename nodes { __typename ...Pipelines } }
fragment Pipelines on Project { pipelines(first: $n) { nodes { id } } }"""


@pytest.mark.parametrize("compiled", [True, False])
async def test_the_limit_passes_and_one_more_node_is_refused(db: Backend, compiled: bool) -> None:
    # Given a limit of exactly 3 + 3*4 nodes (fragments, __typename: counted as they expand)
    await f.save(db.sessions, f.project())
    limit = 3 + 3 * 4
    update = {"max_query_nodes": limit, "compiled_reads": compiled, "introspection": True}
    settings = db.settings.model_copy(update=update)
    server, task, url = await serve(create_app(settings, engine=db.engine))
    try:
        async with httpx.AsyncClient(base_url=url, headers=db.headers(ADMIN, admin=True)) as c:
            at_limit = await post(c, LIMITED, n=4)
            introspection = await post(c, "{ __schema { types { name fields { name } } } }")
            db.sql.start()
            over = await post(c, LIMITED, n=5)
            statements = db.sql.stop()
    finally:
        await stop(server, task)
    assert "errors" not in at_limit
    assert at_limit["data"]["projects"]["nodes"][0]["__typename"] == "Project"
    assert at_limit["extensions"]["cost"]["nodeCount"] == limit
    assert "errors" not in introspection  # no connections: no nodes
    assert introspection["extensions"]["cost"]["nodeCount"] == 0
    assert [e["extensions"]["code"] for e in over["errors"]] == ["COST_LIMIT_EXCEEDED"]
    assert over["errors"][0]["extensions"]["nodeCount"] == limit + 3
    assert over["data"] is None
    assert statements == 0


async def test_rate_limit_field_reports_this_operations_charge(
    db: Backend, client: httpx.AsyncClient
) -> None:
    query = """{ rateLimit { limit cost nodeCount remaining used resetAt }
        projects(first: 100) { nodes { pipelines(first: 100) { nodes { id } } } } }"""
    response = await client.post("/graphql", json={"query": query})
    body = response.json()
    rate = body["data"]["rateLimit"]
    assert rate["cost"] == body["extensions"]["cost"]["requestedQueryCost"] == 1
    assert rate["nodeCount"] == 100 + 100 * 100
    assert rate["limit"] == db.settings.rate_limit_points
    assert rate["remaining"] == int(response.headers["x-ratelimit-remaining"])
    assert rate["used"] == int(response.headers["x-ratelimit-used"])
    reset = datetime.fromisoformat(rate["resetAt"]).timestamp()
    assert math.ceil(reset) == int(response.headers["x-ratelimit-reset"])


def test_the_sdl_carries_the_same_page_sizes() -> None:
    """A router enforcing demand control reads the sizes this server counts with."""
    sdl = build_schema().as_str()
    pipelines = next(line for line in sdl.splitlines() if "): PipelineConnection!" in line)
    assert f"@listSize(assumedSize: {PIPELINES.default_page}, " in pipelines
    assert 'slicingArguments: ["first", "last"], sizedFields: ["edges", "nodes"]' in pipelines
    assert "object: StoredObject @cost(weight: 1)" in sdl
    # and the estimate charges an object-store call per object, like a fetch
    query = """{ models(first: 2) { nodes { versions(first: 5) { nodes {
        artifacts(first: 10) { nodes { object { size } } } } } } } }"""
    cost = estimate(build_schema()._schema, parse(query))
    assert cost.nodes == 2 + 10 + 100
    assert cost.requests == 1 + 2 + 10 + 100


def test_the_readme_quotes_the_dashboards_cost(dashboard_query: str) -> None:
    cost = estimate(build_schema()._schema, parse(dashboard_query))
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"costs {cost.points} points for {cost.nodes:,} nodes" in readme
