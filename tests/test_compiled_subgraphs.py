"""The compiled read path on subgraph schemas answers byte for byte as the resolver path does.

Each subgraph is served twice on the same PostgreSQL database, compiled reads on and off, and
every request is asked of both (``compiled_support.Pair``): generated queries over its root
connections, and ``_entities`` for representations of every entity type (served ones loaded
with the visibility policy, foreign ones answered as key-only references), as a platform admin,
a viewer of one project and a principal with no role.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from graphql import GraphQLObjectType, get_named_type
from sqlalchemy import select

from mlgraph.app import create_app
from mlgraph.cli import main
from mlgraph.compiled import Planner
from mlgraph.compiled.fields import NotCompilable
from mlgraph.ids import encode_global_id
from mlgraph.schema import DOMAIN_NAMES, build_schema
from mlgraph.settings import Settings
from mlgraph.storage import models as m
from mlgraph.storage.graph import ENTITIES, DomainName
from tests.compiled_support import PRINCIPALS, Pair, generated_queries, seed_compared
from tests.conftest import Backend, serve, stop

POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

#: Subgraphs with root connections of their own (the others answer only ``_entities``).
WITH_ROOTS: tuple[DomainName, ...] = ("registry", "deployments", "monitoring", "audit", "projects")
GENERATED = {"registry": 300, "deployments": 300, "monitoring": 80, "audit": 60, "projects": 80}


#: ``entities_query`` asks every compilable field of every type in one document, far over the
#: request limits (aliases, tokens; ``tests/test_limits.py`` holds those): these apps raise them.
WHOLE_TYPES = {"max_aliases": 1_000, "max_tokens": 20_000, "max_document_chars": 50_000}


@pytest.fixture(scope="module")
async def subgraphs(backend: Backend) -> AsyncIterator[dict[DomainName, Pair]]:
    """Every subgraph twice (compiled reads on, off) over the data of ``test_compiled``."""
    headers = await seed_compared(backend)
    pairs: dict[DomainName, Pair] = {}
    async with AsyncExitStack() as stack:
        for domain in DOMAIN_NAMES:
            clients = []
            for compiled in (True, False):
                update = {"subgraph": domain, "compiled_reads": compiled, **WHOLE_TYPES}
                settings = backend.settings.model_copy(update=update)
                server, task, url = await serve(create_app(settings, engine=backend.engine))
                stack.push_async_callback(stop, server, task)
                client = httpx.AsyncClient(base_url=url, timeout=60)
                await stack.enter_async_context(client)
                clients.append(client)
            pairs[domain] = Pair(clients[0], clients[1], headers=headers)
        yield pairs


async def _rows(db: Backend) -> dict[str, list[uuid.UUID]]:
    """A few ids of every entity type (across projects: some invisible to the viewer)."""
    found: dict[str, list[uuid.UUID]] = {}
    async with db.sessions() as s:
        for name, decl in ENTITIES.items():
            ids = (await s.scalars(select(decl.table.c.id).order_by(decl.table.c.id))).all()
            found[name] = list(ids[:: max(1, len(ids) // 4)][:4])
    return found


async def _compare_generated(pair: Pair, domain: DomainName, db: Backend) -> None:
    async with db.sessions() as s:
        slugs = list((await s.scalars(select(m.Project.slug))).all())
    rows = await _rows(db)
    ids = [encode_global_id(t, pk) for t, pks in rows.items() for pk in pks]
    planner = build_schema((domain,)).planner
    found = generated_queries(planner, GENERATED[domain], ids, slugs)
    assert len(found) >= GENERATED[domain] // 2
    lanes = asyncio.Semaphore(4)

    async def compare(i: int, query: str) -> None:
        async with lanes:
            plan, _ = await pair.both(query, principal=PRINCIPALS[i % len(PRINCIPALS)])
            # PostgreSQL text cannot hold NUL: the compiled statement fails, the resolver answers
            assert plan == ("resolver" if "\\u0000" in query else "compiled"), query

    await asyncio.gather(*(compare(i, q) for i, q in enumerate(found)))


@POSTGRES
@pytest.mark.parametrize("domain", WITH_ROOTS)
async def test_generated_queries_answer_the_same_on_both_paths(
    backend: Backend, subgraphs: dict[DomainName, Pair], domain: DomainName
) -> None:
    await _compare_generated(subgraphs[domain], domain, backend)


def _selection(planner: Planner, gql: GraphQLObjectType, depth: int, prefix: str = "") -> str:
    """Every compilable field of ``gql`` (relations one level down, when ``depth``), each
    aliased ``prefix + name`` (fragments on a union must not merge fields of other types)."""
    parts = ["__typename"]
    for name, field in gql.fields.items():
        try:
            kind = planner.fields.kind(gql.name, name)
        except NotCompilable:
            continue
        target = get_named_type(field.type)
        alias = f"{prefix}{name}: " if prefix else ""
        if kind.kind in ("id", "column"):
            parts.append(alias + name)
        elif kind.kind == "relation" and depth and isinstance(target, GraphQLObjectType):
            assert kind.relation is not None
            if kind.relation.kind == "connection":
                node = get_named_type(target.fields["nodes"].type)
                assert isinstance(node, GraphQLObjectType)
                parts.append(
                    f"{alias}{name}(first: 2) {{ totalCount pageInfo {{ hasNextPage "
                    f"hasPreviousPage startCursor endCursor }} edges {{ cursor node {{ "
                    f"{_selection(planner, node, depth - 1)} }} }} }}"
                )
            else:
                parts.append(f"{alias}{name} {{ {_selection(planner, target, depth - 1)} }}")
    return " ".join(parts)


def entities_query(planner: Planner, type_names: list[str]) -> str:
    """``_entities`` selecting every compilable field of each type, through fragments."""
    fragments = []
    for name in type_names:
        gql = planner.gql.type_map[name]
        assert isinstance(gql, GraphQLObjectType)
        fragments.append(f"... on {name} {{ {_selection(planner, gql, 2, name + '_')} }}")
    return (
        "query($r: [_Any!]!) { _entities(representations: $r) { "
        f"__typename ... on Node {{ id }} {' '.join(fragments)} }} }}"
    )


def _representations(rows: dict[str, list[uuid.UUID]]) -> list[dict[str, object]]:
    reps: list[dict[str, object]] = [
        {"__typename": t, "id": encode_global_id(t, pk)} for t, pks in rows.items() for pk in pks
    ]
    absent, other = uuid.UUID(int=7), rows["Model"][0]
    reps.append({"__typename": "Model", "id": encode_global_id("Model", absent)})
    reps.append({"__typename": "Deployment", "id": encode_global_id("Model", other)})
    reps.append({"__typename": "Model", "id": encode_global_id("Model", other), "x": 1})
    return reps


@POSTGRES
@pytest.mark.parametrize("domain", DOMAIN_NAMES)
async def test_entities_of_every_type_answer_the_same_on_both_paths(
    backend: Backend, subgraphs: dict[DomainName, Pair], domain: DomainName
) -> None:
    planner = build_schema((domain,)).planner
    rows = await _rows(backend)
    reps = _representations(rows)
    query = entities_query(planner, sorted(ENTITIES))
    for principal in PRINCIPALS:
        plan, body = await subgraphs[domain].both(query, {"r": reps}, principal)
        assert plan == "compiled"
        got = json.loads(body)["data"]["_entities"]
        assert len(got) == len(reps)
        assert got[-2] is None  # an id of another type than its __typename
    # one type at a time, and a batch of a single representation
    for name in sorted(ENTITIES):
        one = [r for r in reps if r["__typename"] == name][:1]
        plan, _ = await subgraphs[domain].both(entities_query(planner, [name]), {"r": one})
        assert plan == "compiled"


@POSTGRES
async def test_foreign_references_are_not_checked_for_visibility(
    backend: Backend, subgraphs: dict[DomainName, Pair]
) -> None:
    """A reference is a key: the viewer sees its id, and the subgraph owning the entity
    decides visibility when the gateway resolves it."""
    rows = await _rows(backend)
    reps = [
        {"__typename": "Project", "id": encode_global_id("Project", p)} for p in rows["Project"]
    ]
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Project { id models(first: 3) { totalCount nodes { name } } } } }"""
    plan, body = await subgraphs["registry"].both(query, {"r": reps}, "nobody")
    assert plan == "compiled"
    got = json.loads(body)["data"]["_entities"]
    assert [e["id"] for e in got] == [r["id"] for r in reps]
    assert all(e["models"] == {"totalCount": 0, "nodes": []} for e in got)
    deployments = """{ deployments(first: 5) { nodes { model { id } project { id } } } }"""
    plan, body = await subgraphs["deployments"].both(deployments, principal="viewer")
    assert plan == "compiled"
    nodes = json.loads(body)["data"]["deployments"]["nodes"]
    assert nodes
    assert all(n["model"]["id"] and n["project"]["id"] for n in nodes)


