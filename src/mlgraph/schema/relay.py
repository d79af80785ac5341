"""Relay plumbing: the Node interface, connections, and field factories built from the graph
declaration, so each schema field is one line that names its relation.

This module deliberately avoids ``from __future__ import annotations``: the factories build
resolver signatures from real types at import time.
"""

import datetime
import enum
import functools
import importlib
import inspect
import operator
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Annotated, Any, Generic, Self, TypeVar

import strawberry
from graphql import GraphQLField
from sqlalchemy import Row
from strawberry.types.unset import UNSET
from strawberry.utils.str_converters import to_camel_case

from mlgraph.context import Context
from mlgraph.errors import BadUserInput
from mlgraph.ids import decode_cursor, decode_global_id, encode_cursor, encode_global_id
from mlgraph.schema.columns import owned_by
from mlgraph.schema.cost import connection_size, list_size
from mlgraph.schema.execution import BREADTH_FIRST, Selection, relation_field, then
from mlgraph.schema.filters import FILTER_INPUTS
from mlgraph.storage.graph import (
    ENTITIES,
    EntityDecl,
    NumberKey,
    Order,
    Relation,
    owner_domain,
    relation,
)
from mlgraph.storage.queries import ROOT_KEY, FilterValues, NumberRange, PageArgs, PageRows
from mlgraph.storage.types import UTCDateTime

Info = strawberry.Info[Context, None]
T = TypeVar("T")
V = TypeVar("V")
N = TypeVar("N", bound="Node")
#: The ``asOf`` answer of a list: ``(root, info, when) -> nodes`` (or an awaitable of them).
AsOf = Callable[[Any, Any, datetime.datetime], Any]
#: Field metadata of a connection: its relation's page cap (``page_cap``).
_PAGE_CAP_KEY = "mlgraph.page_cap"


@strawberry.interface(description="An object with a global ID: any of them resolves via `node`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global ID. Pass it to `node(id:)` or `nodes(ids:)`."
    )
    pk: strawberry.Private[uuid.UUID]
    row: strawberry.Private[Any]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        """The node of ``row`` (a field whose column the row lacks is None: not read)."""
        return _builder(cls, getattr(row, "_fields", None))(row)

    @classmethod
    def from_rows(cls, rows: Sequence[Row[Any]]) -> list[Self]:
        """The nodes of rows of one statement (one shape: its columns are looked up once)."""
        if not rows:
            return []
        build = _builder(cls, rows[0]._fields)
        return [build(row) for row in rows]

    @classmethod
    def reference(cls, pk: uuid.UUID) -> Self:
        """A key-only reference: the object as another subgraph knows it, not loaded."""
        return cls.from_row(Reference(pk))  # type: ignore[arg-type]


class Reference:
    """The row of a key-only reference: its id (and so the parent key of its relations)."""

    __slots__ = ("id",)

    def __init__(self, pk: uuid.UUID) -> None:
        self.id = pk


_COLUMNS = {n: tuple(d.columns.items()) for n, d in ENTITIES.items()}


def override_column(type_name: str, field: str) -> None:
    """``type_name.field`` has a resolver of its own (``schema.declared``): ``from_row`` no
    longer passes the column as a value (the resolver reads it from ``row``)."""
    _COLUMNS[type_name] = tuple(p for p in _COLUMNS[type_name] if p[0] != field)
    _BUILDERS.clear()


_BUILDERS: dict[tuple[type[Any], tuple[str, ...] | None], Callable[[Any], Any]] = {}


def _builder(cls: type[N], fields: tuple[str, ...] | None) -> Callable[[Any], N]:
    """``_build``, made once per node type and row shape."""
    build = _BUILDERS.get((cls, fields))
    if build is None:
        if len(_BUILDERS) > 4096:  # shapes follow selections, which clients choose
            _BUILDERS.clear()
        build = _BUILDERS[cls, fields] = _build(cls, fields)
    return build


def _build(cls: type[N], fields: tuple[str, ...] | None) -> Callable[[Any], N]:
    """How a row of columns ``fields`` (None: not a row; its attributes are read) becomes a
    ``cls`` node. A column the row lacks is None; a row's values are read by index, because
    asking a row for a column it lacks raises (and SQLAlchemy builds an error) on every call."""
    name = cls.__name__
    columns = _COLUMNS[name]
    if fields is None:
        return lambda row: cls(
            id=strawberry.ID(encode_global_id(name, row.id)),
            pk=row.id,
            row=row,
            **{f: getattr(row, c, None) for f, c in columns},
        )
    index = {column: i for i, column in enumerate(fields)}
    names = ("pk", *(f for f, c in columns if c in index))
    at = (index["id"], *(index[c] for _, c in columns if c in index))
    read = operator.itemgetter(*at) if len(at) > 1 else lambda row: (row[at[0]],)
    unread: dict[str, Any] = {f: None for f, c in columns if c not in index}

    def build(row: Row[Any]) -> N:
        values = dict(zip(names, read(row), strict=True))
        return cls(
            id=strawberry.ID(encode_global_id(name, values["pk"])), row=row, **unread, **values
        )

    return build


