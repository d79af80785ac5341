"""Direct delivery: a graphql-transport-ws subscription's ``next`` messages written straight to
its socket, encoded once per event and shared by every subscriber that would receive the same
bytes.

strawberry runs a subscription as a chain per subscriber (the resolver's generator, graphql-core's
mapping, a per-event execution, its result handling and the transport's encoding). Once
strawberry has parsed, validated and opened a subscription (its resolver checked the arguments
and the caller's rights), nothing in that chain differs between subscribers of the same
selection, variables and rights but the operation id. So an event is rendered once per (event,
selection, variables, rights) (``mlgraph.live.renders``), as the chain would, its ``payload``
encoded once, and ``{"id":…,"type":"next","payload":…}`` written to each socket.

Two ways, both with the bytes strawberry's handler would send (the same keys, in the same
order, through the same encoder; ``tests/test_live_protocol.py`` compares them):

* **Fan-out by the hub** (a socket of ``mlgraph.app.websockets.LiveWebSocketProtocol``, a
  :class:`Sink`): while a subscription waits with nothing queued, the hub writes its events'
  WebSocket frames to the socket itself, with no task, generator step or ASGI send per
  subscriber, and one frame built per (event, group) and written to every transport (a
  group: selection, variables, rights and operation id; ``mlgraph.live.hub``). A socket whose
  transport buffer is over its high-water mark gets its events through its queue instead (and,
  past the queue's bound, is a slow consumer).
* **Per subscriber** (any other socket, and events a subscription's task delivers itself):
  the subscription's stream sends the message through the ASGI ``send``.

Everything else stays with strawberry: validation, the first resolution and its errors, an
event whose result has errors (each subscriber's errors carry its own request id), the stream's
end and its final error, ``complete``, ping/pong and the protocol's edge cases.

The transport's handler says where a subscription's messages go (``DIRECT``, set in the
operation's task); the subscription's resolver reads it.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class Sink(Protocol):
    """A WebSocket that takes whole server frames from the hub (no extension negotiated)."""

    def accepts_frames(self) -> bool:
        """Open, with no extension, and its transport buffer below its high-water mark."""
        ...

    def write_frame(self, frame: bytes) -> bool:
        """Write ``frame`` if the socket is still open and below its high-water mark; False:
        not written. (What ``accepts_frames`` found of the handshake does not change, so it
        is not asked again per frame.)"""
        ...


def text_frame(message: bytes) -> bytes:
    """An unfragmented, unmasked WebSocket text frame (RFC 6455 5.2), as a server sends it."""
    n = len(message)
    if n < 126:
        return bytes((0x81, n)) + message
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + message
    return struct.pack("!BBQ", 0x81, 127, n) + message


@dataclass(frozen=True, slots=True)
class Direct:
    """One graphql-transport-ws operation's socket: how its ``next`` messages are sent."""

    #: ``{"id":<the operation's id>,"type":"next","payload":`` through the view's encoder.
    prefix: str
    send_text: Callable[[str], Awaitable[None]]
    #: The view's JSON encoder (what strawberry's handler encodes every message with).
    encode: Callable[[object], str]
    #: The socket, when the hub may write frames to it itself.
    sink: Sink | None = None

    @classmethod
    def of(
        cls,
        operation_id: str,
        encode: Callable[[object], str],
        send_text: Callable[[str], Awaitable[None]],
        sink: Sink | None = None,
    ) -> Direct:
        prefix = '{"id":' + encode(operation_id) + ',"type":"next","payload":'
        return cls(prefix, send_text, encode, sink)

    async def send_next(self, payload: str) -> None:
        """Send the ``next`` message of an already encoded ``payload``."""
        await self.send_text(self.message(payload))

    def message(self, payload: str) -> str:
        return self.prefix + payload + "}"

    def frame(self, payload: str) -> bytes:
        """The ``next`` message's WebSocket frame (what the hub writes to a ``sink``)."""
        return text_frame(self.message(payload).encode())


#: The graphql-transport-ws operation whose task is running (None elsewhere: SSE, queries).
DIRECT: ContextVar[Direct | None] = ContextVar("mlgraph_live_direct", default=None)
