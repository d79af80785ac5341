"""Telemetry at the HTTP edge: the request's span and log context, and ``GET /metrics``.

Every HTTP request runs inside a SERVER span named ``<method> <route>`` whose parent is the
caller's ``traceparent`` (``RequestId`` checked it), so an operation's span, its loader batches
and SQL statements, and anything before them (authentication) are one trace, joined to the
caller's. Its request id is the log context of every line logged while it runs. A WebSocket
connection gets the log context only: its operations make their own spans
(``schema/telemetry.py``).

``/metrics`` is an operations endpoint: it answers only ``Authorization: Bearer`` with
``MLGRAPH_METRICS_TOKEN`` (the scraper's credential; compared in constant time), and is not
served at all while that setting is empty. It is answered here, ahead of authentication, so the
scraper needs no principal and no API key.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable

from opentelemetry.trace import SpanKind
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlgraph.live.events import undispatched
from mlgraph.settings import Settings
from mlgraph.telemetry import metrics, tracing
from mlgraph.telemetry.logs import REQUEST_ID

log = logging.getLogger("mlgraph.telemetry")
METRICS_PATH = "/metrics"
_ROUTES = {"/graphql", "/healthz", "/readyz", "/"}


class Telemetry:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.token = settings.metrics_token.get_secret_value().encode()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            # The connection's own task (uvicorn's) keeps the id to its end; no frame of
            # this middleware stays for the connection's life.
            REQUEST_ID.set(scope["state"]["request_id"])
            return self.app(scope, receive, send)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        reset = REQUEST_ID.set(state["request_id"])
        try:
            if not self.settings.telemetry:
                await self.app(scope, receive, send)
            elif scope["path"] == METRICS_PATH:
                await self._metrics(scope, receive, send)
            else:
                await self._traced(scope, receive, send, state["traceparent"])
        finally:
            REQUEST_ID.reset(reset)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, traceparent: str) -> None:
        method, path = scope["method"], scope["path"]
        route = (
            path if path in _ROUTES else "/objects/{key}" if path.startswith("/objects/") else ""
        )
        attributes = {"http.request.method": method, "url.path": path, "http.route": route}
        with tracing.span(
            f"{method} {route}".strip(),
            attributes,
            kind=SpanKind.SERVER,
            parent=tracing.caller_context(traceparent),
        ) as span:

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status == 429:
                        metrics.RATE_LIMITED.inc()
                    elif status >= 500:
                        tracing.set_error(span, str(status))
                await send(message)

            await self.app(scope, receive, send_and_note)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        if not self.token:
            response = JSONResponse({"error": "not found"}, 404)
        elif scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
            response = JSONResponse(
                {"error": "/metrics needs the metrics token (MLGRAPH_METRICS_TOKEN)"},
                401,
                headers={"www-authenticate": "Bearer"},
            )
        else:
            try:
                outbox = await undispatched(scope["state"]["sessions"])
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("metrics: the outbox is unreachable (%r)", exc)
                outbox = None
            body = metrics.exposition(outbox)
            response = Response(body, media_type=metrics.CONTENT_TYPE_LATEST)
        await response(scope, receive, send)
