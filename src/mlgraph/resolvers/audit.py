"""Verifying the audit chain (from GraphQL and from the command line)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.storage import audit
from mlgraph.storage.audit import ChainReport


async def verify_audit_chain(sessions: async_sessionmaker[AsyncSession]) -> ChainReport:
    """Recompute every hash in sequence order (in one snapshot, ``audit.verify``); name the
    first entry that breaks the chain."""
    async with sessions() as session:
        return await audit.verify(session)
