"""SQL text pieces: bound parameters and expressions that write JSON exactly as the resolver
path writes it (compact separators, UTF-8, the scalar formats of ``schema.scalars``).

The JSON is assembled with ``||`` rather than ``json_build_object`` because PostgreSQL's json
functions put spaces around separators and the two paths must return the same bytes. Every
expression here yields non-null text (``null`` for SQL NULL), so concatenation never collapses.
The SQL functions ``mlgraph_float``, ``mlgraph_json`` and ``mlgraph_json_ascii`` come from the
migration ``2026_11_24_compiled_reads_json_functions``.
"""

from __future__ import annotations

import re
from typing import Any

from mlgraph.compiled.fields import Format

_SAFE = re.compile(r"[A-Za-z0-9_ :.\-\"{}\[\],]*")
#: base64 in PostgreSQL breaks lines after 76 characters: 57 input bytes.
_BASE64_LINE_BYTES = 57
_UUID_TEXT = 36


def lit(value: str) -> str:
    """A SQL string literal for text the planner made (keys, type names): never user values."""
    if not _SAFE.fullmatch(value):
        raise ValueError(f"refusing to inline {value!r}")
    return "'" + value + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Params:
    """Values bound as ``$n`` parameters, in order."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"

    def bind(self, value: Any) -> str:
        """``$n`` without a cast (the text it goes into has its own)."""
        self.values.append(value)
        return f"${len(self.values)}"


class Chain(str):
    """The SQL text of a concatenation (``concat``), keeping its parts: a concatenation that
    takes it as a part takes its parts instead, so nested objects and lists make one flat
    concatenation, adjacent literals merged."""

    parts: tuple[str, ...]

    def __new__(cls, parts: list[str]) -> Chain:
        chain = super().__new__(cls, _grouped(parts, [_weight(part) for part in parts]))
        chain.parts = tuple(parts)
        return chain


def concat(parts: list[str]) -> str:
    """Concatenate SQL text expressions, merging adjacent literals.

    Every ``||`` copies both sides into new text, so ``a || b || c || ...`` evaluated left to
    right copies its first part once per later part. The parts are grouped in halves of about
    the same weight instead (``(a || b) || (c || d)``, ``_grouped``): each byte is copied about
    log2(parts) times, and a page of objects (a subquery, the heavy part) about twice."""
    merged: list[str] = []
    for part in (
        p for given in parts for p in (given.parts if isinstance(given, Chain) else (given,))
    ):
        if merged and part.startswith("'") and merged[-1].startswith("'") and _is_lit(part):
            if _is_lit(merged[-1]):
                merged[-1] = merged[-1][:-1] + part[1:]
                continue
        merged.append(part)
    return Chain(merged) if len(merged) > 1 else merged[0]


def aggregate(body: str, rows: str) -> str:
    """``(SELECT body FROM rows)`` for a ``body`` of aggregates over ``rows`` (one row, so never
    NULL), with the literal text at either end of ``body`` left outside the subquery: it then
    joins the caller's concatenation, and the aggregated text is not copied once more to put
    it between them."""
    parts = list(body.parts) if isinstance(body, Chain) else [body]
    head = 0
    while head < len(parts) - 1 and _is_lit(parts[head]):
        head += 1
    tail = len(parts)
    while tail - 1 > head and _is_lit(parts[tail - 1]):
        tail -= 1
    inner = f"(SELECT {concat(parts[head:tail])} FROM {rows})"
    return concat([*parts[:head], inner, *parts[tail:]])


def _grouped(parts: list[str] | tuple[str, ...], weights: list[int]) -> str:
    """Split where the two sides weigh most nearly alike: a part that holds a subquery (a
    page of objects) then sits near the top and is copied about twice, not log2(parts)."""
    if len(parts) == 1:
        return parts[0]
    total, left, split, best = sum(weights), 0, 1, None
    for i in range(1, len(parts)):
        left += weights[i - 1]
        gap = abs(total - 2 * left)
        if best is None or gap < best:
            split, best = i, gap
    return (
        f"({_grouped(parts[:split], weights[:split])} || "
        f"{_grouped(parts[split:], weights[split:])})"
    )


def _weight(part: str) -> int:
    """A guess at how long the text of a part is, for ``_grouped``."""
    if _is_lit(part):
        return len(part)
    return 16 + 4096 * part.count("(SELECT")


def _is_lit(part: str) -> bool:
    return len(part) >= 2 and part[0] == "'" and part[-1] == "'" and "'" not in part[1:-1]


def json_object(entries: list[tuple[str, str]]) -> str:
    """``{"key":value,...}`` from (response key, non-null text expression) pairs."""
    parts: list[str] = []
    for i, (key, value) in enumerate(entries):
        parts.append(lit(("{" if i == 0 else ",") + '"' + key + '":'))
        parts.append(value)
    parts.append(lit("}" if entries else "{}"))
    return concat(parts)


def global_id(type_name: str, alias: str) -> str:
    """``base64("Type:uuid")`` as a JSON string, like ``ids.encode_global_id``. The text is
    ASCII, so ``textsend`` gives its bytes in any encoding (``convert_to`` looks its encoding up
    by name on every call)."""
    raw = f"textsend({lit(type_name + ':')} || {alias}.id::text)"
    encoded = f"encode({raw}, 'base64')"
    if len(type_name) + 1 + _UUID_TEXT > _BASE64_LINE_BYTES:  # PostgreSQL wraps base64 lines
        encoded = f"translate({encoded}, E'\\n', '')"
    return f"('\"' || {encoded} || '\"')"


def value(column_sql: str, fmt: Format, nullable: bool) -> str:
    """A column's value as JSON text, as the GraphQL scalar of that format serializes it."""
    match fmt:
        case "string":
            expr = f"to_json({column_sql})::text"
        case "int":
            expr = f"{column_sql}::text"
        case "float":
            expr = f"mlgraph_float({column_sql}::float8)"
        case "bool":
            expr = f"{column_sql}::text"
        case "datetime":
            expr = (
                f"('\"' || to_char({_finite(column_sql)} AT TIME ZONE INTERVAL '+00:00', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') || \'"\')'
            )
        case "json":
            expr = f"mlgraph_json({column_sql})"
        case "enum":
            expr = f"('\"' || {column_sql} || '\"')"
    return f"coalesce({expr}, 'null')" if nullable else expr


