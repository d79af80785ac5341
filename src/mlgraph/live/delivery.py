"""Direct delivery: a graphql-transport-ws subscription's ``next`` messages written straight to
its socket, encoded once per event and shared by every subscriber that would receive the same
bytes.

strawberry runs a subscription as a chain per subscriber (the resolver's generator, graphql-core's
mapping, a per-event execution, its result handling and the transport's encoding): 164 us of
server CPU per delivered message against 115 us this way (bench/subscribers.py, 1,000
subscribers, one session). Once strawberry has parsed, validated and opened a
subscription (its resolver checked the arguments and the caller's rights), nothing in that chain
differs between subscribers of the same selection, variables and rights but the operation id.
So the subscription's stream renders an event once per (event, selection, variables, rights)
(``mlgraph.live.renders``), as the chain would, encodes the ``payload`` once, and writes
``{"id":…,"type":"next","payload":…}`` to each socket itself. Everything else stays with
strawberry: validation, the first resolution and its errors, an event whose result has errors
(each subscriber's errors carry its own request id), the stream's end and its final error,
``complete``, ping/pong and the protocol's edge cases.

The transport's handler says where a subscription's messages go (``DIRECT``, set in the
operation's task); the subscription's resolver reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Direct:
    """One graphql-transport-ws operation's socket: how its ``next`` messages are sent."""

    #: ``{"id":<the operation's id>,"type":"next","payload":`` through the view's encoder.
    prefix: str
    send_text: Callable[[str], Awaitable[None]]
    #: The view's JSON encoder (what strawberry's handler encodes every message with).
    encode: Callable[[object], str]

    @classmethod
    def of(
        cls,
        operation_id: str,
        encode: Callable[[object], str],
        send_text: Callable[[str], Awaitable[None]],
    ) -> Direct:
        return cls('{"id":' + encode(operation_id) + ',"type":"next","payload":', send_text, encode)

    async def send_next(self, payload: str) -> None:
        """Send the ``next`` message of an already encoded ``payload``: the bytes strawberry's
        handler would send (the same keys, in the same order, through the same encoder)."""
        await self.send_text(self.prefix + payload + "}")


#: The graphql-transport-ws operation whose task is running (None elsewhere: SSE, queries).
DIRECT: ContextVar[Direct | None] = ContextVar("mlgraph_live_direct", default=None)
