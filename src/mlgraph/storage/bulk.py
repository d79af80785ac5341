"""Many rows in one INSERT whose text does not depend on how many there are.

On PostgreSQL the values travel as one array per column (``INSERT ... SELECT unnest(:a),
unnest(:b), ...``): a batch of 1 and a batch of 1,000 are the same statement, compiled and
prepared once. SQLite gets a plain multi-row ``VALUES``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, FromClause, Insert, bindparam, func, insert, select, true
from sqlalchemy.orm import DeclarativeBase


def insert_rows(
    model: type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    *,
    postgresql: bool,
    after: FromClause | None = None,
) -> Insert:
    """The INSERT of ``rows`` (mappings with the same keys) into ``model``'s table.

    ``after`` (PostgreSQL): a one-row FROM the rows are selected from, evaluated before the
    first row is formed, e.g. ``select(func.pg_advisory_xact_lock(k)).subquery()`` so the
    rows' defaults (a sequence's ``nextval``) are drawn under that lock."""
    if not postgresql:
        return insert(model).values(list(rows))
    table: Any = model.__table__
    columns = list(rows[0])
    arrays = [
        bindparam(c, [r[c] for r in rows], type_=ARRAY(table.c[c].type), unique=True)
        for c in columns
    ]
    # unnest in FROM (not in the select list, where PostgreSQL evaluates the other
    # expressions, e.g. a sequence's nextval, once more after the last row)
    values = func.unnest(*arrays).table_valued(*columns).render_derived(name="v")
    rows_select = select(*(values.c[c] for c in columns))
    if after is not None:
        rows_select = rows_select.select_from(after).join(values, true())
    return insert(model).from_select(columns, rows_select)
