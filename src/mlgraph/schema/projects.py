"""Projects, their members and API keys, and the viewer."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry

from mlgraph.schema.declared import entity_type
from mlgraph.schema.relay import Connection, Node, connection

if TYPE_CHECKING:  # mypy sees the generated types as Node
    Project: TypeAlias = Node
    ProjectMember: TypeAlias = Node
    ApiKey: TypeAlias = Node
else:
    Project = entity_type("Project")
    ProjectMember = entity_type("ProjectMember")
    ApiKey = entity_type("ApiKey")


@strawberry.type(description="The caller: who they are and where they have roles.")
class Viewer:
    principal_id: str = strawberry.field(description="Subject of the caller.")
    display_name: str = strawberry.field(description="Human-readable name.")
    is_platform_admin: bool = strawberry.field(description="May read and administer everything.")
    memberships: Connection[ProjectMember] = connection("Viewer", "memberships")
