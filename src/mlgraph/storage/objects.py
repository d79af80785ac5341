"""Object storage behind one small interface: a local directory now, S3 later."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore(Protocol):
    async def head(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None when it does not exist."""
        ...

    async def check(self) -> None:
        """Raise if the store is unreachable (used by /readyz)."""
        ...


class LocalObjectStore:
    """Objects as files under one directory (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    async def head(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            path = self._path(key)
            if not path.is_file():
                return None
            st = path.stat()
            return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

        return await asyncio.to_thread(stat)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.root.is_dir():
                raise OSError(f"{self.root} is not a directory")

        await asyncio.to_thread(probe)
