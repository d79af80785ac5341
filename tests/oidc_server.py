"""A real, tiny OIDC issuer for tests: discovery + JWKS over HTTP on a loopback port.

It serves ``/.well-known/openid-configuration`` and ``/jwks`` with uvicorn (``serve``/``stop``
from the test harness), signs tokens with its current RSA key (RS*) or its EC key (ES256),
rotates keys on demand, counts fetches, and can pretend to be down or to be another issuer.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import serve, stop


def new_rsa_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": kid or f"rsa-{secrets.token_hex(4)}", "use": "sig"}
    )


def new_ec_key(kid: str | None = None) -> ECKey:
    return ECKey.generate_key(
        "P-256", parameters={"kid": kid or f"ec-{secrets.token_hex(4)}", "use": "sig"}
    )


class OidcServer:
    """An issuer whose URL (``self.url``) is its ``iss``."""

    def __init__(self) -> None:
        self._initial_rsa_key = new_rsa_key()
        self.ec_key: ECKey = new_ec_key()
        self.url = ""
        self.reset()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
            ]
        )

    def reset(self) -> None:
        """Back to the initial keys and settings, counters zeroed (for a server shared by tests)."""
        self.rsa_keys: list[RSAKey] = [self._initial_rsa_key]
        self.signing_key: RSAKey = self._initial_rsa_key
        #: extra keys published in the JWKS (e.g. a weak key a test wants served)
        self.extra_keys: list[Key] = []
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        #: False: both endpoints answer 503
        self.available = True
        #: when set, discovery claims this ``issuer`` instead of the server's own URL
        self.reported_issuer: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> OidcServer:
        self._server, self._task, self.url = await serve(self.app)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            await stop(self._server, self._task)
            self._server = self._task = None

    @property
    def issuer(self) -> str:
        return self.url

    # --- endpoints -------------------------------------------------------------------------

    async def _discovery(self, _request: Request) -> Response:
        self.discovery_fetches += 1
        if not self.available:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(
            {
                "issuer": self.reported_issuer or self.url,
                "jwks_uri": f"{self.url}/jwks",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
        )

    async def _jwks(self, _request: Request) -> Response:
        self.jwks_fetches += 1
        if not self.available:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(self.jwks())

    def jwks(self) -> dict[str, Any]:
        keys = [*self.rsa_keys, self.ec_key, *self.extra_keys]
        return {"keys": [k.as_dict(private=False) for k in keys]}

    # --- keys and tokens -------------------------------------------------------------------

    def rotate(self, *, keep_old: bool = False) -> RSAKey:
        """A new RSA key (new kid) becomes the signing key; the old one stays published or not."""
        key = new_rsa_key()
        self.rsa_keys = [*self.rsa_keys, key] if keep_old else [key]
        self.signing_key = key
        return key

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        alg: str = "RS256",
        headers: Mapping[str, Any] | None = None,
        key: Key | None = None,
    ) -> str:
        """A compact JWT. ``key`` defaults to the signing RSA key (RS*/PS*) or the EC key (ES*);
        ``headers`` are merged over ``{"alg", "kid"}`` (a ``None`` value removes a header)."""
        if key is None:
            key = self.ec_key if alg.startswith("ES") else self.signing_key
        header: dict[str, Any] = {"alg": alg, "kid": key.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(header, dict(claims), key, algorithms=[alg])
