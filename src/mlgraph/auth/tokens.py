"""Bearer-token (JWT) validation for OIDC access tokens and the local issuer.

No web framework here: :class:`TokenVerifier` turns a compact JWS string into a
:class:`TokenIdentity` or raises :class:`InvalidToken`. Keys come from a :class:`KeySource`:
:class:`JwksKeySource` (OIDC discovery + cached JWKS) or :class:`StaticKeySource`.

Hardening, in the order it is applied (every step before any key is touched refuses early):

* size cap, exactly three base64url segments, the header a JSON object;
* ``alg`` must be in the configured allow-list, which itself may only hold asymmetric
  algorithms (``none`` and ``HS*`` can never be configured, so a token re-signed with HMAC
  over the public key's bytes is refused before a key is looked up);
* ``crit`` and ``b64`` (RFC 7797 unencoded payloads) are refused; ``jku``, ``x5u``, ``jwk`` and
  ``x5c`` are ignored: keys are only ever found by ``kid`` in the issuer's key set;
* the key with that ``kid`` must exist (after the rate-limited refetch rule of the key source),
  be meant for signatures, have a ``kty`` (and curve) fitting the algorithm, and RSA keys must be
  at least 2048 bits;
* joserfc verifies the signature, then :class:`joserfc.jwt.JWTClaimsRegistry` checks
  ``iss``/``aud``/``exp``/``sub`` (required) and ``nbf``/``iat`` when present, with leeway.

Messages of :class:`InvalidToken` are fixed strings: they never echo the token or any value
taken from it, so they are safe to log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExceededSizeError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    SecurityWarning,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import ECKey, JWKRegistry, Key, KeySet, RSAKey
from joserfc.jws import JWSRegistry

__all__ = [
    "DEFAULT_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "InvalidToken",
    "JwksKeySource",
    "KeySource",
    "StaticKeySource",
    "TokenIdentity",
    "TokenVerifier",
]

log = logging.getLogger(__name__)

DEFAULT_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")

#: Algorithms that may be configured, with the key type (and EC curve) each needs.
#: Deliberately asymmetric only: ``none`` and ``HS*`` are not in here and can never be allowed.
SUPPORTED_ALGORITHMS: Mapping[str, tuple[type[RSAKey] | type[ECKey], str | None]] = {
    "RS256": (RSAKey, None),
    "RS384": (RSAKey, None),
    "RS512": (RSAKey, None),
    "PS256": (RSAKey, None),
    "PS384": (RSAKey, None),
    "PS512": (RSAKey, None),
    "ES256": (ECKey, "P-256"),
    "ES384": (ECKey, "P-384"),
    "ES512": (ECKey, "P-521"),
}

#: Longest token accepted at all (joserfc's own caps are ~129 KiB; real tokens are a few KiB).
MAX_TOKEN_CHARS = 16 * 1024
MIN_RSA_BITS = 2048
#: Tokens whose signature was verified, kept with the key that verified it (per verifier).
VERIFIED_CACHE_SIZE = 1024
#: After a failed JWKS fetch, wait this long (at most ``refetch_s``) before trying again.
FAILURE_RETRY_S = 5.0


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token speaks for."""

    subject: str
    name: str
    roles: frozenset[str]
    issuer: str
    expires_at: datetime


