"""GraphQL over HTTP (the GraphQL-over-HTTP specification): media types, status codes, methods.

* **Media types.** ``Accept: application/graphql-response+json`` gets that type, with the
  status codes the specification gives it: 400 for a request that did not reach execution
  (parse, validation, limit or variable errors), 503 for an outage. ``application/json`` (and
  ``*/*`` or no ``Accept``, as older clients send) gets ``application/json``, where a GraphQL
  answer is 200 whatever it holds, but for an outage that left nothing to answer (503). Any
  other ``Accept`` is 406.
* **Methods.** GET runs queries only: a mutation over GET is 405 with ``Allow: POST``.
* **CSRF.** A browser sends a cross-site request without a preflight only when it is "simple":
  GET, or POST with ``text/plain``, ``application/x-www-form-urlencoded`` or
  ``multipart/form-data``. POST bodies must be ``application/json`` (strawberry refuses the
  simple types with 400), so a simple POST never runs; and credentials are never ambient here:
  they are the ``Authorization`` or ``X-API-Key`` header, which no cross-site page can attach
  without a preflight, and no cookie authenticates.
"""

from __future__ import annotations

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
#: Accept values of the other transports, which negotiate on their own.
_STREAMS = ("text/event-stream", "multipart/mixed")


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None when none is acceptable."""
    if not accept or not accept.strip():
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, media.lower()))
    for _, _, media in sorted(ranked):
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*") or media.startswith(_STREAMS):
            return JSON
    return None
