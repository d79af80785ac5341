"""Opaque identifiers: Relay global IDs and connection cursors.

Global ID: ``base64("<TypeName>:<uuid>")`` (standard alphabet, as Relay servers commonly do).
Cursor: ``base64url(json([order column, sort value, uuid]))`` where datetimes are integer
microseconds since the epoch. A cursor names the ordering it was made under, so a cursor from
another ordering is refused instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgraph.errors import BadUserInput
from mlgraph.storage.types import as_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode_global_id(value: str, *, field: str = "id") -> tuple[str, uuid.UUID]:
    """``(type name, uuid)``; anything malformed is BAD_USER_INPUT."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
        type_name, _, pk = raw.partition(":")
        if not type_name:
            raise ValueError(value)
        return type_name, uuid.UUID(pk)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput(f"{value!r} is not a valid global ID", field=field) from None


def encode_cursor(column: str, value: Any, pk: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = (as_utc(value) - _EPOCH) // timedelta(microseconds=1)
    raw = json.dumps([column, value, str(pk)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, column: str, is_datetime: bool, *, field: str
) -> tuple[Any, uuid.UUID]:
    """The ``(sort value, id)`` key of a cursor made under ordering ``column``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        name, value, pk = parts
        if name != column:
            raise ValueError("cursor from another ordering")
        if is_datetime:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("bad timestamp")
            value = _EPOCH + timedelta(microseconds=value)
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("bad sort value")
        return value, uuid.UUID(pk)
    except (ValueError, TypeError, UnicodeError, binascii.Error, OverflowError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor here", field=field) from None
