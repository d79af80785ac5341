"""Rate limits at the HTTP edge: the limiter's lifetime, the per-principal cap on requests in
flight, and GitHub's ``x-ratelimit-*`` headers (429 with ``Retry-After`` when refused).

The charge itself happens in the schema (``mlgraph.schema.cost``), on whichever read path
answers; it leaves its result on the request's ``Context``, which this middleware reads when the
response starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlgraph.auth.backends import PrincipalUser, error_body
from mlgraph.context import Context
from mlgraph.ratelimit import Buckets, Clock, MemoryBuckets, PostgresBuckets, Rate, RateLimiter
from mlgraph.schema.errors import UNAVAILABLE_ERRORS
from mlgraph.schema.ratelimit import rate_status
from mlgraph.settings import Settings
from mlgraph.storage.db import create_engine

log = logging.getLogger("mlgraph.ratelimit")

#: Where ``get_context`` leaves the request's Context for this middleware (``scope["state"]``).
CONTEXT_KEY = "mlgraph_context"


@asynccontextmanager
async def running_limiter(settings: Settings, clock: Clock) -> AsyncIterator[RateLimiter]:
    """This replica's limiter. On PostgreSQL the buckets are shared in the database and used
    through an engine of their own (two connections), so that bookkeeping never waits for, or
    shows up among, a request's statements; at shutdown the unspent reserve goes back."""
    rate = Rate(settings.rate_limit_points, settings.rate_limit_period_s)
    async with AsyncExitStack() as stack:
        buckets: Buckets
        chunk = 0
        if settings.is_postgresql:
            engine = create_engine(settings.model_copy(update={"db_pool_size": 2}))
            stack.push_async_callback(engine.dispose)
            buckets, chunk = PostgresBuckets(rate, engine), settings.rate_limit_chunk_points
        else:
            buckets = MemoryBuckets(rate)
        limiter = RateLimiter(
            buckets,
            rate,
            chunk=chunk,
            max_concurrent=settings.rate_limit_concurrency,
            clock=clock,
        )

        async def settle() -> None:
            try:
                await limiter.settle()
            except UNAVAILABLE_ERRORS as down:  # the reserve is lost: its points refill anyway
                log.warning("could not give the rate-limit reserve back: %r", down)

        stack.push_async_callback(settle)
        yield limiter


class RateLimitHeaders:
    """On ``path``, per authenticated principal: refuse a request over the concurrency cap
    (429, ``RATE_LIMITED``), and put the ``x-ratelimit-*`` headers on every response, with
    429 and ``Retry-After`` when the operation's charge was refused."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app, self.path = app, path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        state = scope.get("state", {})
        limiter, user = state.get("limiter"), scope.get("user")
        if (
            scope["type"] != "http"
            or scope["path"] != self.path
            or not isinstance(limiter, RateLimiter)
            or not isinstance(user, PrincipalUser)
        ):
            return self.app(scope, receive, send)  # a WebSocket keeps no frame of this one
        return self._limited(scope, receive, send, state, limiter, user)

    async def _limited(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: dict[str, Any],
        limiter: RateLimiter,
        user: PrincipalUser,
    ) -> None:
        key = user.principal.id
        if not limiter.enter(key):
            status = limiter.status(key, retry_after=1)
            message = f"over {limiter.max_concurrent} requests in flight; retry shortly"
            body = error_body(message, state.get("request_id"), "RATE_LIMITED")
            await JSONResponse(body, 429, headers=status.headers())(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                context = state.get(CONTEXT_KEY)
                rate = rate_status(context) if isinstance(context, Context) else None
                rate = rate or limiter.status(key)
                if rate.refused:
                    message["status"] = 429
                headers = message.setdefault("headers", [])
                headers.extend((k.encode(), v.encode()) for k, v in rate.headers().items())
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            limiter.leave(key)
