"""WebSocket transport details strawberry leaves to the application.

strawberry's handlers already answer protocol misuse (unknown message type 4400, subscribe
before ``connection_init`` 4401, duplicate id 4409, init timeout 4408, second init 4429). This
adapter adds what they assume: a message size limit (close 1009), and messages that are JSON
objects of the expected shape (anything else closes 4400 instead of reaching a handler that
would index into it). The graphql-transport-ws handler tells each operation's task where its
``next`` messages go, so a subscription can write them itself (``mlgraph.live.delivery``).

``LiveWebSocketProtocol`` is uvicorn's sans-I/O WebSocket protocol
(``MLGRAPH_LIVE_WS_IMPLEMENTATION=websockets-sansio``) as a ``Sink`` for the hub's fan-out:
once accepted without an extension (permessage-deflate is off by default), the hub writes
whole frames to its transport while the transport's buffer is below its high-water mark. It
subclasses uvicorn's internals (its ``transport``, ``conn``, ``close_sent``, ``writable``):
uvicorn is pinned to one version.
"""

from __future__ import annotations

import asyncio
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
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from mlgraph.context import Context
from mlgraph.live.delivery import DIRECT, Direct, Sink

MESSAGE_TOO_BIG, BAD_MESSAGE = 1009, 4400
_OPERATION_TYPES = ("subscribe", "start")
#: The ASGI scope extension holding the socket's ``Sink``.
SINK = "mlgraph.sink"


def uvicorn_ws(implementation: str) -> str:
    """uvicorn's ``ws`` option for ``Settings.live_ws_implementation``."""
    if implementation == "websockets-sansio":
        return f"{__name__}:LiveWebSocketProtocol"
    return implementation


class _Inbox:
    """The received messages of one socket: what uvicorn uses of an ``asyncio.Queue``
    (``put_nowait``, ``get``, ``empty``) in a list and a future (the queue holds three
    deques, ~2.3 KiB per idle connection)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.pop(0)


class _Flag:
    """What uvicorn uses of an ``asyncio.Event`` (its deque of waiters is ~0.7 KiB)."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, a ``Sink`` for the hub's fan-out, with a
    lighter inbox and write flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]  # the part of a Queue uvicorn uses
        #: The part of an Event uvicorn uses; ``_open`` reads its flag directly.
        self.writable = self._writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:  # an upgrade: the app runs with this scope
            self.scope["extensions"][SINK] = self  # type: ignore[assignment]  # ASGI: any value

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.conn.state is State.OPEN:
            # The handshake is not needed any more: uvicorn's copies, and the parser's (its
            # generator keeps the request in a local). Like websockets' own ``discard``, a
            # new parser takes over, with nothing received since the request: a client
            # waits for the 101 it has just been sent before it sends a frame.
            del self.request, self.response
            if not self.conn.reader.buffer:
                self.conn.parser = self.conn.parse()
                next(self.conn.parser)

    def accepts_frames(self) -> bool:
        return (
            self.handshake_complete
            and self.initial_response is None
            and not self.conn.extensions
            and self._open()
        )

    def write_frame(self, frame: bytes) -> bool:
        if not self._open():
            return False
        self.transport.write(frame)
        return True

    def _open(self) -> bool:
        """Not closing, and the transport's buffer below its high-water mark."""
        return (
            not self.close_sent
            and not self.disconnected
            and self._writable._set
            and not self.transport.is_closing()
        )


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
            sink: Sink | None = adapter.ws.scope.get("extensions", {}).get(SINK)
            encode, send_text = self.view.encode_json_string, adapter.send_text
            DIRECT.set(Direct.of(operation.id, encode, send_text, sink))
        await super().run_operation(operation)
