"""The read policy lives in the loaders: a principal sees only its projects' rows, whichever
way it reaches them (root lists, node(id), nested relations, totalCount).

Identity is a placeholder until the auth issue: these tests build the principal directly."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import insert

from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.ids import encode_global_id
from mlgraph.schema import build_schema
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from mlgraph.storage.objects.local import LocalObjectStore
from tests import factories as f
from tests.conftest import Backend

SCHEMA = build_schema()


async def run(db: Backend, principal: Principal, query: str, **variables: Any) -> dict[str, Any]:
    context = Context.create(
        principal=principal,
        request_id="test",
        settings=db.settings,
        sessions=db.sessions,
        objects=LocalObjectStore(Path("/nonexistent")),
    )
    result = await SCHEMA.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_a_viewer_of_project_a_sees_nothing_of_project_b(db: Backend) -> None:
    a, b = f.project(), f.project()
    ma, mb = f.model(a), f.model(b)
    va, vb = f.version(ma), f.version(mb)
    await f.save(db.sessions, a, b, ma, mb, va, vb)
    async with db.sessions() as s, s.begin():  # cross-project lineage: b's version parents a's
        await s.execute(
            insert(m.ModelVersionLineage).values(parent_id=vb.id, child_id=va.id, project_id=a.id)
        )
    alice = Principal("alice", "Alice", project_roles=MappingProxyType({a.id: Role.VIEWER}))

    data = await run(
        db,
        alice,
        """query($b: ID!, $vb: ID!, $va: ID!) {
        projects { totalCount nodes { slug } }
        models { totalCount }
        nodeB: node(id: $b) { id }
        versionB: node(id: $vb) { id }
        mine: node(id: $va) { ... on ModelVersion { parents { totalCount nodes { id } } } }
    }""",
        b=encode_global_id("Project", b.id),
        vb=encode_global_id("ModelVersion", vb.id),
        va=encode_global_id("ModelVersion", va.id),
    )

    assert data["projects"] == {"totalCount": 1, "nodes": [{"slug": a.slug}]}
    assert data["models"] == {"totalCount": 1}
    assert data["nodeB"] is None
    assert data["versionB"] is None
    assert data["mine"] == {"parents": {"totalCount": 0, "nodes": []}}

    admin = Principal("root", "Root", platform_admin=True)
    data = await run(db, admin, "{ projects { totalCount } models { totalCount } }")
    assert data == {"projects": {"totalCount": 2}, "models": {"totalCount": 2}}

    nobody = Principal("nobody", "Nobody")
    data = await run(db, nobody, "{ projects { totalCount } models { totalCount } }")
    assert data == {"projects": {"totalCount": 0}, "models": {"totalCount": 0}}
