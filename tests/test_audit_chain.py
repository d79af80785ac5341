"""The audit trail: hash-chained, verifiable, never forked, and all-or-nothing with its change."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from mlgraph.ids import decode_global_id, encode_global_id
from mlgraph.storage import audit
from mlgraph.storage.audit import AuditRecord
from mlgraph.storage.models import AuditEntry, OutboxEvent, Project
from tests.conftest import Backend
from tests.writes import mutate, written

VERIFY = "{ verifyAuditChain { ok checked brokenSequence brokenEntryId reason } }"
ROOT = Path(__file__).resolve().parent.parent


async def create_projects(db: Backend, n: int, prefix: str = "p") -> list[dict[str, Any]]:
    return [
        await mutate(
            db, "createProject", {"slug": f"{prefix}{i}", "name": f"P{i}"}, "project { id }"
        )
        for i in range(n)
    ]


async def test_chain_verifies_after_mutations(db: Backend) -> None:
    await create_projects(db, 5)
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert report == {
        "ok": True,
        "checked": 5,
        "brokenSequence": None,
        "brokenEntryId": None,
        "reason": None,
    }


async def test_tampering_is_named_by_graphql_and_cli(db: Backend) -> None:
    await create_projects(db, 4)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3"))
    async with db.sessions() as s:
        tampered = await s.scalar(select(AuditEntry.id).where(AuditEntry.seq == 3))
    assert tampered is not None
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert report["ok"] is False
    assert report["brokenSequence"] == 3
    assert report["brokenEntryId"] == encode_global_id("AuditEntry", tampered)
    assert report["checked"] == 2

    env = {**os.environ, "MLGRAPH_DATABASE_URL": db.url}
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mlgraph", "audit", "verify"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 1
    assert "seq 3" in cli.stderr


async def project_with_pipelines(db: Backend, slug: str, n: int) -> str:
    project = (await create_projects(db, 1, slug))[0]["project"]["id"]
    for i in range(n):
        await mutate(
            db, "createPipeline", {"projectId": project, "name": f"pl{i}"}, "pipeline { id }"
        )
    return str(project)


async def test_a_deleted_entry_is_a_gap_in_its_projects_chain(db: Backend) -> None:
    await project_with_pipelines(db, "a", 3)  # seq 1..4, one chain
    await project_with_pipelines(db, "b", 1)  # seq 5..6, another
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    async with db.sessions() as s:
        next_in_chain = await s.scalar(select(AuditEntry.id).where(AuditEntry.seq == 3))
    assert next_in_chain is not None
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert (report["ok"], report["brokenSequence"]) == (False, 3)
    assert report["brokenEntryId"] == encode_global_id("AuditEntry", next_in_chain)
    assert report["checked"] == 1


async def test_a_removed_last_entry_is_caught_by_the_head(db: Backend) -> None:
    await project_with_pipelines(db, "a", 2)
    await project_with_pipelines(db, "b", 1)
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_entry WHERE seq = 3"))  # a's last entry
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert report["ok"] is False
    assert (report["brokenSequence"], report["brokenEntryId"]) == (None, None)
    assert "head at position 3" in report["reason"]


async def test_concurrent_mutations_do_not_fork_the_chain(db: Backend) -> None:
    results = await asyncio.gather(
        *(
            mutate(db, "createProject", {"slug": f"c{i}", "name": f"C{i}"}, "project { id }")
            for i in range(50)
        )
    )
    assert all(r["userErrors"] == [] for r in results)
    async with db.sessions() as s:
        seqs = list((await s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq))).all())
    assert seqs == list(range(1, 51))
    assert (await db.data(VERIFY))["verifyAuditChain"]["ok"] is True


@pytest.fixture
def fail_at_commit() -> Iterator[None]:
    """Every session commit fails, after rows, audit entry and outbox event were flushed."""

    def boom(session: Session) -> None:
        assert not session.new, "everything is flushed before commit"
        raise RuntimeError("injected failure at commit")

    event.listen(Session, "before_commit", boom)
    yield
    event.remove(Session, "before_commit", boom)


async def test_a_failure_mid_transaction_leaves_nothing(db: Backend, fail_at_commit: None) -> None:
    assert db.client is not None
    response = await db.client.post(
        "/graphql",
        json={
            "query": 'mutation { createProject(input: {slug: "x", name: "D"}) { project { id } } }'
        },
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert "injected" not in response.text
    async with db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Project)) == 0
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert await written(db) == (0, 0)


POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@POSTGRES
async def test_writes_to_different_projects_do_not_wait_for_each_other(db: Backend) -> None:
    a = decode_global_id((await create_projects(db, 1, "a"))[0]["project"]["id"])[1]
    b = (await create_projects(db, 1, "b"))[0]["project"]["id"]
    # Given a transaction that appended to project a's chain and stays open
    async with db.sessions() as held, held.begin():
        record = AuditRecord("project.touch", "Project", a, a, {"before": None, "after": {}})
        await audit.append(held, [record], actor="held", request_id="held")
        # then a mutation in project b commits meanwhile
        other = await asyncio.wait_for(
            mutate(db, "createPipeline", {"projectId": b, "name": "p"}, "pipeline { id }"), 10
        )
        assert other["userErrors"] == []
        # while one in project a waits for the open transaction
        same = asyncio.create_task(
            mutate(
                db,
                "createPipeline",
                {"projectId": encode_global_id("Project", a), "name": "q"},
                "pipeline { id }",
            )
        )
        await asyncio.sleep(0.5)
        assert not same.done()
    assert (await asyncio.wait_for(same, 10))["userErrors"] == []
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert (report["ok"], report["checked"]) == (True, 5)


@POSTGRES
async def test_concurrent_writes_to_one_project_form_one_chain(db: Backend) -> None:
    projects = [p["project"]["id"] for p in await create_projects(db, 3, "k")]
    results = await asyncio.gather(
        *(
            mutate(
                db,
                "createPipeline",
                {"projectId": projects[i % 3], "name": f"p{i}"},
                "pipeline { id }",
            )
            for i in range(45)
        )
    )
    assert all(r["userErrors"] == [] for r in results)
    async with db.sessions() as s:
        first = decode_global_id(projects[0])[1]
        positions = (
            await s.scalars(
                select(AuditEntry.chain_seq)
                .where(AuditEntry.project_id == first)
                .order_by(AuditEntry.chain_seq)
            )
        ).all()
    assert list(positions) == list(range(1, 17))
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert (report["ok"], report["checked"]) == (True, 48)
