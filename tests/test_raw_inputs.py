"""The raw input path (``schema/raw_inputs.py``): the same objects as strawberry's conversion,
and a big batch with one bad item refused whole, coded, with nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.relay import GlobalID
from strawberry.types.arguments import convert_argument

from mlgraph.schema import build_schema
from mlgraph.schema.enums import DriftKind
from mlgraph.schema.mutations.monitoring import DriftMetricInput, RecordDriftMetricsInput
from mlgraph.schema.raw_inputs import raw_input
from mlgraph.storage import models as m
from tests.conftest import Backend
from tests.test_mut_monitoring import END, START, count, metric, record, setup
from tests.writes import codes, written


@strawberry.input
class Leafy:
    name: str
    tags: list[str] | None = None
    kind: DriftKind | None = None


@raw_input
@strawberry.input
class Nested:
    label: str
    weight: float = 1.0


@raw_input
@strawberry.input
class Everything:
    """Every shape the plan knows: leaves, lists of leaves, nested raw inputs (one, a list,
    null items), an input without the hook, a GlobalID, and fields left to defaults."""

    when: datetime
    kind: DriftKind
    names: list[str]
    maybe_count: int | None
    one: Nested
    many: list[Nested | None]
    plain: Leafy
    plain_list: list[Leafy]
    node: GlobalID
    optional_one: Nested | None = None
    default_text: str = "x"


@contextmanager
def hooks_off(*types: type) -> Iterator[None]:
    """Strawberry's own conversion for ``types`` while the block runs."""
    definitions = [t.__strawberry_definition__ for t in types]  # type: ignore[attr-defined]
    saved = [d.from_input for d in definitions]
    for d in definitions:
        d.from_input = None
    try:
        yield
    finally:
        for d, hook in zip(definitions, saved, strict=True):
            d.from_input = hook


def convert(value: Any, type_: type) -> Any:
    schema = build_schema()
    return convert_argument(value, type_, schema.schema_converter.scalar_registry, schema.config)


def both(value: Any, type_: type, *raw: type) -> tuple[Any, Any]:
    fast = convert(value, type_)
    with hooks_off(*raw):
        slow = convert(value, type_)
    return fast, slow


def test_the_plan_builds_what_strawberry_builds() -> None:
    when = datetime(2026, 2, 1, tzinfo=UTC)
    node = GlobalID("Model", "42")
    value = {
        "when": when,
        "kind": DriftKind.DATA,
        "names": ["a", "b"],
        "maybeCount": None,
        "one": {"label": "l", "weight": 2.5},
        "many": [{"label": "a", "weight": 1.0}, None, {"label": "b", "weight": 3.0}],
        "plain": {"name": "p", "tags": ["t"], "kind": DriftKind.CONCEPT},
        "plainList": [{"name": "q"}],
        "node": str(node),
    }
    fast, slow = both(value, Everything, Everything, Nested)
    assert fast == slow
    assert fast.node == node
    assert fast.one == Nested(label="l", weight=2.5)
    assert fast.many[1] is None
    assert fast.optional_one is None
    assert fast.default_text == "x"
    assert fast.names == ["a", "b"]
    assert fast.names is not value["names"]  # copied: graphql-core may share a default


def test_a_drift_batch_converts_to_the_same_objects() -> None:
    metrics = [
        {
            "kind": (DriftKind.DATA, DriftKind.CONCEPT, DriftKind.PREDICTION)[i % 3],
            "metric": "psi",
            "feature": f"f{i}",
            "score": i / 1000,
            "threshold": 0.2,
            "detected": (None, True, False)[i % 3],
            "windowStart": datetime(2026, 2, 1, tzinfo=UTC),
            "windowEnd": datetime(2026, 2, 2, tzinfo=UTC),
            "reportName": None if i % 2 else f"r/{i}.json",
        }
        for i in range(1000)
    ]
    value = {"deploymentId": "RGVwbG95bWVudDox", "metrics": metrics}
    fast, slow = both(value, RecordDriftMetricsInput, RecordDriftMetricsInput, DriftMetricInput)
    assert fast == slow
    assert all(isinstance(x, DriftMetricInput) for x in fast.metrics)
    assert fast.metrics[1].detected is True
    assert fast.metrics[0].report_name == "r/0.json"


BIG = 1000


def batch(**bad: Any) -> list[dict[str, Any]]:
    """A full batch whose last item carries ``bad``."""
    items = [metric(feature=f"f{i}") for i in range(BIG)]
    items[-1] = metric(**{"feature": "last", **bad})
    return items


@pytest.mark.parametrize(
    ("bad", "field", "code"),
    [
        ({"windowStart": END, "windowEnd": START}, "windowEnd", "INVALID"),
        ({"metric": "m" * 65}, "metric", "TOO_LONG"),
        ({"feature": "\u0007bell"}, "feature", "INVALID"),
        ({"reportName": "../escape"}, "reportName", "INVALID"),
    ],
)
async def test_a_bad_item_refuses_the_whole_big_batch(
    db: Backend, bad: dict[str, Any], field: str, code: str
) -> None:
    s = await setup(db)
    payload = await record(db, s.deployment_id, batch(**bad))
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == ["input", "metrics", str(BIG - 1), field]
    assert payload["count"] == 0
    assert await count(db, m.DriftMetric) == 0
    assert await written(db) == (0, 0)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"score": "high"}, "score"),
        ({"kind": "SIDEWAYS"}, "kind"),
        ({"windowEnd": "yesterday"}, "windowEnd"),
        ({"unknown": 1}, None),
        ({"feature": None}, "feature"),
    ],
)
async def test_a_mistyped_item_refuses_the_whole_big_batch(
    db: Backend, bad: dict[str, Any], where: str | None
) -> None:
    """graphql-core's coercion still checks every item: BAD_USER_INPUT naming the item."""
    s = await setup(db)
    variables = {"input": {"deploymentId": s.deployment_id, "metrics": batch(**bad)}}
    query = (
        "mutation($input: RecordDriftMetricsInput!) "
        "{ recordDriftMetrics(input: $input) { count userErrors { code } } }"
    )
    assert db.client is not None
    response = await db.client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert body.get("data") is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f".metrics[{BIG - 1}]" in error["message"]  # graphql-core names the item
    if where is not None:
        assert where in error["message"]
    assert await count(db, m.DriftMetric) == 0
    assert await written(db) == (0, 0)
    assert "Traceback" not in json.dumps(body)
