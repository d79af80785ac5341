"""Big lists of plain input objects coerced by a plan (``schema/coercion.py``): the executor
builds what graphql-core's own ``Executor.build`` builds, values and errors alike."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.execution import Executor as GraphQLCoreExecutor

from mlgraph.schema import build_schema
from mlgraph.schema.coercion import BIG, split
from mlgraph.schema.execution import Executor

SCHEMA = build_schema()._schema
DOCUMENT = parse(
    "mutation Record($input: RecordDriftMetricsInput!, $note: String) "
    "{ recordDriftMetrics(input: $input) { count } }"
)
DEPLOYMENT = "RGVwbG95bWVudDox"


def item(i: int, **changes: Any) -> dict[str, Any]:
    """A metric; every few items leave out, null or set the optional fields."""
    value: dict[str, Any] = {
        "kind": ("DATA", "CONCEPT", "PREDICTION", "OPERATIONAL")[i % 4],
        "metric": "psi",
        "feature": f"f{i}",
        "score": i if i % 5 == 0 else i / 1000,  # an Int is a Float too
        "threshold": 0.2,
        "windowStart": "2026-02-01T00:00:00Z",
        "windowEnd": "2026-02-01T01:00:00+01:00",
    }
    if i % 3 == 1:
        value["detected"] = None
    elif i % 3 == 2:
        value["detected"] = i % 2 == 0
    if i % 4 == 1:
        value["reportName"] = f"r/{i}.json"
    elif i % 4 == 2:
        value["reportName"] = None
    value.update(changes)
    return value


def variables(metrics: list[Any], **input_changes: Any) -> dict[str, Any]:
    return {"input": {"deploymentId": DEPLOYMENT, "metrics": metrics, **input_changes}}


def built(executor: type[GraphQLCoreExecutor[Any]], raw: dict[str, Any]) -> Any:
    return executor.build(SCHEMA, DOCUMENT, None, None, raw, "Record")


def errors(result: Any) -> list[Any]:
    assert isinstance(result, list), "expected the request to be refused"
    assert all(isinstance(e, GraphQLError) for e in result)
    return [e.formatted for e in result]


def test_a_big_batch_is_coerced_as_graphql_core_coerces_it() -> None:
    raw = variables([item(i) for i in range(1000)])
    ours, theirs = built(Executor, raw), built(GraphQLCoreExecutor, raw)
    assert ours.variable_values.coerced == theirs.variable_values.coerced
    assert ours.variable_values.coerced["input"]["metrics"][5]["score"] == 5
    source = ours.variable_values.sources["input"].value
    assert source is raw["input"]  # the value as sent, for graphql-core's literals
    assert source == theirs.variable_values.sources["input"].value
    assert len(source["metrics"]) == 1000


def test_only_lists_of_at_least_big_items_take_the_plan() -> None:
    operation = DOCUMENT.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert split(SCHEMA, operation, variables([item(i) for i in range(BIG - 1)])) is None
    found = split(SCHEMA, operation, variables([item(i) for i in range(BIG)]))
    assert found is not None
    lighter, coerced = found
    assert lighter["input"]["metrics"] == []
    assert [len(c.items) for c in coerced] == [BIG]


@pytest.mark.parametrize("position", [0, 500, 999])
@pytest.mark.parametrize(
    "bad",
    [
        {"score": "high"},
        {"score": True},
        {"kind": "SIDEWAYS"},
        {"windowEnd": "yesterday"},
        {"windowEnd": "2026-02-01T01:00:00"},  # no offset
        {"feature": None},
        {"feature": 7},
        {"unknown": 1},
        {"detected": "yes"},
    ],
    ids=lambda bad: "-".join(f"{k}={v}" for k, v in bad.items()),
)
def test_a_bad_item_is_refused_with_graphql_cores_errors(
    bad: dict[str, Any], position: int
) -> None:
    metrics = [item(i) for i in range(1000)]
    metrics[position] = item(position, **bad)
    raw = variables(metrics)
    assert errors(built(Executor, raw)) == errors(built(GraphQLCoreExecutor, raw))


@pytest.mark.parametrize(
    "metrics",
    [
        [*(item(i) for i in range(999)), None],  # a null item in a list of non-null items
        [*(item(i) for i in range(999)), "metric"],
        [*(item(i) for i in range(999)), {"kind": "DATA"}],  # required fields missing
    ],
    ids=["null", "string", "missing-fields"],
)
def test_a_malformed_item_is_refused_with_graphql_cores_errors(metrics: list[Any]) -> None:
    raw = variables(metrics)
    assert errors(built(Executor, raw)) == errors(built(GraphQLCoreExecutor, raw))


@pytest.mark.parametrize(
    "raw",
    [
        {"input": {"metrics": [item(i) for i in range(1000)]}},  # deploymentId missing
        variables([item(i) for i in range(1000)], extra=1),
        {"input": variables([item(i) for i in range(1000)])["input"], "note": 5},
    ],
    ids=["missing-field", "unknown-field", "other-variable"],
)
def test_a_good_batch_beside_a_bad_value_is_refused_as_graphql_core_refuses_it(
    raw: dict[str, Any],
) -> None:
    assert errors(built(Executor, raw)) == errors(built(GraphQLCoreExecutor, raw))