@POSTGRES
@pytest.mark.parametrize(
    "representation",
    [
        {"__typename": "Spaceship", "id": "x"},
        {"__typename": "Model"},
        {"__typename": "Model", "id": 7},
        {"__typename": "Model", "id": "not-a-global-id"},
        {"__typename": "Model", "id": "w7/Dvw=="},
        "Model",
        None,
    ],
)
async def test_malformed_representations_take_the_resolver_path(
    backend: Backend, subgraphs: dict[DomainName, Pair], representation: Any
) -> None:
    rows = await _rows(backend)
    good = {"__typename": "Model", "id": encode_global_id("Model", rows["Model"][0])}
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Model { name } } }"
    plan, body = await subgraphs["registry"].both(query, {"r": [good, representation]})
    assert plan == "resolver"
    answer = json.loads(body)
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_USER_INPUT"]
    if representation is not None:  # else the variable does not coerce: no data at all
        assert answer["data"]["_entities"][0]["name"]


@POSTGRES
async def test_entities_literals_and_empty_batches(subgraphs: dict[DomainName, Pair]) -> None:
    pair = subgraphs["registry"]
    empty = "{ _entities(representations: []) { __typename } }"
    plan, body = await pair.both(empty)
    assert plan == "compiled"
    assert body.startswith(b'{"data":{"_entities":[]},"extensions":{"cost":')
    literal = (
        '{ _entities(representations: [{__typename: "Model", id: "TW9kZWw6eA=="}]) { __typename } }'
    )
    plan, _ = await pair.both(literal)
    assert plan == "resolver"  # the id does not decode: the resolver path reports it
    service = "{ _service { sdl } }"
    plan, _ = await pair.both(service)
    assert plan == "resolver"


