"""GraphQL over server-sent events (the graphql-sse "distinct connections" mode).

``POST /graphql`` with ``Accept: text/event-stream`` and the usual JSON body (or ``GET`` with
``query``/``variables`` parameters, for ``EventSource``) runs one subscription and streams
each result as ``event: next`` with the JSON result as data, then ``event: complete``.
Authentication is the request's headers; the same limits and re-checks as a WebSocket apply,
and a connection closed by the server ends with a ``next`` carrying the reason as a coded
error, then ``complete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from strawberry.schema.base import BaseSchema
from strawberry.types.execution import ExecutionResult

from mlgraph.auth.backends import error_body
from mlgraph.context import Context
from mlgraph.live.connection import (
    FORBIDDEN,
    UNAUTHORIZED,
    LiveConnection,
    Refused,
    header_credential,
)

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_CODES = {UNAUTHORIZED: "UNAUTHENTICATED", FORBIDDEN: "FORBIDDEN"}


def wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _bad(message: str, request_id: str) -> Response:
    error = {"message": message, "extensions": {"code": "BAD_USER_INPUT", "requestId": request_id}}
    return JSONResponse({"data": None, "errors": [error]}, status_code=400)


async def _operation(request: Request, decode: Any) -> dict[str, Any] | str:
    """The request's operation, or why it is unusable."""
    if request.method == "GET":
        data: Any = dict(request.query_params)
        if "variables" in data:
            try:
                data["variables"] = decode(data["variables"])
            except ValueError:
                return "variables must be JSON"
    else:
        try:
            data = decode(await request.body())
        except ValueError:
            return "the body must be JSON"
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return "a `query` string is required"
    if not isinstance(data.get("variables") or {}, dict):
        return "`variables` must be an object"
    if not isinstance(data.get("operationName") or "", str):
        return "`operationName` must be a string"
    return data


def _frame(event: str, data: object | None = None) -> str:
    return f"event: {event}\ndata: {'' if data is None else json.dumps(data)}\n\n"


def _result(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    return body


async def sse_response(request: Request, schema: BaseSchema, ctx: Context, decode: Any) -> Response:
    operation = await _operation(request, decode)
    if isinstance(operation, str):
        return _bad(operation, ctx.request_id)
    closed = asyncio.Event()
    reason: list[tuple[int, str]] = []

    async def close(code: int, why: str) -> None:  # the SSE "close": end this response
        reason.append((code, why))
        closed.set()

    state = request.state
    live = ctx.live = LiveConnection(
        state.live.hub,
        state.settings,
        state.sessions,
        state.verifiers,
        close,
        header_credential=header_credential(request.headers),
        principal=ctx.principal,
    )
    try:
        await live.authenticate(None)
    except Refused as refused:
        return JSONResponse(
            error_body(refused.reason, ctx.request_id, _CODES[refused.code]), status_code=401
        )

    async def frames() -> AsyncGenerator[str, None]:
        source = await schema.subscribe(
            operation["query"],
            variable_values=operation.get("variables"),
            context_value=ctx,
            operation_name=operation.get("operationName"),
        )
        ended = asyncio.ensure_future(closed.wait())
        try:
            while True:
                step = asyncio.ensure_future(anext(source))
                await asyncio.wait({step, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await step
                    code, why = reason[0]
                    code_name = _CODES.get(code, "FORBIDDEN")
                    error = {"message": why, "extensions": {"code": code_name}}
                    yield _frame("next", {"data": None, "errors": [error]})
                    break
                try:
                    result = step.result()
                except StopAsyncIteration:
                    break
                yield _frame("next", _result(result))
            yield _frame("complete")
        finally:
            ended.cancel()
            await source.aclose()
            await live.aclose()

    return StreamingResponse(frames(), media_type="text/event-stream", headers=HEADERS)
