"""Turn one read operation, with its variables, into one SQL statement returning ``data``.

The walk mirrors graphql-core's execution: the same field collection (``collect_fields``, so
aliases, fragments, type conditions, ``@include``/``@skip`` and merging behave the same), the
same argument coercion, and the resolver path's own argument validation (``relay.page_args``,
``ids.decode_global_id``). An argument the resolver path would refuse raises ``Refused``: the
caller then runs the operation on the resolver path, which reports the error in its words.

Each connection becomes a scalar subquery over one page of rows (``LIMIT n``, or ``n + 1``
numbered by ``row_number()`` when the answer asks whether more rows exist), aggregated into
JSON text; nested relations are correlated subqueries inside that aggregate, evaluated only for
the rows of the page. The statement returns one row whose columns, joined, are the answer: the
parts of the top object, and of each root connection (from a one-row subquery in ``FROM``), so
PostgreSQL never copies the whole answer into one text (each ``||`` copies both sides).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Table,
    Uuid,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import asyncpg

from mlgraph.auth.principal import Principal
from mlgraph.compiled.entities import Malformed, entities
from mlgraph.compiled.fields import FieldKind, FieldMap
from mlgraph.compiled.objects import Slot, marker
from mlgraph.compiled.sqltext import (
    Chain,
    Params,
    aggregate,
    concat,
    cursor,
    global_id,
    ident,
    json_object,
    lit,
    value,
)
from mlgraph.errors import MlgraphError
from mlgraph.ids import decode_global_id
from mlgraph.schema.query import MAX_NODES
from mlgraph.schema.relay import page_args
from mlgraph.storage.enums import ArtifactStatus
from mlgraph.storage.graph import ENTITIES, EntityDecl, Filter, Order, Relation
from mlgraph.storage.lineage import DEFAULT_DEPTH, MAX_DEPTH, MAX_DOWNSTREAM, downstream_rows
from mlgraph.storage.queries import PageArgs, Visible, filter_clause, sort_value
from mlgraph.storage.types import UTCDateTime

Details = list[FieldDetails]
#: The dialect the compiled statement runs on (filters are rendered by SQLAlchemy for it).
_POSTGRESQL = asyncpg.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
_PLACEHOLDER = re.compile(r"\$(\d+)")


class Refused(Exception):
    """An argument the resolver path would answer with an error: let it."""


@dataclass
class Request:
    schema: GraphQLSchema
    fields: FieldMap
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]
    variables: VariableValues
    visible: Visible
    principal: Principal
    #: strawberry's conversion of coerced arguments to resolver keyword arguments
    convert: Callable[[GraphQLField, dict[str, Any]], dict[str, Any]]
    #: whether the schema loads a type's rows (``Schema.serves``); else it answers key-only
    #: references of it, as a subgraph does for the other domains' entities
    serves: Callable[[str], bool] = lambda _: True


#: Object-store fields: the statement writes a marker, ``objects.fill_objects`` the value.
_OBJECT_KINDS = ("stored_object", "download_url", "logs_url", "report")


class Builder:
    """Builds the statement of one request: SQL text with ``$n`` placeholders and, in
    ``params``, their values; in ``slots``, the object-store fields its markers stand for.
    Table aliases ``t1, t2...`` are numbered in build order."""

    def __init__(self, request: Request) -> None:
        self.r = request
        self.params = Params()
        self.slots: list[Slot] = []
        #: The root connections' pages, each one row of its answer's parts (``_connection``).
        self._tables: list[str] = []
        self._aliases = 0
        self._visible: str | None = None

    # -- entry -------------------------------------------------------------------------------

    def statement(self) -> str:
        query = self.r.schema.query_type
        assert query is not None
        grouped = collect_fields(
            self.r.schema, self.r.fragments, self.r.variables, query, self.r.operation
        ).grouped_field_set
        entries = [(key, self._root_field(query, details)) for key, details in grouped.items()]
        answer = json_object(entries)
        columns = answer.parts if isinstance(answer, Chain) else (answer,)
        tables = f" FROM {', '.join(self._tables)}" if self._tables else ""
        return "SELECT " + ", ".join(columns) + tables

    def _root_field(self, query: GraphQLObjectType, details: Details) -> str:
        node = details[0].node
        kind = self.r.fields.kind("Query", node.name.value)
        if kind.kind == "typename":
            return lit('"Query"')
        field = query.fields[node.name.value]
        args = self._args(field, details)
        if kind.kind == "root_connection":
            assert kind.relation is not None
            return self._connection(kind.relation, None, field, details, args)
        if kind.kind == "project_by_slug":
            decl = ENTITIES["Project"]
            target = get_named_type(field.type)
            assert isinstance(target, GraphQLObjectType)
            slug = ident(decl.table.c["slug"].name)  # the key Query.project looks up
            where = f"{{a}}.{slug} = {self.params.add(args['slug'], 'varchar')}"
            return self._one_row(decl, target, details, where)
        if kind.kind == "node":
            return self._node(args["id"], details, "id")
        if kind.kind == "viewer":
            return self._viewer(self._object_type(field), details)
        if kind.kind == "entities":
            try:
                return entities(self, args["representations"], details)
            except Malformed as error:
                raise Refused(str(error)) from None
        if kind.kind == "nodes":
            ids = args["ids"]
            if len(ids) > MAX_NODES:
                raise Refused("too many ids")
            items = [self._node(i, details, "ids") for i in ids]
            return concat([lit("["), *_joined(items, lit(",")), lit("]")])
        raise Refused(kind.kind)

    def _viewer(self, viewer: GraphQLObjectType, details: Details) -> str:
        """The caller, from the principal (bound values), and its memberships connection."""
        principal = self.r.principal
        entries = []
        for key, sub in self._sub(viewer, details).items():
            name = sub[0].node.name.value
            kind = self.r.fields.kind(viewer.name, name)
            if kind.kind == "typename":
                entries.append((key, lit('"' + viewer.name + '"')))
            elif name == "principalId":
                entries.append((key, f"to_json({self.params.add(principal.id, 'text')})::text"))
            elif name == "displayName":
                text = self.params.add(principal.display_name, "text")
                entries.append((key, f"to_json({text})::text"))
            elif name == "isPlatformAdmin":
                entries.append((key, "'true'" if principal.platform_admin else "'false'"))
            else:
                assert kind.relation is not None
                field = viewer.fields[name]
                parent = self.params.add(principal.id, "varchar")
                args = self._args(field, sub)
                entries.append((key, self._connection(kind.relation, parent, field, sub, args)))
        return json_object(entries)

    # -- helpers ------------------------------------------------------------------------------

    def alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases}"

    def _args(self, field: GraphQLField, details: Details) -> dict[str, Any]:
        try:
            raw = get_argument_values(field, details[0].node, self.r.variables)
            return self.r.convert(field, raw)
        except GraphQLError as error:
            raise Refused(error.message) from None

    def visibility(self, decl: EntityDecl, alias: str) -> list[str]:
        visible = self.r.visible
        if visible is None:
            return []
        if not visible:
            return ["false"]
        if self._visible is None:
            self._visible = self.params.add(sorted(visible), "uuid[]")
        return [f"{alias}.{ident(decl.project_column)} = ANY({self._visible})"]

    def _sub(self, object_type: GraphQLObjectType, details: Details) -> dict[str, Details]:
        return collect_subfields(
            self.r.schema,
            self.r.fragments,
            self.r.variables,
            self.r.operation,
            object_type,
            details,
        ).grouped_field_set

    def _object_type(self, field: GraphQLField) -> GraphQLObjectType:
        named = get_named_type(field.type)
        assert isinstance(named, GraphQLObjectType)
        return named

    # -- objects ------------------------------------------------------------------------------

    def node_object(self, alias: str, gql: GraphQLObjectType, details: Details) -> str:
        """The JSON object of one entity row (``alias``) for the selections in ``details``."""
        decl = ENTITIES[gql.name]
        entries = []
        for key, sub in self._sub(gql, details).items():
            name = sub[0].node.name.value
            kind = self.r.fields.kind(gql.name, name)
            entries.append((key, self._entity_field(alias, decl, gql, name, kind, sub)))
        return json_object(entries)

    def _entity_field(
        self,
        alias: str,
        decl: EntityDecl,
        gql: GraphQLObjectType,
        name: str,
        kind: FieldKind,
        details: Details,
    ) -> str:
        if kind.kind == "typename":
            return lit('"' + gql.name + '"')
        if kind.kind == "id":
            return global_id(gql.name, alias)
        if kind.kind == "column":
            assert kind.column is not None
            assert kind.format is not None
            column = f"{alias}.{ident(kind.column.name)}"
            return value(column, kind.format, bool(kind.column.nullable))
        field = gql.fields[name]
        if kind.kind in _OBJECT_KINDS:
            return self._object_field(alias, decl, field, kind.kind, details)
        if kind.kind == "downstream":
            return self._downstream(alias, field, details)
        assert kind.relation is not None
        rel = kind.relation
        parent = f"{alias}.{ident(decl.table.c[rel.parent_key].name)}"
        if kind.kind == "version_by_alias":
            return self._version_by_alias(rel, parent, field, details)
        if rel.kind == "one" and not self.r.serves(rel.target):
            return self.reference(self._object_type(field), details, parent)
        if rel.kind == "one":
            target = ENTITIES[rel.target]
            assert rel.child_key is not None
            where = f"{{a}}.{ident(target.table.c[rel.child_key].name)} = {parent}"
            return self._one_row(target, self._object_type(field), details, where)
        if rel.kind == "list":
            return self._listing(rel, parent, field, details)
        return self._connection(rel, parent, field, details, self._args(field, details))

    def _object_field(
        self, a: str, decl: EntityDecl, field: GraphQLField, kind: str, details: Details
    ) -> str:
        """The marker of an object-store field (``objects``), from the row's key columns."""
        selection: tuple[tuple[str, GraphQLField | None], ...] = ()
        if kind == "stored_object":
            value_type = self._object_type(field)
            selection = tuple(
                (key, value_type.fields.get(sub[0].node.name.value))
                for key, sub in self._sub(value_type, details).items()
            )
        expires_in = int(self._args(field, details).get("expires_in", 0))
        self.slots.append(Slot(kind, expires_in, selection))
        slot = len(self.slots) - 1

        def column(name: str) -> str:
            return f"{a}.{ident(decl.table.c[name].name)}"

        if kind == "logs_url":  # the key is made of both (storage.objects.keys)
            return marker(slot, f"{a}.{ident(decl.project_column)}::text || ':' || {a}.id::text")
        if kind == "download_url":  # null until AVAILABLE, like the resolver
            available = self._sql(decl.table.alias(a).c.status == ArtifactStatus.AVAILABLE)
            # the project and the artifact for the read audit, then the key
            ids = f"{a}.{ident(decl.project_column)}::text || ':' || {a}.id::text || ':' || "
            url = marker(slot, ids + column("storage_key"))
            return f"(CASE WHEN {available} THEN {url} ELSE 'null' END)"
        key = column("storage_key" if kind == "stored_object" else "report_key")
        return f"coalesce({marker(slot, key)}, 'null')"

    def _version_by_alias(
        self, aliases: Relation, parent: str, field: GraphQLField, details: Details
    ) -> str:
        """``Model.version(alias:)``: among the model's aliases (as ``Model.aliases`` lists
        them), the one so named, and the version it points at if visible; else null."""
        name = self._args(field, details)["alias"]
        args = PageArgs(limit=aliases.page_cap, backwards=False, order=aliases.order)
        limit = self.params.add(aliases.page_cap, "int")
        page, al = self._page(aliases, parent, args, limit, numbered=False)
        alias_decl = ENTITIES[aliases.target]
        points_at = alias_decl.relations["version"]
        assert points_at.child_key is not None
        target = ENTITIES[points_at.target]
        pointer = f"{al}.{ident(alias_decl.table.c[points_at.parent_key].name)}"
        where = f"{{a}}.{ident(target.table.c[points_at.child_key].name)} = {pointer}"
        row = self._one_row(target, self._object_type(field), details, where)
        named = (
            f"{al}.{ident(alias_decl.table.c['alias'].name)} = {self.params.add(name, 'varchar')}"
        )
        return f"coalesce((SELECT {row} FROM {page} WHERE {named}), 'null')"

    def _downstream(self, a: str, field: GraphQLField, details: Details) -> str:
        """``ModelVersion.downstream``: the loader's own recursive walk (``storage.lineage``)
        from row ``a``, each item ``{depth, version}`` in its order."""
        depth = self._args(field, details).get("max_depth", DEFAULT_DEPTH)
        if not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise Refused("maxDepth out of bounds")
        root = literal_column(f"{a}.id", type_=Uuid)
        rows = downstream_rows(None, root, depth, MAX_DOWNSTREAM, self.r.visible, postgresql=True)
        d = self.alias()
        item_type = self._object_type(field)
        entries = []
        for key, sub in self._sub(item_type, details).items():
            part = self.r.fields.kind(item_type.name, sub[0].node.name.value).kind
            if part == "typename":
                entries.append((key, lit('"' + item_type.name + '"')))
            elif part == "downstream_depth":
                entries.append((key, f"{d}.mlg_depth::text"))
            else:
                version = self._object_type(item_type.fields["version"])
                entries.append((key, self.node_object(d, version, sub)))
        item = json_object(entries)
        items = f"coalesce(string_agg({item}, ',' ORDER BY {d}.mlg_rank), '')"
        page = self._sql(select(rows))
        return f"(SELECT {concat([lit('['), items, lit(']')])} FROM ({page}) AS {d})"

    def _one_row(
        self, decl: EntityDecl, gql: GraphQLObjectType, details: Details, where: str
    ) -> str:
        a = self.alias()
        conditions = [where.format(a=a), *self.visibility(decl, a)]
        body = self.node_object(a, gql, details)
        sql = f"SELECT {body} FROM {ident(decl.table.name)} AS {a} WHERE {' AND '.join(conditions)}"
        return f"coalesce(({sql}), 'null')"

    def reference(self, gql: GraphQLObjectType, details: Details, key: str) -> str:
        """A key-only reference to an entity another subgraph serves, from the SQL ``key``
        (its id): not joined, not checked for visibility (its own subgraph does that when
        the gateway resolves it); null when the key is. Like ``relay.one``'s ``reference``."""
        a = self.alias()
        body = self.node_object(a, gql, details)
        sql = f"SELECT {body} FROM (SELECT {key} AS id) AS {a} WHERE {a}.id IS NOT NULL"
        return f"coalesce(({sql}), 'null')"

    def _node(self, global_id_value: str, details: Details, field: str) -> str:
        try:
            type_name, pk = decode_global_id(global_id_value, field=field)
        except MlgraphError as error:
            raise Refused(error.message) from None
        if type_name not in ENTITIES:
            raise Refused(f"{type_name} is not a node type")
        gql = self.r.schema.type_map[type_name]
        assert isinstance(gql, GraphQLObjectType)
        where = f"{{a}}.id = {self.params.add(pk, 'uuid')}"
        return self._one_row(ENTITIES[type_name], gql, details, where)

    # -- relations ----------------------------------------------------------------------------

    def _source(self, rel: Relation, parent: str | None, a: str) -> tuple[str, list[str]]:
        """FROM clause and the condition tying ``rel``'s target rows (alias ``a``) to the
        parent key (SQL ``parent``; ``None`` at the root)."""
        decl = ENTITIES[rel.target]
        table = f"{ident(decl.table.name)} AS {a}"
        if parent is None:
            return table, []
        parent_col = parent
        if rel.through is not None:
            link = rel.through.model.__table__
            assert isinstance(link, Table)
            la = a + "l"
            target_col = ident(link.c[rel.through.target_col].name)
            parent_link = ident(link.c[rel.through.parent_col].name)
            table += f" JOIN {ident(link.name)} AS {la} ON {la}.{target_col} = {a}.id"
            return table, [f"{la}.{parent_link} = {parent_col}"]
        assert rel.child_key is not None
        return table, [f"{a}.{ident(decl.table.c[rel.child_key].name)} = {parent_col}"]

    def _sort(self, decl: EntityDecl, a: str, order: Order) -> str:
        """What ``order`` sorts rows of alias ``a`` by: the loaders' own ``sort_value``."""
        if order.key is None:
            return f"{a}.{ident(decl.table.c[order.column].name)}"
        return self._sql(sort_value(decl.table.alias(a), order, postgresql=True))

    def _sort_read(self, decl: EntityDecl, a: str, order: Order) -> str:
        """A page row's sort value (alias ``a`` of ``_page``'s rows), for its cursor."""
        return (
            f"{a}.{ident(decl.table.c[order.column].name)}"
            if order.key is None
            else (f"{a}.mlg_sort")
        )

    def _cursor_name(self, order: Order) -> str | None:
        """The bound ``["<name>",`` of a cursor under an order named by the caller."""
        if order.key is None:
            return None
        return self.params.add(json.dumps([order.name])[:-1] + ",", "text")

    def _ordering(
        self, decl: EntityDecl, a: str, order: Order, backwards: bool, sort: str | None = None
    ) -> str:
        direction = "DESC" if order.descending != backwards else "ASC"
        by = self._sort(decl, a, order) if sort is None else sort
        return f"{by} {direction}, {a}.id {direction}"

    def _page(
        self, rel: Relation, parent: str | None, args: PageArgs, limit: str, numbered: bool
    ) -> tuple[str, str]:
        """``(SELECT rows... LIMIT limit) AS a`` and the alias ``a``: the rows in the order the
        answer lists them (a ``last`` page is fetched from the end, then turned around), so
        aggregates over it need no ``ORDER BY`` of their own. With ``numbered``, ``mlg_rn``
        is each row's place in the fetched order (``limit`` then holds one row more)."""
        decl = ENTITIES[rel.target]
        a = self.alias()
        source, where = self._source(rel, parent, a)
        where += self.visibility(decl, a) + self._filters(decl, a, args.filters)
        if args.after is not None:
            where.append(self._keyset(decl, a, args.order, args.after, after=True))
        if args.before is not None:
            where.append(self._keyset(decl, a, args.order, args.before, after=False))
        order = self._ordering(decl, a, args.order, args.backwards)
        number = f", row_number() OVER (ORDER BY {order}) AS mlg_rn" if numbered else ""
        if args.order.key is not None:  # the computed sort value, for the cursors
            number += f", {self._sort(decl, a, args.order)} AS mlg_sort"
        sql = (
            f"SELECT {a}.*{number} FROM {source}"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY {order} LIMIT {limit}"
        )
        if args.backwards:
            forward = self._ordering(
                decl, a, args.order, False, self._sort_read(decl, a, args.order)
            )
            sql = f"SELECT * FROM ({sql}) AS {a} ORDER BY {forward}"
        return f"({sql}) AS {a}", a

    def _listing(self, rel: Relation, parent: str, field: GraphQLField, details: Details) -> str:
        args = PageArgs(limit=rel.page_cap, backwards=False, order=rel.order)
        limit = self.params.add(rel.page_cap, "int")
        page, a = self._page(rel, parent, args, limit, numbered=False)
        item = self.node_object(a, self._object_type(field), details)
        items = concat([lit("["), f"coalesce(string_agg({item}, ','), '')", lit("]")])
        return aggregate(items, page)

    def _connection(
        self,
        rel: Relation,
        parent: str | None,
        field: GraphQLField,
        details: Details,
        raw: dict[str, Any],
    ) -> str:
        try:
            args = page_args(
                rel,
                raw.get("first"),
                raw.get("after"),
                raw.get("last"),
                raw.get("before"),
                raw.get("order_by"),
                raw.get("filter"),
            )
        except MlgraphError as error:
            raise Refused(error.message) from None
        conn = self._object_type(field)
        reads, more = self._page_needs(conn, details, args)
        if not reads:
            # only totalCount, __typename or constant flags: no page to read
            return self._connection_object(rel, parent, args, conn, details, "", "")
        limit = self.params.add(args.limit, "int")
        if more:  # one row past the page tells whether there are more
            page, a = self._page(rel, parent, args, f"{limit} + 1", numbered=True)
            shown = f" FILTER (WHERE {a}.mlg_rn <= {limit})"
        else:
            page, a = self._page(rel, parent, args, limit, numbered=False)
            shown = ""
        body = self._connection_object(rel, parent, args, conn, details, a, shown, limit)
        if parent is None and isinstance(body, Chain):  # a root connection: its parts as columns
            r = self.alias()
            columns = ", ".join(f"{part} AS c{i}" for i, part in enumerate(body.parts))
            self._tables.append(f"(SELECT {columns} FROM {page}) AS {r}")
            return Chain([f"{r}.c{i}" for i in range(len(body.parts))])
        return aggregate(body, page)

    def _page_needs(
        self, conn: GraphQLObjectType, details: Details, args: PageArgs
    ) -> tuple[bool, bool]:
        """Whether the selection reads the page's rows, and whether it asks if there are more
        rows in the paging direction (``hasNextPage``, or ``hasPreviousPage`` for ``last``)."""
        more_kind = "has_previous" if args.backwards else "has_next"
        constant = {"typename", "total_count", "has_next" if args.backwards else "has_previous"}
        reads = more = False
        for sub in self._sub(conn, details).values():
            kind = self.r.fields.kind(conn.name, sub[0].node.name.value).kind
            if kind in ("edges", "conn_nodes"):
                reads = True
            elif kind == "page_info":
                page_info = self._object_type(conn.fields["pageInfo"])
                for psub in self._sub(page_info, sub).values():
                    pkind = self.r.fields.kind(page_info.name, psub[0].node.name.value).kind
                    more = more or pkind == more_kind
                    reads = reads or pkind not in constant
        return reads, more

    def _connection_object(
        self,
        rel: Relation,
        parent: str | None,
        args: PageArgs,
        conn: GraphQLObjectType,
        details: Details,
        a: str,
        shown: str,
        limit: str = "",
    ) -> str:
        decl = ENTITIES[rel.target]
        column, kind = args.order.column, _cursor_kind(decl, args.order)
        entries = []
        for key, sub in self._sub(conn, details).items():
            part = self.r.fields.kind(conn.name, sub[0].node.name.value).kind
            if part == "typename":
                entries.append((key, lit('"' + conn.name + '"')))
            elif part in ("edges", "conn_nodes"):
                item_type = self._object_type(conn.fields[sub[0].node.name.value])
                if part == "edges":
                    sort = self._sort_read(decl, a, args.order)
                    name = self._cursor_name(args.order)
                    row_cursor = cursor(column, sort, f"{a}.id", kind, name)
                    item = self._edge(a, item_type, sub, row_cursor)
                else:
                    item = self.node_object(a, item_type, sub)
                items = f"coalesce(string_agg({item}, ','){shown}, '')"
                entries.append((key, concat([lit("["), items, lit("]")])))
            elif part == "total_count":
                entries.append((key, self._count(rel, parent, args)))
            else:
                assert part == "page_info"
                page_info = self._object_type(conn.fields["pageInfo"])
                page = (a, shown, limit, kind)
                entries.append((key, self._page_info(decl, args, page_info, sub, page)))
        return json_object(entries)

    def _page_info(
        self,
        decl: EntityDecl,
        args: PageArgs,
        page_info: GraphQLObjectType,
        details: Details,
        page: tuple[str, str, str, str],
    ) -> str:
        """``pageInfo`` of a page (``_connection``): its alias, the filter of the rows shown,
        the page size and the cursor kind of its order."""
        a, shown, limit, kind = page
        column = args.order.column
        parts = []
        for key, sub in self._sub(page_info, details).items():
            part = self.r.fields.kind(page_info.name, sub[0].node.name.value).kind
            if part == "typename":
                parts.append((key, lit('"' + page_info.name + '"')))
            elif part in ("has_next", "has_previous"):
                if (part == "has_next") != args.backwards:  # more rows in the paging direction
                    more = f"(CASE WHEN count(*) > {limit} THEN 'true' ELSE 'false' END)"
                    parts.append((key, more))
                else:
                    parts.append((key, _flag(args.before if part == "has_next" else args.after)))
            else:  # the first or the last row's cursor, from its sort value and id
                at = "1" if part == "start_cursor" else f"count(*){shown}"
                sort = self._sort_read(decl, a, args.order)
                value = f"(array_agg({sort}){shown})[{at}]"
                row_id = f"(array_agg({a}.id){shown})[{at}]"
                text = cursor(column, value, row_id, kind, self._cursor_name(args.order))
                parts.append((key, f"coalesce('\"' || {text} || '\"', 'null')"))
        return json_object(parts)

    def _edge(self, a: str, node_type: GraphQLObjectType, details: Details, cursor_sql: str) -> str:
        entries = []
        for key, sub in self._sub(node_type, details).items():
            kind = self.r.fields.kind(node_type.name, sub[0].node.name.value).kind
            if kind == "typename":
                entries.append((key, lit('"' + node_type.name + '"')))
            elif kind == "cursor":
                entries.append((key, f"('\"' || {cursor_sql} || '\"')"))
            else:
                target = self._object_type(node_type.fields["node"])
                entries.append((key, self.node_object(a, target, sub)))
        return json_object(entries)

    def _count(self, rel: Relation, parent: str | None, args: PageArgs) -> str:
        decl = ENTITIES[rel.target]
        c = self.alias()
        source, where = self._source(rel, parent, c)
        where += self.visibility(decl, c) + self._filters(decl, c, args.filters)
        sql = f"SELECT count(*) FROM {source}" + (f" WHERE {' AND '.join(where)}" if where else "")
        return f"({sql})::text"

    # -- filters and cursors ------------------------------------------------------------------

    def _filters(
        self, decl: EntityDecl, a: str, values: tuple[tuple[str, Hashable], ...]
    ) -> list[str]:
        specs = {f.name: f for f in decl.filters}
        return [self._filter(decl, a, specs[name], given) for name, given in values]

    def _filter(self, decl: EntityDecl, a: str, spec: Filter, given: Any) -> str:
        """The loaders' own filter SQL (``queries.filter_clause``) on alias ``a``, its bound
        values renumbered into this statement's parameters."""
        clause = filter_clause(decl, spec, given, postgresql=True, table=decl.table.alias(a))
        return self._sql(clause)

    def _sql(self, clause: ColumnElement[Any] | Select[Any]) -> str:
        """A SQLAlchemy clause as SQL text, its bound values renumbered into this statement's
        parameters."""
        compiled = clause.compile(dialect=_POSTGRESQL)
        values = compiled.construct_params()
        placeholders = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(_POSTGRESQL).bind_processor(_POSTGRESQL)
            value = values[name]
            placeholders.append(self.params.bind(value if process is None else process(value)))
        return _PLACEHOLDER.sub(lambda m: placeholders[int(m.group(1)) - 1], compiled.string)

    def _keyset(
        self, decl: EntityDecl, a: str, order: Order, key: tuple[Any, uuid.UUID], after: bool
    ) -> str:
        column = decl.table.c[order.column]
        sort_value = key[0]
        kind = _cursor_kind(decl, order)
        expected: tuple[type[Any], ...] = {
            "float": (float,),
            "int": (int,),
            "string": (str,),
        }.get(kind, (object,))
        if isinstance(sort_value, bool) or not isinstance(sort_value, expected):
            raise Refused("cursor value of another type")  # the resolver path decides
        sort_param = self.params.add(sort_value, "float8" if order.key else _cast(column.type))
        bound = f"({sort_param}, {self.params.add(key[1], 'uuid')})"
        op = ">" if after != order.descending else "<"
        return f"({self._sort(decl, a, order)}, {a}.id) {op} {bound}"


def _flag(given: object) -> str:
    return "'true'" if given is not None else "'false'"


def _joined(items: list[str], separator: str) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(items):
        if i:
            out.append(separator)
        out.append(item)
    return out


def _cursor_kind(decl: EntityDecl, order: Order) -> str:
    if order.key is not None:
        return "float"
    column = order.column
    sql_type = decl.table.c[column].type
    if isinstance(sql_type, UTCDateTime):
        return "datetime"
    if isinstance(sql_type, Float):
        return "float"
    if isinstance(sql_type, Integer | BigInteger):
        return "int"
    if isinstance(sql_type, String):
        return "string"
    raise Refused(f"no cursor format for {column}")


def _cast(sql_type: Any) -> str:
    if isinstance(sql_type, UTCDateTime):
        return "timestamptz"
    if isinstance(sql_type, Float):
        return "float8"
    if isinstance(sql_type, BigInteger):
        return "bigint"
    if isinstance(sql_type, Integer):
        return "int"
    if isinstance(sql_type, String):
        return "varchar"
    if sql_type.python_type is bool:
        return "boolean"
    raise Refused(f"no parameter type for {sql_type!r}")
