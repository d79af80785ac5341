"""The model registry: models, versions with lineage, aliases and artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry

from mlgraph.schema.declared import entity_type
from mlgraph.schema.enums import ArtifactStatus
from mlgraph.schema.objects import (
    DEFAULT_EXPIRES_IN,
    EXPIRES_IN_DOC,
    OBJECT_STORE_CALL,
    StoredObject,
    download_url,
    stored_object,
)
from mlgraph.schema.relay import Info, Node
from mlgraph.storage.graph import relation


class _ModelFields:
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
    ModelVersion = entity_type("ModelVersion")
    ModelAlias = entity_type("ModelAlias")
    Artifact = entity_type("Artifact", _ArtifactFields)
