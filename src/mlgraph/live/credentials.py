"""Recent credential checks of a replica's live connections, shared by credential (see
``mlgraph.live.connection``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mlgraph.auth.principal import Principal


class CredentialChecks:
    """Recent credential checks of a replica's live connections, shared by credential."""

    def __init__(self, ttl_s: float, size: int = 4096) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._checks: dict[str, tuple[float, asyncio.Future[Principal]]] = {}
        #: How many checks ran (each verifies the credential and reads its roles).
        self.ran = 0

    async def check(
        self,
        credential: str,
        run: Callable[[], Awaitable[Principal]],
        valid_for_s: float,
    ) -> Principal:
        """``run()``'s principal, or that of a check of ``credential`` started less than
        ``ttl_s`` (and ``valid_for_s``, the token's remaining life) ago."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self._checks.get(credential)
        if entry is None or entry[0] <= now:
            future = asyncio.ensure_future(run())
            future.add_done_callback(_retrieved)
            self.ran += 1
            entry = (now + min(self.ttl_s, valid_for_s), future)
            self._checks[credential] = entry
            if len(self._checks) > self.size:
                self._checks = {k: v for k, v in self._checks.items() if v[0] > now}
        return await asyncio.shield(entry[1])

    def forget(self, credential: str) -> None:
        """Its roles or its key changed: the next check reads them again."""
        self._checks.pop(credential, None)


def _retrieved(future: asyncio.Future[Principal]) -> None:
    if not future.cancelled():
        future.exception()
