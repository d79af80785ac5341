"""Bad input gets BAD_USER_INPUT with a clear message: never a 500, never a stack trace."""

from __future__ import annotations

import base64

import pytest
from graphql import GraphQLError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mlgraph.errors import ErrorCode
from mlgraph.ids import encode_cursor, encode_global_id
from mlgraph.schema.errors import classify
from tests import factories as f
from tests.conftest import Backend


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


async def assert_bad_input(
    db: Backend, query: str, variables: dict[str, object] | None = None, field: str | None = None
) -> None:
    body = await db.gql(query, variables)
    assert body["errors"], body
    for error in body["errors"]:
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["requestId"]
        assert "Traceback" not in error["message"]
        if field:
            assert error["extensions"].get("field") == field
    assert not body.get("data") or all(v is None for v in body["data"].values())


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-base64!",
        b64("Project"),  # no uuid
        b64("Project:not-a-uuid"),
        b64("Spaceship:" + "0" * 8 + "-0000-4000-8000-" + "0" * 12),  # foreign type
        b64(":00000000-0000-4000-8000-000000000000"),
        "",
    ],
)
async def test_malformed_or_foreign_global_ids(db: Backend, bad_id: str) -> None:
    await assert_bad_input(
        db, "query($id: ID!) { node(id: $id) { id } }", {"id": bad_id}, field="id"
    )


async def test_well_formed_id_of_a_missing_object_is_null(db: Backend) -> None:
    gid = encode_global_id("Model", f.project().id or __import__("uuid").uuid4())
    data = await db.data("query($id: ID!) { node(id: $id) { id } }", {"id": gid})
    assert data == {"node": None}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ("first: 101", "first"),
        ("first: -1", "first"),
        ("last: 500", "last"),
        ("last: -3", "last"),
        ("first: 2, last: 2", "last"),
        ('after: "garbage"', "after"),
        ('before: "%%%"', "before"),
    ],
)
async def test_bad_page_arguments(db: Backend, args: str, field: str) -> None:
    await assert_bad_input(db, f"{{ projects({args}) {{ totalCount }} }}", field=field)


async def test_cursor_from_another_ordering_is_refused(db: Backend) -> None:
    p = f.project()
    await f.save(db.sessions, p)
    by_name = encode_cursor("name", p.name, p.id)
    await assert_bad_input(
        db,
        "query($c: String) { projects(after: $c, orderBy: {field: CREATED_AT}) { totalCount } }",
        {"c": by_name},
        field="after",
    )


@pytest.mark.parametrize(
    "query",
    [
        "{ models(filter: {riskTier: [EXTREME]}) { totalCount } }",
        "{ deployments(filter: {environment: [MARS]}) { totalCount } }",
        "{ alerts(filter: {severity: [LOUD]}) { totalCount } }",
        "{ projects(orderBy: {field: COLOR}) { totalCount } }",
        "{ models(filter: {unknownField: 1}) { totalCount } }",
        '{ auditEntries(filter: {createdAfter: "yesterday"}) { totalCount } }',
        '{ auditEntries(filter: {createdAfter: "2026-01-01T00:00:00"}) { totalCount } }',
    ],
)
async def test_unknown_filter_values(db: Backend, query: str) -> None:
    await assert_bad_input(db, query)


async def test_unknown_filter_value_in_variables(db: Backend) -> None:
    await assert_bad_input(
        db,
        "query($t: [RiskTier!]) { models(filter: {riskTier: $t}) { totalCount } }",
        {"t": ["EXTREME"]},
    )


async def test_audit_filter_with_malformed_entity_id(db: Backend) -> None:
    await assert_bad_input(
        db, '{ auditEntries(filter: {entityId: "nope"}) { totalCount } }', field="filter.entity_id"
    )


async def test_too_many_node_ids(db: Backend) -> None:
    ids = [encode_global_id("Project", __import__("uuid").uuid4()) for _ in range(101)]
    await assert_bad_input(
        db, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, field="ids"
    )


async def test_syntax_errors_and_unknown_fields(db: Backend) -> None:
    await assert_bad_input(db, "{ projects { ")
    await assert_bad_input(db, "{ projects { nodes { colour } } }")


async def test_too_deep_a_query_is_refused(db: Backend) -> None:
    deep = (
        "{ projects { nodes { models { nodes { project { models { nodes { project { models {"
        " nodes { project { models { nodes { project { slug } } } } } } } } } } } } } } }"
    )
    body = await db.gql(deep)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"


async def test_nan_and_infinity_in_json_bodies_are_refused(db: Backend) -> None:
    assert db.client is not None
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"query": "{{ projects {{ totalCount }} }}", "variables": {{"x": {constant}}}}}'
        response = await db.client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, constant


async def test_oversized_request_bodies_are_refused(db: Backend) -> None:
    assert db.client is not None
    padding = "x" * (db.settings.max_body_bytes + 1)
    response = await db.client.post(
        "/graphql", json={"query": "{ projects { totalCount } }", "variables": {"pad": padding}}
    )
    assert response.status_code == 413


async def test_a_nul_character_in_a_filter_is_bad_input_not_an_outage(db: Backend) -> None:
    p = f.project()
    await f.save(db.sessions, p, f.model(p, name="fraud"))
    body = await db.gql('{ models(filter: {nameContains: "fr\\u0000aud"}) { totalCount } }')
    if db.name == "postgresql":  # PostgreSQL strings cannot hold NUL
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
        assert "NUL" in body["errors"][0]["message"]
    else:
        assert "errors" not in body
        assert body["data"] == {"models": {"totalCount": 0}}


def test_an_outage_in_a_subscription_stream_is_unavailable_not_leaked() -> None:
    """A subscription's stream failing on an exhausted pool (an error without a path, as
    strawberry reports a stream's exception) reads UNAVAILABLE with our message."""
    pool = PoolTimeout("QueuePool limit of size 10 overflow 10 reached, connection timed out")
    code, message, _ = classify(GraphQLError(str(pool), original_error=pool))
    assert code is ErrorCode.UNAVAILABLE
    assert "QueuePool" not in message
