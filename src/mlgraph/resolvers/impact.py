"""Impact and comparison reads: ``ModelVersion.downstream`` and ``Model.compareVersions``.

``downstream`` is the lineage walk of ``storage.lineage`` through the request's loader (one
recursive statement for every version asked about in the request). ``compare_versions`` puts
chosen versions of one model side by side by metric and names the best by one metric; the
versions come through the same loader as ``node(id:)``, so a version the caller cannot read
is as absent as one that does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from mlgraph.context import Context
from mlgraph.errors import BadUserInput, NotFound
from mlgraph.ids import decode_global_id
from mlgraph.storage.lineage import DEFAULT_DEPTH, MAX_DEPTH, MAX_DOWNSTREAM

__all__ = ["DEFAULT_DEPTH", "MAX_COMPARED", "MAX_DEPTH", "MAX_DOWNSTREAM", "compare_versions"]

#: Versions one comparison takes at most.
MAX_COMPARED = 20


async def downstream(ctx: Context, version_id: uuid.UUID, depth: int) -> list[tuple[Row[Any], int]]:
    if not 1 <= depth <= MAX_DEPTH:
        raise BadUserInput(f"`maxDepth` must be between 1 and {MAX_DEPTH}", field="maxDepth")
    return await ctx.loaders.downstream(depth, MAX_DOWNSTREAM).load(version_id)


@dataclass(frozen=True)
class Comparison:
    metrics: list[str]
    #: The compared rows in the order asked, each with its value per metric (None: absent).
    versions: list[tuple[Row[Any], list[float | None]]]
    best: tuple[Row[Any], list[float | None]] | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


async def compare_versions(
    ctx: Context,
    model_id: uuid.UUID,
    ids: Sequence[str],
    metrics: Sequence[str] | None,
    best_by: str | None,
    lower_is_better: bool,
) -> Comparison:
    if not 1 <= len(ids) <= MAX_COMPARED:
        raise BadUserInput(f"compare 1 to {MAX_COMPARED} versions", field="ids")
    keys: dict[uuid.UUID, int] = {}  # each version once, at the first place it was asked
    for n, global_id in enumerate(ids):
        type_name, pk = decode_global_id(global_id, field=f"ids.{n}")
        if type_name != "ModelVersion":
            raise BadUserInput(f"{global_id!r} is not a ModelVersion id", field=f"ids.{n}")
        keys.setdefault(pk, n)
    loader = ctx.loaders.by_key("ModelVersion")
    found = await asyncio.gather(*(loader.load(pk) for pk in keys))
    rows: list[Row[Any]] = []
    for row, n in zip(found, keys.values(), strict=True):
        if row is None or row.model_id != model_id:
            raise NotFound("no such version of this model", field=f"ids.{n}")
        rows.append(row)
    names = list(metrics) if metrics is not None else sorted({k for r in rows for k in r.metrics})
    compared = [(r, [_number(r.metrics.get(name)) for name in names]) for r in rows]
    return Comparison(names, compared, _best(rows, compared, best_by, lower_is_better))


def _best(
    rows: Sequence[Row[Any]],
    compared: list[tuple[Row[Any], list[float | None]]],
    best_by: str | None,
    lower_is_better: bool,
) -> tuple[Row[Any], list[float | None]] | None:
    """The compared version with the best ``best_by`` (ties: the smallest id); None when no
    compared version reports it."""
    if best_by is None:
        return None
    scored = [(v, c) for c in compared if (v := _number(c[0].metrics.get(best_by))) is not None]
    if not scored:
        return None
    sign = 1.0 if lower_is_better else -1.0
    return min(scored, key=lambda s: (sign * s[0], s[1][0].id))[1]
