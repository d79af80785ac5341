"""Subscription events resolved once, shared by every subscriber that would resolve them alike.

An event's result depends on the event, the subscription's selection (document and
variables) and what the subscriber may read. Subscribers that agree on all three get the same
result: the first one to push the event executes its selection (in a task of its own, so that
cancelling that subscriber does not cancel the others' result), the others wait for it. The hub
keeps the most recent results (``size``), so the cache stays small however many subscribe.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from mlgraph.auth.principal import Principal

Compute = Callable[[], Awaitable[Any]]


def rights(principal: Principal) -> Hashable:
    """What decides which rows and fields a principal sees (not who it is)."""
    return (
        principal.platform_admin,
        principal.read_everything,
        frozenset(principal.project_roles.items()),
    )


class Renders:
    def __init__(self, size: int = 4096) -> None:
        self._size = size
        #: key -> (the objects the key names by identity, kept alive; the shared result)
        self._results: OrderedDict[Hashable, tuple[object, asyncio.Future[Any]]] = OrderedDict()
        self.computed = 0
        self.shared = 0

    async def result(self, key: Hashable, owner: object, compute: Compute) -> Any:
        """``compute()``'s result, or the one already computed under ``key`` (whose
        ``owner``, an object named in the key by its id, must be the same object)."""
        entry = self._results.get(key)
        if entry is not None and entry[0] is owner:
            self.shared += 1
            if entry[1].done():
                return entry[1].result()
            return await asyncio.shield(entry[1])
        task = asyncio.ensure_future(compute())
        self._results[key] = (owner, task)
        self.computed += 1
        while len(self._results) > self._size:
            self._results.popitem(last=False)
        return await asyncio.shield(task)
