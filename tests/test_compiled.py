"""The compiled read path answers byte for byte as the resolver path does, in one statement.

Every request is sent to two servers on the same PostgreSQL database: the test app (compiled
reads on) and a twin with ``compiled_reads=False``. Bodies must be identical bytes, for a
platform admin, a viewer of one project and a principal with no role, on the demo data, a bulk
random data set, a project of awkward values (non-ASCII, quotes, tiny and integral floats) and
one of random values (``tests.values``: every plane, controls, DEL, JSON documents, doubles in
[1e15, 1e16) and halfway between two doubles).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mlgraph.app import create_app
from mlgraph.cli import main
from mlgraph.ids import encode_global_id
from mlgraph.schema import build_schema
from mlgraph.seed import seed_demo
from mlgraph.settings import Settings
from mlgraph.storage import models as m
from tests.compiled_support import PRINCIPALS, Pair, generated_queries, seed_compared
from tests.conftest import OPERATIONS, Backend, serve, stop

POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
GENERATED = 1000
MEMBERSHIPS = "SELECT project_member.project_id, project_member.role"


@pytest.fixture(scope="module")
async def pair(backend: Backend) -> AsyncIterator[Pair]:
    """Both paths over the demo data, bulk data and awkward rows, with three principals."""
    headers = await seed_compared(backend)
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    async with (
        httpx.AsyncClient(base_url=backend.base_url, timeout=60) as compiled,
        httpx.AsyncClient(base_url=url, timeout=60) as resolver,
    ):
        yield Pair(compiled, resolver, headers=headers)
    await stop(server, task)


async def _ids(db: Backend) -> list[str]:
    """Global ids of a few rows of every type, plus ids of absent rows and of other types."""
    ids = []
    async with db.sessions() as s:
        for name in ("Project", "Pipeline", "Job", "Model", "ModelVersion", "Deployment"):
            model = getattr(m, name)
            for row_id in (await s.scalars(select(model.id).limit(3))).all():
                ids.append(encode_global_id(name, row_id))
        for model, name in ((m.DriftMetric, "DriftMetric"), (m.ModelAlias, "ModelAlias")):
            for row_id in (await s.scalars(select(model.id).limit(2))).all():
                ids.append(encode_global_id(name, row_id))
    ids.append(encode_global_id("Model", uuid.UUID(int=7)))  # absent
    return ids


@POSTGRES
@pytest.mark.parametrize("document", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.name)
async def test_operation_documents_answer_the_same_on_both_paths(
    pair: Pair, document: Path
) -> None:
    text = document.read_text()  # noqa: ASYNC240 (a small file, read once)
    for principal in PRINCIPALS:
        plan, body = await pair.both(text, principal=principal)
        assert plan == "compiled"
        assert body.startswith(b'{"data":{')


@POSTGRES
async def test_generated_queries_answer_the_same_on_both_paths(
    backend: Backend, pair: Pair
) -> None:
    ids = await _ids(backend)
    async with backend.sessions() as s:
        slugs = list((await s.scalars(select(m.Project.slug))).all())
    planner = build_schema().planner
    found = generated_queries(planner, GENERATED + 30, ids, slugs)
    assert len(found) >= GENERATED
    lanes = asyncio.Semaphore(4)

    async def compare(i: int, query: str) -> None:
        async with lanes:
            await pair.both(query, principal=PRINCIPALS[i % len(PRINCIPALS)])

    await asyncio.gather(*(compare(i, q) for i, q in enumerate(found)))
    # Every generated query is compilable: the comparison is never resolver against resolver.
    assert pair.plans["resolver"] == 0, pair.plans


CONNECTION_ARGS = """
query($after: String, $before: String, $first: Int, $last: Int, $order: ModelVersionOrder,
      $stages: [Stage!]) {
  models(first: 3, filter: {nameContains: "e"}) {
    totalCount
    edges { cursor node { name versions(first: $first, last: $last, after: $after,
        before: $before, orderBy: $order, filter: {stage: $stages}) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { version stage } } } } }
  }
}
"""


@POSTGRES
async def test_cursors_orders_and_filters_answer_the_same(pair: Pair) -> None:
    variables: dict[str, Any] = {"first": 2, "order": {"field": "VERSION", "direction": "DESC"}}
    plan, body = await pair.both(CONNECTION_ARGS, variables)
    assert plan == "compiled"
    versions = json.loads(body)["data"]["models"]["edges"][0]["node"]["versions"]
    end, start = versions["pageInfo"]["endCursor"], versions["pageInfo"]["startCursor"]
    for extra in (
        {"after": end},
        {"after": end, "first": 1},
        {"first": None, "last": 2, "before": end},
        {"first": None, "last": 1},
        {"after": start, "stages": ["DRAFT", "PRODUCTION"]},
        {"first": 100},
        {"order": {"field": "CREATED_AT", "direction": "ASC"}, "after": None},
    ):
        for principal in PRINCIPALS:
            plan, _ = await pair.both(CONNECTION_ARGS, {**variables, **extra}, principal)
            assert plan == "compiled", extra


FEATURES = """
query Features($skip: Boolean!, $with: Boolean!, $slug: String!) {
  __typename
  one: project(slug: $slug) { ...P name @skip(if: $skip) }
  two: project(slug: "awkward") {
    __typename ... on Project { slug } ...P
    pipelines { nodes { nodes edges runs(filter: {status: [QUEUED]}) {
      totalCount nodes { progress parameters startedAt finishedAt } } } }
    models { nodes { tags requiredMetrics aliases { alias } versions { nodes { metrics metadata
      model { name } sourceRun { id } deployments { totalCount } aliases { alias } } } } }
  }
  deployments(first: 5, filter: {environment: [STAGING, PRODUCTION]}) {
    nodes { config targets { trafficPercent version { version } } project { slug }
      driftMetrics(first: 2, filter: {detected: true}, orderBy: {field: SCORE, direction: DESC}) {
        edges { cursor node { score } } } } }
  alerts(first: 3) @include(if: $with) { nodes { severity rule { name } deployment { name } } }
  auditEntries(first: 3, orderBy: {field: SEQUENCE, direction: ASC}) {
    nodes { seq action changes project { slug } } pageInfo { endCursor } }
}
fragment P on Project { id description createdAt archivedAt
  alertRules(first: 2) { nodes { operator driftKind enabled threshold } }
  webhooks { nodes { url eventTypes deliveries { totalCount } } } members { nodes { role } } }
