"""``check_json`` (request bodies, JSON variables): refused exactly when the plain walk over
every value refuses, for values of any shape (hypothesis), and for a big batch."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mlgraph.schema.scalars import check_json

_SURROGATE = re.compile("[\ud800-\udfff]")


def reference(value: object, max_depth: int) -> str | None:
    """The walk as first written: every key and value on the stack."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "surrogate"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth == max_depth:
            return "deep"
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return None


TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=4) | st.sampled_from(
    ["\ud800", "a\udfffb", "ok", ""]
)
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


def kind(problem: str | None) -> str | None:
    if problem is None:
        return None
    return "surrogate" if "surrogate" in problem else "deep"


@settings(max_examples=600, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=6))
def test_refused_exactly_when_the_plain_walk_refuses(value: object, max_depth: int) -> None:
    found, expected = kind(check_json(value, max_depth)), reference(value, max_depth)
    assert (found is None) == (expected is None), (found, expected)


@settings(max_examples=600, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=6), st.booleans(), st.booleans())
def test_the_text_decoded_tells_the_same(
    value: object, max_depth: int, ascii_only: bool, as_bytes: bool
) -> None:
    """Given the text it was decoded from (``\\udXXX`` escapes, raw surrogates, or bytes
    carrying them as ``surrogatepass`` UTF-8), the answer is the same as without it."""
    dumped = json.dumps(value, ensure_ascii=ascii_only)
    text: str | bytes = dumped
    if as_bytes:
        text = dumped.encode("utf-8", "surrogatepass")
    decoded = json.loads(text)
    found = kind(check_json(decoded, max_depth, text=text))
    assert (found is None) == (reference(decoded, max_depth) is None)


def test_a_big_batch_passes_and_its_one_bad_string_is_found() -> None:
    batch = {"input": {"metrics": [{"feature": f"f{i}", "score": i / 7} for i in range(1000)]}}
    assert check_json(batch, 64) is None
    batch["input"]["metrics"][999]["feature"] = "lone \udc00"
    assert check_json(batch, 64) == "a string holds a lone UTF-16 surrogate"
    assert check_json(batch, 2) == "JSON nested deeper than 2 levels"
    body = json.dumps(batch)  # the lone surrogate as an escape
    assert check_json(json.loads(body), 64, text=body.encode()) == (
        "a string holds a lone UTF-16 surrogate"
    )
    batch["input"]["metrics"][999]["feature"] = "fine"
    body = json.dumps(batch)
    assert check_json(json.loads(body), 64, text=body.encode()) is None
