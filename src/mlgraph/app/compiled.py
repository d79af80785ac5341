"""The compiled path at the HTTP edge: pass PostgreSQL's JSON text through, and tell which path
answered in the ``x-mlgraph-plan`` response header (the path runs in ``compiled.reads``)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlgraph.compiled.reads import RESOLVER

HEADER = "x-mlgraph-plan"


class PlanHeader:
    """Put ``x-mlgraph-plan: resolver`` on every response of ``path`` that does not say which
    path answered (401s, 400s, GraphiQL); GraphQL responses carry their own."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app, self.path = app, path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["path"] != self.path:
            return self.app(scope, receive, send)  # a WebSocket keeps no frame of this one
        return self._with_plan(scope, receive, send)

    async def _with_plan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_plan(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == HEADER.encode() for name, _ in headers):
                    headers.append((HEADER.encode(), RESOLVER.encode()))
            await send(message)

        await self.app(scope, receive, send_with_plan)
