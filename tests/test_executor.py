"""The resolver path's executor answers exactly as graphql-core's own executor does.

``mlgraph.schema.execution.Executor`` takes short cuts on the resolver path: plain leaves read
directly, plain object lists completed without graphql-core's per-item layers, relations
resolved breadth first. Here every query runs through it and through strawberry's stock
graphql-core executor, on one schema, the same rows and the same principal: data and errors
must be equal. The cases are the ones the short cuts must get right: errors inside lists and
inside relations resolved ahead, non-null propagation, abstract types, fragments, directives
and aliases. (For queries without errors, ``tests/test_compiled.py`` also holds the resolver
path byte for byte to the independent compiled path.)
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import select
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.ids import encode_global_id
from mlgraph.schema import Schema, build_schema
from mlgraph.seed import seed_bulk, seed_demo
from mlgraph.settings import Settings
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from mlgraph.storage.objects import ObjectStore, open_store
from tests.conftest import OPERATIONS, Backend, truncate

Answer = tuple[Any, list[str]]


class Twins:
    """One schema with mlgraph's executor, one with strawberry's stock executor."""

    def __init__(
        self,
        db: Backend,
        settings: Settings,
        store: ObjectStore,
        principals: dict[str, Principal],
    ) -> None:
        self.db, self.settings, self.store, self.principals = db, settings, store, principals
        self.ours: Schema = build_schema()
        self.stock: Schema = build_schema(executor=StrawberryGraphQLCoreExecutionContext)

    async def run(
        self, schema: Schema, query: str, variables: dict[str, Any] | None, principal: str
    ) -> Answer:
        context = Context.create(
            principal=self.principals[principal],
            request_id="test",
            settings=self.settings,
            sessions=self.db.sessions,
            objects=self.store,
        )
        result = await schema.execute(query, variable_values=variables, context_value=context)
        errors = [json.dumps(e.formatted, sort_keys=True) for e in result.errors or []]
        return result.data, sorted(errors)  # the order errors are found in is not an answer

    async def same(
        self, query: str, variables: dict[str, Any] | None = None, principal: str = "admin"
    ) -> Answer:
        ours = await self.run(self.ours, query, variables, principal)
        stock = await self.run(self.stock, query, variables, principal)
        assert ours == stock
        return ours


@pytest.fixture(scope="module")
async def twins(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Twins]:
    await truncate(backend)
    await seed_demo(backend.sessions)
    await seed_bulk(backend.sessions, projects=2, seed=31)
    async with backend.sessions() as s:
        first = (await s.scalars(select(m.Project.id).order_by(m.Project.slug))).first()
    assert first is not None
    principals = {
        "admin": Principal("root", "Root", platform_admin=True),
        "viewer": Principal("v", "Viewer", project_roles=MappingProxyType({first: Role.VIEWER})),
        "nobody": Principal("nobody", "Nobody"),
    }
    # An empty object store of its own: no drift report exists (other tests write some).
    settings = backend.settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("store")})
    async with open_store(settings) as store:
        yield Twins(backend, settings, store, principals)


@pytest.mark.parametrize("document", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.name)
@pytest.mark.parametrize("principal", ["admin", "viewer", "nobody"])
async def test_operation_documents(twins: Twins, document: Path, principal: str) -> None:
    data, errors = await twins.same(document.read_text(), principal=principal)  # noqa: ASYNC240
    assert data is not None
    assert not errors


NESTED_BAD_ARGUMENTS = """
query($after: String, $first: Int) {
  projects(first: 3) { nodes { slug
    pipelines(first: $first, after: $after) { nodes { name } }
    models(first: 2) { totalCount nodes { name versions(first: 2) { nodes { version } } } }
  } }
}
"""


@pytest.mark.parametrize(
    "variables",
    [{"after": "not-a-cursor"}, {"first": 1000}, {"first": -1}, {"first": 2}],
    ids=["bad-cursor", "over-cap", "negative", "valid"],
)
async def test_bad_arguments_of_a_nested_relation(twins: Twins, variables: dict[str, Any]) -> None:
    data, errors = await twins.same(NESTED_BAD_ARGUMENTS, variables)
    if variables == {"first": 2}:
        assert not errors
        assert len(data["projects"]["nodes"]) == 3
        return
    # Connections are non-null all the way up: the first project's error nulls `data`.
    assert data is None
    (error,) = (json.loads(e) for e in errors)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    if "first" in variables:  # a page size out of range is refused before anything runs
        assert "path" not in error
        assert error["extensions"]["field"] == "first"
    else:
        assert error["path"] == ["projects", "nodes", 0, "pipelines"]


ITEM_ERRORS = """
query($expires: Int!, $urls: Boolean!) {
  deployments(first: 20) { nodes { name
    driftMetrics(first: 5) { nodes { kind score report } }
    model { name versions(first: 2) { nodes { version
      artifacts(first: 2) { nodes { fileName
        downloadUrl(expiresIn: $expires) @include(if: $urls) } } } } }
  } }
}
"""


@pytest.mark.parametrize("urls", [True, False])
async def test_errors_of_items_inside_lists(twins: Twins, urls: bool) -> None:
    """Reports the store does not have fail per metric (an awaited field inside list items);
    ``expiresIn: 0`` fails per artifact, synchronously. (Valid URLs are not compared: they
    carry their signing time.)"""
    data, errors = await twins.same(ITEM_ERRORS, {"expires": 0, "urls": urls})
    assert data["deployments"]["nodes"]
    codes = {json.loads(e)["extensions"]["code"] for e in errors}
    assert "OBJECT_NOT_FOUND" in codes
    assert ("BAD_USER_INPUT" in codes) is urls


async def _global_ids(db: Backend) -> list[str]:
    ids = []
    async with db.sessions() as s:
        for name in ("Project", "Model", "ModelVersion", "Deployment", "Job"):
            for row_id in (await s.scalars(select(getattr(m, name).id).limit(2))).all():
                ids.append(encode_global_id(name, row_id))
    return ids


ABSTRACT_AND_FRAGMENTS = """
query($ids: [ID!]!, $skip: Boolean!) {
  nodes(ids: $ids) { __typename id
    ... on Project { slug models(first: 2) { nodes { ...M } } }
    ... on Model { ...M }
    ... on ModelVersion { version deployments { edges { cursor node { name } } } }
    ... on Deployment { name driftMetrics(first: 2) @skip(if: $skip) { totalCount } }
    ... on Job { status pipeline { name runs(first: 1) { nodes { id } } } }
  }
  a: models(first: 2) { nodes { name v: versions(first: 1) { nodes { version } } } }
  b: models(first: 2) { nodes { name v2: versions(last: 2) { pageInfo { hasPreviousPage }
    nodes { version stage } } } }
}
fragment M on Model { name riskTier tags versions(first: 2) { totalCount nodes { version } } }
"""


@pytest.mark.parametrize("skip", [True, False])
@pytest.mark.parametrize("principal", ["admin", "viewer"])
async def test_abstract_types_fragments_directives_and_aliases(
    twins: Twins, skip: bool, principal: str
) -> None:
    ids = await _global_ids(twins.db)
    data, errors = await twins.same(ABSTRACT_AND_FRAGMENTS, {"ids": ids, "skip": skip}, principal)
    assert not errors
    assert len(data["nodes"]) == len(ids)


NON_NULL = """
query($id: ID!) {
  node(id: $id) { id }
  projects(first: 2) { nodes { slug pipelines(first: 1) { nodes { runs(first: 1, after: "x") {
    nodes { id } } } } } }
}
"""


async def test_errors_propagate_to_the_nearest_nullable_field(twins: Twins) -> None:
    """An error in a relation two levels down, and a bad global id beside it."""
    data, errors = await twins.same(NON_NULL, {"id": "bogus"})
    assert data is None
    paths = sorted(json.loads(e)["path"] for e in errors)
    assert paths == [["node"], ["projects", "nodes", 0, "pipelines", "nodes", 0, "runs"]]


async def test_relations_resolve_breadth_first_without_a_task_per_object(
    twins: Twins, dashboard_query: str
) -> None:
    """The point of the breadth-first walk: the stock executor gathers a task per object with
    a relation below it; mlgraph's executor waits once per relation level."""

    async def tasks_made(schema: Schema) -> int:
        loop = asyncio.get_running_loop()
        made = 0

        def factory(
            loop_: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
        ) -> asyncio.Task[Any]:
            nonlocal made
            made += 1
            return asyncio.Task(coro, loop=loop_, **kwargs)

        loop.set_task_factory(factory)
        try:
            data, errors = await twins.run(schema, dashboard_query, None, "admin")
        finally:
            loop.set_task_factory(None)
        assert data is not None
        assert not errors
        return made

    ours, stock = await tasks_made(twins.ours), await tasks_made(twins.stock)
    assert stock > 100, stock
    assert ours <= 40, ours


