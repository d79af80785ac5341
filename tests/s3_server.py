"""A real S3 HTTP endpoint for the tests: moto's server mode on a loopback port, behind a small
recording proxy that notes every request (method, key, start, end) and can slow one down or make
it fail, so tests can see what the app asks the store and when."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

BUCKET = "mlgraph-test"
DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "date", "server"}


@contextmanager
def moto_server(port: int) -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class Call:
    method: str
    key: str
    start: float
    end: float


@dataclass
class RecordingProxy:
    """Forwards to ``upstream``; ``delay`` slows object requests, ``faults`` maps a key to
    ``"deny"`` (403) or ``"hang"`` (answers after ``hang_s``)."""

    upstream: str
    delay: float = 0.0
    hang_s: float = 3.0
    faults: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        self.delay, self.faults, self.calls = 0.0, {}, []

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.forward, methods=_METHODS)])

    async def forward(self, request: Request) -> Response:
        start = time.monotonic()
        path = request.url.path
        key = unquote(path.split("/", 2)[2]) if path.count("/") >= 2 else ""
        try:
            fault = self.faults.get(key)
            if fault == "deny":
                return Response(DENIED, 403, media_type="application/xml")
            if fault == "hang":
                await asyncio.sleep(self.hang_s)
            elif key and self.delay:
                await asyncio.sleep(self.delay)
            return await self._upstream(request)
        except ClientDisconnect:  # the app gave up waiting (its timeout); nobody to answer
            return Response(status_code=499)
        finally:
            if key:
                self.calls.append(Call(request.method, key, start, time.monotonic()))

    async def _upstream(self, request: Request) -> Response:
        if self.client is None:
            self.client = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = await self.client.request(
            request.method,
            request.url.path,
            params=tuple(request.query_params.multi_items()),  # a tuple: a list is invariant
            headers=headers,
            content=await request.body(),
        )
        kept: dict[str, Any] = {
            k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP
        }
        return Response(answer.content, answer.status_code, headers=kept)


_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]