class InvalidToken(Exception):
    """The token is not acceptable. The message is a short fixed reason, safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySource(Protocol):
    """Where verification keys come from."""

    async def key_set(self, *, kid: str | None) -> KeySet:
        """The current key set; ``kid`` is the key the caller is about to look for."""
        ...


class StaticKeySource:
    """A fixed key set (the local issuer's public key)."""

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = key_set

    async def key_set(self, *, kid: str | None) -> KeySet:
        return self._key_set


class _FetchError(Exception):
    """A discovery or JWKS fetch failed (internal; becomes InvalidToken)."""


class JwksKeySource:
    """An OIDC issuer's signing keys: discovery, then its JWKS, cached.

    * The JWKS is cached for ``cache_s`` seconds.
    * A ``kid`` missing from a fresh cache triggers a refetch at most once per ``refetch_s``
      seconds, so a flood of tokens with made-up ``kid`` values cannot hammer the issuer.
    * Concurrent callers share one in-flight fetch (an :class:`asyncio.Lock`; waiters re-check
      the cache once they hold it).
    * When a fetch fails, a stale cache is still used; with no cache the caller gets
      ``InvalidToken("issuer keys unavailable")``. After a failure the next attempt waits
      ``min(refetch_s, 5)`` seconds.
    """

    def __init__(
        self,
        issuer: str,
        http: httpx.AsyncClient,
        cache_s: int = 300,
        refetch_s: int = 30,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._cache_s = cache_s
        self._refetch_s = refetch_s
        self._now = now
        self._discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._jwks_uri: str | None = None
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = -math.inf  # last successful fetch
        self._attempted_at = -math.inf  # last attempt of any kind
        self._miss_refetch_at = -math.inf  # last refetch caused by an unknown kid
        self._failed = False  # did the last attempt fail?
        self._lock = asyncio.Lock()

    async def key_set(self, *, kid: str | None) -> KeySet:
        cached = self._cached(kid, self._now())
        if cached is not None:
            return cached
        async with self._lock:
            now = self._now()
            cached = self._cached(kid, now)  # another caller may have fetched meanwhile
            if cached is not None:
                return cached
            if self._may_fetch(now):
                if self._fresh(now):
                    self._miss_refetch_at = now
                self._attempted_at = now
                try:
                    keys = await self._fetch()
                except _FetchError as error:
                    self._failed = True
                    log.warning("JWKS fetch for issuer %s failed: %s", self.issuer, error)
                else:
                    self._failed = False
                    self._keys = keys
                    self._kids = frozenset(k.kid for k in keys if k.kid)
                    self._fetched_at = now
                    return keys
            if self._keys is not None:
                return self._keys  # stale, or fresh without that kid: the verifier decides
            raise InvalidToken("issuer keys unavailable")

    def _fresh(self, now: float) -> bool:
        return self._keys is not None and now - self._fetched_at < self._cache_s

    def _cached(self, kid: str | None, now: float) -> KeySet | None:
        if self._fresh(now) and (kid is None or kid in self._kids):
            return self._keys
        return None

    def _may_fetch(self, now: float) -> bool:
        if self._failed and now - self._attempted_at < min(self._refetch_s, FAILURE_RETRY_S):
            return False
        if self._fresh(now):  # fresh but without the wanted kid: rate-limited refetch
            return now - self._miss_refetch_at >= self._refetch_s
        return True  # nothing cached yet, or the cache expired

    async def _fetch(self) -> KeySet:
        if self._jwks_uri is None:
            self._jwks_uri = await self._discover()
        try:
            document = await self._get_json(self._jwks_uri)
            return _parse_jwks(document)
        except _FetchError:
            self._jwks_uri = None  # rediscover next time: the JWKS may have moved
            raise

    async def _discover(self) -> str:
        document = await self._get_json(self._discovery_url)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise _FetchError("discovery document names a different issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise _FetchError("discovery document has no usable jwks_uri")
        if self._discovery_url.startswith("https://") and not jwks_uri.startswith("https://"):
            raise _FetchError("discovery document downgrades jwks_uri to http")
        return jwks_uri

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise _FetchError(f"GET {url}: {type(error).__name__}") from error
        if response.status_code != 200:
            raise _FetchError(f"GET {url}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as error:
            raise _FetchError(f"GET {url}: not JSON") from error


def _parse_jwks(document: Any) -> KeySet:
    """The usable signature keys of a JWKS document; keys we cannot or must not use are skipped.

    Skipped: unknown or malformed keys, symmetric (``oct``) keys, keys for encryption only,
    RSA keys under 2048 bits. (Keys without ``kid`` get their RFC 7638 thumbprint as ``kid``.)
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _FetchError("JWKS document has no key list")
    keys: list[Key] = []
    for data in document["keys"]:
        if not isinstance(data, dict) or data.get("kty") not in ("RSA", "EC"):
            continue
        if data.get("use", "sig") != "sig":
            continue
        try:
            with warnings.catch_warnings():
                # joserfc warns about short RSA keys; we skip them below instead.
                warnings.simplefilter("ignore", SecurityWarning)
                key = JWKRegistry.import_key(data)
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        if isinstance(key, RSAKey) and key.public_key.key_size < MIN_RSA_BITS:
            continue
        keys.append(key)
    try:
        return KeySet(keys)
    except (JoseError, ValueError, TypeError, KeyError) as error:  # pragma: no cover - defensive
        raise _FetchError("JWKS keys unusable") from error


def _b64_json_object(segment: str) -> dict[str, Any]:
    """Strictly decode a base64url (unpadded) JSON object segment, or raise InvalidToken."""
    if not segment or "=" in segment or "+" in segment or "/" in segment:
        raise InvalidToken("malformed token")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken("malformed token") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def _reason(error: JoseError) -> str:
    """A short, fixed reason for a joserfc error (never its message, which may echo input)."""
    if isinstance(error, BadSignatureError):
        return "bad signature"
    if isinstance(error, ExpiredTokenError):
        return "token expired"
    if isinstance(error, MissingClaimError):
        return "missing required claim"
    if isinstance(error, InvalidClaimError):
        if error.claim == "nbf":
            return "token not yet valid"
        if error.claim in ("iss", "aud", "sub", "exp", "iat", "jti"):
            return f"invalid claim {error.claim}"
        return "invalid claim"
    if isinstance(error, ExceededSizeError):
        return "token too large"
    if isinstance(error, UnsupportedAlgorithmError):
        return "algorithm not allowed"
    return "invalid token"


class TokenVerifier:
    """Verifies bearer JWTs from one issuer for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        keys: KeySource,
        leeway_s: int,
        roles_claim: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("TokenVerifier needs an issuer and an audience")
        if isinstance(algorithms, str):
            raise TypeError("algorithms must be a sequence of names, not a string")
        unsupported = sorted(set(algorithms) - SUPPORTED_ALGORITHMS.keys())
        if unsupported or not algorithms:
            allowed = ", ".join(SUPPORTED_ALGORITHMS)
            raise ValueError(f"unsupported token algorithms {unsupported}; allowed: {allowed}")
        if leeway_s < 0:
            raise ValueError("leeway_s must not be negative")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(dict.fromkeys(algorithms))
        self._keys = keys
        self._leeway_s = leeway_s
        self._roles_claim = roles_claim
        self._now = now
        # One joserfc registry per algorithm: exactly that algorithm, and unknown (non-crit)
        # header parameters ignored as RFC 7515 says (joserfc refuses them by default).
        self._registries = {
            alg: JWSRegistry(algorithms=[alg], strict_check_header=False) for alg in self.algorithms
        }
        # token -> (the key that verified its signature, its claims). A client sends the same
        # token with every request until it expires: its signature (an ES256 verification,
        # ~10% of a compiled dashboard request's server CPU) is checked once per key. The
        # time claims are checked again on every use, and a rotated key set misses.
        self._verified: OrderedDict[str, tuple[Key, dict[str, Any]]] = OrderedDict()

    async def verify(self, token: str) -> TokenIdentity:
        """The identity a valid token carries; raises :class:`InvalidToken` otherwise."""
        if not isinstance(token, str) or not token:
            raise InvalidToken("malformed token")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token too large")
        if not token.isascii():
            raise InvalidToken("malformed token")
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise InvalidToken("malformed token")
        header = _b64_json_object(parts[0])

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._registries:
            raise InvalidToken("algorithm not allowed")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported header")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")

        key = self._find_key(await self._keys.key_set(kid=kid), kid, alg)
        verified = self._verified.get(token)
        if verified is not None and verified[0] is key:
            self._verified.move_to_end(token)
            claims = verified[1]
            try:
                self._validate(claims)
            except InvalidToken:
                del self._verified[token]
                raise
        else:
            claims = self._decode(token, key, alg)
            self._verified[token] = (key, claims)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return self._identity(claims)

    @staticmethod
    def _find_key(key_set: KeySet, kid: str, alg: str) -> Key:
        candidates = [k for k in key_set if k.kid == kid]
        if not candidates:
            raise InvalidToken("unknown signing key")
        key_type, curve = SUPPORTED_ALGORITHMS[alg]
        for key in candidates:
            if not isinstance(key, key_type):
                continue
            if isinstance(key, ECKey) and key.curve_name != curve:
                continue
            if key.get("use") not in (None, "sig") or key.alg not in (None, alg):
                continue
            if isinstance(key, RSAKey) and key.public_key.key_size < MIN_RSA_BITS:
                continue
            return key
        raise InvalidToken("signing key does not fit the algorithm")

    def _decode(self, token: str, key: Key, alg: str) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, key, algorithms=[alg], registry=self._registries[alg])
        except JoseError as error:
            raise InvalidToken(_reason(error)) from None
        except (ValueError, TypeError, KeyError, RecursionError):
            raise InvalidToken("malformed token") from None
        self._validate(decoded.claims)
        return decoded.claims

    def _validate(self, claims: dict[str, Any]) -> None:
        """The claims' issuer, audience, subject and times (``exp``, ``nbf``, ``iat``), now."""
        try:
            jwt.JWTClaimsRegistry(
                now=int(self._now()),
                leeway=self._leeway_s,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(claims)
        except JoseError as error:
            raise InvalidToken(_reason(error)) from None
        except (ValueError, TypeError, KeyError, RecursionError):
            raise InvalidToken("malformed token") from None

    def _identity(self, claims: dict[str, Any]) -> TokenIdentity:
        subject: str = claims["sub"]
        try:
            expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidToken("invalid claim exp") from None
        name = _first_str(claims.get("name"), claims.get("preferred_username")) or subject
        return TokenIdentity(
            subject=subject,
            name=name,
            roles=_roles(_claim(claims, self._roles_claim)),
            issuer=claims["iss"],
            expires_at=expires_at,
        )


def _first_str(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value
    return None


def _claim(claims: Mapping[str, Any], name: str) -> object:
    """``claims[name]``; a dotted name not present as such walks nested objects
    (``realm_access.roles`` for Keycloak), while namespaced URL claims still match exactly."""
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _roles(value: object) -> frozenset[str]:
    """Roles from a list of strings or a single string; anything else grants none."""
    if isinstance(value, str):
        return frozenset((value,)) if value else frozenset()
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str) and v)
    return frozenset()
