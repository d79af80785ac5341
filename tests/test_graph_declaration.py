"""The schema and the graph declaration describe the same graph, and every declared relation
and filter has the index it needs."""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    get_named_type,
)
from sqlalchemy import Table
from strawberry.types.base import has_object_definition

from mlgraph.schema import build_schema
from mlgraph.schema.filters import FILTER_INPUTS
from mlgraph.schema.relay import node_class
from mlgraph.storage.db import Base
from mlgraph.storage.graph import ENTITIES, ROOT

SCHEMA = build_schema()
GQL = SCHEMA._schema


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_declared_entity_is_a_node_type_with_its_fields(name: str) -> None:
    decl = ENTITIES[name]
    gql_type = GQL.type_map[name]
    assert isinstance(gql_type, GraphQLObjectType)
    assert "Node" in [i.name for i in gql_type.interfaces]
    declared = {camel(f) for f in [*decl.fields, *decl.relations]} | {"id"}
    # computed fields: the polymorphic audit entity, the alias lookup (through Model.aliases),
    # the lineage walk and the comparison, the fields read from the object store, and the
    # histories read from the audit log
    extra = {
        "AuditEntry": {"entity"},
        "Model": {"version", "compareVersions", "aliasHistory"},
        "ModelVersion": {"downstream", "stageHistory"},
        "ModelAlias": {"auditEntry"},
        "Deployment": {"trafficHistory"},
        "DeploymentTarget": {"auditEntry"},
        "Artifact": {"object", "downloadUrl"},
        "Job": {"logsUrl"},
        "DriftMetric": {"report"},
    }.get(name, set())
    assert set(gql_type.fields) == declared | extra
    for column in decl.columns.values():
        assert column in decl.table.c, f"{name}: no column {column}"


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_connections_take_the_declared_filters_and_orders(name: str) -> None:
    decl = ENTITIES[name]
    filter_input = FILTER_INPUTS.get(name)
    if decl.filters:
        assert filter_input is not None
        filter_type = GQL.type_map[f"{name}Filter"]
        assert isinstance(filter_type, GraphQLInputObjectType)
        fields = filter_type.fields
        assert set(fields) == {camel(f.name) for f in decl.filters}
    else:
        assert filter_input is None
    if decl.orders:
        enum = GQL.type_map[f"{name}OrderField"]
        assert isinstance(enum, GraphQLEnumType)
        assert set(enum.values) == set(decl.orders)


def test_root_connections_are_declared() -> None:
    query = GQL.query_type
    assert query is not None
    for rel in ROOT.values():
        field = query.fields[camel(rel.name)]
        assert isinstance(field.type, GraphQLNonNull)
        assert get_named_type(field.type).name == f"{rel.target}Connection"


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_entity_has_its_node_type_in_its_domain_module(name: str) -> None:
    cls = node_class(name)
    assert cls.__module__ == f"mlgraph.schema.{ENTITIES[name].domain}"
    assert has_object_definition(cls)
    assert cls.__strawberry_definition__.name == name


def _indexed_leading_columns(table: Table) -> set[str]:
    leading = {idx.columns[0].name for idx in table.indexes if idx.columns}
    leading |= {c.columns[0].name for c in table.constraints if hasattr(c, "columns") and c.columns}
    return leading


@pytest.mark.parametrize("table", Base.metadata.sorted_tables, ids=lambda t: t.name)
def test_every_foreign_key_is_indexed(table: Table) -> None:
    leading = _indexed_leading_columns(table)
    for fk in table.foreign_keys:
        assert fk.parent.name in leading, f"{table.name}.{fk.parent.name} has no index"


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_filter_and_order_column_is_indexed(name: str) -> None:
    decl = ENTITIES[name]
    leading = _indexed_leading_columns(decl.table)
    columns = {f.column for f in decl.filters if f.via is None and f.op != "number_ranges"}
    columns |= {o for o in decl.orders.values() if isinstance(o, str)}
    columns -= {"tags"}  # JSON array membership; see the note in storage.graph
    # A number under any key of a JSON object (`metrics`) has no index to serve it: such
    # filters and orders scan a model's versions (or the visible ones, at the root).
    for column in columns:
        assert column in leading, f"{decl.table.name}.{column} has no index"
