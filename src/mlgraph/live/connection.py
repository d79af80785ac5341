"""One live connection (a WebSocket, or one SSE response): who it is, and how it ends.

The credential comes from ``connection_init``'s payload (``Authorization: Bearer …``,
``token`` or ``apiKey``/``X-Api-Key``) or, failing that, from the upgrade request's headers.
While the connection stays open the credential is checked again every
``live_auth_recheck_s``, right after a token's ``exp``, and at once when the outbox says the
connection's API key was revoked or its principal's project roles changed (on any replica):
an expired or refused token closes it with 4401, a revoked or expired API key with 4403.
Project roles are re-read at the same time; every pushed event is checked against them.

Connections that present the same credential share its checks (``CredentialChecks``, one per
replica): a check started less than half a re-check interval ago (and before the token's
expiry) answers for all of them, and the outbox events that trigger a re-check drop the
credential's shared answer first. 10,000 dashboards of one user cost a check per 15 s, not
333 checks a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.auth import api_keys
from mlgraph.auth.backends import (
    AuthenticationError,
    Authenticator,
    BackendUnavailable,
    unverified_claims,
)
from mlgraph.auth.principal import ANONYMOUS_READER, Principal
from mlgraph.auth.tokens import TokenVerifier
from mlgraph.live.events import LiveEvent
from mlgraph.live.hub import Hub, StreamEnded, Subscriber
from mlgraph.settings import Settings

log = logging.getLogger("mlgraph.live")
Close = Callable[[int, str], Awaitable[None]]

#: Close codes (graphql-transport-ws uses 44xx for its own; these follow its meaning).
UNAUTHORIZED, FORBIDDEN, POLICY_VIOLATION = 4401, 4403, 1008


#: Outbox topics that may change what a connection's credential allows, and the payload field
#: naming whom they concern (an API key's prefix, a member's principal id).
_CREDENTIAL_TOPICS = {"api_key.revoked": "prefix", "project.member.changed": "principalId"}


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def credential_from(params: Mapping[str, Any] | None) -> str | None:
    """The credential in a ``connection_init`` payload, if any."""
    if not params:
        return None
    lowered = {str(k).lower(): v for k, v in params.items()}
    auth = lowered.get("authorization")
    if isinstance(auth, str):
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for key in ("token", "apikey", "x-api-key"):
        given = lowered.get(key)
        if isinstance(given, str) and given.strip():
            return given.strip()
    return None


def header_credential(headers: Mapping[str, str]) -> str | None:
    """The credential of a request's headers (as the authentication middleware reads it)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get("x-api-key", "").strip() or None


def readable(principal: Principal | None, project_id: uuid.UUID | None) -> bool:
    """Whether ``principal`` may receive the events of ``project_id``."""
    if principal is None or project_id is None:
        return False
    visible = principal.visible_projects()
    return visible is None or project_id in visible


