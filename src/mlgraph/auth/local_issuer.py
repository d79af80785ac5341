"""The embedded default's own token issuer, so ``make run`` works without an identity provider.

An ES256 key is created once in ``data_dir/local-signing-key.json`` (a private JWK, mode 0600).
``mlgraph token`` signs with it (:func:`issue_token`); the server accepts those tokens through
:func:`local_verifier`, which knows only the public half. Tokens carry ``iss``
``urn:mlgraph:local`` and the configured audience, so they can never be mistaken for the OIDC
issuer's (and vice versa).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from mlgraph.auth.tokens import StaticKeySource, TokenVerifier
from mlgraph.settings import Settings

__all__ = [
    "KEY_FILE",
    "LOCAL_ALGORITHM",
    "LOCAL_ISSUER",
    "issue_token",
    "load_or_create_key",
    "local_verifier",
]

log = logging.getLogger(__name__)

LOCAL_ISSUER = "urn:mlgraph:local"
LOCAL_ALGORITHM = "ES256"
KEY_FILE = "local-signing-key.json"


def load_or_create_key(data_dir: Path) -> ECKey:
    """The local signing key (private, P-256, with ``kid``), created on first use.

    Creation is atomic and race-free: the key is written to a private temporary file and
    hard-linked into place, so concurrent first runs agree on one key and a crash never leaves
    a half-written key file behind.
    """
    path = data_dir / KEY_FILE
    if path.exists():
        return _read_key(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = ECKey.generate_key("P-256", auto_kid=True)
    tmp = data_dir / f".{KEY_FILE}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w") as f:
            json.dump(key.as_dict(private=True), f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use that one
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> ECKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); it should be 0600", path, mode)
    try:
        data: Any = json.loads(path.read_text())
        key = ECKey.import_key(data)
    except (ValueError, TypeError, KeyError, JoseError) as error:
        raise ValueError(f"{path} is not a valid signing key; delete it to create a new one") from (
            error
        )
    if not key.is_private or key.curve_name != "P-256" or not key.kid:
        raise ValueError(f"{path} is not a private P-256 key with a kid; delete it")
    return key


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


def local_verifier(settings: Settings) -> TokenVerifier:
    """Verifies tokens from :func:`issue_token` (public key only, ES256 only)."""
    key = load_or_create_key(settings.data_dir)
    return TokenVerifier(
        issuer=LOCAL_ISSUER,
        audience=settings.oidc_audience,
        algorithms=[LOCAL_ALGORITHM],
        keys=StaticKeySource(KeySet([_public(key)])),
        leeway_s=settings.oidc_leeway_s,
        roles_claim=settings.oidc_roles_claim,
    )


def issue_token(
    settings: Settings,
    *,
    subject: str,
    name: str | None = None,
    roles: Sequence[str] = (),
    ttl_s: int = 12 * 3600,
) -> str:
    """A signed local token for ``subject`` with ``roles`` under ``settings.oidc_roles_claim``."""
    if not subject:
        raise ValueError("subject must not be empty")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    if isinstance(roles, str):
        raise TypeError("roles must be a sequence of role names, not a string")
    key = load_or_create_key(settings.data_dir)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": settings.oidc_audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        settings.oidc_roles_claim: list(roles),
    }
    if name:
        claims["name"] = name
    header = {"alg": LOCAL_ALGORITHM, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[LOCAL_ALGORITHM])
