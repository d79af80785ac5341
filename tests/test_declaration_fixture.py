"""One declaration, everything derived: a field added to the declaration alone shows up in
the SDL, on both read paths and in the audit trail (``tests/fixture_declaration.py``)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, Backend, free_port
from tests.test_artifacts import SHA, version_id

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = "node(id: $id) { ... on Artifact { fileName storageKey } }"


@pytest.fixture
async def fixture_server(db: Backend) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    env = {
        **os.environ,
        "MLGRAPH_DATABASE_URL": db.url,
        "MLGRAPH_DATA_DIR": str(db.settings.data_dir),
        "MLGRAPH_PORT": str(port),
        "MLGRAPH_LIVE_ENABLED": "false",
        "MLGRAPH_GC_FREEZE": "false",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fixture_declaration", cwd=ROOT, env=env
    )
    headers = db.headers(ADMIN, admin=True)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
    ) as client:
        for _ in range(300):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the fixture server did not start")
        yield client
    proc.terminate()
    await proc.wait()


async def test_a_declared_field_reaches_sdl_both_read_paths_and_audit(
    db: Backend, fixture_server: httpx.AsyncClient
) -> None:
    async def gql(query: str, variables: dict[str, object] | None = None) -> httpx.Response:
        response = await fixture_server.post(
            "/graphql", json={"query": query, "variables": variables}
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.json()
        return response

    # the SDL (the schema the server serves)
    sdl = (await gql("{ _service { sdl } }")).json()["data"]["_service"]["sdl"]
    assert "Where the object store keeps the bytes." in sdl
    assert "storageKey: String!" in sdl

    # a write: its audit entry records the new field
    create = """mutation($input: CreateArtifactUploadInput!) {
      createArtifactUpload(input: $input) { artifact { id storageKey } userErrors { code } }
    }"""
    version = await version_id(db)
    input = {"versionId": version, "kind": "WEIGHTS", "fileName": "w.bin", "sizeBytes": 3}
    made = (await gql(create, {"input": {**input, "sha256": SHA}})).json()["data"]
    artifact = made["createArtifactUpload"]["artifact"]
    key = artifact["storageKey"]
    assert key.startswith("projects/")
    assert key.endswith("/w.bin")
    audit = """{ auditEntries(first: 1, filter: {entityType: "Artifact"}) {
      nodes { changes } } }"""
    (entry,) = (await gql(audit)).json()["data"]["auditEntries"]["nodes"]
    assert entry["changes"]["after"]["storage_key"] == key

    # both read paths: compiled where it can (PostgreSQL), the resolver path for the rest
    query = f"query($id: ID!) {{ {ARTIFACT} }}"
    compiled = await gql(query, {"id": artifact["id"]})
    assert compiled.json()["data"]["node"] == {"fileName": "w.bin", "storageKey": key}
    assert (compiled.headers["x-mlgraph-plan"] == "compiled") == (db.name == "postgresql")
    uncompiled = "rateLimit { limit }"  # not from the declarations: never compiled
    mixed = f"query($id: ID!) {{ {ARTIFACT} other: {uncompiled} }}"
    resolver = await gql(mixed, {"id": artifact["id"]})
    assert resolver.headers["x-mlgraph-plan"] != "compiled"
    assert resolver.json()["data"]["node"] == {"fileName": "w.bin", "storageKey": key}
