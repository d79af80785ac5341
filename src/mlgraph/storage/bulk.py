"""Many rows in one INSERT whose text does not depend on how many there are.

On PostgreSQL the values travel as one array per column (``INSERT ... SELECT ... FROM
unnest(:a, :b, ...)``): a batch of 1 and a batch of 1,000 are the same statement, built once
per table and column set, compiled and prepared once. Values every row shares (``same``: the
batch's deployment, its time stamps; with ``collapse``, any column holding one value in every
row) travel once, as plain parameters: each array costs asyncpg a check per item and
SQLAlchemy a conversion per item. ``fresh_ids``
leaves the ids to PostgreSQL (``gen_random_uuid()``): for a batch of 1,000 drift metrics,
encoding 14 arrays of 1,000 values (uuid4 for each row) was a fifth of the call's CPU. Each
statement's parameters carry its ``prefix``, so several can ride in one statement as CTEs
(``storage.audit``). SQLite gets a plain multi-row ``VALUES``.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Insert, bindparam, func, insert, select
from sqlalchemy.orm import DeclarativeBase


def insert_rows(
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    *,
    postgresql: bool,
    same: Mapping[str, Any] | None = None,
    fresh_ids: bool = False,
    prefix: str = "rows",
    collapse: bool = False,
) -> tuple[Insert, dict[str, Any]]:
    """The INSERT of ``rows`` (mappings with the same keys) into ``model``'s table, each also
    holding ``same``, and its parameters: ``session.execute(*insert_rows(...))``. A Core
    statement on the table (the ORM would take a parameter mapping for a bulk insert of
    objects). ``fresh_ids``: each row gets a new uuid (the rows hold no ``id``). ``collapse``:
    a column holding one value in every row travels once, as ``same`` does (a batch of drift
    metrics of one monitor run shares its kind, metric, threshold and window), so the
    statement depends on which columns vary (one variant per set, each built once)."""
    table: Any = model.__table__
    same = same or {}
    if not postgresql:
        ids = [{"id": uuid.uuid4()} if fresh_ids else {} for _ in rows]
        return insert(table).values(
            [{**i, **r, **same} for i, r in zip(ids, rows, strict=True)]
        ), {}
    columns = tuple(rows[0])
    if collapse:
        constant = [c for c in columns if _one_value([r[c] for r in rows])]
        if len(constant) == len(columns) and len(rows) > 1:
            constant = constant[1:]  # one array gives the rows their number
        same = {**same, **{c: rows[0][c] for c in constant}}
        columns = tuple(c for c in columns if c not in constant)
    shared = tuple(same)
    params = {f"{prefix}_{c}": [r[c] for r in rows] for c in columns}
    params.update({f"{prefix}_{c}": v for c, v in same.items()})
    return _unnest_insert(model, columns, shared, fresh_ids, prefix), params


@functools.cache
def _unnest_insert(
    model: type[DeclarativeBase],
    columns: tuple[str, ...],
    shared: tuple[str, ...],
    fresh_ids: bool,
    prefix: str,
) -> Insert:
    table: Any = model.__table__
    arrays = [bindparam(f"{prefix}_{c}", type_=ARRAY(table.c[c].type)) for c in columns]
    # unnest in FROM, not in the select list: there PostgreSQL evaluates the other
    # expressions (a sequence's nextval for a column left out) once more after the last row
    selected: list[Any] = []
    if columns:  # else one row, of the shared values
        values = func.unnest(*arrays).table_valued(*columns).render_derived(name="v")
        selected = [values.c[c] for c in columns]
    selected += [bindparam(f"{prefix}_{c}", type_=table.c[c].type) for c in shared]
    names = [*columns, *shared]
    if fresh_ids:
        selected.append(func.gen_random_uuid())
        names.append("id")
    return insert(table).from_select(names, select(*selected))


def _one_value(values: Sequence[Any]) -> bool:
    """Whether every value is the first: of its type, equal, and for floats of its sign too
    (``-0.0 == 0.0``, and each is stored as it came)."""
    first = values[0]
    kind = type(first)
    if not all(type(v) is kind and v == first for v in values):
        return False
    if kind is float and first == 0.0:
        sign = math.copysign(1.0, first)
        return all(math.copysign(1.0, v) == sign for v in values)
    return True
