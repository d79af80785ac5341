"""Impact of a version: the versions derived from it, transitively, in one recursive statement.

``downstream`` walks ``model_version_lineage`` from parent to child with a recursive CTE (the
same SQL on PostgreSQL and SQLite) for every root version of a batch at once, at most
``max_depth`` steps, and keeps each descendant once, at its nearest depth. The walk passes
only through versions the caller may read (``visible``): a version of another project, and
whatever is reachable only through it, is not part of the answer, so lineage that crosses
projects tells nothing about them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Subquery, false, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause

from mlgraph.storage import models as m
from mlgraph.storage.graph import ENTITIES
from mlgraph.storage.queries import Visible, _any_of

#: Lineage steps a walk takes at most, and by default; descendants it returns at most.
MAX_DEPTH = 10
DEFAULT_DEPTH = 3
MAX_DOWNSTREAM = 100


def downstream_rows(
    roots: ColumnElement[bool] | None,
    root: ColumnElement[Any] | None,
    max_depth: int,
    limit: int,
    visible: Visible,
    *,
    postgresql: bool,
) -> Subquery:
    """The descendants of the roots as rows of ``model_version`` plus ``mlg_root``,
    ``mlg_depth`` (nearest) and ``mlg_rank`` (1, 2... per root: nearest, then newest, then by
    id), ``mlg_rank <= limit``. The roots are the lineage parents matching ``roots`` (a
    condition on the parent column), or the one ``root`` (a SQL expression: the compiled path
    passes its row's id). The one rendering: the loader and the compiled statement use it."""
    decl = ENTITIES["ModelVersion"]
    version, link = decl.table, m.ModelVersionLineage.__table__
    child = version.alias("mlg_child")
    seen = _seen(child, decl.project_column, visible, postgresql=postgresql)
    starts = link.c.parent_id == root if root is not None else roots
    assert starts is not None
    start = (
        select(
            link.c.parent_id.label("root"),
            link.c.child_id.label("id"),
            literal(1, Integer).label("depth"),
        )
        .select_from(link.join(child, child.c.id == link.c.child_id))
        .where(starts, *seen)
        .cte("mlg_down", recursive=True)
    )
    step = (
        select(start.c.root, link.c.child_id, (start.c.depth + 1).label("depth"))
        .select_from(
            start.join(link, link.c.parent_id == start.c.id).join(
                child, child.c.id == link.c.child_id
            )
        )
        .where(start.c.depth < literal(max_depth, Integer), *seen)
    )
    walk = start.union(step)  # UNION: a cycle in the data ends at max_depth, never loops
    nearest = (
        select(walk.c.root, walk.c.id, func.min(walk.c.depth).label("depth"))
        .where(walk.c.id != walk.c.root)
        .group_by(walk.c.root, walk.c.id)
        .subquery("mlg_nearest")
    )
    order = (nearest.c.depth, version.c.created_at.desc(), version.c.id)
    rank = func.row_number().over(partition_by=nearest.c.root, order_by=order).label("mlg_rank")
    ranked = (
        select(
            *version.c, nearest.c.root.label("mlg_root"), nearest.c.depth.label("mlg_depth"), rank
        )
        .select_from(nearest.join(version, version.c.id == nearest.c.id))
        .subquery("mlg_ranked")
    )
    return (
        select(ranked)
        .where(ranked.c.mlg_rank <= literal(limit, Integer))
        .subquery("mlg_downstream")
    )


def _seen(
    table: FromClause, column: str, visible: Visible, *, postgresql: bool
) -> list[ColumnElement[bool]]:
    if visible is None:
        return []
    if not visible:
        return [false()]
    return [_any_of(table.c[column], visible, postgresql=postgresql)]


async def downstream(
    db: AsyncConnection,
    roots: Collection[uuid.UUID],
    max_depth: int,
    limit: int,
    visible: Visible,
) -> dict[uuid.UUID, list[tuple[Row[Any], int]]]:
    """For each root: ``(version row, depth)`` of its descendants, nearest first (then newest,
    then by id), at most ``limit`` of them; one statement for all roots."""
    link = m.ModelVersionLineage.__table__
    postgresql = db.dialect.name == "postgresql"
    parents = _any_of(link.c.parent_id, roots, postgresql=postgresql)
    rows = downstream_rows(parents, None, max_depth, limit, visible, postgresql=postgresql)
    stmt = select(rows).order_by(rows.c.mlg_root, rows.c.mlg_rank)
    found: dict[uuid.UUID, list[tuple[Row[Any], int]]] = defaultdict(list)
    for row in await db.execute(stmt):
        found[row.mlg_root].append((row, row.mlg_depth))
    return {root: found.get(root, []) for root in roots}
