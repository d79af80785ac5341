"""What each field of the schema is to the compiled path, derived from ``storage.graph``.

Every GraphQL field gets one ``FieldKind`` or a reason why the compiled path cannot answer it.
A field is compilable when the resolver path would serve it straight from the declaration:
a declared column with no resolver (or a ``row_leaf`` one: ``ModelVersion.stage``), the global
id, or a relation served by the factories of ``schema.relay`` (``connection``/``one``/``listing``,
whose ``asOf`` argument, when given, sends the operation to the resolver path: ``AS_OF``); or
when its resolver is one of the few ``COMPUTED`` ones the compiled path restates
(``Model.version(alias:)`` and ``ModelVersion.downstream`` in SQL, the object-store fields by
``compiled.objects`` after the
statement). Anything else (another
computed field, a field added later with its own resolver) falls back to the resolver path,
so the compiled path can never answer differently from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_named_type,
)
from sqlalchemy import JSON, BigInteger, Boolean, Enum, Float, Integer, String
from sqlalchemy.sql.schema import Column

from mlgraph.schema.execution import row_leaf_column
from mlgraph.storage.graph import ENTITIES, ROOT, VIEWER_MEMBERSHIPS, EntityDecl, Relation
from mlgraph.storage.types import UTCDateTime

Format = Literal["string", "int", "float", "bool", "datetime", "json", "enum"]
Kind = Literal[
    "typename",
    "id",
    "column",
    "relation",
    "root_connection",
    "project_by_slug",
    "node",
    "nodes",
    "entities",
    "viewer",
    "viewer_field",
    "edges",
    "conn_nodes",
    "page_info",
    "total_count",
    "cursor",
    "edge_node",
    "has_next",
    "has_previous",
    "start_cursor",
    "end_cursor",
    "version_by_alias",
    "downstream",
    "downstream_depth",
    "downstream_version",
    "stored_object",
    "stored_object_field",
    "download_url",
    "logs_url",
    "report",
]

_FACTORIES = {
    "connection": "connection.<locals>.resolve",
    "one": "one.<locals>.resolve",
    "list": "listing.<locals>.resolve",
}
_ROOT_FIELDS: dict[str, tuple[Kind, str]] = {
    "project": ("project_by_slug", "Query.project"),
    "node": ("node", "Query.node"),
    "nodes": ("nodes", "Query.nodes"),
    "viewer": ("viewer", "Query.viewer"),
}
_VIEWER_FIELDS = ("principalId", "displayName", "isPlatformAdmin")
#: Resolvers of computed fields the compiled path answers as they do, by module and name.
COMPUTED: dict[str, Kind] = {
    "mlgraph.schema.registry._ModelFields.version": "version_by_alias",
    "mlgraph.schema.registry._ModelVersionFields.downstream": "downstream",
    "mlgraph.schema.registry._ArtifactFields.stored": "stored_object",
    "mlgraph.schema.registry._ArtifactFields.download_url": "download_url",
    "mlgraph.schema.pipelines._JobFields.logs_url": "logs_url",
    "mlgraph.schema.monitoring._DriftMetricFields.report": "report",
}
_CONNECTION_PARTS: dict[str, Kind] = {
    "edges": "edges",
    "nodes": "conn_nodes",
    "pageInfo": "page_info",
    "totalCount": "total_count",
}
_EDGE_PARTS: dict[str, Kind] = {"cursor": "cursor", "node": "edge_node"}
_PAGE_INFO_PARTS: dict[str, Kind] = {
    "hasNextPage": "has_next",
    "hasPreviousPage": "has_previous",
    "startCursor": "start_cursor",
    "endCursor": "end_cursor",
}


@dataclass(frozen=True)
class FieldKind:
    kind: Kind
    column: Column[Any] | None = None
    format: Format | None = None
    relation: Relation | None = None


class NotCompilable(Exception):
    """Why an operation runs on the resolver path."""


def _resolver_name(field: Any) -> str | None:
    definition = field.extensions.get("strawberry-definition") if field.extensions else None
    resolver = getattr(definition, "base_resolver", None)
    return None if resolver is None else str(resolver.wrapped_func.__qualname__)


def _computed(field: Any) -> Kind | None:
    """The kind of a ``COMPUTED`` field, if ``field`` is resolved by one of them."""
    definition = field.extensions.get("strawberry-definition") if field.extensions else None
    func = getattr(getattr(definition, "base_resolver", None), "wrapped_func", None)
    if func is None:
        return None
    return COMPUTED.get(f"{func.__module__}.{func.__qualname__}")


def _is_entities_resolver(field: Any) -> bool:
    """Whether ``_entities`` is mlgraph's (``schema.Schema.entities_resolver``)."""
    definition = field.extensions.get("strawberry-definition") if field.extensions else None
    func = getattr(getattr(definition, "base_resolver", None), "wrapped_func", None)
    return getattr(func, "__module__", None) == "mlgraph.schema" and _resolver_name(field) == (
        "Schema.entities_resolver"
    )


def _python_name(field: Any) -> str | None:
    definition = field.extensions.get("strawberry-definition") if field.extensions else None
    return getattr(definition, "python_name", None)


def _format(gql_type: GraphQLOutputType, column: Column[Any]) -> Format | None:
    """How the resolver path writes this column's values, or None if the pair is unexpected."""
    inner = gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type
    sql_type = column.type
    if isinstance(inner, GraphQLList):
        return "json" if isinstance(sql_type, JSON) else None
    named: GraphQLNamedType = get_named_type(inner)
    if isinstance(named, GraphQLEnumType):
        return "enum" if isinstance(sql_type, Enum) else None
    expected: dict[str, tuple[tuple[type[Any], ...], Format]] = {
        "String": ((String,), "string"),
        "Int": ((Integer,), "int"),
        "BigInt": ((BigInteger, Integer), "int"),
        "Float": ((Float,), "float"),
        "Boolean": ((Boolean,), "bool"),
        "DateTime": ((UTCDateTime,), "datetime"),
        "JSON": ((JSON,), "json"),
    }
    sql_types, fmt = expected.get(named.name, ((), "string"))
    if not sql_types or isinstance(sql_type, Enum) or not isinstance(sql_type, sql_types):
        return None
    return fmt


