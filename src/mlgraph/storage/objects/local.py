"""The embedded default's object store: files under one directory. The app serves its URLs
(``PUT``/``GET /objects/<key>``), signed with HMAC and expiring; an upload URL is single-use
and takes only the declared bytes, so nothing lands that the signature did not promise."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from mlgraph.errors import ObjectTooLarge
from mlgraph.storage.objects import ObjectInfo, PresignedUpload, UploadRefused

CHUNK = 1 << 20
#: Per-object metadata (ETag, content type) lives beside the tree, never under a valid key.
META = ".meta"


class LocalObjectStore:
    """Objects as files under one directory (the embedded default)."""

    def __init__(self, root: Path, *, base_url: str = "", secret: bytes = b"") -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def _path(self, key: str, under: str = "") -> Path:
        root = (self.root / under).resolve() if under else self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root or key.startswith(META):
            raise UploadRefused(400, "object key escapes the store")
        return path

    def _meta_path(self, key: str) -> Path:
        return self._path(key + ".json", META)

    def _meta(self, key: str) -> dict[str, str]:
        """ETag and content type recorded when the object was written (none if written
        some other way)."""
        path = self._meta_path(key)
        return json.loads(path.read_text()) if path.is_file() else {}

    async def head(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            path = self._path(key)
            if not path.is_file():
                return None
            st = path.stat()
            meta = self._meta(key)
            return ObjectInfo(
                key,
                st.st_size,
                datetime.fromtimestamp(st.st_mtime, UTC),
                etag=meta.get("etag") or f'"{st.st_size:x}-{st.st_mtime_ns:x}"',
                content_type=meta.get("content_type"),
            )

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

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        def load() -> bytes | None:
            path = self._path(key)
            if not path.is_file():
                return None
            if path.stat().st_size > max_bytes:
                raise ObjectTooLarge(f"object is over {max_bytes} bytes")
            return path.read_bytes()

        return await asyncio.to_thread(load)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        def write() -> None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            self._write_meta(key, {"etag": f'"{etag}"', "content_type": content_type})
            _replace(path, data)

        await asyncio.to_thread(write)

    async def delete_prefix(self, prefix: str) -> int:
        def remove() -> int:
            folder = self._path(prefix.rstrip("/"))
            if not folder.is_dir():
                return 0
            count = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
            shutil.rmtree(self._path(prefix.rstrip("/"), META), ignore_errors=True)
            return count

        return await asyncio.to_thread(remove)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise OSError(f"{self.root} is not writable")

        await asyncio.to_thread(probe)

    def _signature(self, method: str, key: str, expires: int, *extra: object) -> str:
        message = "\n".join(str(part) for part in (method, key, expires, *extra)).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _url(self, key: str, params: dict[str, str | int]) -> str:
        return f"{self.base_url}/objects/{quote(key)}?{urlencode(params)}"

    async def presign_put(
        self, key: str, *, size: int, sha256: str, content_type: str, expires_in: int
    ) -> PresignedUpload:
        expires = int(time.time()) + expires_in
        signature = self._signature("PUT", key, expires, size, sha256, content_type)
        params: dict[str, str | int] = {
            "expires": expires,
            "size": size,
            "sha256": sha256,
            "type": content_type,
        }
        return PresignedUpload(
            url=self._url(key, {**params, "signature": signature}),
            method="PUT",
            headers={"Content-Type": content_type, "Content-Length": str(size)},
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    async def presign_get(self, key: str, *, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        signature = self._signature("GET", key, expires)
        return self._url(key, {"expires": expires, "signature": signature})

    def _verify(self, given: str, expected: str, expires: int) -> None:
        if not hmac.compare_digest(given, expected):
            raise UploadRefused(403, "bad signature")
        if time.time() > expires:
            raise UploadRefused(403, "URL expired")

    def download(self, key: str, params: dict[str, str]) -> tuple[Path, str | None]:
        """The file a signed download URL names (``UploadRefused`` when the URL is not good)."""
        try:
            expires, given = int(params["expires"]), params["signature"]
        except (KeyError, ValueError):
            raise UploadRefused(403, "not a signed download URL") from None
        self._verify(given, self._signature("GET", key, expires), expires)
        path = self._path(key)
        if not path.is_file():
            raise UploadRefused(404, "no such object")
        return path, self._meta(key).get("content_type")

    async def receive(
        self, key: str, params: dict[str, str], body: AsyncIterator[bytes]
    ) -> ObjectInfo:
        """Store an upload made to a URL from ``presign_put``: signature, expiry, size and
        SHA-256 must all match, and an object is written once (a replayed URL is refused)."""
        try:
            expires, size, sha256 = int(params["expires"]), int(params["size"]), params["sha256"]
            content_type, given = params["type"], params["signature"]
        except (KeyError, ValueError):
            raise UploadRefused(403, "not a signed upload URL") from None
        self._verify(
            given, self._signature("PUT", key, expires, size, sha256, content_type), expires
        )
        path = self._path(key)
        if await asyncio.to_thread(path.exists):
            raise UploadRefused(409, "object already uploaded; URLs are single-use")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".upload-")
        h, md5, written = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in body:
                    written += len(chunk)
                    if written > size:
                        raise UploadRefused(400, "more bytes than declared")
                    h.update(chunk)
                    md5.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            if written != size:
                raise UploadRefused(400, f"got {written} bytes, declared {size}")
            if h.hexdigest() != sha256:
                raise UploadRefused(400, "SHA-256 of the bytes differs from the declared one")
            meta = {"etag": f'"{md5.hexdigest()}"', "content_type": content_type}
            await asyncio.to_thread(self._write_meta, key, meta)
            try:
                os.link(tmp, path)  # atomic and refuses to overwrite: a racing replay loses
            except FileExistsError:
                raise UploadRefused(409, "object already uploaded; URLs are single-use") from None
        finally:
            await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
        info = await self.head(key)
        assert info is not None
        return info

    def _write_meta(self, key: str, meta: dict[str, str]) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, json.dumps(meta).encode())


def _replace(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, never a mix: written beside it under a
    name of its own (two puts of one key may race), then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
