"""Helpers for the compiled-path tests: two servers on one database, and generated queries.

* ``Pair``: the test app (``compiled_reads`` on) and a second app on the same engine with
  ``compiled_reads`` off, so every request can be asked of both paths and the bodies compared.
* ``generated_queries``: read queries over the compilable part of the schema from
  hypothesis-graphql, derandomized, with argument values drawn from the real data, unicode
  strings and page sizes up to the cap.
* ``random_rows``: a project of random values (``tests.values``): unicode names and cursors,
  JSON documents, doubles where PostgreSQL's and Python's formats differ.
* ``seed_compared``: the data both paths are compared on (demo, bulk, awkward and random
  values) and the three principals' headers.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx
from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    NamedTypeNode,
    NameNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeNode,
    parse,
    print_schema,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries
from hypothesis_graphql._strategies import sampler
from sqlalchemy import select

from mlgraph.compiled import Planner
from mlgraph.compiled.fields import NotCompilable
from mlgraph.seed import seed_bulk, seed_demo
from mlgraph.storage import models as m
from mlgraph.storage.enums import DriftKind, Role
from tests import factories
from tests.conftest import ADMIN, Backend, truncate
from tests.values import double, json_value, string

VIEWER = "viewer@example.com"
NOBODY = "nobody@example.com"
PRINCIPALS = ("admin", "viewer", "nobody")

#: Root fields the compiled path serves.
ROOT_FIELDS = {
    "projects",
    "models",
    "deployments",
    "alerts",
    "auditEntries",
    "project",
    "node",
    "nodes",
}


async def awkward_rows(db: Backend) -> uuid.UUID:
    """A project whose values stress the JSON formats; returns its id."""
    p = factories.project(
        name='Ünïcode "quoted" \\ back\nslash 😀', slug="awkward", description="\t\x01"
    )
    pl = factories.pipeline(
        p,
        name="zürich-pipeline",
        nodes=[{"step": "ü", "n": 1.0, "tiny": 1e-05}],
        edges=[{"from": "ü", "to": 'a"\x7f'}],
    )
    mdl = factories.model(p, name="modèle", tags=["ünï", 'a"b'], required_metrics=[])
    v = factories.version(
        mdl,
        metrics={"loss": 1e-05, "acc": 1.0, "big": 1e16, "neg": -2.5, "int": 3, "z": 0.1},
        meta={"nested": {"list": [1, 2.5, None, True, "x"]}, "": "empty key"},
    )
    dep = factories.deployment(mdl, name="dép", config={"weights": [0.25, 0.75]})
    floats = (0.0, 1.0, 0.1, 3e-07, 123.0, 1e15 + 0.5, -1234567890123456.8, 2.9248189289076552e16)
    jobs = [factories.job(pl, progress=x, parameters={"lr": x}) for x in floats]
    # A year before 1000 (four digits all the same), a whole second, and the two datetimes
    # asyncpg stores as infinity and -infinity.
    jobs[0].started_at = datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    jobs[1].started_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    jobs[1].finished_at = datetime.max.replace(tzinfo=UTC)
    jobs[2].started_at = datetime.min.replace(tzinfo=UTC)
    del_model = factories.model(p, name="del\x7fname", tags=["\x7f"], required_metrics=[])
    await factories.save(db.sessions, p, pl, mdl, v, dep, *jobs, del_model)
    return p.id


async def seed_compared(db: Backend) -> dict[str, dict[str, str]]:
    """Empty the database, then the demo data, bulk data and awkward rows, with a VIEWER of
    the first project; returns the request headers of each of ``PRINCIPALS``."""
    await truncate(db)
    await seed_demo(db.sessions)
    await seed_bulk(db.sessions, projects=3, seed=23)
    await awkward_rows(db)
    await random_rows(db.sessions, seed=16)
    async with db.sessions() as s, s.begin():
        project = (await s.scalars(select(m.Project).order_by(m.Project.slug))).first()
        assert project is not None
        s.add(m.ProjectMember(project_id=project.id, principal_id=VIEWER, role=Role.VIEWER))
    return {
        "admin": db.headers(ADMIN, admin=True),
        "viewer": db.headers(VIEWER),
        "nobody": db.headers(NOBODY),
    }


@dataclass
class Pair:
    compiled: httpx.AsyncClient
    resolver: httpx.AsyncClient
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=lambda: {"compiled": 0, "resolver": 0})

    async def both(
        self, query: str, variables: dict[str, Any] | None = None, principal: str = "admin"
    ) -> tuple[str, bytes]:
        """Ask both paths; assert the same status and body bytes; return the plan and body."""
        body = {"query": query, "variables": variables}
        headers = {**self.headers[principal], "x-request-id": uuid.uuid4().hex}
        compiled = await self.compiled.post("/graphql", json=body, headers=headers)
        resolver = await self.resolver.post("/graphql", json=body, headers=headers)
        assert resolver.headers["x-mlgraph-plan"] == "resolver"
        assert compiled.status_code == resolver.status_code, query
        assert compiled.content == resolver.content, (
            f"{principal} {query} {variables}\ncompiled: {compiled.text[:2000]}\n"
            f"resolver: {resolver.text[:2000]}"
        )
        plan = compiled.headers["x-mlgraph-plan"]
        self.plans[plan] += 1
        return plan, compiled.content


def _named(name: str, non_null: bool = False) -> TypeNode:
    inner = NamedTypeNode(name=NameNode(value=name))
    return graphql.NonNullTypeNode(type=inner) if non_null else inner


def _arg(name: str, type_: TypeNode) -> InputValueDefinitionNode:
    return InputValueDefinitionNode(name=NameNode(value=name), type=type_, directives=())


def _field_args(owner: str, definition: FieldDefinitionNode) -> list[InputValueDefinitionNode]:
    out = []
    for arg in definition.arguments or ():
        name = arg.name.value
        if name in ("after", "before", "last"):
            continue  # cursors and `last` come from real pages in the hand-written tests
        if name == "asOf":
            continue  # read from the audit log by the resolver path (tests/test_history.py)
        if name == "first":
            out.append(_arg(name, _named("PageSize")))
        elif owner == "Query" and name == "id":
            out.append(_arg(name, _named("NodeId", True)))
        elif owner == "Query" and name == "ids":
            item = _named("NodeId", True)
            out.append(_arg(name, graphql.NonNullTypeNode(type=graphql.ListTypeNode(type=item))))
        elif owner == "Query" and name == "slug":
            out.append(_arg(name, _named("Slug", True)))
        elif name == "maxDepth":
            out.append(_arg(name, _named("Depth")))
        else:
            out.append(arg)
    return out


#: Object-store fields, compared in tests/test_compiled_objects.py instead: presigned URLs carry
#: their signing second, and the generated data has reports the store does not hold.
OBJECT_STORE_FIELDS = {
    ("Artifact", "object"),
    ("Artifact", "downloadUrl"),
    ("Job", "logsUrl"),
    ("DriftMetric", "report"),
}


def _served(
    planner: Planner, owner: str, definition: ObjectTypeDefinitionNode
) -> list[FieldDefinitionNode]:
    """The fields of ``owner`` the compiled path serves (all fields of types it never reaches,
    so the cut-down schema stays valid)."""
    served = []
    for f in definition.fields or ():
        if owner == "Query" and f.name.value not in ROOT_FIELDS:
            continue
        if (owner, f.name.value) in OBJECT_STORE_FIELDS:
            continue
        try:
            planner.fields.kind(owner, f.name.value)
        except NotCompilable:
            continue
        served.append(f)
    return served or list(definition.fields or ())


#: Input fields replaced by ones whose values the tests draw (None: left out): a metric order
#: needs its metric and only it takes one, which the generator cannot know, so generated
#: orders do not name a metric (tests/test_version_metrics.py orders by metrics).
_INPUTS: dict[str, dict[str, InputValueDefinitionNode | None]] = {
    "AuditEntryFilter": {"entityId": _arg("entityId", _named("NodeId"))},
    "NumberRange": {"name": _arg("name", _named("MetricName", True))},
    "ModelVersionOrder": {"metric": None},
}


def compilable_schema(planner: Planner) -> graphql.GraphQLSchema:
    """The schema cut down to what the compiled path serves, with argument types whose values
    the tests draw from real data (page sizes, node ids, slugs)."""
    document = parse(print_schema(planner.gql))
    kept: list[Any] = []
    for definition in document.definitions:
        name = getattr(getattr(definition, "name", None), "value", None)
        if name in ("Mutation", "Subscription", "_Entity", "_Service"):
            continue
        if isinstance(definition, ObjectTypeDefinitionNode):
            fields = []
            for f in _served(planner, name or "", definition):
                fields.append(
                    FieldDefinitionNode(
                        name=f.name,
                        arguments=tuple(_field_args(name or "", f)),
                        type=f.type,
                        directives=(),
                    )
                )
            definition = ObjectTypeDefinitionNode(
                name=definition.name,
                interfaces=definition.interfaces,
                directives=(),
                fields=tuple(fields),
            )
        elif isinstance(definition, EnumTypeDefinitionNode) and name == "ModelVersionOrderField":
            values = tuple(v for v in definition.values or () if v.name.value != "METRIC")
            definition = EnumTypeDefinitionNode(name=definition.name, directives=(), values=values)
        elif isinstance(definition, InputObjectTypeDefinitionNode) and name in _INPUTS:
            replaced = _INPUTS[name]
            inputs = (replaced.get(f.name.value, f) for f in definition.fields or ())
            definition = InputObjectTypeDefinitionNode(
                name=definition.name, directives=(), fields=tuple(f for f in inputs if f)
            )
        kept.append(definition)
    for scalar in ("PageSize", "NodeId", "Slug", "Depth", "MetricName"):
        kept.append(ScalarTypeDefinitionNode(name=NameNode(value=scalar), directives=()))
    return graphql.build_ast_schema(DocumentNode(definitions=tuple(kept)), assume_valid=True)


def generated_queries(
    planner: Planner, count: int, node_ids: list[str], slugs: list[str]
) -> list[str]:
    """``count`` derandomized read queries over the compilable schema (duplicates dropped)."""
    schema = compilable_schema(planner)
    scalars = {
        # Mostly small pages (nested connections multiply), and pages at the cap of 100.
        "PageSize": st.one_of(st.integers(1, 4), st.integers(5, 100)).map(nodes.Int),
        "NodeId": st.sampled_from(node_ids).map(nodes.String),
        "Depth": st.integers(1, 10).map(nodes.Int),
        "MetricName": st.sampled_from(["auc", "f1", "loss", "acc", "none"]).map(nodes.String),
        "Slug": st.sampled_from([*slugs, "no-such-project"]).map(nodes.String),
        "DateTime": st.sampled_from(
            ["2026-11-01T00:00:00+00:00", "2026-11-20T12:00:00.000000Z"]
        ).map(nodes.String),
        "JSON": st.just(nodes.String("{}")),
        "BigInt": st.integers(0, 10).map(nodes.Int),
    }
    found: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # Any unicode but NUL, which PostgreSQL text cannot hold (on PostgreSQL a NUL in a filter
    # string is an error on both paths, not a difference between them).
    @given(
        queries(schema, custom_scalars=scalars, allow_null=False, codec="utf-8", allow_x00=False)
    )
    def collect(query: str) -> None:
        found.append(query)

    # Keep generated queries at most 8 fields wide so 1,000 of them stay quick to generate.
    wide, sampler.MAX_FIELDS = sampler.MAX_FIELDS, 8
    try:
        collect()
    finally:
        sampler.MAX_FIELDS = wide
    return list(dict.fromkeys(found))


def _name(rng: random.Random, n: int) -> str:
    """A random unicode name, unique by its suffix, with a DEL in every third."""
    return string(rng)[:150] + ("\x7f" if n % 3 == 0 else "") + f" {n}"


def _json_object(rng: random.Random) -> dict[str, Any]:
    return {string(rng): json_value(rng) for _ in range(rng.randrange(1, 5))}


async def random_rows(sessions: Any, seed: int, size: int = 12) -> uuid.UUID:
    """A project of random values (see ``tests.values``); returns its id."""
    rng = random.Random(seed)
    p = factories.project(slug="random-values", name=_name(rng, 0), description=string(rng))
    rows: list[Any] = [p]
    for n in range(1, size + 1):
        pl = factories.pipeline(
            p,
            name=_name(rng, n),
            nodes=[_json_object(rng)],
            edges=[{"from": string(rng), "to": string(rng)}],
        )
        mdl = factories.model(p, name=_name(rng, n), tags=[string(rng) for _ in range(3)])
        v = factories.version(
            mdl,
            metrics={string(rng): double(rng) for _ in range(3)},
            meta=_json_object(rng),
        )
        dep = factories.deployment(mdl, name=_name(rng, n), config=_json_object(rng))
        jobs = [
            factories.job(
                pl, progress=double(rng), parameters=_json_object(rng), message=string(rng)
            )
            for _ in range(3)
        ]
        start = factories.tick()
        metrics = [
            m.DriftMetric(
                id=uuid.uuid4(),
                project_id=p.id,
                deployment_id=dep.id,
                kind=DriftKind.DATA,
                metric=string(rng)[:60],
                feature=string(rng),
                score=double(rng),
                threshold=double(rng),
                detected=rng.random() < 0.5,
                window_start=start,
                window_end=start + timedelta(hours=1),
                created_at=factories.tick(),
            )
            for _ in range(3)
        ]
        rows += [pl, mdl, v, dep, *jobs, *metrics]
    await factories.save(sessions, *rows)
    return p.id


__all__ = [
    "NOBODY",
    "PRINCIPALS",
    "VIEWER",
    "Pair",
    "awkward_rows",
    "compilable_schema",
    "generated_queries",
    "random_rows",
    "seed_compared",
]
