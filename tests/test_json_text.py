"""PostgreSQL writes every value as Python does: the compiled path's SQL functions, in bulk.

The compiled read path writes floats, strings, cursor strings and JSON documents inside
PostgreSQL; the resolver path writes them with ``json.dumps``. Each property sends 100,000
random values in one statement (arrays in, arrays out) and compares every answer with Python's.
"""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import text

from tests.conftest import Backend
from tests.values import double, json_value, string

POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
SAMPLES = 100_000
DOCUMENTS = 20_000


@POSTGRES
async def test_floats_format_as_python_repr(backend: Backend) -> None:
    rng = random.Random(16)
    xs = [0.0, -0.0, 1e15, -1e15, 1e16, 1e15 + 0.5, 2.0**53, 1e-4, 1e-5, 5e-324]
    xs += [double(rng) for _ in range(SAMPLES - len(xs))]
    query = text(
        "SELECT array_agg(mlgraph_float(x) ORDER BY n) "
        "FROM unnest(CAST(:xs AS float8[])) WITH ORDINALITY AS t(x, n)"
    )
    async with backend.engine.connect() as conn:
        got = (await conn.execute(query, {"xs": xs})).scalar_one()
    assert len(got) == len(xs) == SAMPLES
    differ = [(x, g) for x, g in zip(xs, got, strict=True) if g != json.dumps(x)]
    assert differ == []


@POSTGRES
async def test_strings_format_as_json_dumps(backend: Backend) -> None:
    rng = random.Random(17)
    strings = ["", "\x7f", "a\x7fb", "\x00"[1:], "😀", "\u2028", '"\\/', "\x1f\x80\x9f"]
    strings += [string(rng) for _ in range(SAMPLES - len(strings))]
    query = text(
        "SELECT array_agg(to_json(s)::text ORDER BY n), "
        "array_agg(mlgraph_json_ascii(s) ORDER BY n) "
        "FROM unnest(CAST(:ss AS text[])) WITH ORDINALITY AS t(s, n)"
    )
    async with backend.engine.connect() as conn:
        utf8, ascii_ = (await conn.execute(query, {"ss": strings})).one()
    assert len(utf8) == len(ascii_) == SAMPLES
    assert sum(len(s) for s in strings) > 5 * SAMPLES
    # Response strings (``ensure_ascii=False``) and cursor strings (``json.dumps`` default).
    differ = [
        s for s, u in zip(strings, utf8, strict=True) if u != json.dumps(s, ensure_ascii=False)
    ]
    assert differ == []
    differ = [s for s, a in zip(strings, ascii_, strict=True) if a != json.dumps(s)]
    assert differ == []


@POSTGRES
async def test_json_documents_format_as_the_resolver_path_writes_them(backend: Backend) -> None:
    rng = random.Random(18)
    docs = [json.dumps(json_value(rng), allow_nan=False) for _ in range(DOCUMENTS)]
    query = text(
        "SELECT array_agg(d::text ORDER BY n), array_agg(mlgraph_json(d) ORDER BY n) "
        "FROM unnest(CAST(:docs AS jsonb[])) WITH ORDINALITY AS t(d, n)"
    )
    async with backend.engine.connect() as conn:
        stored, compiled = (await conn.execute(query, {"docs": docs})).one()
    assert len(compiled) == DOCUMENTS
    # The resolver path reads the stored document and writes it with ``encode_json``.
    expected = [
        json.dumps(json.loads(s), separators=(",", ":"), ensure_ascii=False) for s in stored
    ]
    differ = [(s, c) for s, c, e in zip(stored, compiled, expected, strict=True) if c != e]
    assert differ == []
    # Both of its ways are taken: without a regular expression (no ``.`` and no ``null`` in
    # the text) and with one.
    plain = sum("." not in s and "null" not in s for s in stored)
    assert DOCUMENTS // 10 < plain < DOCUMENTS * 9 // 10
