"""The execution deadline and outages: a read blocked in PostgreSQL answers UNAVAILABLE (503,
``Retry-After``) by its deadline on either read path, its statement is cancelled in
PostgreSQL, and a compiled read that failed is not run again on the resolver path.

A slow database is made real here with a table lock held by another connection: the read's
statement waits in PostgreSQL exactly as it would behind a hung disk or a delaying network.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from mlgraph.app import create_app
from mlgraph.storage.db import create_engine
from tests.conftest import Backend, SqlCounter, _dsn, serve, stop

POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
READ = "{ projects(first: 1) { totalCount nodes { slug } } }"


@asynccontextmanager
async def locked(url: str, table: str = "project") -> AsyncIterator[asyncpg.Connection]:
    """Hold an ACCESS EXCLUSIVE lock on ``table`` until the block ends."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield conn
        await transaction.rollback()
    finally:
        await conn.close()


async def waiting(conn: asyncpg.Connection) -> int:
    """Backends of this database waiting for a lock (the blocked reads)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    )


async def gone(conn: asyncpg.Connection, within_s: float) -> bool:
    """Whether the blocked reads leave PostgreSQL within ``within_s`` (polled)."""
    end = time.monotonic() + within_s
    while await waiting(conn):
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.05)
    return True


@asynccontextmanager
async def server(
    db: Backend, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, SqlCounter]]:
    """The app on its own engine (so its statement timeout is its own), statements counted."""
    configured = db.settings.model_copy(update=settings)
    engine = create_engine(configured)
    counter = SqlCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    app_server, task, url = await serve(create_app(configured, engine=engine))
    try:
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers=db.headers("admin@example.com", admin=True)
        ) as client:
            await client.post("/graphql", json={"query": READ})  # connect and warm the pool
            yield client, counter
    finally:
        await stop(app_server, task)
        await engine.dispose()


@POSTGRES
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "resolver"])
async def test_a_blocked_read_answers_by_its_deadline_and_is_cancelled(
    db: Backend, compiled: bool
) -> None:
    async with server(db, execution_deadline_s=1.0, compiled_reads=compiled) as (client, _):
        async with locked(db.url) as holder:
            started = time.monotonic()
            response = await client.post("/graphql", json={"query": READ})
            elapsed = time.monotonic() - started
            assert elapsed < 1.5, elapsed
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            assert response.headers["x-mlgraph-plan"] == "resolver"
            body = response.json()
            assert body["data"] is None
            assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"]
            assert "deadline" in body["errors"][0]["message"]
            assert await gone(holder, within_s=1.0), "the statement still runs in PostgreSQL"
        # the database back, the next read answers
        again = await client.post("/graphql", json={"query": READ})
        assert again.status_code == 200
        assert "errors" not in again.json()


@POSTGRES
async def test_a_failed_compiled_read_is_not_retried_on_the_resolver_path(db: Backend) -> None:
    async with server(db, db_statement_timeout_s=0.5, execution_deadline_s=5.0) as (client, sql):
        async with locked(db.url):
            sql.start()
            started = time.monotonic()
            response = await client.post("/graphql", json={"query": READ})
            elapsed = time.monotonic() - started
            statements = sql.stop()
        assert elapsed < 1.5, elapsed
        body = response.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAVAILABLE"]
        assert "database is unavailable" in body["errors"][0]["message"]
        assert (response.status_code, body["data"]) == (503, None)
        # one statement, the compiled one: the resolver path never ran it again
        assert statements == 1, sql.statements
