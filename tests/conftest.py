"""Test harness: every test that takes ``backend`` runs on SQLite and on PostgreSQL.

* SQLite and PostgreSQL at ``MLGRAPH_TEST_DATABASE_URL`` (default the local server), always:
  an unreachable PostgreSQL fails the run with a clear message; nothing is skipped.
* One fresh database per test session and backend, migrated with Alembic (so migrations are
  exercised on both), tables emptied before each test.
* The app runs in a real uvicorn server on a loopback port; tests talk HTTP to it with httpx.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mlgraph.app import create_app
from mlgraph.app.websockets import uvicorn_ws
from mlgraph.auth.local_issuer import issue_token
from mlgraph.migrations import upgrade
from mlgraph.settings import Settings
from mlgraph.storage.db import Base, create_engine, create_sessions
from tests import factories

PG_URL = os.environ.get(
    "MLGRAPH_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
#: The principal the shared test client acts as: a platform ADMIN.
ADMIN = "admin@example.com"


@dataclass
class SqlCounter:
    """Counts statements sent to the database (``before_cursor_execute``)."""

    statements: list[str] = field(default_factory=list)
    active: bool = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.active:
            self.statements.append(statement)

    def start(self) -> None:
        self.statements.clear()
        self.active = True

    def stop(self) -> int:
        self.active = False
        return len(self.statements)


@dataclass
class Backend:
    name: str
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    sql: SqlCounter
    base_url: str = ""
    client: httpx.AsyncClient | None = None

    def token(self, subject: str, *, admin: bool = False) -> str:
        """A local-issuer token the server accepts (platform ADMIN if ``admin``)."""
        roles = self.settings.oidc_admin_roles[:1] if admin else []
        return issue_token(self.settings, subject=subject, roles=roles)

    def headers(self, subject: str, *, admin: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, admin=admin)}"}

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a GraphQL request; returns the whole JSON body (``data`` and ``errors``)."""
        assert self.client is not None
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST and assert there were no errors; returns ``data``."""
        body = await self.gql(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


async def require_postgres() -> None:
    """Fail (never skip) when the test PostgreSQL does not answer: the suite needs it."""
    try:
        conn = await asyncpg.connect(_dsn(PG_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_URL} ({error}); start it or point "
            "MLGRAPH_TEST_DATABASE_URL at one (see README)"
        )
    await conn.close()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_pg_database() -> str:
    name = f"mlgraph_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(app: Any, port: int = 0) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """Start ``app`` on a loopback port (free if 0), with the WebSocket implementation ``mlgraph
    serve`` uses by default; returns the server, its task and base URL."""
    defaults = Settings.model_fields
    ws = uvicorn_ws(defaults["live_ws_implementation"].default)
    deflate = defaults["live_ws_deflate"].default
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws=ws,
        ws_per_message_deflate=deflate,
        # The shared client lives as long as the session: a connection the server closed for
        # idling (5 s by default) raced the client's next request on it (httpx.ReadError).
        timeout_keep_alive=3600,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


async def open_backend(name: str, data_dir: Path, stack: AsyncExitStack) -> Backend:
    """A migrated database of ``name``'s kind with the app serving it; closed by ``stack``."""
    if name == "postgresql":
        await require_postgres()
        url = await create_pg_database()
        stack.push_async_callback(drop_pg_database, url)
    else:
        url = f"sqlite+aiosqlite:///{data_dir / 'test.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    port = free_port()
    # Live updates off in the shared app: live tests start their own instances (tests/live.py),
    # and a dispatcher of the shared app would dispatch their events too.
    # The whole suite acts as one principal: its rate limit is far above what the suite
    # spends (tests/test_rate_limits.py tests the limits on apps of their own).
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        gc_freeze=False,
        port=port,
        live_enabled=False,
        rollout_scheduler=False,  # rollout tests run schedulers of their own, on fake clocks
        rate_limit_points=10**9,
        # Tests compare answers, not speeds (tests/test_deadline.py sets its own): on a loaded
        # machine the resolver path's answer to a big `_entities` query passed the 10 s default.
        execution_deadline_s=120.0,
    )
    engine = create_engine(settings)
    stack.push_async_callback(engine.dispose)
    sql = SqlCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", sql)
    b = Backend(name, url, engine, create_sessions(engine), settings, sql)
    server, task, b.base_url = await serve(create_app(settings, engine=engine), port)
    stack.push_async_callback(stop, server, task)
    admin = b.headers(ADMIN, admin=True)
    b.client = await stack.enter_async_context(
        httpx.AsyncClient(base_url=b.base_url, timeout=30, headers=admin)
    )
    return b


@dataclass
class Backends:
    """Each kind's backend, opened on first use and kept to the session's end (``stack``)."""

    stack: AsyncExitStack
    data: pytest.TempPathFactory
    opened: dict[str, Backend] = field(default_factory=dict)

    async def get(self, name: str) -> Backend:
        if name not in self.opened:
            self.opened[name] = await open_backend(name, self.data.mktemp(name), self.stack)
        return self.opened[name]


@pytest.fixture(scope="session")
async def backends(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Backends]:
    """Not one parametrized fixture's instance per kind: pytest tears that down whenever the
    next test wants the other kind, and under xdist's ``--dist loadfile`` tests alternate kinds
    within a file, so the suite migrated and served fresh databases hundreds of times."""
    async with AsyncExitStack() as stack:
        yield Backends(stack, tmp_path_factory)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, backends: Backends) -> Backend:
    return await backends.get(request.param)


async def truncate(backend: Backend) -> None:
    """Empty every table, children first. DELETE, not TRUNCATE: on these small tables it takes
    10 ms where TRUNCATE (new files for 20 tables) took 450 ms, half the suite's time."""
    async with backend.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        await factories.follow_audit_rows(conn)  # on PostgreSQL: from 1 again


@pytest.fixture
async def db(backend: Backend) -> Backend:
    """``backend`` with every table emptied first."""
    await truncate(backend)
    return backend


OPERATIONS = Path(__file__).resolve().parent.parent / "graphql" / "operations"


@pytest.fixture(scope="session")
def dashboard_query() -> str:
    return (OPERATIONS / "dashboard.graphql").read_text()


@pytest.fixture(scope="module", autouse=True)
def _demo_rows_per_module() -> Iterator[None]:
    """``factories.demo`` replays its rows within one module only."""
    yield
    factories.forget_demo_rows()
