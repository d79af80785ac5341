"""Many rows in one INSERT whose text does not depend on how many there are.

On PostgreSQL the values travel as one array per column (``INSERT ... SELECT ... FROM
unnest(:a, :b, ...)``): a batch of 1 and a batch of 1,000 are the same statement, built once
per table and column set, compiled and prepared once. SQLite gets a plain multi-row
``VALUES``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Insert, bindparam, func, insert, select
from sqlalchemy.orm import DeclarativeBase


def insert_rows(
    model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]], *, postgresql: bool
) -> tuple[Insert, dict[str, Any]]:
    """The INSERT of ``rows`` (mappings with the same keys) into ``model``'s table, and its
    parameters: ``session.execute(*insert_rows(...))``. A Core statement on the table (the ORM
    would take a parameter mapping for a bulk insert of objects)."""
    table: Any = model.__table__
    if not postgresql:
        return insert(table).values(list(rows)), {}
    columns = tuple(rows[0])
    return _unnest_insert(model, columns), {f"rows_{c}": [r[c] for r in rows] for c in columns}


@functools.cache
def _unnest_insert(model: type[DeclarativeBase], columns: tuple[str, ...]) -> Insert:
    table: Any = model.__table__
    arrays = [bindparam(f"rows_{c}", type_=ARRAY(table.c[c].type)) for c in columns]
    # unnest in FROM, not in the select list: there PostgreSQL evaluates the other
    # expressions (a sequence's nextval for a column left out) once more after the last row
    values = func.unnest(*arrays).table_valued(*columns).render_derived(name="v")
    return insert(table).from_select(list(columns), select(*(values.c[c] for c in columns)))
