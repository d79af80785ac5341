"""The compiled path at the HTTP edge: run a plan, pass PostgreSQL's JSON text through, and tell
which path answered in the ``x-mlgraph-plan`` response header."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types.execution import ExecutionResult

from mlgraph.compiled.objects import fill_objects
from mlgraph.compiled.planner import Fallback, Planner
from mlgraph.context import Context

log = logging.getLogger("mlgraph.compiled")

HEADER = b"x-mlgraph-plan"
COMPILED = "compiled"
RESOLVER = "resolver"
_STATE_KEY = "mlgraph_plan"
_UNAVAILABLE = (OperationalError, InterfaceError, DBAPIError, OSError, TimeoutError)


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
    operation_name: str | None,
    variables: dict[str, object] | None,
    context: Context,
) -> str | None:
    """The ``data`` JSON text, or None when the resolver path must answer."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        plan = planner.plan(query, operation_name, variables, context.principal)
    except Exception:  # a planner bug must never cost an answer: the resolver path gives it
        log.exception("planning failed, answering on the resolver path")
        return None
    if isinstance(plan, Fallback):
        log.debug("resolver path for %.80r: %s", query, plan.reason)
        return None
    try:
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            text = (await auto.exec_driver_sql(plan.sql, plan.params)).scalar_one()
    except _UNAVAILABLE as exc:
        log.warning("compiled read failed, answering on the resolver path: %r", exc)
        return None
    assert isinstance(text, str)
    return await fill_objects(text, plan.objects, context)


def mark_compiled(scope: Scope) -> None:
    scope.setdefault("state", {})[_STATE_KEY] = COMPILED


class PlanHeader:
    """Put ``x-mlgraph-plan: compiled | resolver`` on every response of ``path``."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[_STATE_KEY] = RESOLVER

        async def send_with_plan(message: Message) -> None:
            if message["type"] == "http.response.start":
                plan = str(state.get(_STATE_KEY, RESOLVER)).encode()
                message.setdefault("headers", []).append((HEADER, plan))
            await send(message)

        await self.app(scope, receive, send_with_plan)
