"""``ReadAudit``: the download URLs an operation issued are recorded before its answer leaves.

Both read paths issue artifact URLs through ``schema.objects.download_url`` (the compiled path
in ``compiled.objects.fill_objects``), which adds each to ``Context.downloads``. This extension
wraps execution (it sits before ``CompiledReads`` in the pipeline, so its end comes after that
path's too) and writes them with one statement (``storage.reads``). When that write fails the
operation answers ``UNAVAILABLE`` instead (data null): no URL leaves unrecorded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from mlgraph.errors import Unavailable
from mlgraph.schema.errors import UNAVAILABLE_ERRORS, UNAVAILABLE_MESSAGE
from mlgraph.storage.reads import record_downloads

log = logging.getLogger("mlgraph.reads")


class ReadAudit(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context: Any = self.execution_context.context
        issued = getattr(context, "downloads", None)
        if not issued:
            return
        rows = list(issued)
        issued.clear()
        try:
            await record_downloads(
                context.sessions.kw["bind"],
                rows,
                actor=context.principal.id,
                client_address=context.client_address,
                request_id=context.request_id,
            )
        except UNAVAILABLE_ERRORS as exc:
            log.warning("request %s: the read audit failed: %r", context.request_id, exc)
            # The answer is replaced in place: strawberry returns this very result object,
            # and the error extension (its ``on_operation``, which ends later) codes it.
            result: Any = self.execution_context.result
            down = Unavailable(UNAVAILABLE_MESSAGE)
            result.data = None
            result.errors = [GraphQLError(down.message, original_error=down)]