@functools.cache
def node_class(type_name: str) -> type[Node]:
    """The Node type of the declared entity ``type_name`` (defined in its domain's module)."""
    module = importlib.import_module(f"mlgraph.schema.{ENTITIES[type_name].domain}")
    cls: type[Node] = getattr(module, type_name)
    return cls


async def load_node(info: Info, global_id: str, *, field: str = "id") -> Node | None:
    type_name, pk = decode_global_id(global_id, field=field)
    if type_name not in ENTITIES:
        raise BadUserInput(f"{global_id!r} is not an ID of this graph", field=field)
    row = await info.context.loaders.by_key(type_name).load(pk)
    return None if row is None else node_class(type_name).from_row(row)


@strawberry.federation.type(shareable=True, description="Where a page sits in its connection.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (true whenever `after` was given)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An item in a connection, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor for `after`/`before`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items with Relay cursors.")
class Connection(Generic[T]):
    # A plain field, not a resolver: strawberry resolves it without building an Info.
    nodes: list[T] = strawberry.field(description="The items of this page, without cursors.")
    count: strawberry.Private[Callable[[], Awaitable[int] | int]]
    rows: strawberry.Private[Sequence[Row[Any]]]
    cursor: strawberry.Private[Callable[[Row[Any]], str]]
    has_next: strawberry.Private[bool]
    has_previous: strawberry.Private[bool]

    @strawberry.field(description="Cursors and whether more pages exist.")
    def page_info(self) -> PageInfo:
        rows = self.rows
        return PageInfo(
            has_next_page=self.has_next,
            has_previous_page=self.has_previous,
            start_cursor=self.cursor(rows[0]) if rows else None,
            end_cursor=self.cursor(rows[-1]) if rows else None,
        )

    @strawberry.field(description="The items of this page with cursors.", metadata=BREADTH_FIRST)
    def edges(self) -> list[Edge[T]]:
        """Cursors are made only when selected: a dashboard asking for `nodes` of thousands
        of rows never pays for them."""
        return [
            Edge(cursor=self.cursor(r), node=n) for r, n in zip(self.rows, self.nodes, strict=True)
        ]

    @strawberry.field(
        description="Items in the whole connection (all pages, after filters).",
        metadata=BREADTH_FIRST,
    )
    def total_count(self) -> int:
        return self.count()  # type: ignore[return-value]  # the count, or an awaitable of it


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


def _number_key(decl: EntityDecl) -> NumberKey | None:
    """The entity's ``NumberKey`` order, if it declares one (at most one)."""
    keys = [o for o in decl.orders.values() if isinstance(o, NumberKey)]
    assert len(keys) <= 1, decl.name
    return keys[0] if keys else None


def _order_input(decl: EntityDecl) -> Any:
    members: Any = enum.Enum(f"{decl.name}OrderField", dict(decl.orders))  # type: ignore[misc]
    fields = strawberry.enum(
        members, description=f"Fields a {decl.name} connection can be ordered by."
    )
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {"field": fields, "direction": OrderDirection},
        "field": strawberry.field(description="The field to order by."),
        "direction": strawberry.field(
            default=OrderDirection.ASC, description="Ascending (default) or descending."
        ),
    }
    number = _number_key(decl)
    if number is not None:
        namespace["__annotations__"][number.argument] = str | None
        namespace[number.argument] = strawberry.field(default=None, description=number.description)
    order_input = type("OrderInput", (), namespace)

    return strawberry.input(
        order_input,
        name=f"{decl.name}Order",
        description=f"Ordering of a {decl.name} connection; ties break on id, same direction.",
    )


#: ``<Type>Order`` inputs, generated from the declared order fields.
ORDER_INPUTS: dict[str, Any] = {n: _order_input(d) for n, d in ENTITIES.items() if d.orders}


def _input(value: Any, name: str) -> Any:
    """Field ``name`` of an input object: strawberry's instance (resolvers, the compiled
    planner) or graphql-core's coerced dict (the direct resolvers), keyed by GraphQL name."""
    if isinstance(value, dict):
        return value.get(to_camel_case(name))
    return getattr(value, name, None)


