"""The model registry: models, versions with lineage, aliases and artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry
from strawberry.types.unset import UNSET

from mlgraph.schema import history
from mlgraph.schema.audit import AuditEntry
from mlgraph.schema.declared import entity_type
from mlgraph.schema.enums import ArtifactStatus, Stage
from mlgraph.schema.execution import row_leaf
from mlgraph.schema.objects import (
    DEFAULT_EXPIRES_IN,
    EXPIRES_IN_DOC,
    OBJECT_STORE_CALL,
    StoredObject,
    download_url,
    stored_object,
)
from mlgraph.schema.relay import Info, Node, listing
from mlgraph.storage.graph import relation


class _ModelFields:
    aliases = listing("Model", "aliases", history.aliases_as_of, history.AS_OF_DOC)
    alias_history = history.history_field(
        "alias", "id", history.AliasChange, "Moves of this model's aliases"
    )

    @strawberry.field(description="The version an alias points at; null if there is no such alias.")
    async def version(
        self,
        info: Info,
        alias: Annotated[str, strawberry.argument(description="The alias, e.g. `latest`.")],
    ) -> ModelVersion | None:
        pk = self.pk  # type: ignore[attr-defined]
        rows = await info.context.loaders.list(relation("Model", "aliases")).load(pk)
        target = next((r.version_id for r in rows if r.alias == alias), None)
        if target is None:
            return None
        row = await info.context.loaders.by_key("ModelVersion").load(target)
        return None if row is None else ModelVersion.from_row(row)


class _ModelVersionFields:
    @strawberry.field(
        description=f"Lifecycle stage; with `asOf`, the stage then (null before the version's "
        f"first recorded stage). {history.AS_OF_DOC}",
        metadata=row_leaf("stage"),
    )
    async def stage(
        self,
        info: Info,
        as_of: Annotated[
            datetime | None, strawberry.argument(description=history.AS_OF_DOC)
        ] = UNSET,
    ) -> Stage | None:
        row = self.row  # type: ignore[attr-defined]
        if as_of is UNSET or as_of is None:
            return row.stage  # type: ignore[no-any-return]
        return await history.stage_as_of(info, row.id, as_of)

    stage_history = history.history_field(
        "stage", "id", history.StageChange, "Changes of this version's stage"
    )


class _ModelAliasFields:
    @strawberry.field(
        description=(
            "The audit entry that set the alias to this version (as of `asOf` when the list "
            "was asked as of a time); null if none was recorded."
        )
    )
    async def audit_entry(self, info: Info) -> AuditEntry | None:
        return await history.proof_of_alias(info, self.row)  # type: ignore[attr-defined]


class _ArtifactFields:
    @strawberry.field(
        name="object",
        description="The stored object as the store sees it now.",
        directives=[OBJECT_STORE_CALL],
    )
    async def stored(self, info: Info) -> StoredObject | None:
        return await stored_object(info, self.row.storage_key)  # type: ignore[attr-defined]

    @strawberry.field(description="A presigned download URL; null until the artifact is AVAILABLE.")
    async def download_url(
        self,
        info: Info,
        expires_in: Annotated[int, strawberry.argument(description=EXPIRES_IN_DOC)] = (
            DEFAULT_EXPIRES_IN
        ),
    ) -> str | None:
        if self.status is not ArtifactStatus.AVAILABLE:  # type: ignore[attr-defined]
            return None
        return await download_url(info, self.row.storage_key, expires_in)  # type: ignore[attr-defined]


if TYPE_CHECKING:  # mypy sees the generated types as Node
    Model: TypeAlias = Node
    ModelVersion: TypeAlias = Node
    ModelAlias: TypeAlias = Node
    Artifact: TypeAlias = Node
else:
    Model = entity_type("Model", _ModelFields)
    ModelVersion = entity_type("ModelVersion", _ModelVersionFields)
    ModelAlias = entity_type("ModelAlias", _ModelAliasFields)
    Artifact = entity_type("Artifact", _ArtifactFields)
