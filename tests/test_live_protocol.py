"""WebSocket bad input, authentication and authorisation, on a raw websockets client (so the
test sees exactly what the server sends and the close codes it uses)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mlgraph.auth import api_keys
from mlgraph.auth.local_issuer import issue_token
from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from mlgraph.storage.uow import unit_of_work
from tests import factories as f
from tests.conftest import ADMIN, Backend
from tests.live import LEGACY_WS, TRANSPORT_WS, Instance, instance, subscribed

SUBSCRIBE_PROJECT_JOBS = "subscription($p: ID!) { jobUpdated(projectId: $p) { cursor status } }"
PROJECT_JOBS = "subscription($p: ID!) { jobUpdated(projectId: $p) { job { id } } }"


@pytest.fixture(scope="module")
async def server(backend: Backend) -> AsyncIterator[Instance]:
    # The periodic credential re-check stays at its default (30 s): what these tests see
    # comes from the token's expiry timer and from outbox events (revocation, role change).
    async with instance(
        backend,
        oidc_leeway_s=0,
        live_max_subscriptions=2,
        live_max_message_bytes=4096,
        live_init_timeout_s=1.0,
    ) as inst:
        yield inst


@pytest.fixture
async def app(server: Instance) -> Instance:
    return await server.fresh()


async def open_ws(
    app: Instance, protocol: str = TRANSPORT_WS, headers: dict[str, str] | None = None
) -> ClientConnection:
    return await connect(app.ws_url, subprotocols=[protocol], additional_headers=headers)  # type: ignore[list-item]


async def send(ws: ClientConnection, message: Any) -> None:
    await ws.send(message if isinstance(message, str) else json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        message: dict[str, Any] = json.loads(await ws.recv())
        return message


async def closed(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed as gone:
        frame = gone.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def init(ws: ClientConnection, payload: dict[str, Any]) -> dict[str, Any]:
    await send(ws, {"type": "connection_init", "payload": payload})
    return await receive(ws)


def bearer(app: Instance, subject: str = ADMIN, *, admin: bool = True, **kw: Any) -> dict[str, str]:
    roles = app.settings.oidc_admin_roles[:1] if admin else []
    return {
        "Authorization": f"Bearer {issue_token(app.settings, subject=subject, roles=roles, **kw)}"
    }


def subscribe(op_id: str, project_id: str, query: str = SUBSCRIBE_PROJECT_JOBS) -> dict[str, Any]:
    return {
        "id": op_id,
        "type": "subscribe",
        "payload": {"query": query, "variables": {"p": project_id}},
    }


async def project(app: Instance) -> tuple[Any, str]:
    p = f.project()
    await f.save(app.backend.sessions, p)
    return p, encode_global_id("Project", p.id)


async def still_serving(app: Instance) -> None:
    """Another client still gets a working connection."""
    ws = await open_ws(app)
    assert (await init(ws, bearer(app)))["type"] == "connection_ack"
    await ws.close()


# --- protocol misuse -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        pytest.param([{"type": "shout"}], 4400, id="unknown-type"),
        pytest.param(["{not json"], 4400, id="malformed-json"),
        pytest.param(["[1, 2]"], 4400, id="not-an-object"),
        pytest.param([{"type": "subscribe", "id": "1", "payload": "x"}], 4400, id="bad-payload"),
        pytest.param(["x" * 5000], 1009, id="oversized"),
    ],
)
async def test_bad_messages_close_with_the_protocol_code(
    server: Instance, messages: list[Any], code: int
) -> None:
    app = server  # no rows needed
    ws = await open_ws(app)
    for message in messages:
        await send(ws, message)
    assert (await closed(ws))[0] == code
    await still_serving(app)


async def test_subscribe_before_init_is_unauthorized(app: Instance) -> None:
    _, pid = await project(app)
    ws = await open_ws(app)
    await send(ws, subscribe("1", pid))
    assert await closed(ws) == (4401, "Unauthorized")


async def test_duplicate_ids_and_the_subscription_limit(app: Instance) -> None:
    _, pid = await project(app)
    ws = await open_ws(app)
    assert (await init(ws, bearer(app)))["type"] == "connection_ack"
    await send(ws, subscribe("a", pid))
    await send(ws, subscribe("b", pid))
    await send(ws, subscribe("c", pid))  # the limit is 2 per connection
    error = await receive(ws)
    assert (error["id"], error["type"]) == ("c", "error")
    assert "limit" in error["payload"][0]["message"]
    await send(ws, subscribe("a", pid))
    assert (await closed(ws))[0] == 4409
    await still_serving(app)


async def test_no_init_within_the_timeout_closes(server: Instance) -> None:
    app = server
    ws = await open_ws(app)
    assert (await closed(ws))[0] == 4408


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_init_without_or_with_bad_credentials_is_refused(
    app: Instance, protocol: str
) -> None:
    for payload in ({}, {"Authorization": "Bearer not-a-token"}, {"apiKey": "mlg_nope_x"}):
        ws = await open_ws(app, protocol)
        await send(ws, {"type": "connection_init", "payload": payload})
        if protocol == LEGACY_WS:
            assert (await receive(ws))["type"] == "connection_error"
        code, _ = await closed(ws)
        assert code == (4403 if protocol == TRANSPORT_WS else 1011)


async def test_credentials_in_the_upgrade_headers_are_enough(app: Instance) -> None:
    ws = await open_ws(app, headers=bearer(app))
    assert (await init(ws, {}))["type"] == "connection_ack"
    await ws.close()


async def test_expired_token_closes_the_connection_with_4401(app: Instance) -> None:
    ws = await open_ws(app)
    assert (await init(ws, bearer(app, ttl_s=3)))["type"] == "connection_ack"
    code, reason = await closed(ws)
    assert code == 4401
    assert "token" in reason


async def test_revoked_api_key_closes_the_connection_with_4403(app: Instance) -> None:
    _, pid = await project(app)
    created = await app.mutate(
        "createApiKey", {"projectId": pid, "name": "dash", "role": "VIEWER"}, "apiKey { id } secret"
    )
    ws = await open_ws(app)
    assert (await init(ws, {"apiKey": created["secret"]}))["type"] == "connection_ack"
    await send(ws, subscribe("1", pid))
    await asyncio.sleep(0.1)
    await app.mutate("revokeApiKey", {"apiKeyId": created["apiKey"]["id"]}, "apiKey { id }")
    code, reason = await closed(ws)
    assert code == 4403
    assert "revoked" in reason


# --- authorisation ---------------------------------------------------------------------------


def member(project_id: uuid.UUID, subject: str) -> m.ProjectMember:
    return m.ProjectMember(
        id=uuid.uuid4(), project_id=project_id, principal_id=subject, role=Role.VIEWER
    )


async def test_subscribing_to_a_project_without_a_role_is_forbidden(app: Instance) -> None:
    mine, _ = await project(app)
    _, theirs = await project(app)
    key = f.api_key(mine.id, role=Role.VIEWER)
    secret = "mlg_" + "k" * 10 + "_s3cret"
    key.prefix, key.secret_hash = secret[:14], api_keys.digest("s3cret")
    await f.save(app.backend.sessions, key)
    # a user token without membership, and an API key of another project
    for payload in (bearer(app, "nobody@example.com", admin=False), {"apiKey": secret}):
        ws = await open_ws(app)
        assert (await init(ws, payload))["type"] == "connection_ack"
        await send(ws, subscribe("1", theirs))
        message = await receive(ws)
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await receive(ws))["type"] == "complete"
        await ws.close()


async def test_only_events_of_projects_one_has_a_role_in_are_pushed(app: Instance) -> None:
    # given a member of project A subscribed to A's jobs over the whole connection
    pa, a = await project(app)
    pb, _ = await project(app)
    subject = "member@example.com"
    await f.save(app.backend.sessions, member(pa.id, subject))
    ws = await open_ws(app)
    assert (await init(ws, bearer(app, subject, admin=False)))["type"] == "connection_ack"
    await send(ws, subscribe("1", a, PROJECT_JOBS))
    await subscribed(app)
    # when jobs start in B, then in A
    started = []
    for p in (pb, pa):
        pl = f.pipeline(p)
        await f.save(app.backend.sessions, pl)
        job = await app.mutate(
            "startPipelineRun", {"pipelineId": encode_global_id("Pipeline", pl.id)}, "job { id }"
        )
        started.append(job["job"]["id"])
    # then only A's job arrives
    message = await receive(ws)
    assert message["type"] == "next", message
    assert message["payload"]["data"]["jobUpdated"]["job"]["id"] == started[1]
    # and when the membership is removed, the subscription ends with FORBIDDEN at the next event
    await app.mutate(
        "removeProjectMember", {"projectId": a, "principalId": subject}, "project { id }"
    )
    await asyncio.sleep(0.3)  # the removal's event makes the connection re-read its roles
    pl = f.pipeline(pa)
    await f.save(app.backend.sessions, pl)
    await app.mutate(
        "startPipelineRun", {"pipelineId": encode_global_id("Pipeline", pl.id)}, "job { id }"
    )
    message = await receive(ws)
    assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await ws.close()


async def test_graphiql_sends_its_headers_in_connection_init(server: Instance) -> None:
    # GraphiQL's headers (the dev sign-in's and the tab's) become the connection_init payload,
    # so subscriptions run in GraphiQL authenticate like its queries. (Checked here on the
    # script the server serves; tests/test_front_door.py runs one in a browser.)
    page = await server.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '<script src="/static/graphiql.js">' in page.text
    script = await server.client.get("/static/graphiql.js")
    assert "wsConnectionParams: () => Object.assign({}, devHeaders, tabHeaders)" in script.text


async def test_a_client_that_stops_reading_is_dropped_as_a_slow_consumer(
    backend: Backend,
) -> None:
    # given a subscriber whose client stops reading, on a server with a 4-event queue, and
    # events of ~60 kB each (the job's parameters), so socket buffers fill after a few
    async with instance(backend, live_queue_size=4) as app:
        p = f.project()
        pl = f.pipeline(p)
        j = f.job(pl, parameters={"blob": "x" * 60_000})
        await f.save(app.backend.sessions, p, pl, j)
        await app.reset()
        query = "subscription($p: ID!) { jobUpdated(projectId: $p) { cursor job { parameters } } }"
        ws = await connect(app.ws_url, subprotocols=["graphql-transport-ws"], max_queue=1)  # type: ignore[list-item]
        assert (await init(ws, bearer(app)))["type"] == "connection_ack"
        await send(ws, subscribe("1", encode_global_id("Project", p.id), query))
        await subscribed(app)
        # when many events are committed while the client reads nothing
        for i in range(600):
            async with unit_of_work(app.backend.sessions, actor="t", request_id="r") as tx:
                tx.emit(
                    "job.updated", "Job", j.id, p.id, {"status": "RUNNING", "progress": i / 200}
                )
            await asyncio.sleep(0.001)  # let the hub and the sender run
            if app.live.hub.subscriber_count == 0:
                break
        # then the server drops it, saying why, and other clients are unaffected
        code, reason = await closed(ws)
        assert code == 1008
        assert reason.startswith("slow consumer")
        await still_serving(app)


async def test_a_directly_written_next_message_is_what_strawberry_would_send(
    app: Instance,
) -> None:
    # given two graphql-transport-ws clients (direct delivery) and a graphql-ws client
    # (strawberry's own chain) subscribed to a project's jobs with one selection, one of the
    # operation ids needing JSON escapes
    p, pid = await project(app)
    direct = [await open_ws(app), await open_ws(app)]
    chain = await open_ws(app, LEGACY_WS)
    for ws in [*direct, chain]:
        assert (await init(ws, bearer(app)))["type"] == "connection_ack"
    ids = ['op "1" é', "2"]
    for ws, op_id in zip(direct, ids, strict=True):
        await send(ws, subscribe(op_id, pid, PROJECT_JOBS))
    await send(chain, {**subscribe("c", pid, PROJECT_JOBS), "type": "start"})
    await subscribed(app, 3)
    hub = app.live.hub
    computed, shared, written = hub.renders.computed, hub.renders.shared, hub.written
    # when a job starts
    pl = f.pipeline(p)
    await f.save(app.backend.sessions, pl)
    await app.mutate(
        "startPipelineRun", {"pipelineId": encode_global_id("Pipeline", pl.id)}, "job { id }"
    )
    # then each transport-ws client gets exactly the bytes strawberry's handler would have
    # encoded for the payload strawberry's chain delivered
    async with asyncio.timeout(5):
        texts = [await ws.recv() for ws in direct]
    payload = (await receive(chain))["payload"]
    assert payload["data"]["jobUpdated"]["job"]["id"]
    for text, op_id in zip(texts, ids, strict=True):
        expected = {"id": op_id, "type": "next", "payload": payload}
        assert text == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    # and the event was executed once and its payload encoded once, for both direct
    # subscribers (the hub wrote their frames; the second operation id's group shared the
    # payload), and the chain's execution shared the result
    assert (hub.renders.computed - computed, hub.renders.shared - shared) == (2, 2)
    assert hub.written - written == 2
    for ws in [*direct, chain]:
        await ws.close()


async def test_connections_with_one_credential_share_its_check(app: Instance) -> None:
    # given one user's token
    headers = bearer(app, "dashboards@example.com")
    checks = app.live.hub.credentials
    ran = checks.ran
    # when three of its dashboards connect at once
    sockets = [await open_ws(app) for _ in range(3)]
    acks = await asyncio.gather(*(init(ws, headers) for ws in sockets))
    # then all are accepted on one check of the token (and its roles)
    assert [a["type"] for a in acks] == ["connection_ack"] * 3
    assert checks.ran - ran == 1
    # and another user's token is checked on its own
    other = await open_ws(app)
    assert (await init(other, bearer(app, "other@example.com")))["type"] == "connection_ack"
    assert checks.ran - ran == 2
    for ws in [*sockets, other]:
        await ws.close()