def _filter_values(decl: EntityDecl, value: Any) -> FilterValues:
    if value is None:
        return ()
    out: list[tuple[str, Hashable]] = []
    for spec in decl.filters:
        given = _input(value, spec.name)
        if given is None:
            continue
        if spec.op == "global_id":
            given = decode_global_id(given, field=f"filter.{spec.name}")[1]
        elif spec.op == "number_ranges":
            given = tuple(_number_range(item, f"filter.{spec.name}") for item in given)
        elif isinstance(given, list):
            given = tuple(given)
        out.append((spec.name, given))
    return tuple(out)


def _number_range(item: Any, field: str) -> NumberRange:
    name = _input(item, "name")
    if not name:
        raise BadUserInput("a range needs the `name` of its number", field=f"{field}.name")
    bounds = {b: _input(item, b) for b in ("gte", "gt", "lte", "lt")}
    return NumberRange(name, **{b: None if v is None else float(v) for b, v in bounds.items()})


def _order(decl: EntityDecl, default: Order, order_by: Any) -> Order:
    """The order ``order_by`` asks for (``default`` without one); a ``NumberKey`` field needs
    its name argument, and only it takes one."""
    if order_by is None:
        return default
    descending = _input(order_by, "direction") is OrderDirection.DESC
    chosen = _input(order_by, "field").value
    number = _number_key(decl)
    key = None if number is None else _input(order_by, number.argument)
    if isinstance(chosen, NumberKey):
        if not key:
            name = f"orderBy.{chosen.argument}"
            raise BadUserInput(f"ordering by {chosen.argument} needs its name", field=name)
        return Order(chosen.column, descending, key=key)
    if key is not None and number is not None:
        raise BadUserInput(
            f"`{number.argument}` is only for ordering by it", field=f"orderBy.{number.argument}"
        )
    return Order(chosen, descending=descending)


def page_size(value: int | None, name: str, cap: int) -> int | None:
    """``first``/``last`` as given, or BAD_USER_INPUT outside 1..``cap`` (the relation's page
    cap). The one check: ``schema.limits`` refuses such documents before they run with it."""
    if value is not None and not 1 <= value <= cap:
        raise BadUserInput(f"`{name}` must be between 1 and {cap}", field=name)
    return value


def page_sizes(first: int | None, last: int | None, cap: int) -> tuple[int | None, int | None]:
    """``first`` and ``last`` checked (``page_size``), and not both given."""
    first, last = page_size(first, "first", cap), page_size(last, "last", cap)
    if first is not None and last is not None:
        raise BadUserInput("pass `first` or `last`, not both", field="last")
    return first, last


def page_cap(field: GraphQLField) -> int | None:
    """The page cap of a connection field (None: not a connection)."""
    definition = field.extensions.get("strawberry-definition") if field.extensions else None
    metadata = getattr(definition, "metadata", None) or {}
    cap = metadata.get(_PAGE_CAP_KEY)
    return cap if isinstance(cap, int) else None


def _given(value: V) -> V | None:
    return None if value is UNSET else value


def page_args(
    rel: Relation,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    order_by: Any,
    filter: Any,
) -> PageArgs:
    """Validated, hashable page arguments. Every input error is BAD_USER_INPUT.

    ``order_by`` and ``filter`` are strawberry input objects or graphql-core's dicts."""
    # Arguments have no SDL default, so an absent one arrives as UNSET and strawberry skips
    # converting it (measured: 8% of the dashboard's CPU on the resolver path).
    first, last = _given(first), _given(last)
    after, before = _given(after), _given(before)
    order_by, filter = _given(order_by), _given(filter)
    decl = ENTITIES[rel.target]
    first, last = page_sizes(first, last, rel.page_cap)
    order = _order(decl, rel.order, order_by)
    is_time = order.key is None and isinstance(decl.table.c[order.column].type, UTCDateTime)

    def key(cursor: str | None, name: str) -> tuple[Any, uuid.UUID] | None:
        return None if cursor is None else decode_cursor(cursor, order.name, is_time, field=name)

    return PageArgs(
        limit=last if last is not None else (first if first is not None else rel.default_page),
        backwards=last is not None,
        order=order,
        after=key(after, "after"),
        before=key(before, "before"),
        filters=_filter_values(decl, filter),
    )


def _parent_key(root: Any, rel: Relation) -> Hashable:
    if rel.child_key is None and rel.through is None:
        return ROOT_KEY
    source = getattr(root, "row", root)
    return getattr(source, rel.parent_key)  # type: ignore[no-any-return]


