"""Per-request loaders for object-store reads: HEADs (``Artifact.object``, ``Job.logsUrl``) and
small reads (``DriftMetric.report``).

A key asked for twice in one request costs one request to the store (DataLoader's cache), and
the distinct keys of a batch go out concurrently, at most ``concurrency`` at a time, each bounded
by ``timeout_s``. A failure is handed to the one key it belongs to, so only the fields that needed
that object fail.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiodataloader import DataLoader

from mlgraph.errors import ObjectInvalid, ObjectStoreError
from mlgraph.storage.objects import ObjectInfo, ObjectStore

T = TypeVar("T")


class ObjectLoaders:
    def __init__(
        self, store: ObjectStore, *, concurrency: int, timeout_s: float, max_read_bytes: int
    ) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.max_read_bytes = max_read_bytes
        self._slots = asyncio.Semaphore(concurrency)

    # Made when first used: most contexts (a live connection's, an event's) read no object.
    # The batch functions do not hold ``self`` (a reference cycle would keep every loaded
    # object of a request for the garbage collector; see ``mlgraph.loaders``).
    @functools.cached_property
    def head(self) -> DataLoader[str, ObjectInfo | None]:
        return DataLoader(_batch(self.store.head, self._slots, self.timeout_s))

    @functools.cached_property
    def json(self) -> DataLoader[str, Any]:
        read = functools.partial(_read_json, self.store, self.max_read_bytes)
        return DataLoader(_batch(read, self._slots, self.timeout_s))


def _batch(
    fetch: Callable[[str], Awaitable[T]], slots: asyncio.Semaphore, timeout_s: float
) -> Callable[[list[str]], Coroutine[Any, Any, list[Any]]]:
    async def one(key: str) -> T | ObjectStoreError:
        async with slots:
            try:
                return await asyncio.wait_for(fetch(key), timeout_s)
            except ObjectStoreError as exc:
                return exc
            except TimeoutError:
                return ObjectStoreError(f"the object store took over {timeout_s:g} s")

    async def batch(keys: list[str]) -> list[Any]:
        # An exception in the list fails that key's load only (aiodataloader).
        return await asyncio.gather(*(one(k) for k in keys))

    return batch


async def _read_json(store: ObjectStore, max_read_bytes: int, key: str) -> Any:
    """The object parsed as JSON; None when it does not exist."""
    data = await store.read(key, max_bytes=max_read_bytes)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise ObjectInvalid("the stored object is not valid JSON") from None
