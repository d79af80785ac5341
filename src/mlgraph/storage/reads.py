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

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mlgraph.storage.models import ArtifactDownload
from mlgraph.storage.types import utcnow

#: Rows per INSERT: well under PostgreSQL's 32,767 bound parameters (9 per row).
CHUNK = 1000


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
    """One multi-row INSERT (per ``CHUNK`` rows) in one transaction."""
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
        for start in range(0, len(rows), CHUNK):
            await conn.execute(insert(ArtifactDownload).values(rows[start : start + CHUNK]))