class LiveConnection:
    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        verifiers: dict[str, TokenVerifier],
        close: Close,
        *,
        header_credential: str | None = None,
        principal: Principal | None = None,
    ) -> None:
        """``close`` closes the transport (a WebSocket's ``close``; a no-op for SSE)."""
        self.hub, self.settings = hub, settings
        self._sessions, self._verifiers, self._close = sessions, verifiers, close
        self._credential = header_credential
        self.principal = principal
        self.closed: tuple[int, str] | None = None
        #: The next re-check (a timer, not a waiting task: ~2 KiB less per idle connection),
        #: the one running, and whether another is due as soon as it ends.
        self._timer: asyncio.TimerHandle | None = None
        self._checking: asyncio.Task[None] | None = None
        self._again = False
        #: The credential's ``exp`` claim, read once (None: an API key, or no ``exp``).
        self._expiry: tuple[str, float | None] | None = None
        #: The hub subscribers of this connection's running subscriptions.
        self.subscribers: set[Subscriber] = set()

    async def authenticate(self, params: Mapping[str, Any] | None) -> Principal:
        """Authenticate ``connection_init`` (its payload first, then the headers)."""
        credential = credential_from(params) or self._credential
        if credential is None:
            if self.settings.anonymous_read:
                self.principal = ANONYMOUS_READER
                return self.principal
            raise Refused(UNAUTHORIZED, "credentials required: a bearer token or an API key")
        self._credential = credential
        self.principal = await self._check(credential)
        self._schedule(credential)
        self.hub.listen(_CREDENTIAL_TOPICS, self._on_event)
        return self.principal

    def may_read(self, project_id: uuid.UUID | None) -> bool:
        return readable(self.principal, project_id)

    def overflow(self, reason: str) -> None:
        """A subscription's queue filled up: drop the connection, saying why."""
        asyncio.get_running_loop().create_task(self.close(POLICY_VIOLATION, reason))

    async def close(self, code: int, reason: str) -> None:
        """End every subscription of the connection, then close it (WebSocket close code;
        an SSE response just ends after its subscription's final error)."""
        if self.closed is not None:
            return
        self.closed = (code, reason)
        log.info("live: closing a connection (%d %s)", code, reason)
        for subscriber in list(self.subscribers):
            subscriber.end(StreamEnded(reason))
        with contextlib.suppress(Exception):  # the peer may already be gone
            await self._close(code, reason[:120])

    async def aclose(self) -> None:
        """The connection ended: stop watching its credential."""
        self.hub.unlisten(_CREDENTIAL_TOPICS, self._on_event)
        self._credential = None  # no further re-check
        if self._timer is not None:
            self._timer.cancel()
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checking

    async def _check(self, credential: str) -> Principal:
        """The credential's principal, checked or shared (``CredentialChecks``)."""
        return await self.hub.credentials.check(
            credential, lambda: self._verify(credential), self._valid_for_s(credential)
        )

    async def _verify(self, credential: str) -> Principal:
        auth = Authenticator(self.settings)
        try:
            return await auth.principal(credential, self._sessions, self._verifiers)
        except BackendUnavailable:
            raise
        except AuthenticationError as refused:
            code = FORBIDDEN if credential.startswith(api_keys.KEY_START) else UNAUTHORIZED
            raise Refused(code, f"credentials refused: {refused}") from None

    def _next_check_in(self, credential: str) -> float:
        return min(self.settings.live_auth_recheck_s, self._valid_for_s(credential) + 0.05)

    def _valid_for_s(self, credential: str) -> float:
        """Seconds until a token expires (leeway included; never less than 0); an API key's
        or a token without ``exp``: the re-check interval."""
        if self._expiry is None or self._expiry[0] is not credential:
            exp = None
            if not credential.startswith(api_keys.KEY_START):
                claim = unverified_claims(credential).get("exp")
                exp = float(claim) if isinstance(claim, int | float) else None
            self._expiry = (credential, exp)
        exp = self._expiry[1]
        if exp is None:
            return self.settings.live_auth_recheck_s
        return max(exp + self.settings.oidc_leeway_s - time.time(), 0.0)

    def _on_event(self, event: LiveEvent) -> None:
        """Re-check at once when this principal's key was revoked or its roles changed."""
        field = _CREDENTIAL_TOPICS.get(event.topic)
        if field is None or self.principal is None:
            return
        value = event.payload.get(field)
        who = f"apikey:{value}" if field == "prefix" else value
        if who == self.principal.id:
            if self._credential is not None:
                self.hub.credentials.forget(self._credential)
                self._due()

    def _schedule(self, credential: str) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._next_check_in(credential), self._due)

    def _due(self) -> None:
        """Re-check now (or right after the re-check running now)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._checking is not None:
            self._again = True
        elif self._credential is not None:
            self._checking = asyncio.get_running_loop().create_task(
                self._recheck(self._credential), name="mlgraph-live-auth"
            )

    async def _recheck(self, credential: str) -> None:
        try:
            principal = await self._check(credential)
            if principal is not self.principal:
                self.principal = principal
                for subscriber in self.subscribers:  # those the hub writes to itself
                    subscriber.recheck()
        except BackendUnavailable:
            pass  # keep serving on the roles last seen; try again next round
        except Refused as refused:
            self._checking = None
            await self.close(refused.code, refused.reason)
            return
        self._checking = None
        if self._credential is None:  # the connection ended meanwhile
            return
        if self._again:
            self._again = False
            self._due()
        else:
            self._schedule(credential)
