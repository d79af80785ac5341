"""Webhook test helpers: a real receiver (uvicorn on a loopback port) that verifies every
signature with the ``standardwebhooks`` library, and an app instance allowed to reach it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.uow import unit_of_work
from tests import factories as f
from tests.conftest import Backend, free_port, serve, stop
from tests.live import Instance, instance, until

FAST = {
    "webhook_allow_http": True,
    "webhook_retry_schedule_s": [0.3, 0.3, 0.3],
    "webhook_retry_jitter": 0.0,
    "webhook_poll_interval_s": 0.05,
}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


@dataclass
class Receiver:
    """Answers with ``script`` (status codes, then 200) and verifies with ``secrets``."""

    port: int
    secrets: list[str] = field(default_factory=list)
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay_s: float = 0.0  # how long each answer takes
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verify(self, body: bytes, headers: dict[str, str], secret: str | None = None) -> bool:
        for candidate in [secret] if secret else self.secrets:
            try:
                StandardWebhook(candidate).verify(body, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        loop = asyncio.get_running_loop()
        self.received.append(Received(headers, body, self.verify(body, headers), loop.time()))
        answer = self.script.pop(0) if self.script else 200
        await asyncio.sleep(self.delay_s)
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        return Response(f"status {status}", status_code=status, headers=extra)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])
        self.server, self.task, _ = await serve(app, self.port)

    async def stop(self) -> None:
        assert self.server is not None
        assert self.task is not None
        await stop(self.server, self.task)
        self.server = self.task = None


@asynccontextmanager
async def receiving(db: Backend, **overrides: Any) -> AsyncIterator[tuple[Instance, Receiver]]:
    """A started receiver and an app instance (deliverer running) allowed to reach it."""
    receiver = Receiver(free_port())
    await receiver.start()
    settings = {**FAST, "webhook_allow_loopback": f"127.0.0.1:{receiver.port}", **overrides}
    try:
        async with instance(db, **settings) as inst:
            yield inst, receiver
    finally:
        if receiver.server is not None:
            await receiver.stop()


async def project(db: Backend) -> m.Project:
    p = f.project()
    async with db.sessions() as s, s.begin():
        s.add(p)
    return p


async def create_webhook(
    inst: Instance, p: m.Project, url: str, event_types: list[str], **more: Any
) -> dict[str, Any]:
    return await inst.mutate(
        "createWebhook",
        {"projectId": encode_global_id("Project", p.id), "url": url, "eventTypes": event_types}
        | more,
        "webhook { id revision enabled } secret",
    )


async def emit(db: Backend, p: m.Project, topic: str = "alert.fired", **payload: Any) -> uuid.UUID:
    """Commit one outbox event (as a resolver would); returns its event id."""
    async with unit_of_work(db.sessions, actor="test", request_id="test") as tx:
        tx.emit(topic, "Alert", uuid.uuid4(), p.id, {"severity": "CRITICAL", **payload})
        event = tx.events[-1]
    return event.event_id


async def deliveries(db: Backend) -> list[m.WebhookDelivery]:
    async with db.sessions() as s:
        return list((await s.scalars(select(m.WebhookDelivery))).all())


async def settled(db: Backend, count: int, within_s: float = 15.0) -> list[m.WebhookDelivery]:
    """Wait until ``count`` deliveries exist and none is pending."""
    found: list[m.WebhookDelivery] = []

    async def check() -> bool:
        nonlocal found
        found = await deliveries(db)
        return len(found) >= count and all(d.status.value != "PENDING" for d in found)

    async with asyncio.timeout(within_s):
        while not await check():  # noqa: ASYNC110 - the state lives in the database
            await asyncio.sleep(0.05)
    return found


__all__ = ["until"]