def _columns_read(rel: Relation, args: PageArgs, selection: Selection) -> frozenset[str] | None:
    """The columns of ``rel``'s target rows that ``selection`` reads; None: all of them."""
    return _columns_for(rel.target, selection.get(rel.target, frozenset()), args.order.column)


@functools.cache
def _columns_for(target: str, names: frozenset[str] | None, order: str) -> frozenset[str] | None:
    if names is None:
        return None
    decl = ENTITIES[target]
    columns = {"id", order}  # every node has its global id; every edge its cursor
    for name in names:
        if name in decl.fields:
            columns.add(decl.columns[name])
        elif name in decl.relations:
            columns.add(decl.relations[name].parent_key)
        elif name != "id":
            return None
    return frozenset(columns)


def resolve_connections(
    info: Info,
    roots: Sequence[Any],
    rel: Relation,
    args: PageArgs,
    columns: frozenset[str] | None = None,
) -> list[Connection[Any] | Awaitable[Connection[Any]]]:
    """The page of each root's ``rel``: at once when its loader has it, else an awaitable.

    ``columns``: only these of the target's columns (the rest of each node stays None)."""
    level = _Pages(info.context, rel, args)
    pages = info.context.loaders.page(rel, args, columns)
    parents = [_parent_key(root, rel) for root in roots]
    return [then(pages.load(parent), _ConnectionOf(level, parent)) for parent in parents]


class _Pages:
    """What the connections of one relation, page and level share."""

    __slots__ = ("args", "cls", "column", "context", "name", "rel")

    def __init__(self, context: Context, rel: Relation, args: PageArgs) -> None:
        self.context, self.rel, self.args = context, rel, args
        self.name = args.order.name
        # A computed sort value (a ``NumberKey`` order) is read as ``mlg_sort``.
        self.column = args.order.column if args.order.key is None else "mlg_sort"
        self.cls = node_class(rel.target)

    def cursor(self, row: Row[Any]) -> str:
        return encode_cursor(self.name, getattr(row, self.column), row.id)


class _ConnectionOf:
    """The connection of one parent, from its page. A class, not closures: a function
    defined in a function evaluates its annotations each time (this module must not
    postpone them), and there is one of these per parent object."""

    __slots__ = ("level", "parent")

    def __init__(self, level: _Pages, parent: Hashable) -> None:
        self.level, self.parent = level, parent

    def __call__(self, page: PageRows) -> Connection[Any]:
        level, rows = self.level, page.rows
        return Connection(
            count=self.count,
            has_next=page.has_next,
            has_previous=page.has_previous,
            rows=rows,
            nodes=level.cls.from_rows(rows),
            cursor=level.cursor,
        )

    def count(self) -> Awaitable[int] | int:
        """``totalCount``: its loader is asked only when it is selected."""
        level = self.level
        counts = level.context.loaders.count(level.rel, level.args.filters)
        return then(counts.load(self.parent), int)


_FIRST = Annotated[
    int | None, strawberry.argument(description="Page size from the start (max 100).")
]
_AFTER = Annotated[str | None, strawberry.argument(description="Items after this cursor.")]
_LAST = Annotated[int | None, strawberry.argument(description="Page size from the end (max 100).")]
_BEFORE = Annotated[str | None, strawberry.argument(description="Items before this cursor.")]
#: A connection resolver's page arguments, as strawberry reads them from its annotations.
PAGE_ANNOTATIONS: dict[str, Any] = {
    "first": _FIRST,
    "after": _AFTER,
    "last": _LAST,
    "before": _BEFORE,
}


def order_phrase(order: Order) -> str:
    """How a relation's items are ordered, in words, for its description."""
    if order.column in ("created_at", "seq"):
        return "newest first" if order.descending else "oldest first"
    by = f"by `{to_camel_case(order.column)}`"
    return f"{by}, descending" if order.descending else by


def _description(rel: Relation) -> str:
    if rel.kind == "one":
        return rel.description
    return f"{rel.description}, {order_phrase(rel.order)}."


