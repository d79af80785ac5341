"""Who is asking: the principal every request carries, and what it may read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mlgraph.storage.enums import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a platform admin, or a holder of per-project roles."""

    id: str
    display_name: str
    platform_admin: bool = False
    project_roles: Mapping[uuid.UUID, Role] = field(default_factory=lambda: MappingProxyType({}))

    def visible_projects(self) -> frozenset[uuid.UUID] | None:
        """Project ids this principal may read; ``None`` means every project."""
        if self.platform_admin:
            return None
        return frozenset(self.project_roles)


#: Until identity lands (OIDC tokens, API keys), every request acts as this local admin.
LOCAL_ADMIN = Principal(id="local-admin", display_name="Local administrator", platform_admin=True)