"""


@POSTGRES
@pytest.mark.parametrize(("skip", "with_"), [(False, True), (True, False)])
async def test_fragments_directives_aliases_and_awkward_values(
    pair: Pair, skip: bool, with_: bool
) -> None:
    variables = {"skip": skip, "with": with_, "slug": "fraud-detection"}
    for principal in PRINCIPALS:
        plan, _ = await pair.both(FEATURES, variables, principal)
        assert plan == "compiled"


TWO_OPERATIONS = """
query Read { projects(first: 1) { nodes { slug } } }
mutation Write { archiveProject(input: {id: "UHJvamVjdDox"}) { userErrors { code } } }
"""


@POSTGRES
async def test_the_named_operation_decides_the_path(pair: Pair) -> None:
    read = await pair.compiled.post(
        "/graphql",
        json={"query": TWO_OPERATIONS, "operationName": "Read"},
        headers=pair.headers["admin"],
    )
    assert read.headers["x-mlgraph-plan"] == "compiled"
    assert read.json()["data"]["projects"]["nodes"][0]["slug"]
    for name in ("Write", "Missing"):
        response = await pair.compiled.post(
            "/graphql",
            json={"query": TWO_OPERATIONS, "operationName": name},
            headers=pair.headers["viewer"],
        )
        assert response.headers["x-mlgraph-plan"] == "resolver"
    # Without a name strawberry runs the first operation, and the compiled path answers it
    unnamed = await pair.compiled.post(
        "/graphql", json={"query": TWO_OPERATIONS}, headers=pair.headers["admin"]
    )
    assert unnamed.headers["x-mlgraph-plan"] == "compiled"
    assert unnamed.json() == read.json()


@POSTGRES
async def test_viewer_and_memberships(pair: Pair) -> None:
    query = """{ viewer { __typename principalId displayName isPlatformAdmin
      memberships(first: 5) { totalCount nodes { role project { slug } } } } }"""
    for principal in PRINCIPALS:
        plan, _ = await pair.both(query, principal=principal)
        assert plan == "compiled"


@POSTGRES
async def test_node_and_nodes_with_type_conditions(backend: Backend, pair: Pair) -> None:
    ids = await _ids(backend)
    query = """query($id: ID!, $ids: [ID!]!) {
      node(id: $id) { __typename id ... on Model { name versions(first: 1) { nodes { id } } } }
      nodes(ids: $ids) { id ... on Job { status pipeline { name } } ...D }
    }
    fragment D on Deployment { name model { name } }"""
    for principal in PRINCIPALS:
        for gid in ids[::3]:
            plan, _ = await pair.both(query, {"id": gid, "ids": ids}, principal)
            assert plan == "compiled"


@POSTGRES
@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ projects(first: 101) { nodes { id } } }", None),
        ("{ projects(first: 1, last: 1) { nodes { id } } }", None),
        ("{ projects(first: -1) { nodes { id } } }", None),
        ("{ projects(first: 0) { nodes { id } } }", None),
        ("query($n: Int) { projects(first: $n) { nodes { id } } }", {"n": 101}),
        ('{ projects(after: "bm90IGEgY3Vyc29y") { nodes { id } } }', None),
        ('{ node(id: "garbage") { id } }', None),
        ('{ node(id: "Tm9wZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDc=") { id } }', None),
        ("query($n: Int!) { projects(first: $n) { nodes { id } } }", {"n": "x"}),
        ("{ projects { nodes { nope } } }", None),
        ("{ auditEntries(first: 1) { nodes { entity { id } } } }", None),
        ("{ __schema { queryType { name } } }", None),
    ],
)
async def test_errors_and_uncompilable_operations_take_the_resolver_path(
    pair: Pair, query: str, variables: dict[str, Any] | None
) -> None:
    plan, _ = await pair.both(query, variables)
    assert plan == "resolver"


@POSTGRES
async def test_dashboard_runs_as_one_statement(
    backend: Backend, pair: Pair, dashboard_query: str
) -> None:
    for principal in PRINCIPALS:
        backend.sql.start()
        response = await pair.compiled.post(
            "/graphql", json={"query": dashboard_query}, headers=pair.headers[principal]
        )
        backend.sql.stop()
        assert response.headers["x-mlgraph-plan"] == "compiled"
        projects = response.json()["data"]["projects"]
        # The visibility policy is in the statement: one project for its viewer, none for nobody.
        assert projects["totalCount"] == {"admin": 11, "viewer": 1, "nobody": 0}[principal]
        assert len(projects["nodes"]) == min(projects["totalCount"], 20)
        # A token without the admin role first looks up its memberships (authentication).
        data = [s for s in backend.sql.statements if not s.startswith(MEMBERSHIPS)]
        assert len(data) == 1, backend.sql.statements
        assert len(backend.sql.statements) == (1 if principal == "admin" else 2)


@POSTGRES
async def test_plan_header_is_on_every_graphql_response(pair: Pair) -> None:
    read = {"query": "{ projects(first: 1) { totalCount } }"}
    ok = await pair.compiled.post("/graphql", json=read, headers=pair.headers["admin"])
    assert ok.headers["x-mlgraph-plan"] == "compiled"
    forced = await pair.resolver.post("/graphql", json=read, headers=pair.headers["admin"])
    assert forced.headers["x-mlgraph-plan"] == "resolver"
    assert forced.content == ok.content
    anonymous = await pair.compiled.post("/graphql", json=read)
    assert (anonymous.status_code, anonymous.headers["x-mlgraph-plan"]) == (401, "resolver")
    bad = await pair.compiled.post(
        "/graphql",
        content=b"{",
        headers={**pair.headers["admin"], "content-type": "application/json"},
    )
    assert (bad.status_code, bad.headers["x-mlgraph-plan"]) == (400, "resolver")
    get = await pair.compiled.get(
        "/graphql", params={"query": read["query"]}, headers=pair.headers["admin"]
    )
    assert (get.headers["x-mlgraph-plan"], get.content) == ("compiled", ok.content)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_always_answers_on_the_resolver_path(
    db: Backend, dashboard_query: str
) -> None:
    await seed_demo(db.sessions, projects=1)
    assert db.client is not None
    response = await db.client.post("/graphql", json={"query": dashboard_query})
    assert response.headers["x-mlgraph-plan"] == "resolver"
    assert response.json()["data"]["projects"]["totalCount"] == 1


def test_explain_prints_the_sql_or_why_it_falls_back(tmp_path: Path) -> None:
    runner = CliRunner()
    dashboard = runner.invoke(main, ["explain", str(OPERATIONS / "dashboard.graphql")])
    assert dashboard.exit_code == 0, dashboard.output
    assert dashboard.output.startswith("plan: compiled")
    assert "LIMIT $1::int + 1" in dashboard.output
    mutation = tmp_path / "m.graphql"
    mutation.write_text('mutation { archiveProject(input: {id: "x"}) { userErrors { code } } }')
    refused = runner.invoke(main, ["explain", str(mutation)])
    assert refused.output == "plan: resolver\nreason: mutations run on the resolver path\n"
    computed = tmp_path / "c.graphql"
    computed.write_text("query($n: Int!) { auditEntries(first: $n) { nodes { entity { id } } } }")
    why = runner.invoke(main, ["explain", str(computed), "--variables", '{"n": 1}'])
    assert "AuditEntry.entity is computed by a resolver" in why.output
    # refused as the server would refuse it: the limits apply (depth 11 > 10)
    deep = tmp_path / "d.graphql"
    chain = "{ " + "project { models(first: 1) { nodes { " * 4 + "id" + " } } }" * 4 + " }"
    deep.write_text('{ node(id: "x") { ... on Model ' + chain + " } }")
    too_deep = runner.invoke(main, ["explain", str(deep)])
    assert too_deep.exit_code == 1
    assert too_deep.output.startswith("plan: refused before it runs")
    assert "reason: QUERY_TOO_DEEP: " in too_deep.output


def test_compiled_reads_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (the twin app of ``pair``, compiled_reads=False, shows that the setting is obeyed)
    assert Settings().compiled_reads is True
    monkeypatch.setenv("MLGRAPH_COMPILED_READS", "false")
    assert Settings().compiled_reads is False


FILTERED = """query($tiers: [RiskTier!], $tags: [String!], $stages: [Stage!], $name: String) {
  models(first: 50, filter: {riskTier: $tiers, tags: $tags, stage: $stages, nameContains: $name}) {
    totalCount nodes { name } } }"""


@POSTGRES
@pytest.mark.parametrize(
    "variables",
    [
        {"tiers": ["HIGH"], "tags": ["fraud"], "stages": ["PRODUCTION"], "name": "e"},
        {"tiers": ["HIGH", "LOW", "MEDIUM"], "tags": ["fraud", "x", "y"], "stages": [], "name": ""},
        {"tiers": [], "tags": [], "stages": ["DRAFT", "STAGING"], "name": "%_/"},
    ],
)
async def test_filters_are_one_sql_with_one_text_per_shape(
    backend: Backend, pair: Pair, variables: dict[str, Any]
) -> None:
    """Both paths render filters with ``queries.filter_clause``: the same answers, and a
    statement text that does not change with how many values a list filter holds."""
    texts: dict[str, set[str]] = {"compiled": set(), "resolver": set()}
    for given in (
        variables,
        {k: v[:1] if isinstance(v, list) else v for k, v in variables.items()},
    ):
        backend.sql.start()
        plan, body = await pair.both(FILTERED, given, "viewer")
        backend.sql.stop()
        assert plan == "compiled"
        data = [s for s in backend.sql.statements if not s.startswith(MEMBERSHIPS)]
        compiled = [s for s in data if s.startswith("SELECT '{")]
        texts["compiled"].update(compiled)
        texts["resolver"].update(set(data) - set(compiled))
        assert len(compiled) == 1
        if [] in (given["tiers"], given["stages"]):  # any of no values: nothing matches
            assert json.loads(body)["data"]["models"]["totalCount"] == 0
    assert len(texts["compiled"]) == 1, texts["compiled"]
    assert len(texts["resolver"]) == 2, texts["resolver"]  # the page and the count
    # all of no tags: every model matches
    _, no_tags = await pair.both(FILTERED, {"tags": []}, "viewer")
    _, unfiltered = await pair.both(FILTERED, {}, "viewer")
    assert no_tags == unfiltered
    assert json.loads(no_tags)["data"]["models"]["totalCount"] > 0
