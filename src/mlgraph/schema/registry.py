"""The model registry: models, versions with lineage, aliases and artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from mlgraph.schema.enums import ArtifactKind, ArtifactStatus, RiskTier, Stage
from mlgraph.schema.objects import (
    DEFAULT_EXPIRES_IN,
    EXPIRES_IN_DOC,
    StoredObject,
    download_url,
    stored_object,
)
from mlgraph.schema.relay import Connection, Info, Node, connection, listing, node_type, one
from mlgraph.schema.scalars import BigInt
from mlgraph.storage.graph import relation

if TYPE_CHECKING:
    from mlgraph.schema.deployments import Deployment
    from mlgraph.schema.pipelines import Job
    from mlgraph.schema.projects import Project


@node_type("A registered model: a named line of versions.")
class Model(Node):
    name: str = strawberry.field(description="Unique within the project.")
    description: str = strawberry.field(description="What the model predicts.")
    tags: list[str] = strawberry.field(description="Free-form labels for search.")
    risk_tier: RiskTier = strawberry.field(description="Drives the promotion policy.")
    required_metrics: list[str] = strawberry.field(
        description="Metrics a version must report before it may reach PRODUCTION."
    )
    archived_at: datetime | None = strawberry.field(description="When archived; null if active.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When registered.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Model", "project", "The owning project."
    )
    versions: Connection[ModelVersion] = connection("Model", "versions", "Versions, newest first.")
    deployments: Connection[
        Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")]
    ] = connection("Model", "deployments", "Deployments of this model, newest first.")
    aliases: list[ModelAlias] = listing(
        "Model", "aliases", "Named pointers (`champion`, `latest`...) to versions, by name."
    )

    @strawberry.field(description="The version an alias points at; null if there is no such alias.")
    async def version(
        self,
        info: Info,
        alias: Annotated[str, strawberry.argument(description="The alias, e.g. `latest`.")],
    ) -> ModelVersion | None:
        rows = await info.context.loaders.list(relation("Model", "aliases")).load(self.pk)
        target = next((r.version_id for r in rows if r.alias == alias), None)
        if target is None:
            return None
        row = await info.context.loaders.by_key("ModelVersion").load(target)
        return None if row is None else ModelVersion.from_row(row)


@node_type("One trained version of a model, with its lifecycle stage and lineage.")
class ModelVersion(Node):
    version: str = strawberry.field(description="Semantic version, unique within the model.")
    stage: Stage = strawberry.field(description="Lifecycle stage.")
    description: str = strawberry.field(description="Release notes.")
    metrics: JSON = strawberry.field(description="Evaluation metrics, name -> number.")
    metadata: JSON = strawberry.field(description="Free-form metadata from the producer.")
    commit_sha: str | None = strawberry.field(
        description="Source commit the version was built from."
    )
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When registered.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    model: Model | None = one("ModelVersion", "model", "The model this is a version of.")
    source_run: Annotated[Job, strawberry.lazy("mlgraph.schema.pipelines")] | None = one(
        "ModelVersion", "source_run", "The job that produced this version."
    )
    artifacts: Connection[Artifact] = connection(
        "ModelVersion", "artifacts", "Files of this version (weights, metrics...), oldest first."
    )
    parents: Connection[ModelVersion] = connection(
        "ModelVersion", "parents", "Versions this one was derived from (lineage)."
    )
    children: Connection[ModelVersion] = connection(
        "ModelVersion", "children", "Versions derived from this one (lineage)."
    )
    deployments: Connection[
        Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")]
    ] = connection("ModelVersion", "deployments", "Deployments serving this version.")
    aliases: list[ModelAlias] = listing(
        "ModelVersion", "aliases", "Aliases pointing at this version, by name."
    )


@node_type("A named pointer to one version of a model; what serving code resolves.")
class ModelAlias(Node):
    alias: str = strawberry.field(description="The name, unique within the model.")
    created_at: datetime = strawberry.field(description="When first set.")
    updated_at: datetime = strawberry.field(description="When last moved.")
    model: Model | None = one("ModelAlias", "model", "The model.")
    version: ModelVersion | None = one("ModelAlias", "version", "The version it points at.")


@node_type("A file belonging to a model version, kept in object storage.")
class Artifact(Node):
    kind: ArtifactKind = strawberry.field(description="What the file holds.")
    status: ArtifactStatus = strawberry.field(description="AVAILABLE once its upload is verified.")
    file_name: str = strawberry.field(description="Original file name.")
    size_bytes: BigInt = strawberry.field(description="Declared size in bytes.")
    sha256: str = strawberry.field(description="Declared SHA-256, hex.")
    content_type: str = strawberry.field(description="MIME type.")
    created_at: datetime = strawberry.field(description="When the upload was created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    version: ModelVersion | None = one("Artifact", "version", "The version it belongs to.")

    @strawberry.field(name="object", description="The stored object as the store sees it now.")
    async def stored(self, info: Info) -> StoredObject | None:
        return await stored_object(info, self.row.storage_key)

    @strawberry.field(description="A presigned download URL; null until the artifact is AVAILABLE.")
    async def download_url(
        self,
        info: Info,
        expires_in: Annotated[int, strawberry.argument(description=EXPIRES_IN_DOC)] = (
            DEFAULT_EXPIRES_IN
        ),
    ) -> str | None:
        if self.status is not ArtifactStatus.AVAILABLE:
            return None
        return await download_url(info, self.row.storage_key, expires_in)
