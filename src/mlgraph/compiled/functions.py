"""The SQL functions the compiled path needs, and a readiness probe that they are installed.

They come from migrations (``0004`` created them, ``0005`` corrected two, ``0009`` and ``0018``
made ``mlgraph_json`` faster). A database migrated only part of the way would answer with the
old formats, so the probe asks each function for a value only the current version writes as
Python does, and compares with ``json.dumps``. (``0009`` and ``0018`` changed no answer, so
the probe does not tell them apart, nor needs to.)
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

#: (function, SQL call, what the resolver path writes for the same value).
PROBES: tuple[tuple[str, str, str], ...] = (
    ("mlgraph_float", "mlgraph_float(1000000000000000.5::float8)", json.dumps(1e15 + 0.5)),
    ("mlgraph_float_shortest", "mlgraph_float_shortest(1e17::float8)", json.dumps(1e17)),
    ("mlgraph_json", """mlgraph_json('{"a": [1.5, 2]}'::jsonb)""", '{"a":[1.5,2]}'),
    ("mlgraph_json_ascii", "mlgraph_json_ascii(chr(127) || 'é')", json.dumps("\x7fé")),
)


async def stale_functions(conn: AsyncConnection) -> list[str]:
    """The functions that are missing or answer differently from Python; empty when ready."""
    installed = await conn.execute(
        text("SELECT proname FROM pg_proc WHERE proname = ANY(:names)"),
        {"names": [name for name, _, _ in PROBES]},
    )
    names = set(installed.scalars())
    missing = [name for name, _, _ in PROBES if name not in names]
    if missing:
        return missing
    calls = ", ".join(call for _, call, _ in PROBES)
    row = (await conn.execute(text(f"SELECT {calls}"))).one()
    return [name for (name, _, want), got in zip(PROBES, row, strict=True) if got != want]
