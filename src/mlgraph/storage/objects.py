"""Object storage behind one small interface. The local directory store serves the embedded
default, with signed, expiring, single-use upload URLs handled by the app itself, so the upload
flow is the same as with S3 presigned URLs. (The S3 implementation comes with the object
storage issue.)"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlencode

CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    method: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class UploadRefused(Exception):
    """An upload the store will not take, with the HTTP status to answer."""

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

    async def presign_put(
        self, key: str, *, size: int, sha256: str, content_type: str, expires_in: int
    ) -> PresignedUpload:
        """A URL the client PUTs exactly these bytes to, before it expires."""
        ...

    async def check(self) -> None:
        """Raise if the store is unreachable (used by /readyz)."""
        ...


class LocalObjectStore:
    """Objects as files under one directory (the embedded default)."""

    def __init__(self, root: Path, *, base_url: str = "", secret: bytes = b"") -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or path == self.root.resolve():
            raise UploadRefused(400, "object key escapes the store")
        return path

    async def head(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            path = self._path(key)
            if not path.is_file():
                return None
            st = path.stat()
            return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

        return await asyncio.to_thread(stat)

    async def sha256(self, key: str) -> str | None:
        def digest() -> str | None:
            path = self._path(key)
            if not path.is_file():
                return None
            h = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            return h.hexdigest()

        return await asyncio.to_thread(digest)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise OSError(f"{self.root} is not writable")

        await asyncio.to_thread(probe)

    def _signature(self, key: str, expires: int, size: int, sha256: str) -> str:
        message = f"PUT\n{key}\n{expires}\n{size}\n{sha256}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    async def presign_put(
        self, key: str, *, size: int, sha256: str, content_type: str, expires_in: int
    ) -> PresignedUpload:
        expires = int(time.time()) + expires_in
        query = urlencode(
            {
                "expires": expires,
                "size": size,
                "sha256": sha256,
                "signature": self._signature(key, expires, size, sha256),
            }
        )
        return PresignedUpload(
            url=f"{self.base_url}/objects/{quote(key)}?{query}",
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(size)},
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    async def receive(
        self, key: str, params: dict[str, str], body: AsyncIterator[bytes]
    ) -> ObjectInfo:
        """Store an upload made to a URL from ``presign_put``: signature, expiry, size and
        SHA-256 must all match, and an object is written once (a replayed URL is refused)."""
        try:
            expires, size, sha256 = int(params["expires"]), int(params["size"]), params["sha256"]
            given = params["signature"]
        except (KeyError, ValueError):
            raise UploadRefused(403, "not a signed upload URL") from None
        if not hmac.compare_digest(given, self._signature(key, expires, size, sha256)):
            raise UploadRefused(403, "bad signature")
        if time.time() > expires:
            raise UploadRefused(403, "upload URL expired")
        path = self._path(key)
        if await asyncio.to_thread(path.exists):
            raise UploadRefused(409, "object already uploaded; URLs are single-use")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".upload-")
        h, written = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in body:
                    written += len(chunk)
                    if written > size:
                        raise UploadRefused(400, "more bytes than declared")
                    h.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            if written != size:
                raise UploadRefused(400, f"got {written} bytes, declared {size}")
            if h.hexdigest() != sha256:
                raise UploadRefused(400, "SHA-256 of the bytes differs from the declared one")
            try:
                os.link(tmp, path)  # atomic and refuses to overwrite: a racing replay loses
            except FileExistsError:
                raise UploadRefused(409, "object already uploaded; URLs are single-use") from None
        finally:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
        info = await self.head(key)
        assert info is not None
        return info