def connection(owner: str, name: str) -> Any:
    """A Relay connection field for the declared relation ``owner.name``."""
    rel = relation(owner, name)
    order_input = ORDER_INPUTS.get(rel.target)
    filter_input = FILTER_INPUTS.get(rel.target) if rel.filterable else None

    def many(
        roots: Sequence[Any],
        info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        orderBy: Any = None,
        filter: Any = None,
        selection: Selection | None = None,
    ) -> list[Any]:
        args = page_args(rel, first, after, last, before, orderBy, filter)
        columns = None if selection is None else _columns_read(rel, args, selection)
        return resolve_connections(info, roots, rel, args, columns)

    def resolve(
        root: Any,
        info: Info,
        first: int | None = UNSET,
        after: str | None = UNSET,
        last: int | None = UNSET,
        before: str | None = UNSET,
        order_by: Any = UNSET,
        filter: Any = UNSET,
    ) -> Any:
        """strawberry's view of the field (its arguments); ``many`` is what runs."""
        return many([root], info, first, after, last, before, order_by, filter)[0]

    annotations: dict[str, Any] = {"root": Any, "info": Info, **PAGE_ANNOTATIONS}
    if order_input is not None:
        default = f"{rel.order.column} {'descending' if rel.order.descending else 'ascending'}"
        annotations["order_by"] = Annotated[
            order_input | None, strawberry.argument(description=f"Ordering (default {default}).")
        ]
    if filter_input is not None:
        annotations["filter"] = Annotated[
            filter_input | None, strawberry.argument(description="Only items matching this.")
        ]
    resolve.__annotations__ = annotations
    _drop_unannotated(resolve)
    return strawberry.field(
        resolver=resolve,
        description=_description(rel),
        metadata={
            **relation_field(many, selection=True),
            **owned_by(owner_domain(owner, rel)),
            _PAGE_CAP_KEY: rel.page_cap,
        },
        directives=[connection_size(rel)],
    )


def _drop_unannotated(fn: Callable[..., Any]) -> None:
    """Hide the optional parameters a relation does not take from strawberry's signature."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name in fn.__annotations__]
    fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]


def one(owner: str, name: str) -> Any:
    """A field for the to-one relation ``owner.name`` (null when absent or not visible).

    Where the target's domain is served elsewhere (a subgraph), ``reference`` answers it: a
    key-only reference made from the parent's key, which the gateway resolves there."""
    rel = relation(owner, name)
    assert rel.kind == "one"
    assert rel.child_key == "id"

    def node(row: Row[Any] | None) -> Node | None:
        return None if row is None else node_class(rel.target).from_row(row)

    def many(roots: Sequence[Any], info: Any) -> list[Any]:
        rows = info.context.loaders.by_key(rel.target)
        keys = [getattr(root.row, rel.parent_key) for root in roots]
        return [None if key is None else then(rows.load(key), node) for key in keys]

    def resolve(root: Any, info: Info) -> Any:
        """strawberry's view of the field; ``many`` is what runs."""
        return many([root], info)[0]

    def reference(root: Any, info: Any) -> Node | None:
        value = getattr(root.row, rel.parent_key)
        return None if value is None else node_class(rel.target).reference(value)

    resolve.__annotations__ = {"root": Any, "info": Info}
    return strawberry.field(
        resolver=resolve,
        description=_description(rel),
        metadata={
            **relation_field(many, reference=reference),
            **owned_by(owner_domain(owner, rel)),
        },
    )


def listing(owner: str, name: str, as_of: AsOf | None = None, as_of_doc: str = "") -> Any:
    """A short bounded list for the relation ``owner.name`` (at most its page cap).

    ``as_of`` adds an ``asOf: DateTime`` argument answered by it (``schema.history``): the
    list as it was then. Without the argument the field is the declared relation."""
    rel = relation(owner, name)
    assert rel.kind == "list"

    def nodes(rows: list[Row[Any]]) -> list[Node]:
        return node_class(rel.target).from_rows(rows)

    def now(roots: Sequence[Any], info: Any) -> list[Any]:
        lists = info.context.loaders.list(rel)
        return [then(lists.load(_parent_key(root, rel)), nodes) for root in roots]

    many: Callable[..., list[Any]] = now
    if as_of is None:

        def resolve(root: Any, info: Info) -> Any:
            """strawberry's view of the field; ``many`` is what runs."""
            return now([root], info)[0]

        resolve.__annotations__ = {"root": Any, "info": Info}
    else:
        answer = as_of

        def many(roots: Sequence[Any], info: Any, asOf: Any = None) -> list[Any]:
            if asOf is None:
                return now(roots, info)
            return [answer(root, info, asOf) for root in roots]

        def resolve(root: Any, info: Info, as_of: Any = UNSET) -> Any:  # type: ignore[misc]
            """strawberry's view of the field; ``many`` is what runs."""
            return many([root], info, _given(as_of))[0]

        resolve.__annotations__ = {
            "root": Any,
            "info": Info,
            "as_of": Annotated[
                datetime.datetime | None, strawberry.argument(description=as_of_doc)
            ],
        }
    return strawberry.field(
        resolver=resolve,
        description=_description(rel),
        metadata={**relation_field(many), **owned_by(owner_domain(owner, rel))},
        directives=[list_size(rel.page_cap)],
    )