def _finite(column_sql: str) -> str:
    """A timestamp as the resolver path reads it: asyncpg hands out ``infinity`` and
    ``-infinity`` as ``datetime.max`` and ``datetime.min`` (and writes those two back as them),
    where ``to_char`` would give NULL and ``extract`` a number no bigint holds."""
    return (
        f"(CASE {column_sql} WHEN 'infinity' THEN timestamptz '9999-12-31 23:59:59.999999+00' "
        f"WHEN '-infinity' THEN timestamptz '0001-01-01 00:00:00+00' ELSE {column_sql} END)"
    )


def cursor_value(column_sql: str, kind: str) -> str:
    """The sort value inside a cursor, as ``json.dumps`` writes it (``ids.encode_cursor``)."""
    match kind:
        case "datetime":
            expr = f"(extract(epoch FROM {_finite(column_sql)}) * 1000000)::bigint::text"
        case "float":
            expr = f"mlgraph_float({column_sql}::float8)"
        case "int":
            expr = f"{column_sql}::text"
        case _:
            expr = f"mlgraph_json_ascii({column_sql}::text)"
    return f"coalesce({expr}, 'null')"


def cursor(column: str, value_sql: str, id_sql: str, kind: str, name_sql: str | None = None) -> str:
    """``base64url(json([column, value, id]))`` without padding, like ``ids.encode_cursor``
    (ASCII: names and ids as they are, strings through ``mlgraph_json_ascii``),
    from SQL expressions of the row's sort value and id (null when the id is). ``name_sql``:
    the text ``["<name>",`` as a bound parameter, for an order named by the caller."""
    raw = concat(
        [
            lit('["' + column + '",') if name_sql is None else name_sql,
            cursor_value(value_sql, kind),
            lit(',"'),
            f"{id_sql}::text",
            lit('"]'),
        ]
    )
    b64 = f"encode(textsend({raw}), 'base64')"
    return f"rtrim(translate({b64}, E'+/\\n', '-_'), '=')"
