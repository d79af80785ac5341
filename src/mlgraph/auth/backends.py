"""Who is calling: a Starlette authentication backend that turns credentials into a Principal.

* ``Authorization: Bearer <JWT>``: an OIDC token (issuer ``MLGRAPH_OIDC_ISSUER``) or a token of
  the local issuer (``mlgraph token``). Platform ADMIN comes from the roles claim; project roles
  come from the project's members (``ProjectMember.principal_id`` = the token's ``sub``).
* ``Authorization: Bearer mlg_...`` or ``X-Api-Key: mlg_...``: an API key, scoped to one
  project and one role.
* Nothing: the anonymous reader if ``MLGRAPH_ANONYMOUS_READ``, else no principal (the GraphQL
  endpoint then answers UNAUTHENTICATED).

Refusals are logged with their reason, never with the credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
)
from starlette.authentication import (
    AuthenticationError as AuthenticationError,  # re-exported: refused credentials
)
from starlette.requests import HTTPConnection

from mlgraph.auth import api_keys
from mlgraph.auth.local_issuer import LOCAL_ISSUER
from mlgraph.auth.principal import ANONYMOUS_READER, Principal
from mlgraph.auth.tokens import InvalidToken, TokenIdentity, TokenVerifier
from mlgraph.settings import Settings
from mlgraph.storage.models import ApiKey, ProjectMember
from mlgraph.storage.types import utcnow

log = logging.getLogger("mlgraph.auth")
LAST_USED_RESOLUTION = timedelta(minutes=1)


class BackendUnavailable(AuthenticationError):
    """Credentials could not be checked because the database did not answer."""


class PrincipalUser(BaseUser):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return self.principal.authenticated

    @property
    def display_name(self) -> str:
        return self.principal.display_name


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims a JWT states, unverified: only for choosing a verifier or a timer."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, only to pick which verifier checks it."""
    issuer = unverified_claims(token).get("iss")
    return issuer if isinstance(issuer, str) else None


class Authenticator(AuthenticationBackend):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            credential = conn.headers.get("x-api-key", "").strip()
        if not credential:
            if self.settings.anonymous_read:
                return AuthCredentials(["read"]), PrincipalUser(ANONYMOUS_READER)
            return None
        principal = await self.principal(credential, conn.state.sessions, conn.state.verifiers)
        return AuthCredentials(["read", "write"]), PrincipalUser(principal)

    async def principal(
        self,
        credential: str,
        sessions: async_sessionmaker[AsyncSession],
        verifiers: dict[str, TokenVerifier],
    ) -> Principal:
        """The principal of a bearer token or API key (also used by live connections, which
        present theirs in ``connection_init`` and are re-checked while they stay open)."""
        try:
            if credential.startswith(api_keys.KEY_START):
                return await self._api_key(sessions, credential)
            return await self._token(verifiers, sessions, credential)
        except (SQLAlchemyError, OSError, TimeoutError) as down:
            log.warning("authentication could not reach the database: %r", down)
            raise BackendUnavailable(
                "a backend service is unavailable; try again shortly"
            ) from None

    async def _token(
        self,
        verifiers: dict[str, TokenVerifier],
        sessions: async_sessionmaker[AsyncSession],
        token: str,
    ) -> Principal:
        issuer = _unverified_issuer(token)
        verifier = verifiers.get(LOCAL_ISSUER if issuer == LOCAL_ISSUER else "oidc")
        if verifier is None:
            raise _refuse("no identity provider accepts this token's issuer")
        try:
            identity = await verifier.verify(token)
        except InvalidToken as refused:
            raise _refuse(f"token refused: {refused}") from None
        return await principal_for(sessions, identity, self.settings)

    async def _api_key(
        self, sessions: async_sessionmaker[AsyncSession], presented: str
    ) -> Principal:
        parts = api_keys.split(presented)
        if parts is None:
            raise _refuse("malformed API key")
        prefix, secret = parts
        async with sessions() as s:
            key = await s.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
            now = utcnow()
            if key is None or not api_keys.matches(secret, key.secret_hash):
                raise _refuse(f"unknown API key {prefix}")
            if key.revoked_at is not None:
                raise _refuse(f"revoked API key {prefix}")
            if key.expires_at is not None and key.expires_at <= now:
                raise _refuse(f"expired API key {prefix}")
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
                await s.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
                await s.commit()
        return Principal(
            id=f"apikey:{prefix}",
            display_name=key.name,
            project_roles=MappingProxyType({key.project_id: key.role}),
        )


async def principal_for(
    sessions: async_sessionmaker[AsyncSession], identity: TokenIdentity, settings: Settings
) -> Principal:
    """A verified token's principal: ADMIN if its roles say so, else its memberships."""
    if identity.roles & set(settings.oidc_admin_roles):
        return Principal(id=identity.subject, display_name=identity.name, platform_admin=True)
    async with sessions() as s:
        rows = await s.execute(
            select(ProjectMember.project_id, ProjectMember.role).where(
                ProjectMember.principal_id == identity.subject
            )
        )
        roles = {project_id: role for project_id, role in rows}
    return Principal(
        id=identity.subject, display_name=identity.name, project_roles=MappingProxyType(roles)
    )


def _refuse(reason: str) -> AuthenticationError:
    log.warning("authentication failed: %s", reason)
    return AuthenticationError(reason)


def error_body(
    message: str, request_id: str | None, code: str = "UNAUTHENTICATED"
) -> dict[str, Any]:
    """The GraphQL-shaped error body of a request refused before GraphQL ran."""
    return {
        "data": None,
        "errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}],
    }
