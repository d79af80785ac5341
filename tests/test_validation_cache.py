"""The depth and alias limits hold, and a document is validated once, not on every request
(a dashboard sends the same document again and again; validating it cost ~3 ms a request)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError
from strawberry.schema.schema import validate_document

import mlgraph.schema
from mlgraph.schema import build_schema
from mlgraph.schema.limits import Limits

DEEP = "{ projects { nodes { pipelines { nodes { runs { nodes { id } } } } } } }"
ALIASES = "{ a: __typename b: __typename c: __typename }"
PLAIN = "{ __typename }"


def codes(errors: list[GraphQLError]) -> list[Any]:
    """The extension codes of errors that each carry extensions."""
    found = []
    for error in errors:
        assert error.extensions is not None
        found.append(error.extensions["code"])
    return found


async def test_limits_hold_and_each_document_is_validated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validated: list[Any] = []
    validate = validate_document  # the function mlgraph.schema imports, and calls by name

    def counted(schema: Any, document: Any, rules: Any) -> Any:
        validated.append(document)
        return validate(schema, document, rules)

    monkeypatch.setattr(mlgraph.schema, "validate_document", counted)
    schema = build_schema(limits=Limits(depth=3, aliases=2))
    for _ in range(3):
        deep, aliases, plain = [await schema.execute(q) for q in (DEEP, ALIASES, PLAIN)]
        assert deep.errors is not None
        assert codes(deep.errors) == ["QUERY_TOO_DEEP"]
        assert "depth" in deep.errors[0].message
        assert aliases.errors is not None
        assert codes(aliases.errors) == ["TOO_MANY_ALIASES"]
        assert "aliases" in aliases.errors[0].message
        assert (plain.errors, plain.data) == (None, {"__typename": "Query"})
    assert len(validated) == 3  # each text once, however often it comes
