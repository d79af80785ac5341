"""Object storage behind one small interface, with two implementations:

* ``S3ObjectStore`` (``s3.py``): any S3-compatible endpoint through aiobotocore, one long-lived
  client per process; uploads go straight to the store on presigned URLs that bind the size,
  content type and SHA-256 into the signature.
* ``LocalObjectStore`` (``local.py``): a directory, for the embedded default; the app itself
  serves its signed, expiring, single-use upload URLs and signed download URLs, so the flow is
  the same without S3.

``open_store(settings)`` picks one from configuration. Failures are ``ObjectStoreError``s
(``mlgraph.errors``) with a code, so a field that needed the object fails on its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from mlgraph.settings import Settings


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str = ""
    content_type: str | None = None
    #: Hex SHA-256 the store itself verified on upload, when it keeps one.
    sha256: str | None = None


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class UploadRefused(Exception):
    """An upload the local store will not take, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ObjectStore(Protocol):
    async def head(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None when it does not exist."""
        ...

    async def sha256(self, key: str) -> str | None:
        """Hex SHA-256 of the object's bytes, or None when it does not exist."""
        ...

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        """The object's bytes (None when missing); ``ObjectTooLarge`` over ``max_bytes``."""
        ...

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write (or replace) a small object directly (seeding, tests)."""
        ...

    async def presign_put(
        self, key: str, *, size: int, sha256: str, content_type: str, expires_in: int
    ) -> PresignedUpload:
        """A URL the client PUTs exactly these bytes to, once, before it expires."""
        ...

    async def presign_get(self, key: str, *, expires_in: int) -> str:
        """A URL that downloads the object until it expires."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (a folder, ending in ``/``);
        returns how many there were."""
        ...

    async def check(self) -> None:
        """Raise if the store is unreachable (used by /readyz)."""
        ...


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[ObjectStore]:
    """The configured store, open for the life of the process."""
    if settings.object_store == "s3":
        from mlgraph.storage.objects.s3 import S3ObjectStore

        async with S3ObjectStore.open(settings) as s3:
            yield s3
        return
    from mlgraph.storage.objects.local import LocalObjectStore

    yield LocalObjectStore(
        settings.artifact_dir, base_url=settings.effective_public_url, secret=settings.signing_key()
    )


__all__ = ["ObjectInfo", "ObjectStore", "PresignedUpload", "UploadRefused", "open_store"]
