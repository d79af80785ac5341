"""Helpers for live-update tests: an app of our own per test module (custom live settings),
gql WebSocket clients of both protocols, an SSE reader, and a few write helpers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from mlgraph.app import create_app
from mlgraph.live.runtime import Live
from mlgraph.ratelimit import Clock
from mlgraph.settings import Settings
from tests.conftest import ADMIN, Backend, serve, stop, truncate

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws"
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws"
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]

JOB_UPDATED = """
subscription($p: ID!, $j: ID, $after: String) {
  jobUpdated(projectId: $p, jobId: $j, after: $after) {
    cursor eventId topic status progress job { id status }
  }
}"""
ALERT_FIRED = """
subscription($p: ID!, $after: String) {
  alertFired(projectId: $p, after: $after) {
    cursor eventId topic status alert { id status severity value rule { id } }
  }
}"""
DEPLOYMENT_EVENTS = """
subscription($p: ID!, $d: ID, $after: String) {
  deploymentEvents(projectId: $p, deploymentId: $d, after: $after) {
    cursor eventId kind deployment { id name } event { kind message }
  }
}"""


@dataclass
class Instance:
    """One app instance served by uvicorn on a loopback port."""

    backend: Backend
    settings: Settings
    app: Starlette
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]
    client: httpx.AsyncClient

    @property
    def live(self) -> Live:
        live: Live = self.app.state.live
        return live

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    async def mutate(self, name: str, input: dict[str, Any], selection: str) -> dict[str, Any]:
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ {selection} userErrors {{ field message code }} }} }}"
        )
        payload: dict[str, Any] = (await self.data(query, {"input": input}))[name]
        assert payload["userErrors"] == [], payload
        return payload

    async def _drain(self) -> None:
        """Wait until every event committed so far is dispatched (a round in flight ends)."""
        await self.live.hub.ready()
        while await self.live.dispatcher.dispatch_once():
            pass

    async def reset(self) -> None:
        """Tail the outbox from its end: what was committed before is not live for new
        subscribers (after the tables were emptied, too)."""
        await self._drain()
        await self.live.hub.tail_from_end()

    async def fresh(self) -> Instance:
        """This instance with every table emptied, tailing the outbox from its end. Events an
        earlier test left undispatched are dispatched first: a round of them ending after the
        emptying would announce positions that new events (from 1 again on SQLite) must pass."""
        await self._drain()
        await truncate(self.backend)
        await self.live.hub.tail_from_end()
        return self


def live_settings(backend: Backend, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": backend.url,
        "data_dir": backend.settings.data_dir,
        "gc_freeze": False,
        "live_poll_interval_s": 0.5,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def instance(
    backend: Backend, clock: Clock = time.time, **overrides: Any
) -> AsyncIterator[Instance]:
    settings = live_settings(backend, **overrides)
    app = create_app(settings, clock=clock)
    server, task, base_url = await serve(app)
    headers = backend.headers(ADMIN, admin=True)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
        try:
            yield Instance(backend, settings, app, base_url, server, task, client)
        finally:
            await stop(server, task)


def ws_client(
    inst: Instance,
    protocol: str,
    *,
    token: str | None = None,
    init_payload: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Client:
    if init_payload is None:
        token = token or inst.backend.token(ADMIN, admin=True)
        init_payload = {"Authorization": f"Bearer {token}"}
    transport = WebsocketsTransport(
        url=inst.ws_url,
        init_payload=init_payload,
        subprotocols=[protocol],
        headers=headers,
        ack_timeout=5,
        close_timeout=2,
    )
    return Client(transport=transport, fetch_schema_from_transport=False)


async def collect(
    client: Client, document: str, variables: dict[str, Any], n: int, into: list[Any]
) -> None:
    """Subscribe and append results to ``into`` until ``n`` arrived."""
    async with client as session:
        request = GraphQLRequest(document, variable_values=variables)
        async for result in session.subscribe(request):
            into.append(result)
            if len(into) >= n:
                return


async def until(predicate: Any, within_s: float = 10.0) -> None:
    """Wait until ``predicate()`` holds (checked every 20 ms; the server runs in this loop)."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - the state lives in another component
            await asyncio.sleep(0.02)


async def subscribed(inst: Instance, count: int = 1) -> None:
    """Wait until the hub has ``count`` subscribers (the subscription is registered)."""
    await until(lambda: inst.live.hub.subscriber_count >= count)


async def sse_events(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    n: int,
    into: list[tuple[str, Any]],
    headers: dict[str, str] | None = None,
) -> int:
    """POST a subscription with ``Accept: text/event-stream``; collect (event, data) frames
    until ``n`` arrived or the stream ended. Returns the HTTP status."""
    body = {"query": query, "variables": variables}
    h = {"Accept": "text/event-stream", **(headers or {})}
    async with client.stream("POST", "/graphql", json=body, headers=h) as response:
        if response.status_code != 200:
            await response.aread()
            into.append(("http", response.json()))
            return response.status_code
        event, data = "", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = line.removeprefix("data:").strip()
            elif line == "" and event:
                into.append((event, json.loads(data) if data else None))
                event, data = "", ""
                if len(into) >= n or into[-1][0] == "complete":
                    break
        return response.status_code
