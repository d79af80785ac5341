"""The audit trail: append-only, hash-chained entries, one per mutation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from mlgraph.ids import encode_global_id
from mlgraph.schema.relay import NODE_TYPES, Info, Node, load_node, node_type, one
from mlgraph.schema.scalars import BigInt

if TYPE_CHECKING:
    from mlgraph.schema.projects import Project


@node_type("A record of one change: who did what to which object, chained by hashes.")
class AuditEntry(Node):
    seq: BigInt = strawberry.field(description="Position in the chain (gapless, increasing).")
    actor: str = strawberry.field(description="Principal that made the change.")
    action: str = strawberry.field(description="What was done, e.g. `model_version.transition`.")
    entity_type: str = strawberry.field(description="GraphQL type of the changed object.")
    changes: JSON = strawberry.field(description="`before` and `after` of the changed fields.")
    request_id: str = strawberry.field(description="The request that made the change.")
    prev_hash: str = strawberry.field(description="Hash of the previous entry.")
    hash: str = strawberry.field(description="sha256(prev_hash + canonical entry).")
    created_at: datetime = strawberry.field(description="When the change committed.")
    updated_at: datetime = strawberry.field(description="Same as createdAt: entries never change.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "AuditEntry", "project", "The project, if the change belongs to one."
    )

    @strawberry.field(description="The changed object, if it still exists and is visible.")
    async def entity(self, info: Info) -> Node | None:
        if self.row.entity_id is None or self.entity_type not in NODE_TYPES:
            return None
        return await load_node(info, encode_global_id(self.entity_type, self.row.entity_id))


@strawberry.type(description="Result of re-computing the audit chain.")
class AuditChainReport:
    ok: bool = strawberry.field(description="Every entry's hash recomputes and links up.")
    checked: int = strawberry.field(description="Entries verified before stopping.")
    broken_sequence: BigInt | None = strawberry.field(
        description="Sequence number of the first entry that breaks the chain."
    )
    broken_entry_id: strawberry.ID | None = strawberry.field(
        description="Global ID of that entry (it may no longer resolve if it was deleted)."
    )
    reason: str | None = strawberry.field(description="What does not match.")
