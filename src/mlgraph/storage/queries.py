"""Batch and page SQL derived from the graph declaration (``storage.graph``).

Three statement shapes serve every relation of the graph:

* ``rows_by_keys``: ``WHERE key IN (...)`` for objects by id or another unique key.
* ``pages``: the first/last N target rows of each parent, one statement for all parents
  (``row_number() OVER (PARTITION BY parent ORDER BY ...)``), keyset cursors, typed filters.
* ``counts``: ``GROUP BY parent`` for ``totalCount``.

Each takes ``visible``, the project ids the caller may read (``None`` means all): the one place
the read policy meets SQL.

Each statement is built once per shape (relation, page arguments, visibility, columns, dialect)
and kept (``_statement``); the keys of a batch are its one bound parameter (``KEYS``), given
at execution. Building a windowed page statement costs about as much Python as running it, and
a kept statement also keeps SQLAlchemy's cache key, which is otherwise computed on every call.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections import defaultdict
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause

from mlgraph.storage.graph import ENTITIES, EntityDecl, Filter, Order, Relation

Visible = frozenset[uuid.UUID] | None
#: The parent key of root connections (DataLoader keys cannot be None).
ROOT_KEY = "<root>"
FilterValues = tuple[tuple[str, Hashable], ...]


@dataclass(frozen=True)
class NumberRange:
    """One ``number_ranges`` filter item: the object's number under ``name`` exists and lies
    within every bound given (none: it exists)."""

    name: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None


#: The sort value of a row without the number a ``NumberKey`` order sorts by: past every
#: number in the order's direction, so such rows come last and keyset cursors stay total.
MISSING_NUMBER = sys.float_info.max


@dataclass(frozen=True)
class PageArgs:
    """One page request, already validated. Hashable: loaders batch parents by it."""

    limit: int
    backwards: bool
    order: Order
    after: tuple[Any, uuid.UUID] | None = None
    before: tuple[Any, uuid.UUID] | None = None
    filters: FilterValues = ()


@dataclass(frozen=True)
class PageRows:
    rows: list[Row[Any]]
    has_next: bool
    has_previous: bool


#: Some columns of a table (the others are not read), or None for all of them.
Columns = frozenset[str] | None


def _columns(decl: EntityDecl, columns: Columns = None) -> list[ColumnElement[Any]]:
    return [c.label(c.key) for c in decl.table.c if columns is None or c.key in columns]


#: The bound parameter holding a batch's keys (parent keys, or the keys looked up).
KEYS = "mlg_keys"


def _postgresql(db: AsyncConnection) -> bool:
    return db.dialect.name == "postgresql"


def _keys_in(column: ColumnElement[Any], *, postgresql: bool) -> ColumnElement[bool]:
    """``column IN (the batch's keys)``, bound at execution as ``KEYS``; on PostgreSQL
    ``column = ANY($1)`` with one array parameter, so the statement's text does not depend on
    how many keys there are (one prepared statement for every batch size)."""
    if postgresql:
        return column == any_(bindparam(KEYS, type_=ARRAY(column.type)))
    return column.in_(bindparam(KEYS, expanding=True))


def _visibility(
    decl: EntityDecl, table: FromClause, visible: Visible, *, postgresql: bool
) -> list[ColumnElement[bool]]:
    if visible is None:
        return []
    if not visible:
        return [false()]
    return [_any_of(table.c[decl.project_column], visible, postgresql=postgresql)]


async def rows_by_keys(
    db: AsyncConnection, decl: EntityDecl, column: str, keys: Sequence[Hashable], visible: Visible
) -> dict[Hashable, Row[Any]]:
    stmt = _rows_statement(decl.name, column, visible, postgresql=_postgresql(db))
    result = await db.execute(stmt, {KEYS: list(keys)})
    at = list(result.keys()).index(column)
    return {r[at]: r for r in result}


@functools.lru_cache(maxsize=256)
def _rows_statement(entity: str, column: str, visible: Visible, *, postgresql: bool) -> Select[Any]:
    decl = ENTITIES[entity]
    t = decl.table
    return select(*_columns(decl)).where(
        _keys_in(t.c[column], postgresql=postgresql),
        *_visibility(decl, t, visible, postgresql=postgresql),
    )


def _filter_clauses(
    decl: EntityDecl, values: FilterValues, *, postgresql: bool
) -> list[ColumnElement[bool]]:
    specs = {f.name: f for f in decl.filters}
    return [
        filter_clause(decl, specs[name], value, postgresql=postgresql) for name, value in values
    ]


def filter_clause(
    decl: EntityDecl,
    spec: Filter,
    value: Any,
    *,
    postgresql: bool,
    table: FromClause | None = None,
) -> ColumnElement[bool]:
    """The SQL of one typed filter on ``table`` (default the entity's table; the compiled
    path passes its alias). The one rendering of filters: the loaders' statements and the
    compiled statement both use it. Every value is a bound parameter, and on PostgreSQL the
    text does not depend on how many values a list holds (arrays, not one bind per value)."""
    t = decl.table if table is None else table
    if spec.op == "exists_in":
        assert spec.via is not None
        child_model, child_key = spec.via
        child = child_model.__table__
        keys = select(child.c[child_key]).where(
            _any_of(child.c[spec.column], value, postgresql=postgresql)
        )
        return t.c.id.in_(keys)
    col = t.c[spec.column]
    if spec.op == "number_ranges":
        return and_(true(), *(_in_range(col, r, postgresql=postgresql) for r in value))
    match spec.op:
        case "in":
            return _any_of(col, value, postgresql=postgresql)
        case "eq" | "global_id":
            return col == bindparam(None, value, type_=col.type)
        case "icontains":
            return col.icontains(value, autoescape=True)
        case "gte":
            return col >= bindparam(None, value, type_=col.type)
        case "lt":
            return col < bindparam(None, value, type_=col.type)
        case "contains_all":
            # An empty list asks for no tag: every row matches.
            if postgresql:
                tags = bindparam(None, list(value), type_=ARRAY(String))
                return col.op("?&", return_type=Boolean)(tags)
            return and_(true(), *(_json_array_contains(col, tag) for tag in value))
    raise AssertionError(spec.op)


def _any_of(
    column: ColumnElement[Any], values: Collection[Hashable], *, postgresql: bool
) -> ColumnElement[bool]:
    if postgresql:
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _json_array_contains(col: ColumnElement[Any], item: str) -> ColumnElement[bool]:
    """SQLite: the JSON array ``col`` holds ``item``."""
    each = func.json_each(col).table_valued("value")
    return exists().select_from(each).where(each.c.value == item)


def json_number(
    col: ColumnElement[Any], key: str, *, postgresql: bool
) -> ColumnElement[float | None]:
    """The number under ``key`` of the JSON object ``col``; null when absent or not a number."""
    if postgresql:
        item = col.op("->", return_type=col.type)(bindparam(None, key, type_=String))
        text = col.op("->>", return_type=String)(bindparam(None, key, type_=String))
        return case((func.jsonb_typeof(item) == "number", text.cast(Float)))
    each = func.json_each(col).table_valued("key", "value", "type")
    found = (
        select(each.c.value)
        .where(each.c.key == bindparam(None, key, type_=String))
        .where(each.c.type.in_(("integer", "real")))
        .scalar_subquery()
    )
    return found.cast(Float)


def _in_range(col: ColumnElement[Any], r: NumberRange, *, postgresql: bool) -> ColumnElement[bool]:
    number = json_number(col, r.name, postgresql=postgresql)
    bounds = [number.is_not(None)]
    for bound, op in ((r.gte, "__ge__"), (r.gt, "__gt__"), (r.lte, "__le__"), (r.lt, "__lt__")):
        if bound is not None:
            bounds.append(getattr(number, op)(bindparam(None, bound, type_=Float)))
    return and_(*bounds)


def sort_value(table: FromClause, order: Order, *, postgresql: bool) -> ColumnElement[Any]:
    """What ``order`` sorts ``table``'s rows by: its column, or for a ``NumberKey`` order the
    number under its key (``MISSING_NUMBER`` past the end when a row has none). The one
    rendering: the loaders' statements and the compiled statement both use it."""
    col = table.c[order.column]
    if order.key is None:
        return col
    missing = -MISSING_NUMBER if order.descending else MISSING_NUMBER
    number = json_number(col, order.key, postgresql=postgresql)
    return func.coalesce(number, literal(missing, Float))


def _keyset(
    table: FromClause,
    order: Order,
    key: tuple[Any, uuid.UUID],
    after: bool,
    *,
    postgresql: bool,
) -> ColumnElement[bool]:
    col, pk = sort_value(table, order, postgresql=postgresql), table.c.id
    row = tuple_(col, pk)
    bound = tuple_(bindparam(None, key[0], type_=col.type), bindparam(None, key[1], type_=pk.type))
    return row > bound if after != order.descending else row < bound


def _ordering(
    table: FromClause, order: Order, backwards: bool, *, postgresql: bool
) -> list[ColumnElement[Any]]:
    desc = order.descending != backwards
    cols = (sort_value(table, order, postgresql=postgresql), table.c.id)
    return [c.desc() if desc else c.asc() for c in cols]


def _target_and_parent(
    relation: Relation, decl: EntityDecl
) -> tuple[FromClause, ColumnElement[Any] | None]:
    """The FROM clause and the column that holds the parent key (``None`` at the root)."""
    t = decl.table
    if relation.through is not None:
        link = relation.through.model.__table__
        joined = t.join(link, link.c[relation.through.target_col] == t.c.id)
        return joined, link.c[relation.through.parent_col]
    if relation.child_key is None:
        return t, None
    return t, t.c[relation.child_key]


@functools.lru_cache(maxsize=512)
def _page_statement(
    relation: Relation,
    args: PageArgs,
    visible: Visible,
    columns: Columns,
    *,
    one_parent: bool,
    postgresql: bool,
) -> Select[Any]:
    decl = ENTITIES[relation.target]
    t = decl.table
    source, parent_col = _target_and_parent(relation, decl)
    where = [
        *_visibility(decl, t, visible, postgresql=postgresql),
        *_filter_clauses(decl, args.filters, postgresql=postgresql),
    ]
    if args.after is not None:
        where.append(_keyset(t, args.order, args.after, after=True, postgresql=postgresql))
    if args.before is not None:
        where.append(_keyset(t, args.order, args.before, after=False, postgresql=postgresql))
    ordering = _ordering(t, args.order, args.backwards, postgresql=postgresql)
    parent_label = (parent_col if parent_col is not None else literal_column("NULL")).label(
        "mlg_parent"
    )
    # A computed sort value is read as ``mlg_sort``: the cursors are made of it.
    sort = [] if args.order.key is None else [sort_value(t, args.order, postgresql=postgresql)]
    sort = [c.label("mlg_sort") for c in sort]
    if parent_col is None or one_parent:
        if parent_col is not None:
            where.append(parent_col == bindparam(KEYS, type_=parent_col.type))
        return (
            select(*_columns(decl, columns), *sort, parent_label)
            .select_from(source)
            .where(*where)
            .order_by(*ordering)
            .limit(args.limit + 1)
        )
    rank = func.row_number().over(partition_by=parent_col, order_by=ordering).label("mlg_rank")
    inner = (
        select(*_columns(decl, columns), *sort, parent_label, rank)
        .select_from(source)
        .where(_keys_in(parent_col, postgresql=postgresql), *where)
        .subquery()
    )
    return (
        select(
            *(inner.c[c.key] for c in t.c if columns is None or c.key in columns),
            *(inner.c[c.name] for c in sort),
            inner.c.mlg_parent,
        )
        .where(inner.c.mlg_rank <= args.limit + 1)
        .order_by(inner.c.mlg_parent, inner.c.mlg_rank)
    )


async def pages(
    db: AsyncConnection,
    relation: Relation,
    parents: Collection[Hashable],
    args: PageArgs,
    visible: Visible,
    columns: Columns = None,
) -> dict[Hashable, PageRows]:
    """One page of target rows (only ``columns``, if given) for every parent key, in one
    statement."""
    grouped: dict[Hashable, list[Row[Any]]] = defaultdict(list)
    root = relation.child_key is None and relation.through is None
    one_parent = len(parents) == 1
    stmt = _page_statement(
        relation, args, visible, columns, one_parent=one_parent, postgresql=_postgresql(db)
    )
    keys = next(iter(parents)) if one_parent else list(parents)
    result = await db.execute(stmt, {} if root else {KEYS: keys})
    if root:
        grouped[ROOT_KEY] = list(result)
    else:
        parent_at = list(result.keys()).index("mlg_parent")  # by index: cheaper per row
        for row in result:
            grouped[row[parent_at]].append(row)
    result_pages = {}
    for parent in parents:
        rows = grouped.get(parent, [])
        more = len(rows) > args.limit
        rows = rows[: args.limit]
        if args.backwards:
            rows.reverse()
            result_pages[parent] = PageRows(rows, args.before is not None, more)
        else:
            result_pages[parent] = PageRows(rows, more, args.after is not None)
    return result_pages


@functools.lru_cache(maxsize=256)
def _count_statement(
    relation: Relation, filters: FilterValues, visible: Visible, *, postgresql: bool
) -> Select[Any]:
    decl = ENTITIES[relation.target]
    source, parent_col = _target_and_parent(relation, decl)
    where = [
        *_visibility(decl, decl.table, visible, postgresql=postgresql),
        *_filter_clauses(decl, filters, postgresql=postgresql),
    ]
    if parent_col is None:
        return select(func.count()).select_from(source).where(*where)
    return (
        select(parent_col, func.count())
        .select_from(source)
        .where(_keys_in(parent_col, postgresql=postgresql), *where)
        .group_by(parent_col)
    )


async def counts(
    db: AsyncConnection,
    relation: Relation,
    parents: Collection[Hashable],
    filters: FilterValues,
    visible: Visible,
) -> dict[Hashable, int]:
    """``totalCount`` for every parent key, in one statement."""
    stmt = _count_statement(relation, filters, visible, postgresql=_postgresql(db))
    if relation.child_key is None and relation.through is None:
        total = await db.scalar(stmt)
        return {ROOT_KEY: total or 0}
    found: dict[Hashable, int] = {k: n for k, n in await db.execute(stmt, {KEYS: list(parents)})}
    return {p: found.get(p, 0) for p in parents}


async def rows_for_lists(
    db: AsyncConnection, relation: Relation, parents: Collection[Hashable], visible: Visible
) -> dict[Hashable, list[Row[Any]]]:
    """Short bounded lists (``kind="list"``): every parent's rows up to the page cap."""
    args = PageArgs(limit=relation.page_cap, backwards=False, order=relation.order)
    return {k: p.rows for k, p in (await pages(db, relation, parents, args, visible)).items()}