class FieldMap:
    """``(GraphQL type name, field name) -> FieldKind`` for the whole schema, built once."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._kinds: dict[tuple[str, str], FieldKind | str] = {}
        query = schema.query_type
        assert query is not None
        self._query(query)
        for name in ENTITIES:
            gql = schema.type_map.get(name)
            if isinstance(gql, GraphQLObjectType):
                self._entity(ENTITIES[name], gql)

    def kind(self, type_name: str, field_name: str) -> FieldKind:
        """The field's kind; raises ``NotCompilable`` naming why not."""
        if field_name == "__typename":
            return FieldKind("typename")
        if type_name == "Node" and field_name == "id":
            return FieldKind("id")
        found = self._kinds.get((type_name, field_name))
        if found is None:
            raise NotCompilable(f"{type_name}.{field_name} is not served from the declarations")
        if isinstance(found, str):
            raise NotCompilable(found)
        return found

    def _query(self, query: GraphQLObjectType) -> None:
        for name, field in query.fields.items():
            python = _python_name(field)
            resolver = _resolver_name(field)
            if python in ROOT and resolver == _FACTORIES["connection"]:
                self._kinds[("Query", name)] = FieldKind("root_connection", relation=ROOT[python])
                self._connection_type(field.type)
            elif name == "_entities" and _is_entities_resolver(field):
                self._kinds[("Query", name)] = FieldKind("entities")
            elif name in _ROOT_FIELDS and resolver == _ROOT_FIELDS[name][1]:
                self._kinds[("Query", name)] = FieldKind(_ROOT_FIELDS[name][0])
                if name == "viewer":
                    self._viewer(field.type)

    def _viewer(self, gql_type: GraphQLOutputType) -> None:
        """``Viewer``: the principal's own fields, and its memberships connection."""
        viewer = get_named_type(gql_type)
        assert isinstance(viewer, GraphQLObjectType)
        for name, field in viewer.fields.items():
            resolver = _resolver_name(field)
            if name in _VIEWER_FIELDS and resolver is None:
                self._kinds[(viewer.name, name)] = FieldKind("viewer_field")
            elif _python_name(field) == "memberships" and resolver == _FACTORIES["connection"]:
                rel = VIEWER_MEMBERSHIPS
                self._kinds[(viewer.name, name)] = FieldKind("relation", relation=rel)
                self._connection_type(field.type)

    def _entity(self, decl: EntityDecl, gql: GraphQLObjectType) -> None:
        for name, field in gql.fields.items():
            python = _python_name(field) or ""
            resolver = _resolver_name(field)
            key = (gql.name, name)
            if name == "id" and resolver is None:
                self._kinds[key] = FieldKind("id")
            elif python in decl.fields and (resolver is None or row_leaf_column(field)):
                column = decl.table.c[decl.columns[python]]
                fmt = _format(field.type, column)
                self._kinds[key] = (
                    FieldKind("column", column=column, format=fmt)
                    if fmt is not None
                    else f"{gql.name}.{name}: no known JSON format for its column type"
                )
            elif python in decl.relations:
                rel = decl.relations[python]
                if resolver != _FACTORIES[rel.kind]:
                    self._kinds[key] = f"{gql.name}.{name} has its own resolver"
                    continue
                self._kinds[key] = FieldKind("relation", relation=rel)
                if rel.kind == "connection":
                    self._connection_type(field.type)
            elif (computed := _computed(field)) is not None:
                aliases = decl.relations["aliases"] if computed == "version_by_alias" else None
                self._kinds[key] = FieldKind(computed, relation=aliases)
                if computed == "stored_object":
                    self._plain_object(field.type)
                if computed == "downstream":
                    self._downstream_item(field.type)
            else:
                self._kinds[key] = f"{gql.name}.{name} is computed by a resolver"

    def _plain_object(self, gql_type: GraphQLOutputType) -> None:
        """A value object's fields (``StoredObject``): plain attributes, all compilable."""
        value_type = get_named_type(gql_type)
        assert isinstance(value_type, GraphQLObjectType)
        for name in value_type.fields:
            self._kinds[(value_type.name, name)] = FieldKind("stored_object_field")

    def _downstream_item(self, gql_type: GraphQLOutputType) -> None:
        """``DownstreamVersion``: its depth and its version (an entity object)."""
        item = get_named_type(gql_type)
        assert isinstance(item, GraphQLObjectType)
        self._kinds[(item.name, "depth")] = FieldKind("downstream_depth")
        self._kinds[(item.name, "version")] = FieldKind("downstream_version")

    def _connection_type(self, gql_type: GraphQLOutputType) -> None:
        conn = get_named_type(gql_type)
        assert isinstance(conn, GraphQLObjectType)
        for name, part in _CONNECTION_PARTS.items():
            self._kinds[(conn.name, name)] = FieldKind(part)
        edge = get_named_type(conn.fields["edges"].type)
        page_info = get_named_type(conn.fields["pageInfo"].type)
        for name, part in _EDGE_PARTS.items():
            self._kinds[(edge.name, name)] = FieldKind(part)
        for name, part in _PAGE_INFO_PARTS.items():
            self._kinds[(page_info.name, name)] = FieldKind(part)
