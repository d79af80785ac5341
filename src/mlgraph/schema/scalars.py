"""Custom scalars, formatted one fixed way so every read path returns the same bytes."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.scalars import JSON
from strawberry.schema.types.scalar import DEFAULT_SCALAR_REGISTRY
from strawberry.types.scalar import ScalarDefinition

from mlgraph.errors import BadUserInput
from mlgraph.storage.types import as_utc


def _serialize(value: datetime) -> str:
    value = as_utc(value)
    # ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the year in four digits (what ``_parse`` reads back;
    # strftime's ``%Y`` would write the year 999 as ``999``), at ~60% of strftime's cost.
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime needs a timezone (e.g. 'Z')")
    return parsed.astimezone(UTC)


_DATETIME = strawberry.scalar(
    name="DateTime",
    description="UTC timestamp, ISO-8601 with microseconds: `2026-01-31T12:00:00.000000Z`.",
    serialize=_serialize,
    parse_value=_parse,
)


def _parse_bigint(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("BigInt must be an integer")
    return int(value)


BigInt = NewType("BigInt", int)

_BIGINT = strawberry.scalar(
    name="BigInt",
    description="A 64-bit integer, as a JSON number (exact up to 2^53).",
    serialize=int,
    parse_value=_parse_bigint,
)


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_json(value: object, max_depth: int, *, text: str | bytes | None = None) -> str | None:
    """Why a decoded JSON value is refused (nested over ``max_depth`` arrays and objects, or
    a string holding a lone surrogate, which no UTF-8 text can carry), or None.

    Only containers go on the walk's stack; the leaves of each are looked at in one loop (a
    request body of 1,000 drift metrics has 9,000 of them, and stacking each was a fifth of
    its server CPU). ``text``, the JSON text the value was decoded from: when it is ASCII
    without a ``\\uD800``-``\\uDFFF`` escape, no string of the value can hold a surrogate,
    and only the nesting is walked."""
    strings = text is None or not text.isascii() or _surrogate_escape(text)
    if strings and _bad_string(value):
        return _LONE_SURROGATE
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[dict[object, object] | list[object], int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth == max_depth:
            return f"JSON nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            if strings:
                for key in item:
                    if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                        return _LONE_SURROGATE
            children: Iterable[object] = item.values()
        else:
            children = item
        if not strings:
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
            continue
        for child in children:
            if isinstance(child, str):
                if not child.isascii() and _SURROGATE.search(child):
                    return _LONE_SURROGATE
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return None


_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _surrogate_escape(text: str | bytes) -> bool:
    found = _ESCAPE_BYTES.search(text) if isinstance(text, bytes) else _ESCAPE.search(text)
    return found is not None


_LONE_SURROGATE = "a string holds a lone UTF-16 surrogate"


def _bad_string(value: object) -> bool:
    return isinstance(value, str) and not value.isascii() and _SURROGATE.search(value) is not None


def _json(max_depth: int) -> ScalarDefinition:
    """strawberry's ``JSON``, refusing values nested over ``max_depth`` (literals and variables)."""

    def parse(value: object) -> object:
        if problem := check_json(value, max_depth):
            raise BadUserInput(f"JSON value refused: {problem}")
        return value

    return dataclasses.replace(DEFAULT_SCALAR_REGISTRY[JSON], parse_value=parse)


def scalar_map(max_json_depth: int) -> dict[object, ScalarDefinition]:
    """For ``StrawberryConfig(scalar_map=...)``."""
    return {datetime: _DATETIME, BigInt: _BIGINT, JSON: _json(max_json_depth)}