def test_explain_plans_against_a_subgraph(tmp_path: Path) -> None:
    document = tmp_path / "d.graphql"
    document.write_text("{ deployments(first: 2) { nodes { name model { id } } } }")
    runner = CliRunner()
    combined = runner.invoke(main, ["explain", str(document)])
    subgraph = runner.invoke(main, ["explain", "--subgraph", "deployments", str(document)])
    assert combined.output.startswith("plan: compiled")
    assert subgraph.output.startswith("plan: compiled")
    # the combined schema loads the model; the subgraph answers a reference from the key
    assert 'FROM "model"' in combined.output
    assert 'FROM "model"' not in subgraph.output
    registry = runner.invoke(main, ["explain", "--subgraph", "registry", str(document)])
    # not one of its fields: refused, as the registry subgraph itself would refuse it
    assert registry.exit_code == 1
    assert registry.output.startswith("plan: refused before it runs")
    assert "Cannot query field 'deployments' on type 'Query'" in registry.output


def test_a_subgraph_app_has_a_planner_on_its_own_schema() -> None:
    app = create_app(Settings(subgraph="registry"))
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    planner = getattr(route, "app").schema.planner  # noqa: B009 (Route's app is untyped here)
    assert isinstance(planner, Planner)
    assert planner.schema.domains == frozenset({"registry"})
