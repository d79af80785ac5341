"""Who is asking: the principal every request carries, and what it may read and write."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mlgraph.storage.enums import Role

_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Principal:
    """A caller: a platform admin, or a holder of per-project roles (a user through a token,
    an API key scoped to one project), or the anonymous reader when that is configured."""

    id: str
    display_name: str
    platform_admin: bool = False
    project_roles: Mapping[uuid.UUID, Role] = field(default_factory=lambda: MappingProxyType({}))
    read_everything: bool = False

    def visible_projects(self) -> frozenset[uuid.UUID] | None:
        """Project ids this principal may read; ``None`` means every project."""
        if self.platform_admin or self.read_everything:
            return None
        return frozenset(self.project_roles)

    def can(self, project_id: uuid.UUID | None, role: Role) -> bool:
        """Whether the principal holds ``role`` (or a higher one) in the project."""
        if self.platform_admin:
            return True
        held = self.project_roles.get(project_id) if project_id is not None else None
        return held is not None and _RANK[held] >= _RANK[role]

    @property
    def authenticated(self) -> bool:
        return not self.read_everything


#: The caller without credentials, when ``MLGRAPH_ANONYMOUS_READ`` allows one.
ANONYMOUS_READER = Principal(id="anonymous", display_name="Anonymous", read_everything=True)
