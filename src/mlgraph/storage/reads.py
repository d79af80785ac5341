"""The read audit's write: the download URLs one request issued, in one statement.

A request collects what it hands out (``Context.downloads``) while it executes, on either read
path; ``schema.readaudit.ReadAudit`` then calls ``record_downloads`` once, after execution and
before the response leaves. Nothing is written for a request that issued no URL, so reads that
do not ask for ``downloadUrl`` (the dashboard) pay nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from mlgraph.storage.models import ArtifactDownload
from mlgraph.storage.types import utcnow


@dataclass(frozen=True)
class IssuedDownload:
    project_id: uuid.UUID
    artifact_id: uuid.UUID
    expires_at: datetime


async def record_downloads(
    engine: AsyncEngine,
    issued: Sequence[IssuedDownload],
    *,
    actor: str,
    client_address: str,
    request_id: str,
) -> None:
    """One INSERT of every row (a transaction of one statement)."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "project_id": d.project_id,
            "artifact_id": d.artifact_id,
            "actor": actor,
            "client_address": client_address[:64],
            "request_id": request_id[:64],
            "expires_at": d.expires_at,
            "created_at": now,
            "updated_at": now,
        }
        for d in issued
    ]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(_unnested(rows))
        else:  # SQLite, in process: the driver's executemany
            await conn.execute(insert(ArtifactDownload), rows)


def _unnested(rows: list[dict[str, object]]) -> Insert:
    """``INSERT ... SELECT unnest($1), unnest($2)...``: one array parameter per column, so
    one statement of one text whatever the number of rows (PostgreSQL)."""
    table = ArtifactDownload.__table__
    columns = list(rows[0])
    arrays = [
        func.unnest(bindparam(None, [r[c] for r in rows], type_=ARRAY(table.c[c].type))).label(c)
        for c in columns
    ]
    return insert(ArtifactDownload).from_select(columns, select(*arrays))
