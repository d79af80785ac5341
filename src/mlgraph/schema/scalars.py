"""Custom scalars, formatted one fixed way so every read path returns the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition


def _serialize(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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

#: For ``StrawberryConfig(scalar_map=...)``.
SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: _DATETIME, BigInt: _BIGINT}
