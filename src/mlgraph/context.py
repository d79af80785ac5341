"""The typed per-request context every resolver receives as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.auth.principal import Principal
from mlgraph.loaders import Loaders
from mlgraph.settings import Settings
from mlgraph.storage.objects import ObjectStore


@dataclass
class Context:
    principal: Principal
    loaders: Loaders
    request_id: str
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    objects: ObjectStore

    @classmethod
    def create(
        cls,
        *,
        principal: Principal,
        request_id: str,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        objects: ObjectStore,
    ) -> Context:
        """A context with fresh loaders bound to this principal's visibility."""
        loaders = Loaders(sessions, principal.visible_projects())
        return cls(principal, loaders, request_id, settings, sessions, objects)
