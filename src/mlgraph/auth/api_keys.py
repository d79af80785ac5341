"""API keys: ``mlg_<prefix>_<secret>``. Only the SHA-256 of the secret is stored; the prefix
finds the row and the hash is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 10
KEY_START = "mlg_"


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret_hash: str
    plaintext: str


def generate() -> NewKey:
    prefix = KEY_START + "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    return NewKey(prefix, digest(secret), f"{prefix}_{secret}")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(presented: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a presented key, or None if it is not shaped like one."""
    size = len(KEY_START) + PREFIX_LENGTH
    prefix, sep, secret = presented[:size], presented[size : size + 1], presented[size + 1 :]
    if not prefix.startswith(KEY_START) or sep != "_" or not secret:
        return None
    return prefix, secret


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_hash)
