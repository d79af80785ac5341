"""The read audit: every artifact download URL a request hands out is recorded (actor, time,
client address, request) in one statement per request, on either read path, and the records
are a connection filtered by project, artifact and actor that shows nobody another project's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from mlgraph.app import create_app
from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import ArtifactKind, ArtifactStatus, Role
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop

VIEWER = "reads-viewer@example.com"
STRANGER = "reads-stranger@example.com"

DOWNLOAD = """
query($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Artifact { fileName downloadUrl(expiresIn: 600) } }
}
"""
DOWNLOADS = """
query($filter: ArtifactDownloadFilter, $first: Int, $after: String) {
  artifactDownloads(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { actor clientAddress requestId expiresAt createdAt
      artifact { fileName } project { slug } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
BY_ARTIFACT = """
query($id: ID!) { node(id: $id) { ... on Artifact { downloads { totalCount nodes { actor } } } } }
"""


def artifact(version: m.ModelVersion, name: str, **kw: Any) -> m.Artifact:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "project_id": version.project_id,
        "version_id": version.id,
        "kind": ArtifactKind.WEIGHTS,
        "status": ArtifactStatus.AVAILABLE,
        "file_name": name,
        "storage_key": f"projects/{version.project_id}/{uuid.uuid4()}/{name}",
        "size_bytes": 1,
        "sha256": "0" * 64,
    }
    return m.Artifact(**{**values, **kw})


@pytest.fixture
async def seeded(db: Backend) -> dict[str, str]:
    a, b = f.project(slug="reads-a"), f.project(slug="reads-b")
    ma, mb = f.model(a), f.model(b)
    va, vb = f.version(ma), f.version(mb)
    rows = {
        "a1": artifact(va, "a1.bin"),
        "a2": artifact(va, "a2.bin"),
        "pending": artifact(va, "pending.bin", status=ArtifactStatus.PENDING),
        "b1": artifact(vb, "b1.bin"),
    }
    await f.save(db.sessions, a, b, ma, mb, va, vb, *rows.values())
    async with db.sessions() as s, s.begin():
        s.add(m.ProjectMember(project_id=a.id, principal_id=VIEWER, role=Role.VIEWER))
    ids = {n: encode_global_id("Artifact", r.id) for n, r in rows.items()}
    return {
        **ids,
        "project_a": encode_global_id("Project", a.id),
        "project_b": encode_global_id("Project", b.id),
    }


async def post(
    client: httpx.AsyncClient, db: Backend, query: str, variables: dict[str, Any], who: str
) -> httpx.Response:
    headers = {**db.headers(who, admin=who == ADMIN), "x-request-id": uuid.uuid4().hex}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


async def records(db: Backend) -> list[m.ArtifactDownload]:
    async with db.sessions() as s:
        query = select(m.ArtifactDownload).order_by(m.ArtifactDownload.created_at)
        return list((await s.scalars(query)).all())


@pytest.fixture
async def resolver_twin(backend: Backend) -> AsyncIterator[httpx.AsyncClient | None]:
    """On PostgreSQL, a twin of the app with compiled reads off (both paths record)."""
    if backend.name != "postgresql":
        yield None
        return
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    async with httpx.AsyncClient(base_url=url, timeout=30) as twin:
        yield twin
    await stop(server, task)


async def test_each_issued_url_is_recorded_in_one_statement_per_request(
    db: Backend, seeded: dict[str, str], resolver_twin: httpx.AsyncClient | None
) -> None:
    assert db.client is not None
    clients = {"default": db.client} | ({"resolver": resolver_twin} if resolver_twin else {})
    ids = [seeded["a1"], seeded["a2"], seeded["pending"]]
    expected_plans = {
        "default": "compiled" if db.name == "postgresql" else "resolver",
        "resolver": "resolver",
    }
    for name, client in clients.items():
        before = await records(db)
        db.sql.start()
        response = await post(client, db, DOWNLOAD, {"ids": ids}, VIEWER)
        statements = list(db.sql.statements)
        db.sql.stop()
        assert response.headers["x-mlgraph-plan"] == expected_plans[name]
        nodes = response.json()["data"]["nodes"]
        assert [n["downloadUrl"] is not None for n in nodes] == [True, True, False]
        inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        assert len(inserts) == 1, statements  # both URLs, one INSERT
        assert "artifact_download" in inserts[0]
        new = (await records(db))[len(before) :]
        assert len(new) == 2  # the PENDING artifact issued no URL: nothing recorded
        for row in new:
            assert row.actor == VIEWER
            assert row.client_address == "127.0.0.1"
            assert row.request_id == response.headers["x-request-id"]
            lifetime = row.expires_at - row.created_at
            assert timedelta(seconds=599) <= lifetime <= timedelta(seconds=601)
            assert row.created_at <= datetime.now(UTC)


async def test_reads_without_download_urls_write_nothing(
    db: Backend, seeded: dict[str, str]
) -> None:
    assert db.client is not None
    db.sql.start()
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Artifact { fileName status } } }"
    await post(db.client, db, query, {"ids": [seeded["a1"], seeded["a2"]]}, VIEWER)
    statements = list(db.sql.statements)
    db.sql.stop()
    assert not [s for s in statements if "artifact_download" in s]
    assert await records(db) == []


