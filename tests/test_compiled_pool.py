"""The compiled read path's own PostgreSQL pool: fixed size, generic plans, no session churn.

Given a server of its own on PostgreSQL (no engine passed in, as ``mlgraph serve`` runs), when
many more dashboard requests are in flight than the compiled pool has connections, then every
one is answered by the compiled path with the same bytes, the pool's sessions are exactly its
size, and they are the same sessions after the load as before it (the pool neither grows nor
closes connections under load); the sessions of that pool run their prepared statements on
generic plans, the resolver path's keep PostgreSQL's default.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from mlgraph.app import create_app
from mlgraph.seed import seed_bulk
from mlgraph.storage.db import create_compiled_engine
from tests.conftest import Backend, _dsn, serve, stop

POOL = 3
IN_FLIGHT = 4 * POOL
POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def _compiled_sessions(conn: asyncpg.Connection, database: str) -> set[int]:
    """Backend pids of the compiled pool's sessions (``create_compiled_engine`` names them)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2"
    return {row["pid"] for row in await conn.fetch(query, database, "mlgraph-compiled")}


@POSTGRES
async def test_compiled_pool_is_fixed_and_uses_generic_plans(
    db: Backend, dashboard_query: str
) -> None:
    await seed_bulk(db.sessions, projects=3)
    settings = db.settings.model_copy(update={"compiled_pool_size": POOL, "port": 0})
    server, task, url = await serve(create_app(settings))
    database = db.engine.url.database
    assert database is not None
    observer = await asyncpg.connect(_dsn(db.url))
    try:
        headers = db.headers("pool@example.com", admin=True)
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

            async def ask() -> bytes:
                answer = await client.post("/graphql", json={"query": dashboard_query})
                assert answer.status_code == 200, answer.text
                assert answer.headers["x-mlgraph-plan"] == "compiled"
                return answer.content

            warm = await asyncio.gather(*(ask() for _ in range(IN_FLIGHT)))
            before = await _compiled_sessions(observer, database)
            loaded = await asyncio.gather(*(ask() for _ in range(3 * IN_FLIGHT)))
            after = await _compiled_sessions(observer, database)
        assert len(set(warm)) == 1
        assert set(loaded) == set(warm)
        assert b'"errors"' not in warm[0]
        assert len(before) == POOL  # never more than the pool, however many wait
        assert after == before, "the compiled pool opened or closed sessions under load"
    finally:
        await observer.close()
        await stop(server, task)


@POSTGRES
async def test_compiled_engine_sessions_run_generic_plans(backend: Backend) -> None:
    engine = create_compiled_engine(backend.settings.model_copy(update={"compiled_pool_size": 2}))
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
            name = (await conn.execute(text("SHOW application_name"))).scalar_one()
        assert (mode, name) == ("force_generic_plan", "mlgraph-compiled")
        async with backend.engine.connect() as conn:  # the resolver path's keeps the default
            assert (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"
    finally:
        await engine.dispose()
