"""One declaration, several schemas: each domain's subgraph, served on its own, answers its
part of the graph; foreign entities are key-only references; ``_entities`` is batched."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, print_type

from mlgraph.app import create_app
from mlgraph.ids import encode_global_id
from mlgraph.schema import DOMAIN_NAMES, build_schema, sdl_files
from mlgraph.storage.enums import Role
from mlgraph.storage.graph import ENTITIES, DomainName, owner_domain
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop
from tests.test_access import ALICE, join

ROOT = Path(__file__).resolve().parent.parent
COMBINED = build_schema()


@functools.cache
def subgraph(domain: DomainName) -> Any:
    return build_schema((domain,))


def test_checked_in_subgraph_sdls_match_the_code() -> None:
    stale = [
        str(path)
        for path, sdl in sdl_files(
            ROOT / "graphql/schema.graphql", ROOT / "graphql/subgraphs"
        ).items()
        if not path.exists() or path.read_text() != sdl
    ]
    assert not stale, f"out of date: {stale}; run `make schema`"


def _fields(schema: Any, type_name: str) -> set[str]:
    gql = schema._schema.type_map.get(type_name)
    return set(gql.fields) if isinstance(gql, GraphQLObjectType) else set()


def test_several_schemas_build_in_one_process_without_touching_each_other() -> None:
    registry = build_schema(("registry",))
    projects = build_schema(("projects",))
    again = build_schema()
    assert again.as_str() == COMBINED.as_str()
    # the combined schema has both domains' fields of Project; each subgraph only its own
    assert {"name", "models", "pipelines"} <= _fields(COMBINED, "Project")
    assert _fields(registry, "Project") == {"id", "models"}
    assert "models" not in _fields(projects, "Project")
    assert {"name", "slug", "members"} <= _fields(projects, "Project")
    assert _fields(projects, "Model") == {"id"}  # a key-only reference
    assert registry._schema.mutation_type is not None
    assert build_schema(("audit",))._schema.mutation_type is None  # no mutation of its own


@pytest.mark.parametrize("type_name", sorted(ENTITIES))
def test_every_field_is_served_by_exactly_one_subgraph(type_name: str) -> None:
    subgraphs = {d: subgraph(d) for d in DOMAIN_NAMES}
    combined = _fields(COMBINED, type_name) - {"id"}
    seen: dict[str, list[str]] = {}
    for domain, schema in subgraphs.items():
        for field in _fields(schema, type_name) - {"id"}:
            seen.setdefault(field, []).append(domain)
    assert set(seen) == combined
    assert all(len(owners) == 1 for owners in seen.values()), seen
    decl = ENTITIES[type_name]
    for rel in decl.relations.values():
        camel = rel.name.split("_")[0] + "".join(p.title() for p in rel.name.split("_")[1:])
        assert seen[camel] == [owner_domain(type_name, rel)]


def test_unknown_domain_is_refused() -> None:
    with pytest.raises(ValueError, match="no such domains"):
        build_schema(("billing",))  # type: ignore[arg-type]


@asynccontextmanager
async def _registry(db: Backend, *, compiled: bool) -> AsyncIterator[httpx.AsyncClient]:
    settings = db.settings.model_copy(update={"subgraph": "registry", "compiled_reads": compiled})
    server, task, url = await serve(create_app(settings, engine=db.engine))
    async with httpx.AsyncClient(
        base_url=url, headers=db.headers(ADMIN, admin=True), timeout=30
    ) as client:
        yield client
    await stop(server, task)


@pytest.fixture
async def registry(db: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """The registry subgraph served on its own, on the test database: the resolver path."""
    async with _registry(db, compiled=False) as client:
        yield client


@pytest.fixture
async def compiled_registry(db: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """The registry subgraph with compiled reads on (they run on PostgreSQL)."""
    async with _registry(db, compiled=True) as client:
        yield client


POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
#: The principal's memberships, looked up by authentication (not a data statement).
MEMBERSHIPS = "FROM project_member"


ENTITIES_QUERY = """
query($r: [_Any!]!) { _entities(representations: $r) {
  __typename
  ... on ModelVersion { id version model { id } }
  ... on Project { id models(first: 5) { nodes { name } } }
} }
"""


async def _entities(
    client: httpx.AsyncClient, reps: list[Any], plan: str = "resolver"
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": ENTITIES_QUERY, "variables": {"r": reps}}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-mlgraph-plan"] == plan
    body: dict[str, Any] = response.json()
    return body


async def test_entities_of_one_type_cost_one_statement(
    db: Backend, registry: httpx.AsyncClient
) -> None:
    p = f.project()
    md = f.model(p)
    versions = [f.version(md, version=f"1.0.{i}") for i in range(100)]
    await f.save(db.sessions, p, md, *versions)
    reps = [
        {"__typename": "ModelVersion", "id": encode_global_id("ModelVersion", v.id)}
        for v in versions
    ]
    db.sql.start()
    body = await _entities(registry, reps)
    statements = [s for s in db.sql.statements if s.lstrip().upper().startswith("SELECT")]
    db.sql.stop()
    assert "errors" not in body, body
    got = body["data"]["_entities"]
    assert [e["version"] for e in got] == [v.version for v in versions]
    # the model is registry's own: loaded, and answered as a key
    assert {e["model"]["id"] for e in got} == {encode_global_id("Model", md.id)}
    # one statement per type: the 100 versions, then their (one) model
    tables = [s.split("FROM", 1)[1].split()[0] for s in statements]
    assert tables == ["model_version", "model"], statements


async def test_a_foreign_entity_is_a_reference_with_the_owned_fields(
    db: Backend, registry: httpx.AsyncClient
) -> None:
    p = f.project()
    models = [f.model(p, name=n) for n in ("b-model", "a-model")]
    await f.save(db.sessions, p, *models)
    rep = {"__typename": "Project", "id": encode_global_id("Project", p.id)}
    db.sql.start()
    body = await _entities(registry, [rep])
    tables = [s.split("FROM", 1)[1].split()[0] for s in db.sql.statements if "FROM" in s]
    db.sql.stop()
    assert "errors" not in body, body
    (project,) = body["data"]["_entities"]
    assert project["__typename"] == "Project"
    assert [m["name"] for m in project["models"]["nodes"]] == ["a-model", "b-model"]
    assert "project" not in tables, tables  # the reference is not loaded
    assert "model" in tables


async def test_bad_representations_get_coded_errors_and_others_still_resolve(
    db: Backend, registry: httpx.AsyncClient
) -> None:
    p = f.project()
    md = f.model(p)
    v = f.version(md)
    await f.save(db.sessions, p, md, v)
    good = {"__typename": "ModelVersion", "id": encode_global_id("ModelVersion", v.id)}
    reps = [
        good,
        {"__typename": "Spaceship", "id": "x"},
        {"__typename": "ModelVersion"},
        {"__typename": "ModelVersion", "id": "not-a-global-id"},
        {"__typename": "ModelVersion", "id": encode_global_id("Model", md.id)},
    ]
    body = await _entities(registry, reps)
    got = body["data"]["_entities"]
    assert got[0]["version"] == v.version
    assert got[1:] == [None, None, None, None]
    codes = {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]}
    assert codes == {
        ("_entities", 1): "BAD_USER_INPUT",
        ("_entities", 2): "BAD_USER_INPUT",
        ("_entities", 3): "BAD_USER_INPUT",
    }
    assert all("Traceback" not in e["message"] for e in body["errors"])


async def test_an_entity_of_another_project_resolves_to_null(
    db: Backend, registry: httpx.AsyncClient
) -> None:
    mine, theirs = f.project(slug="mine"), f.project(slug="theirs")
    md = f.model(theirs)
    v = f.version(md)
    await f.save(db.sessions, mine, theirs, md, v)
    await join(db, mine.id, Role.VIEWER)
    reps = [
        {"__typename": "ModelVersion", "id": encode_global_id("ModelVersion", v.id)},
        {"__typename": "Model", "id": encode_global_id("Model", md.id)},
    ]
    query = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Node { id } } }"
    response = await registry.post(
        "/graphql", json={"query": query, "variables": {"r": reps}}, headers=db.headers(ALICE)
    )
    body = response.json()
    assert "errors" not in body
    assert body["data"] == {"_entities": [None, None]}


@POSTGRES
async def test_compiled_entities_of_one_type_are_one_statement(
    db: Backend, registry: httpx.AsyncClient, compiled_registry: httpx.AsyncClient
) -> None:
    p = f.project()
    md = f.model(p)
    versions = [f.version(md, version=f"1.0.{i}") for i in range(100)]
    await f.save(db.sessions, p, md, *versions)
    reps = [
        {"__typename": "ModelVersion", "id": encode_global_id("ModelVersion", v.id)}
        for v in versions
    ]
    db.sql.start()
    body = await _entities(compiled_registry, reps, plan="compiled")
    db.sql.stop()
    assert len(db.sql.statements) == 1, db.sql.statements  # versions and their model
    assert [e["version"] for e in body["data"]["_entities"]] == [v.version for v in versions]
    assert body == await _entities(registry, reps)
    # the statement's text does not depend on how many representations there are
    db.sql.start()
    await _entities(compiled_registry, reps[:3], plan="compiled")
    await _entities(compiled_registry, reps[:1], plan="compiled")
    db.sql.stop()
    assert len(set(db.sql.statements)) == 1


@POSTGRES
async def test_compiled_foreign_entity_is_a_reference_in_the_same_statement(
    db: Backend, registry: httpx.AsyncClient, compiled_registry: httpx.AsyncClient
) -> None:
    mine, theirs = f.project(slug="mine"), f.project(slug="theirs")
    models = [f.model(mine, name=n) for n in ("b-model", "a-model")]
    hidden = f.model(theirs)
    await f.save(db.sessions, mine, theirs, *models, hidden)
    reps = [
        {"__typename": "Project", "id": encode_global_id("Project", p.id)} for p in (mine, theirs)
    ]
    reps.append({"__typename": "Model", "id": encode_global_id("Model", hidden.id)})
    await join(db, mine.id, Role.VIEWER)
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on Project { id models(first: 5) { nodes { name } } } ... on Model { name } } }"""
    answers, statements = [], []
    for client in (compiled_registry, registry):
        db.sql.start()
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"r": reps}}, headers=db.headers(ALICE)
        )
        db.sql.stop()
        answers.append(response.content)
        statements.append([s for s in db.sql.statements if MEMBERSHIPS not in s])
    assert answers[0] == answers[1]
    (statement,) = statements[0]  # one data statement, besides the principal's memberships
    assert '"project"' not in statement  # the references are not loaded
    got = json.loads(answers[0])["data"]["_entities"]
    # both projects are references (their subgraph checks them); only mine's models are visible
    assert [e["models"]["nodes"] for e in got[:2]] == [
        [{"name": "a-model"}, {"name": "b-model"}],
        [],
    ]
    assert got[2] is None  # a model of another project


def test_shared_types_are_identical_in_every_subgraph() -> None:
    printed: dict[str, set[str]] = {}
    present: dict[str, int] = {}
    for domain in DOMAIN_NAMES:
        for name, named in subgraph(domain)._schema.type_map.items():
            if name.startswith("__") or name in {*ENTITIES, "Query", "Mutation", "Subscription"}:
                continue
            printed.setdefault(name, set()).add(print_type(named))
            present[name] = present.get(name, 0) + 1
    shared = {n for n, count in present.items() if count > 1}
    assert {"PageInfo", "UserError", "DateTime", "Node"} <= shared
    assert {n: len(printed[n]) for n in shared if len(printed[n]) > 1} == {}
