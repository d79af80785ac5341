"""Factories: rows with sensible defaults, built straight through the ORM."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from mlgraph.seed import seed_demo
from mlgraph.storage import models as m
from mlgraph.storage.db import Base
from mlgraph.storage.enums import (
    DeploymentStatus,
    DeploymentStrategy,
    Environment,
    JobKind,
    JobStatus,
    RiskTier,
    Stage,
)
from mlgraph.storage.models.audit import AUDIT_SEQ

if TYPE_CHECKING:
    from tests.conftest import Backend

_n = itertools.count(1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tick(step: int | None = None) -> datetime:
    """Distinct, increasing timestamps."""
    return T0 + timedelta(seconds=step if step is not None else next(_n))


def project(**kw: Any) -> m.Project:
    n = next(_n)
    return m.Project(
        **{
            "id": uuid.uuid4(),
            "slug": f"project-{n}",
            "name": f"Project {n:05d}",
            "created_at": tick(),
            **kw,
        }
    )


def pipeline(p: m.Project, **kw: Any) -> m.Pipeline:
    return m.Pipeline(
        **{
            "id": uuid.uuid4(),
            "project_id": p.id,
            "name": f"pipeline-{next(_n)}",
            "created_at": tick(),
            **kw,
        }
    )


def job(pl: m.Pipeline, **kw: Any) -> m.Job:
    return m.Job(
        **{
            "id": uuid.uuid4(),
            "project_id": pl.project_id,
            "pipeline_id": pl.id,
            "kind": JobKind.PIPELINE_RUN,
            "status": JobStatus.QUEUED,
            "created_at": tick(),
            **kw,
        }
    )


def model(p: m.Project, **kw: Any) -> m.Model:
    return m.Model(
        **{
            "id": uuid.uuid4(),
            "project_id": p.id,
            "name": f"model-{next(_n)}",
            "tags": [],
            "risk_tier": RiskTier.LOW,
            "created_at": tick(),
            **kw,
        }
    )


def version(md: m.Model, **kw: Any) -> m.ModelVersion:
    return m.ModelVersion(
        **{
            "id": uuid.uuid4(),
            "project_id": md.project_id,
            "model_id": md.id,
            "version": f"1.0.{next(_n)}",
            "stage": Stage.DRAFT,
            "created_at": tick(),
            **kw,
        }
    )


def deployment(md: m.Model, **kw: Any) -> m.Deployment:
    return m.Deployment(
        **{
            "id": uuid.uuid4(),
            "project_id": md.project_id,
            "model_id": md.id,
            "name": f"deployment-{next(_n)}",
            "environment": Environment.STAGING,
            "strategy": DeploymentStrategy.ROLLING,
            "status": DeploymentStatus.ACTIVE,
            "created_at": tick(),
            **kw,
        }
    )


async def save(sessions: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    """Insert rows in one transaction, in the order given (parents first)."""
    async with sessions() as s, s.begin():
        for row in rows:
            s.add(row)
            await s.flush()


def api_key(p_id: uuid.UUID, **kw: Any) -> Any:
    from mlgraph.auth import api_keys
    from mlgraph.storage.enums import Role

    new = api_keys.generate()
    return m.ApiKey(
        **{
            "id": uuid.uuid4(),
            "project_id": p_id,
            "name": "ci-runner",
            "prefix": new.prefix,
            "secret_hash": new.secret_hash,
            "role": Role.EDITOR,
            "created_by": "seed",
            **kw,
        }
    )


async def api_keys_for_all_projects(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The demo seed has no API keys (their secrets could never be shown): add one each."""
    async with sessions() as s, s.begin():
        for pid in (await s.scalars(select(m.Project.id))).all():
            s.add(api_key(pid))


#: The demo rows per (database, projects), as `demo` last wrote them in this test module.
_DEMO_ROWS: dict[tuple[str, int], list[tuple[Any, list[dict[str, Any]]]]] = {}


def forget_demo_rows() -> None:
    _DEMO_ROWS.clear()


async def follow_audit_rows(conn: AsyncConnection) -> None:
    """On PostgreSQL, the audit sequence goes on after the audit rows there are (from 1 when
    there are none), as the migration that made it sets it."""
    if conn.dialect.name == "postgresql":
        after = func.coalesce(func.max(m.AuditEntry.seq), 0) + 1
        await conn.execute(select(func.setval(AUDIT_SEQ.name, after, False)))


async def demo(db: Backend, *, projects: int = 6) -> None:
    """``seed_demo`` into ``db``'s emptied tables. The first call in a test module seeds; later
    ones in the module write the same rows again (0.1 s instead of ~1 s of ORM work), audit chain
    and all. ``conftest`` forgets the rows between modules, so the demo's times stay close to
    the clock. ``tests/test_seed.py`` tests the seed itself."""
    key = (db.url, projects)
    tables = Base.metadata.sorted_tables
    if key not in _DEMO_ROWS:
        await seed_demo(db.sessions, projects=projects)
        async with db.engine.connect() as conn:
            _DEMO_ROWS[key] = [
                (t, [dict(r._mapping) for r in await conn.execute(select(t))]) for t in tables
            ]
        return
    async with db.engine.begin() as conn:
        for table, rows in _DEMO_ROWS[key]:
            if rows:
                await conn.execute(table.insert(), rows)
        await follow_audit_rows(conn)
