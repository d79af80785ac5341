"""Many rows in one INSERT whose text does not depend on how many there are.

On PostgreSQL the values travel as one array per column (``INSERT ... SELECT ... FROM
unnest(:a, :b, ...)``): a batch of 1 and a batch of 1,000 are the same statement, compiled and
prepared once. SQLite gets a plain multi-row ``VALUES``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Insert, bindparam, func, insert, select
from sqlalchemy.orm import DeclarativeBase


def insert_rows(
    model: type[DeclarativeBase], rows: Sequence[Mapping[str, Any]], *, postgresql: bool
) -> Insert:
    """The INSERT of ``rows`` (mappings with the same keys) into ``model``'s table."""
    if not postgresql:
        return insert(model).values(list(rows))
    table: Any = model.__table__
    columns = list(rows[0])
    arrays = [
        bindparam(c, [r[c] for r in rows], type_=ARRAY(table.c[c].type), unique=True)
        for c in columns
    ]
    # unnest in FROM, not in the select list: there PostgreSQL evaluates the other
    # expressions (a sequence's nextval for a column left out) once more after the last row
    values = func.unnest(*arrays).table_valued(*columns).render_derived(name="v")
    return insert(model).from_select(columns, select(*(values.c[c] for c in columns)))
