"""The caller's W3C Trace Context ``traceparent`` header, checked before anything keeps it.

A mutation records the header with its outbox events and the webhook deliverer passes it on
(``traceparent`` on the delivery), so a receiver can join the caller's trace. Only a
well-formed value travels (https://www.w3.org/TR/trace-context/#traceparent-header):
``version-traceid-parentid-flags`` in lowercase hex, version not ``ff``, trace and parent ids
not all zeros; version ``00`` is exactly 55 characters. A later version is read by the same
rules and its version-00 part passed on (what a version-00 reader understands of it).
"""

from __future__ import annotations

import re

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
LENGTH = 55


def traceparent(value: str) -> str:
    """``value`` (its first 55 characters for a later version) if it is a well-formed
    ``traceparent``, else ``""``."""
    value = value.strip(" \t")
    head = _TRACEPARENT.fullmatch(value[:LENGTH])
    if head is None:
        return ""
    version, trace_id, parent_id = head.groups()
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return ""
    if len(value) > LENGTH and (version == "00" or value[LENGTH] != "-"):
        return ""
    return value[:LENGTH]
