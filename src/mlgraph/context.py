"""The typed per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mlgraph.auth.principal import Principal
from mlgraph.loaders import Loaders
from mlgraph.loaders.objects import ObjectLoaders
from mlgraph.ratelimit import Clock, Estimate, RateLimiter, RateStatus
from mlgraph.settings import Settings
from mlgraph.storage.objects import ObjectStore
from mlgraph.storage.reads import IssuedDownload
from mlgraph.storage.uow import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from mlgraph.live.connection import LiveConnection


@dataclass
class Context:
    principal: Principal
    loaders: Loaders
    request_id: str
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    objects: ObjectStore
    stored: ObjectLoaders
    idempotency_key: str | None = None
    #: Set on WebSocket and SSE requests: the live connection subscriptions run on.
    live: LiveConnection | None = None
    #: The ``connection_init`` payload of a WebSocket (strawberry fills it in).
    connection_params: dict[str, Any] | None = None
    #: The caller's well-formed W3C ``traceparent`` (or ""), kept with the outbox events.
    traceparent: str = ""
    #: This replica's rate limiter (None: no limits, e.g. a schema run outside the app).
    limiter: RateLimiter | None = None
    #: The operation's cost estimate and its charge, set before it runs (``schema.cost``); the
    #: response reports them (``extensions.cost``, ``x-ratelimit-*``) whichever path answers.
    cost: Estimate | None = None
    rate: RateStatus | None = None
    #: Set on HTTP requests when compiled reads are on (PostgreSQL): the engine a compiled
    #: statement runs on (``compiled.reads.CompiledReads``); None keeps the resolver path.
    compiled_engine: AsyncEngine | None = None
    #: Which read path answered: ``"compiled"`` or ``"resolver"``.
    plan: str = "resolver"
    #: The client's network address (HTTP and WebSocket requests), for the read audit.
    client_address: str = ""
    #: Artifact download URLs issued so far, recorded after execution (``schema.readaudit``).
    downloads: list[IssuedDownload] = field(default_factory=list)
    #: The app's clock (``create_app(clock=...)``): rollout steps are timed by it.
    clock: Clock = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def uow(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction for a mutation's rows, audit entry and outbox event."""
        return unit_of_work(
            self.sessions,
            actor=self.principal.id,
            request_id=self.request_id,
            traceparent=self.traceparent,
        )

    @classmethod
    def create(
        cls,
        *,
        principal: Principal,
        request_id: str,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        objects: ObjectStore,
        idempotency_key: str | None = None,
        traceparent: str = "",
        limiter: RateLimiter | None = None,
        client_address: str = "",
        clock: Clock = time.time,
    ) -> Context:
        """A context with fresh loaders bound to this principal's visibility."""
        loaders = Loaders(sessions, principal.visible_projects())
        stored = _object_loaders(objects, settings)
        return cls(
            principal,
            loaders,
            request_id,
            settings,
            sessions,
            objects,
            stored,
            idempotency_key,
            traceparent=traceparent,
            limiter=limiter,
            client_address=client_address,
            clock=clock,
        )

    def for_event(self, principal: Principal) -> Context:
        """A copy for one subscription event (or opening one): this principal, fresh loaders
        and a fresh object-store cache; the socket's own context is never changed."""
        return replace(
            self,
            principal=principal,
            loaders=Loaders(self.sessions, principal.visible_projects()),
            stored=_object_loaders(self.objects, self.settings),
            downloads=[],
        )


def _object_loaders(objects: ObjectStore, settings: Settings) -> ObjectLoaders:
    return ObjectLoaders(
        objects,
        concurrency=settings.object_concurrency,
        timeout_s=settings.object_timeout_s,
        max_read_bytes=settings.max_report_bytes,
    )
