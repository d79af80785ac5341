"""WebSocket transport details strawberry leaves to the application.

strawberry's handlers already answer protocol misuse (unknown message type 4400, subscribe
before ``connection_init`` 4401, duplicate id 4409, init timeout 4408, second init 4429). This
adapter adds what they assume: a message size limit (close 1009), and messages that are JSON
objects of the expected shape (anything else closes 4400 instead of reaching a handler that
would index into it). The graphql-transport-ws handler tells each operation's task where its
``next`` messages go, so a subscription can write them itself (``mlgraph.live.delivery``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from json import JSONDecodeError
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from mlgraph.context import Context
from mlgraph.live.delivery import DIRECT, Direct

MESSAGE_TOO_BIG, BAD_MESSAGE = 1009, 4400
_OPERATION_TYPES = ("subscribe", "start")


def malformed(message: Any) -> str | None:
    """Why a decoded message cannot be handled, or None."""
    if not isinstance(message, dict):
        return "a message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string `type`"
    if "id" in message and not isinstance(message["id"], str):
        return "`id` must be a string"
    if kind in _OPERATION_TYPES:
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "`payload.query` must be a string"
        if not isinstance(payload.get("variables") or {}, dict):
            return "`payload.variables` must be an object"
    return None


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Reads ``max_message_bytes`` from the view (default 64 KiB)."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        try:
            limit: int = getattr(self.view, "max_message_bytes", 64 * 1024)
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit:
                    await self.close(MESSAGE_TOO_BIG, f"message over {limit} bytes")
                    return
                try:
                    message = self.view.decode_json(text)
                except JSONDecodeError as e:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from e
                if reason := malformed(message):
                    await self.close(BAD_MESSAGE, reason)
                    return
                yield message
        except KeyError as e:
            raise NonTextMessageReceived from e
        except WebSocketDisconnect:
            pass

    async def send_text(self, text: str) -> None:
        """An already encoded message (``send_json``'s second half)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler; each operation's task knows its socket."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        adapter = self.websocket
        if isinstance(adapter, LimitedWebSocketAdapter):
            DIRECT.set(Direct.of(operation.id, self.view.encode_json_string, adapter.send_text))
        await super().run_operation(operation)
