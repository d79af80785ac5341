"""The model registry: models, versions with lineage, aliases and artifacts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.types.unset import UNSET

from mlgraph.resolvers import impact
from mlgraph.schema import history
from mlgraph.schema.audit import AuditEntry
from mlgraph.schema.cost import list_size
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


@strawberry.type(description="A version derived, directly or not, from another one.")
class DownstreamVersion:
    depth: int = strawberry.field(
        description="Lineage steps from the version asked about: 1 for a child."
    )
    version: ModelVersion = strawberry.field(
        description="The derived version: its `deployments` and their `alerts` tell the impact."
    )


@strawberry.type(description="One metric of a compared version.")
class MetricValue:
    name: str = strawberry.field(description="The metric.")
    value: float | None = strawberry.field(description="Its value; null if not reported.")


@strawberry.type(description="A compared version and its metrics, in the comparison's order.")
class ComparedVersion:
    version: ModelVersion = strawberry.field(description="The version.")
    metrics: list[MetricValue] = strawberry.field(
        description="One entry per metric of the comparison, in its order."
    )


@strawberry.type(description="Versions of one model side by side.")
class VersionComparison:
    metrics: list[str] = strawberry.field(
        description="The metrics compared: as asked, else every one a compared version reports."
    )
    versions: list[ComparedVersion] = strawberry.field(
        description="The versions, in the order asked (each once)."
    )
    best: ComparedVersion | None = strawberry.field(
        description="The best by `bestBy` (ties: the smallest id); null if none reports it."
    )


def _compared(row: Any, names: list[str], values: list[float | None]) -> ComparedVersion:
    metrics = [MetricValue(name=n, value=v) for n, v in zip(names, values, strict=True)]
    return ComparedVersion(version=ModelVersion.from_row(row), metrics=metrics)


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

    @strawberry.field(
        description=(
            "Versions of this model side by side by metric, and the best by one of them. "
            "An id that is not a version of this model (or not visible) is NOT_FOUND."
        ),
    )
    async def compare_versions(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"1 to {impact.MAX_COMPARED} version ids."),
        ],
        metrics: Annotated[
            list[str] | None,
            strawberry.argument(description="The metrics to compare; default all reported."),
        ] = None,
        best_by: Annotated[
            str | None, strawberry.argument(description="The metric that names the best.")
        ] = None,
        lower_is_better: Annotated[
            bool, strawberry.argument(description="Lowest `bestBy` is best (e.g. a loss).")
        ] = False,
    ) -> VersionComparison:
        pk = self.pk  # type: ignore[attr-defined]
        found = await impact.compare_versions(
            info.context, pk, ids, metrics, best_by, lower_is_better
        )
        names = found.metrics
        best = None if found.best is None else _compared(found.best[0], names, found.best[1])
        versions = [_compared(r, names, v) for r, v in found.versions]
        return VersionComparison(metrics=names, versions=versions, best=best)


class _ModelVersionFields:
    @strawberry.field(
        description=(
            "Versions derived from this one through lineage, transitively, nearest first "
            f"(then newest; at most {impact.MAX_DOWNSTREAM}). Only versions the caller may "
            "read, reached through versions the caller may read."
        ),
        directives=[list_size(impact.MAX_DOWNSTREAM)],
    )
    async def downstream(
        self,
        info: Info,
        max_depth: Annotated[
            int,
            strawberry.argument(description=f"Lineage steps to follow, 1 to {impact.MAX_DEPTH}."),
        ] = impact.DEFAULT_DEPTH,
    ) -> list[DownstreamVersion]:
        found = await impact.downstream(info.context, self.pk, max_depth)  # type: ignore[attr-defined]
        return [DownstreamVersion(depth=d, version=ModelVersion.from_row(r)) for r, d in found]

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

    @strawberry.field(
        description=(
            "A presigned download URL; null until the artifact is AVAILABLE. Each URL issued "
            "is recorded (`downloads`, `Query.artifactDownloads`)."
        )
    )
    async def download_url(
        self,
        info: Info,
        expires_in: Annotated[int, strawberry.argument(description=EXPIRES_IN_DOC)] = (
            DEFAULT_EXPIRES_IN
        ),
    ) -> str | None:
        if self.status is not ArtifactStatus.AVAILABLE:  # type: ignore[attr-defined]
            return None
        row = self.row  # type: ignore[attr-defined]
        issued = (row.project_id, row.id)
        return await download_url(info, row.storage_key, expires_in, artifact=issued)


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
