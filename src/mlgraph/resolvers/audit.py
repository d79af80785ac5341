"""Verifying the audit chain (from GraphQL and from the command line)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.storage import audit
from mlgraph.storage.audit import ChainReport


async def verify_audit_chain(sessions: async_sessionmaker[AsyncSession]) -> ChainReport:
    """Recompute every hash in sequence order; name the first entry that breaks the chain.

    The heads and the entries are read in one snapshot: read one after the other while others
    write (the simulator of ``make run``), a head could be newer than the entries read, and
    the chain seemed broken ("ends at 80, its head at position 79")."""
    async with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        else:  # the driver begins no transaction for reads; in WAL mode one is a snapshot
            await session.execute(text("BEGIN"))
        return await audit.verify(session)