async def test_the_read_audit_is_a_filtered_connection_that_shows_only_visible_projects(
    db: Backend, seeded: dict[str, str]
) -> None:
    assert db.client is not None
    await post(db.client, db, DOWNLOAD, {"ids": [seeded["a1"], seeded["b1"]]}, ADMIN)
    await post(db.client, db, DOWNLOAD, {"ids": [seeded["a1"], seeded["a2"]]}, VIEWER)
    await post(db.client, db, DOWNLOAD, {"ids": [seeded["b1"]]}, STRANGER)  # b1 not visible

    async def ask(variables: dict[str, Any], who: str = ADMIN) -> dict[str, Any]:
        body = (await post(db.client, db, DOWNLOADS, variables, who)).json()  # type: ignore[arg-type]
        assert "errors" not in body, body
        conn: dict[str, Any] = body["data"]["artifactDownloads"]
        return conn

    def files(conn: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["node"]["actor"], e["node"]["artifact"]["fileName"]) for e in conn["edges"]]

    everything = await ask({})
    assert everything["totalCount"] == 4  # the stranger's request issued no URL
    assert sorted(files(everything)) == sorted(
        [(ADMIN, "a1.bin"), (ADMIN, "b1.bin"), (VIEWER, "a1.bin"), (VIEWER, "a2.bin")]
    )
    assert [e["node"]["createdAt"] for e in everything["edges"]] == sorted(
        (e["node"]["createdAt"] for e in everything["edges"]), reverse=True
    )  # newest first
    assert files(await ask({"filter": {"artifactId": seeded["a1"]}})) == [
        (VIEWER, "a1.bin"),
        (ADMIN, "a1.bin"),
    ]
    by_viewer = await ask({"filter": {"actor": VIEWER, "projectId": seeded["project_a"]}})
    assert sorted(files(by_viewer)) == [(VIEWER, "a1.bin"), (VIEWER, "a2.bin")]
    # paging with cursors
    first = await ask({"first": 3})
    rest = await ask({"first": 3, "after": first["pageInfo"]["endCursor"]})
    assert files(first) + files(rest) == files(everything)
    assert rest["pageInfo"]["hasNextPage"] is False

    # the viewer of A sees A's records (the admin's too), nothing of B, even asked by id
    seen = await ask({}, VIEWER)
    assert seen["totalCount"] == 3
    assert {e["node"]["project"]["slug"] for e in seen["edges"]} == {"reads-a"}
    assert (await ask({"filter": {"projectId": seeded["project_b"]}}, VIEWER))["totalCount"] == 0
    assert (await ask({"filter": {"artifactId": seeded["b1"]}}, VIEWER))["edges"] == []
    assert (await ask({}, STRANGER))["totalCount"] == 0

    own = (await post(db.client, db, BY_ARTIFACT, {"id": seeded["a2"]}, VIEWER)).json()
    assert own["data"]["node"]["downloads"] == {"totalCount": 1, "nodes": [{"actor": VIEWER}]}
    other = (await post(db.client, db, BY_ARTIFACT, {"id": seeded["b1"]}, VIEWER)).json()
    assert other["data"]["node"] is None


async def test_when_the_record_cannot_be_written_no_url_leaves(
    db: Backend, seeded: dict[str, str]
) -> None:
    """The audit table gone (renamed for the test): the request answers UNAVAILABLE, with no
    URL in it, rather than hand out URLs nobody recorded."""
    assert db.client is not None
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE artifact_download RENAME TO mlg_away"))
    try:
        response = await db.client.post(
            "/graphql",
            json={"query": DOWNLOAD, "variables": {"ids": [seeded["a1"]]}},
            headers=db.headers(VIEWER),
        )
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE mlg_away RENAME TO artifact_download"))
    assert response.status_code == 503  # nothing else to answer (README "Errors")
    assert response.headers["retry-after"]
    body = response.json()
    assert body["data"] is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"], body
    assert "signature" not in response.text
    assert "a1.bin" not in response.text
    assert await records(db) == []
