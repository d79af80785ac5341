"""Engine, session factory and the declarative base with explicit constraint names."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mlgraph.settings import Settings
from mlgraph.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Entity(Base):
    """Columns every graph entity has: a UUID key, its project, and timestamps."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-10)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, sort_order=10
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True, sort_order=10
    )


def create_engine(settings: Settings, **server_settings: str) -> AsyncEngine:
    """One engine per process; bounded connect and statement time so a dead database fails fast.
    ``server_settings``: PostgreSQL settings of every session of this engine."""
    url = settings.effective_database_url
    asyncpg = url.startswith("postgresql+asyncpg")
    kwargs: dict[str, Any] = {"pool_pre_ping": not asyncpg}  # asyncpg: _ping on checkout
    if url.startswith("postgresql"):
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = settings.db_max_overflow
        kwargs["pool_timeout"] = settings.db_pool_timeout_s
        kwargs["connect_args"] = {
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_statement_timeout_s,
            "server_settings": {"application_name": "mlgraph", **server_settings},
        }
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": settings.db_connect_timeout_s}
    engine = create_async_engine(url, **kwargs)
    if asyncpg:
        event.listen(engine.sync_engine, "checkout", _ping)
        event.listen(engine.sync_engine, "checkin", _returned)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_compiled_engine(settings: Settings) -> AsyncEngine:
    """The compiled read path's engine (PostgreSQL): a fixed pool of ``compiled_pool_size``
    connections (no overflow: no session opened or closed under load, and statements past the
    pool wait in arrival order) whose prepared statements always run their generic plan.

    Each compiled operation is one prepared statement (asyncpg's statement cache) with the
    same shape on every call, and only page sizes, cursors and filter values as parameters.
    Left to ``plan_cache_mode = auto``, PostgreSQL kept planning the dashboard statement on
    every execution (a custom plan: about 0.8 ms of the statement's 6.6 ms backend CPU)."""
    update = {"db_pool_size": settings.compiled_pool_size, "db_max_overflow": 0}
    return create_engine(
        settings.model_copy(update=update),
        application_name="mlgraph-compiled",
        plan_cache_mode="force_generic_plan",
    )


#: A connection back in the pool for less than this is handed out again without a ping: it
#: just worked. Under load, that is every checkout (two round trips less per mutation).
PING_AFTER_IDLE_S = 1.0


def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """``pool_pre_ping`` in one round trip, for connections idle ``PING_AFTER_IDLE_S`` or more.
    SQLAlchemy's asyncpg ping wraps its ``;`` in BEGIN and ROLLBACK (for pgbouncer's
    transaction mode): three round trips on every checkout. With this ping and autocommit reads
    (``loaders``), a dashboard request makes 16 round trips instead of 52. A connection that
    fails it is replaced, as with pre-ping; one that breaks within the idle window fails its
    first statement, and SQLAlchemy invalidates it (and the pool's older connections) then."""
    returned = record.info.get("returned_at")
    if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_connection.run_async(lambda conn: conn.fetchrow(";"))
    except Exception as error:
        raise DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
