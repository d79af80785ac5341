"""Nobody reads or writes what their role does not allow, however they reach it.

The probes are generated from the schema: every root field, every mutation and ``node(id)`` on
every entity type, so a new field is covered without touching this file.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)
from sqlalchemy import select

from mlgraph.ids import encode_global_id
from mlgraph.schema import build_schema
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from mlgraph.storage.graph import ENTITIES
from tests import factories as f
from tests.conftest import Backend
from tests.writes import written

SCHEMA = build_schema()._schema
ALICE = "alice-probe@example.com"


async def project_ids(db: Backend) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.sessions() as s:
        a, b = (await s.scalars(select(m.Project.id).order_by(m.Project.name).limit(2))).all()
    return a, b


async def join(db: Backend, project: uuid.UUID, role: Role) -> None:
    async with db.sessions() as s, s.begin():
        s.add(m.ProjectMember(project_id=project, principal_id=ALICE, role=role))


async def as_alice(db: Backend, query: str, variables: dict[str, Any] | None = None) -> Any:
    assert db.client is not None
    response = await db.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=db.headers(ALICE)
    )
    return response.json()


@pytest.fixture
async def world(db: Backend) -> tuple[Backend, uuid.UUID, uuid.UUID]:
    """Demo data; alice is an EDITOR of project A and has no role in project B."""
    await f.demo(db)
    await f.api_keys_for_all_projects(db.sessions)
    a, b = await project_ids(db)
    await join(db, a, Role.EDITOR)
    return db, a, b


async def object_in(db: Backend, type_name: str, project: uuid.UUID) -> uuid.UUID:
    decl = ENTITIES[type_name]
    async with db.sessions() as s:
        pk: uuid.UUID | None = await s.scalar(
            select(decl.table.c.id).where(decl.table.c[decl.project_column] == project).limit(1)
        )
    assert pk is not None, f"demo data has no {type_name} in the project"
    return pk


@pytest.mark.parametrize("type_name", sorted(ENTITIES))
async def test_node_of_another_project_is_null(world: Any, type_name: str) -> None:
    db, a, b = world
    theirs = encode_global_id(type_name, await object_in(db, type_name, b))
    mine = encode_global_id(type_name, await object_in(db, type_name, a))
    body = await as_alice(
        db,
        "query($t: ID!, $m: ID!, $ids: [ID!]!) { theirs: node(id: $t) "
        "{ id } mine: node(id: $m) { id } nodes(ids: $ids) { id } }",
        {"t": theirs, "m": mine, "ids": [theirs, mine]},
    )
    assert body["data"] == {"theirs": None, "mine": {"id": mine}, "nodes": [None, {"id": mine}]}


def _connection_roots() -> dict[str, str]:
    """Root connection field -> its node type, read off the schema."""
    query = SCHEMA.query_type
    assert query is not None
    roots = {}
    for name, field in query.fields.items():
        named = get_named_type(field.type)
        if named.name.endswith("Connection"):
            roots[name] = named.name.removesuffix("Connection")
    return roots


ENTITIES_BY_CONNECTION = _connection_roots()


@pytest.mark.parametrize("root", sorted(ENTITIES_BY_CONNECTION))
async def test_root_connections_show_and_count_only_own_projects(world: Any, root: str) -> None:
    db, a, _ = world
    body = await as_alice(db, f"{{ {root}(first: 100) {{ totalCount nodes {{ id }} }} }}")
    conn = body["data"][root]
    type_name = ENTITIES_BY_CONNECTION[root]
    decl = ENTITIES[type_name]
    async with db.sessions() as s:
        own = set(
            (
                await s.scalars(
                    select(decl.table.c.id).where(decl.table.c[decl.project_column] == a)
                )
            ).all()
        )
    got = {
        uuid.UUID(__import__("base64").b64decode(n["id"]).decode().split(":")[1])
        for n in conn["nodes"]
    }
    assert got <= own
    assert conn["totalCount"] == len(own)


async def test_other_root_fields(world: Any) -> None:
    db, a, b = world
    async with db.sessions() as s:
        slug_a, slug_b = [
            await s.scalar(select(m.Project.slug).where(m.Project.id == p)) for p in (a, b)
        ]
    body = await as_alice(
        db,
        "query($a: String!, $b: String!) { a: project(slug: $a) { slug } "
        "b: project(slug: $b) { slug } viewer { principalId "
        "isPlatformAdmin memberships { totalCount } } }",
        {"a": slug_a, "b": slug_b},
    )
    assert body["data"] == {
        "a": {"slug": slug_a},
        "b": None,
        "viewer": {
            "principalId": ALICE,
            "isPlatformAdmin": False,
            "memberships": {"totalCount": 1},
        },
    }
    refused = await as_alice(db, "{ verifyAuditChain { ok } }")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# -- mutations: every one, with every ID pointing into project B ------------------------------

ID_TARGETS = {
    "toVersion": "ModelVersion",
    "parentVersion": "ModelVersion",
    "sourceRun": "Job",
    "version": "ModelVersion",
    "canaryVersion": "ModelVersion",
    "alert": "Alert",
}


def _target_type(field_name: str, mutation: str) -> str:
    if field_name == "id":  # the mutation's own noun: archiveProject -> Project
        return re.sub(r"^[a-z]+", "", mutation)
    base = field_name.removesuffix("Ids").removesuffix("Id")
    base = ID_TARGETS.get(base, base)
    name = base[0].upper() + base[1:]
    assert name in ENTITIES, f"cannot tell which type {field_name} refers to"
    return name


def _value(type_: GraphQLInputType, field: str, ids: dict[str, str], mutation: str) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, field, ids, mutation)
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type, field, ids, mutation)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: _value(f.type, name, ids, mutation)
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) or name.endswith(("Id", "Ids"))
        }
    assert isinstance(type_, GraphQLScalarType)
    if type_.name == "ID":
        return ids[_target_type(field, mutation)]
    return {
        "String": "probe",
        "Int": 1,
        "Float": 1.0,
        "Boolean": True,
        "BigInt": 1,
        "JSON": {},
        "DateTime": datetime.now(UTC).isoformat(),
    }[type_.name]


MUTATIONS = sorted(SCHEMA.mutation_type.fields) if SCHEMA.mutation_type else []
#: Mutations that name no existing object: nothing of project B to reach.
CREATES_FROM_NOTHING = {"createProject"}


@pytest.mark.parametrize("name", MUTATIONS)
async def test_mutations_cannot_touch_another_project(world: Any, name: str) -> None:
    db, _, b = world
    mutation_type = SCHEMA.mutation_type
    assert mutation_type is not None
    if name in CREATES_FROM_NOTHING:
        assert "projectId" not in mutation_type.fields[name].args["input"].type.of_type.fields
        return
    ids = {
        t: encode_global_id(t, await object_in(db, t, b))
        for t in ENTITIES
        if t not in ("AuditEntry",)
    }
    field = mutation_type.fields[name]
    input_type = field.args["input"].type
    variables = {"input": _value(input_type, "input", ids, name)}
    type_name = input_type.of_type.name
    before = await written(db)
    body = await as_alice(
        db,
        f"mutation($input: {type_name}!) {{ {name}(input: $input) "
        "{ userErrors { code field } } }",
        {"input": variables["input"]},
    )
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "BAD_USER_INPUT"), body
    else:
        codes = {e["code"] for e in body["data"][name]["userErrors"]}
        assert codes, f"{name} succeeded on another project's objects"
        assert codes <= {"NOT_FOUND", "INVALID", "FORBIDDEN", "TOO_LONG", "LIMIT_EXCEEDED"}, body
    assert await written(db) == before