async def test_an_answered_request_frees_what_it_loaded_without_the_garbage_collector(
    twins: Twins, dashboard_query: str
) -> None:
    """Once a dashboard is answered, its loaders (and every row and future they hold) are
    freed by reference counting. Held in a reference cycle (a batch function holding its
    ``Loaders``, graphql-core's executor holding bound methods of itself and the context),
    they waited for a collection instead: ~90,000 objects every ten dashboards, ~150 ms of
    CPU per collection."""
    context = Context.create(
        principal=twins.principals["admin"],
        request_id="test",
        settings=twins.settings,
        sessions=twins.db.sessions,
        objects=twins.store,
    )
    loaders = weakref.ref(context.loaders)
    gc.collect()
    gc.disable()
    try:
        result = await twins.ours.execute(dashboard_query, context_value=context)
        assert result.data is not None
        assert not result.errors
        assert context.loaders._loaders, "the dashboard loaded nothing"
        del context, result
        for _ in range(3):  # the wake-ups the answer left scheduled
            await asyncio.sleep(0)
        assert loaders() is None
    finally:
        gc.enable()


async def _drift_metric_statement(twins: Twins, metric_fields: str) -> str:
    query = (
        "{ deployments(first: 3) { nodes { name driftMetrics(first: 2) { nodes { "
        + metric_fields
        + " } } } } }"
    )
    twins.db.sql.start()
    try:
        data, _ = await twins.run(twins.ours, query, None, "admin")  # reports: OBJECT_NOT_FOUND
    finally:
        twins.db.sql.stop()
    assert data["deployments"]["nodes"]
    (statement,) = [s for s in twins.db.sql.statements if "FROM drift_metric" in s]
    return statement.split("FROM", 1)[0]  # the outer select list


async def test_relation_pages_read_only_the_columns_their_selection_needs(twins: Twins) -> None:
    columns = await _drift_metric_statement(twins, "score detected")
    assert "score" in columns
    assert "detected" in columns
    assert "report_key" not in columns
    assert "feature" not in columns
    # `report` has a resolver of its own (it reads `report_key`): the whole row is read.
    columns = await _drift_metric_statement(twins, "score report")
    assert "report_key" in columns
    assert "feature" in columns
