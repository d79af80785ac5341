"""The compiled read path inside strawberry's execution: ``CompiledReads``.

It is the schema's last extension. Its ``on_execute`` runs after strawberry parsed and validated
the document (every limit and rule included) and after the extensions before it opened their
spans and budgets; it plans the operation from that document (``planner.Planner``, no second
parse) and, when the operation compiles, answers it with one PostgreSQL statement by setting
the execution result, so strawberry skips its own executor. Anything the planner does not
compile runs on the resolver path as if this extension were not there.

A failed statement is not run again on the resolver path unless the failure was the request's
own value (a NUL character, which PostgreSQL text cannot hold; the resolver path reports it):
a database that is down or too slow answers ``UNAVAILABLE`` once, instead of doubling the load
on it and the client's wait.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError
from graphql import ExecutionResult as GraphQLExecutionResult
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult

from mlgraph.compiled.objects import fill_objects
from mlgraph.compiled.planner import Fallback, Planner
from mlgraph.context import Context
from mlgraph.errors import Unavailable
from mlgraph.schema.errors import UNAVAILABLE_ERRORS, UNAVAILABLE_MESSAGE
from mlgraph.storage.integrity import is_bad_value

log = logging.getLogger("mlgraph.compiled")

COMPILED = "compiled"
RESOLVER = "resolver"


@dataclass(frozen=True)
class RawData:
    """The ``data`` object as JSON text, written by PostgreSQL."""

    text: str


class CompiledResult(ExecutionResult):
    """An execution result whose data is JSON text (no errors: errors take the resolver path)."""

    def __init__(self, text: str) -> None:
        super().__init__(data=None, errors=None)
        self.raw = RawData(text)


async def run_compiled(
    planner: Planner,
    engine: AsyncEngine,
    query: str,
    document: DocumentNode | None,
    operation_name: str | None,
    variables: dict[str, object] | None,
    context: Context,
) -> str | None:
    """The ``data`` JSON text, or None when the resolver path must answer; raises
    ``Unavailable`` when the database failed the statement. Object-store fields are filled in
    after the statement (``objects.fill_objects``)."""
    try:
        plan = planner.plan(query, operation_name, variables, context.principal, document)
    except Exception:  # a planner bug must never cost an answer: the resolver path gives it
        log.exception("planning failed, answering on the resolver path")
        return None
    if isinstance(plan, Fallback):
        log.debug("resolver path for %.80r: %s", query, plan.reason)
        return None
    try:
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            parts = (await auto.exec_driver_sql(plan.sql, plan.params)).one()
    except UNAVAILABLE_ERRORS as exc:
        if is_bad_value(exc):
            return None
        log.warning("compiled read failed, answering UNAVAILABLE: %r", exc)
        raise Unavailable(UNAVAILABLE_MESSAGE) from exc
    return await fill_objects("".join(parts), plan.objects, context)


class CompiledReads(SchemaExtension):
    """Answer compilable queries with one SQL statement (see the module's docstring).

    It acts when the request's context carries a ``compiled_engine`` (HTTP requests with
    compiled reads on PostgreSQL) and the schema a ``planner``; it records the path that
    answered in ``context.plan``."""

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        context: Any = ec.context
        engine = getattr(context, "compiled_engine", None)
        planner = getattr(ec.schema, "planner", None)
        if engine is not None and planner is not None and ec.query is not None:
            try:
                text = await run_compiled(
                    planner,
                    engine,
                    ec.query,
                    ec.graphql_document,
                    ec.operation_name,
                    ec.variables,
                    context,
                )
            except Unavailable as down:
                ec.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(down.message, original_error=down)]
                )
            else:
                if text is not None:
                    ec.result = CompiledResult(text)
                    context.plan = COMPILED
        yield
