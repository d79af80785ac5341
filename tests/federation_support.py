"""The federated topology for tests: a fresh PostgreSQL database with the demo data, the
subgraphs and Hive Gateway started by the launcher a person uses (``mlgraph federation up``),
and the combined app beside them on the same database, to compare answers with."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.app import create_app
from mlgraph.auth.local_issuer import issue_token
from mlgraph.federated.launcher import Federation, federation
from mlgraph.federated.layout import Layout, load_layout
from mlgraph.federated.plumbing import graph_schema
from mlgraph.migrations import upgrade
from mlgraph.seed import seed_demo, seed_demo_objects
from mlgraph.settings import Settings
from mlgraph.storage.db import create_engine, create_sessions
from mlgraph.storage.objects import open_store
from tests.conftest import (
    create_pg_database,
    drop_pg_database,
    free_port,
    require_postgres,
    serve,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin@example.com"


@dataclass
class Topology:
    layout: Layout
    running: Federation
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    combined_url: str

    @property
    def gateway_url(self) -> str:
        return self.running.gateway_url

    @property
    def gateway_ws_url(self) -> str:
        return self.gateway_url.replace("http://", "ws://")

    def headers(self, subject: str = ADMIN, *, admin: bool = True) -> dict[str, str]:
        roles = self.settings.oidc_admin_roles[:1] if admin else []
        return {
            "Authorization": f"Bearer {issue_token(self.settings, subject=subject, roles=roles)}"
        }


async def post(
    url: str, query: str, variables: dict[str, Any] | None, headers: dict[str, str]
) -> dict[str, Any]:
    """One GraphQL POST; the answer (``data`` and ``errors``). ``extensions`` are left out:
    they are each server's own (the combined process's ``cost``; a gateway reports none)."""
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        response = await client.post(url, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body.pop("extensions", None)
    return body


def subgraph_env(settings: Settings) -> dict[str, str]:
    """This environment without the developer's MLGRAPH_ settings, plus the test database's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")}
    return env | {
        "MLGRAPH_DATABASE_URL": settings.effective_database_url,
        "MLGRAPH_DATA_DIR": str(settings.data_dir),
        "MLGRAPH_GC_FREEZE": "false",
        "MLGRAPH_LIVE_POLL_INTERVAL_S": "0.5",
        "MLGRAPH_LOG_LEVEL": "WARNING",
    }


@asynccontextmanager
async def topology(data_dir: Path) -> AsyncIterator[Topology]:
    await require_postgres()
    url = await create_pg_database()
    engine = None
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            database_url=url, data_dir=data_dir, gc_freeze=False, live_enabled=False
        )
        engine = create_engine(settings)
        sessions = create_sessions(engine)
        await seed_demo(sessions)
        async with open_store(settings) as store:
            await seed_demo_objects(sessions, store)
        issue_token(settings, subject=ADMIN)  # the signing key exists before the subgraphs start
        layout = load_layout(ROOT)
        ports = {sub.name: free_port() for sub in layout.subgraphs}
        server, task, combined = await serve(create_app(settings, engine=engine))
        try:
            async with federation(
                layout,
                data_dir / "federation",
                env=subgraph_env(settings),
                ports=ports,
                gateway_port=free_port(),
                say=lambda _: None,
            ) as running:
                yield Topology(layout, running, settings, sessions, f"{combined}/graphql")
        finally:
            await stop(server, task)
    finally:
        if engine is not None:
            await engine.dispose()
        await drop_pg_database(url)


def node_queries(schema: GraphQLSchema, per_query: int = 15) -> list[tuple[str, list[str]]]:
    """``query($t0: ID!, ...) { t0: node(id: $t0) { __typename ... on Alert { <fields> } } ... }``,
    one ``node`` per Node type (in name order) selecting its argument-free scalar fields and the
    ids of the entities it refers to, ``per_query`` of them (aliases) per query (the alias
    limit is 15). Returns each query and its type names, one per variable."""
    node = schema.get_type("Node")
    assert node is not None
    types = sorted(schema.get_possible_types(node), key=lambda t: t.name)  # type: ignore[arg-type]
    queries = []
    for start in range(0, len(types), per_query):
        chunk = list(enumerate(types))[start : start + per_query]
        variables = ", ".join(f"$t{i}: ID!" for i, _ in chunk)
        fields = " ".join(
            f"t{i}: node(id: $t{i}) {{ __typename ... on {t.name} {{ {_selection(t, node)} }} }}"
            for i, t in chunk
        )
        queries.append((f"query Every({variables}) {{ {fields} }}", [t.name for _, t in chunk]))
    return queries


def _selection(t: GraphQLObjectType, node: Any) -> str:
    parts = []
    for name, f in t.fields.items():
        target = get_named_type(f.type)
        if f.args:
            continue
        if is_leaf_type(target):
            parts.append(name)
        elif isinstance(target, GraphQLObjectType) and node in target.interfaces:
            parts.append(f"{name} {{ id }}")
    return " ".join(parts)


def combined_graph() -> GraphQLSchema:
    return graph_schema((ROOT / "graphql" / "schema.graphql").read_text())


class Subscription:
    """One graphql-transport-ws operation on its own connection (the ``websockets`` client)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def message(self, within_s: float = 10.0) -> dict[str, Any]:
        """The next message but pings (answered)."""
        async with asyncio.timeout(within_s):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message["type"] != "ping":
                    return message
                await self.ws.send(json.dumps({"type": "pong"}))

    async def next(self, within_s: float = 10.0) -> dict[str, Any]:
        """The next ``next`` payload (an ``error`` or ``complete`` fails the test)."""
        message = await self.message(within_s)
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        return payload


@asynccontextmanager
async def subscribe(
    url: str, query: str, variables: dict[str, Any], init: dict[str, str]
) -> AsyncIterator[Subscription]:
    async with websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        payload = {"query": query, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield Subscription(ws)


@asynccontextmanager
async def relay(port: int, target_port: int) -> AsyncIterator[None]:
    """A TCP relay from loopback ``port`` to ``target_port``: a subgraph that comes up late."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        yield
