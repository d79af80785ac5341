"""The seed keeps the rules: after `make run`'s steps the demo's audit chains verify and every
AVAILABLE artifact has its object; seeding beside live writes does not fork a chain."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mlgraph.seed import SEEDED_DISABLED_REASON, seed_bulk, seed_demo, seed_demo_objects
from mlgraph.storage import audit
from mlgraph.storage import models as m
from mlgraph.storage.enums import ArtifactStatus
from mlgraph.storage.objects.local import LocalObjectStore
from tests.conftest import Backend
from tests.served import Served, mlgraph_serve
from tests.writes import mutate

ARTIFACTS = """{ projects(first: 10) { nodes { id models(first: 20) { nodes {
  versions(first: 20) { nodes { artifacts(first: 10) { nodes {
    status sizeBytes sha256 object { exists size } downloadUrl(expiresIn: 600) } } } } } } } } }"""
CREATE_PIPELINE = """mutation($in: CreatePipelineInput!) {
  createPipeline(input: $in) { pipeline { id } userErrors { code } } }"""


def verified(served: Served) -> int:
    """``mlgraph audit verify`` passes; how many entries it checked."""
    done = served.cli("audit", "verify")
    assert done.returncode == 0, done.stderr
    found = re.search(r"audit chain ok: (\d+) entries verified", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


async def test_the_demo_as_make_run_leaves_it_keeps_the_rules(tmp_path: Path) -> None:
    # Given the demo as `make run` starts it (migrated, seeded, served with the simulator)
    async with mlgraph_serve(tmp_path, "--simulate") as served:
        # then its audit chains verify
        seeded = await asyncio.to_thread(verified, served)
        assert seeded > 100
        # and every AVAILABLE artifact's object is in the store, with its size and bytes
        data = await served.data(ARTIFACTS)
        projects = data["projects"]["nodes"]
        artifacts = [
            a
            for p in projects
            for mo in p["models"]["nodes"]
            for v in mo["versions"]["nodes"]
            for a in v["artifacts"]["nodes"]
        ]
        available = [a for a in artifacts if a["status"] == "AVAILABLE"]
        assert len(available) > 50
        assert [a["object"] for a in available] == [
            {"exists": True, "size": a["sizeBytes"]} for a in available
        ]
        async with httpx.AsyncClient(timeout=30) as client:
            for a in available[:: len(available) // 10]:
                body = (await client.get(a["downloadUrl"])).content
                assert (len(body), hashlib.sha256(body).hexdigest()) == (
                    a["sizeBytes"],
                    a["sha256"],
                )
        # and no seeded webhook is on without a signing secret: each says how to turn it on
        hooks = await served.data(
            "{ projects(first: 10) { nodes { webhooks(first: 10) { nodes {"
            " enabled disabledReason } } } } }"
        )
        seeded_hooks = [h for p in hooks["projects"]["nodes"] for h in p["webhooks"]["nodes"]]
        assert seeded_hooks
        assert {(h["enabled"], h["disabledReason"]) for h in seeded_hooks} == {
            (False, SEEDED_DISABLED_REASON)
        }
        # when every project is written to at once (the simulator keeps writing too)
        headers = await asyncio.to_thread(served.admin_headers)
        async with httpx.AsyncClient(base_url=served.url, headers=headers, timeout=60) as c:

            async def create(project: str, n: int) -> Any:
                variables = {"in": {"projectId": project, "name": f"concurrent-{n}"}}
                answer = await c.post(
                    "/graphql", json={"query": CREATE_PIPELINE, "variables": variables}
                )
                return answer.json()["data"]["createPipeline"]

            done = await asyncio.gather(*(create(p["id"], n) for n in range(4) for p in projects))
        assert all(d["userErrors"] == [] for d in done)
        # then the chains verify again, with those entries in them
        assert await asyncio.to_thread(verified, served) >= seeded + len(done)


POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@POSTGRES
async def test_seeding_beside_live_writes_keeps_every_chain(db: Backend) -> None:
    # Given a live database with projects being written to
    projects = [
        (
            await mutate(
                db, "createProject", {"slug": f"live{i}", "name": f"L{i}"}, "project { id }"
            )
        )["project"]["id"]
        for i in range(3)
    ]

    async def write(n: int) -> None:
        input = {"projectId": projects[n % 3], "name": f"p{n}"}
        assert (await mutate(db, "createPipeline", input, "pipeline { id }"))["userErrors"] == []

    # when bulk data is seeded meanwhile
    await asyncio.gather(seed_bulk(db.sessions, projects=2), *(write(n) for n in range(30)))
    # then every chain verifies
    async with db.sessions() as s:
        report = await audit.verify(s)
    assert report.ok, report.reason
    assert report.checked > 33


async def test_seeding_objects_never_overwrites_an_uploaded_artifact(
    db: Backend, tmp_path: Path
) -> None:
    # Given demo data, one of whose AVAILABLE artifacts was since uploaded for real
    await seed_demo(db.sessions, projects=1)
    store = LocalObjectStore(tmp_path)
    uploaded = b"the real weights"
    async with db.sessions() as s, s.begin():
        artifact = (
            await s.scalars(select(m.Artifact).where(m.Artifact.status == ArtifactStatus.AVAILABLE))
        ).first()
        assert artifact is not None
        artifact.size_bytes, artifact.sha256 = len(uploaded), hashlib.sha256(uploaded).hexdigest()
        key = artifact.storage_key
    await store.put(key, uploaded, "application/octet-stream")
    # when the demo's objects are written
    written = await seed_demo_objects(db.sessions, store)
    # then the uploaded object is as it was, and every other artifact got its own
    assert await store.read(key, max_bytes=1000) == uploaded
    async with db.sessions() as s:
        others = (
            await s.scalars(
                select(m.Artifact).where(
                    m.Artifact.status == ArtifactStatus.AVAILABLE, m.Artifact.storage_key != key
                )
            )
        ).all()
    assert written > len(others) > 5
    assert [await store.sha256(a.storage_key) for a in others] == [a.sha256 for a in others]


async def test_racing_puts_of_one_local_key_leave_one_whole_object(tmp_path: Path) -> None:
    """Two puts of one key at once (the demo's objects go in concurrently, and two drift metrics
    of a window share a report) used to share one temporary file: one put failed with
    FileNotFoundError, or the object mixed their bytes."""
    local = LocalObjectStore(tmp_path)
    bodies = [bytes([i]) * 200_000 for i in range(12)]
    await asyncio.gather(*(local.put("a/report.json", b, "application/json") for b in bodies))
    assert await local.read("a/report.json", max_bytes=10**6) in bodies
    info = await local.head("a/report.json")
    assert info is not None
    assert info.content_type == "application/json"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["report.json"]
