"""The audit trail: append-only, hash-chained entries, one per mutation."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry

from mlgraph.ids import encode_global_id
from mlgraph.schema.declared import entity_type
from mlgraph.schema.relay import Info, Node, load_node
from mlgraph.schema.scalars import BigInt
from mlgraph.storage.graph import ENTITIES


class _AuditEntryFields:
    @strawberry.field(
        description="The changed object, if it still exists and is visible; null once it is "
        "deleted (its `*.delete` entry keeps its last snapshot in `changes.before`: the "
        "tombstone; filter by `entityId` to read its trail)."
    )
    async def entity(self, info: Info) -> Node | None:
        row = self.row  # type: ignore[attr-defined]
        if row.entity_id is None or row.entity_type not in ENTITIES:
            return None
        return await load_node(info, encode_global_id(row.entity_type, row.entity_id))


if TYPE_CHECKING:  # mypy sees the generated types as Node
    AuditEntry: TypeAlias = Node
    ArtifactDownload: TypeAlias = Node
else:
    AuditEntry = entity_type("AuditEntry", _AuditEntryFields)
    ArtifactDownload = entity_type("ArtifactDownload")


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
