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

from mlgraph.ids import encode_global_id
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


async def test_a_deleted_entry_is_a_gap(db: Backend) -> None:
    await create_projects(db, 4)
    async with db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    report = (await db.data(VERIFY))["verifyAuditChain"]
    assert (report["ok"], report["brokenSequence"]) == (False, 3)


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
