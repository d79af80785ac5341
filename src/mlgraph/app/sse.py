"""Server-sent events framed with LF line endings.

strawberry's SSE transport ends lines with CRLF, which the SSE standard allows; graphql-tools'
HTTP executor (Hive Gateway's default transport for subgraph subscriptions) finds the end of
an event only at ``\\n\\n`` and so never delivered one. LF is what the standard's own examples
use and what every SSE reader accepts.
"""

from __future__ import annotations

from strawberry.http.streaming import SSETransport


class LineFeedSSETransport(SSETransport):
    def encode_event(self, event: str, data: str | None = None) -> str:
        return super().encode_event(event, data).replace("\r\n", "\n")

    def encode_comment(self, comment: str) -> str:
        return super().encode_comment(comment).replace("\r\n", "\n")
