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

from sqlalchemy import Integer, Row, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mlgraph.storage import models as m
from mlgraph.storage.graph import ENTITIES
from mlgraph.storage.queries import Visible, _one_of, _visibility


async def downstream(
    db: AsyncConnection,
    roots: Collection[uuid.UUID],
    max_depth: int,
    limit: int,
    visible: Visible,
) -> dict[uuid.UUID, list[tuple[Row[Any], int]]]:
    """For each root: ``(version row, depth)`` of its descendants, nearest first (then newest,
    then by id), at most ``limit`` of them; one statement for all roots."""
    decl = ENTITIES["ModelVersion"]
    version, link = decl.table, m.ModelVersionLineage.__table__
    child = version.alias("mlg_child")
    seen = _visibility(db, decl, child, visible)
    start = (
        select(
            link.c.parent_id.label("root"),
            link.c.child_id.label("id"),
            literal(1, Integer).label("depth"),
        )
        .select_from(link.join(child, child.c.id == link.c.child_id))
        .where(_one_of(db, link.c.parent_id, roots), *seen)
        .cte("mlg_down", recursive=True)
    )
    step = (
        select(start.c.root, link.c.child_id, (start.c.depth + 1).label("depth"))
        .select_from(
            start.join(link, link.c.parent_id == start.c.id).join(
                child, child.c.id == link.c.child_id
            )
        )
        .where(start.c.depth < max_depth, *seen)
    )
    walk = start.union(step)  # UNION: a cycle in the data ends at max_depth, never loops
    nearest = (
        select(walk.c.root, walk.c.id, func.min(walk.c.depth).label("depth"))
        .where(walk.c.id != walk.c.root)
        .group_by(walk.c.root, walk.c.id)
        .subquery()
    )
    order = (nearest.c.depth, version.c.created_at.desc(), version.c.id)
    rank = func.row_number().over(partition_by=nearest.c.root, order_by=order).label("mlg_rank")
    ranked = (
        select(
            *version.c, nearest.c.root.label("mlg_root"), nearest.c.depth.label("mlg_depth"), rank
        )
        .select_from(nearest.join(version, version.c.id == nearest.c.id))
        .subquery()
    )
    stmt = (
        select(ranked)
        .where(ranked.c.mlg_rank <= limit)
        .order_by(ranked.c.mlg_root, ranked.c.mlg_rank)
    )
    found: dict[uuid.UUID, list[tuple[Row[Any], int]]] = defaultdict(list)
    for row in await db.execute(stmt):
        found[row.mlg_root].append((row, row.mlg_depth))
    return {root: found.get(root, []) for root in roots}
