"""Signing secrets: made here (``whsec_`` + base64 of 32 random bytes), stored encrypted
(Fernet, keyed from the settings), and used through the ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks.webhooks import Webhook as StandardWebhook

from mlgraph.settings import Settings

SECRET_BYTES = 32


class SecretUnavailable(Exception):
    """A stored secret that this key cannot decrypt (or none at all)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class SecretBox:
    """Encrypts and decrypts signing secrets under one key."""

    def __init__(self, key: bytes) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"mlgraph webhook secrets"
        ).derive(key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        key = settings.webhook_secret_key.get_secret_value().encode()
        return cls(key or settings.signing_key())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str | None) -> str:
        if not token:
            raise SecretUnavailable("the endpoint has no signing secret; rotate it")
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnavailable("the signing secret cannot be decrypted; rotate it") from None


def signature(secrets_: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,...`` per secret, space separated."""
    return " ".join(StandardWebhook(s).sign(msg_id, timestamp, body) for s in secrets_)
