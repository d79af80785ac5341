"""Root query fields."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from mlgraph.errors import BadUserInput, Forbidden
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.audit import verify_audit_chain
from mlgraph.schema.audit import ArtifactDownload, AuditChainReport, AuditEntry
from mlgraph.schema.columns import owned_by
from mlgraph.schema.cost import list_size
from mlgraph.schema.deployments import Deployment
from mlgraph.schema.monitoring import Alert
from mlgraph.schema.projects import Project, Viewer
from mlgraph.schema.promotion import evaluate_promotion
from mlgraph.schema.ratelimit import RateLimit, rate_limit
from mlgraph.schema.registry import Model, ModelVersion
from mlgraph.schema.relay import Connection, Info, Node, connection, load_node

MAX_NODES = 100


@strawberry.type(description="Read the MLOps graph.")
class Query:
    @strawberry.field(description="The caller.", metadata=owned_by("projects"))
    def viewer(self, info: Info) -> Viewer:
        p = info.context.principal
        return Viewer(
            principal_id=p.id, display_name=p.display_name, is_platform_admin=p.platform_admin
        )

    @strawberry.field(
        description="A project by its slug; null if absent or not visible.",
        metadata=owned_by("projects"),
    )
    async def project(
        self, info: Info, slug: Annotated[str, strawberry.argument(description="The slug.")]
    ) -> Project | None:
        row = await info.context.loaders.by_key("Project", "slug").load(slug)
        return None if row is None else Project.from_row(row)

    projects: Connection[Project] = connection("Query", "projects")
    models: Connection[Model] = connection("Query", "models")
    model_versions: Connection[ModelVersion] = connection("Query", "model_versions")
    deployments: Connection[Deployment] = connection("Query", "deployments")
    alerts: Connection[Alert] = connection("Query", "alerts")
    audit_entries: Connection[AuditEntry] = connection("Query", "audit_entries")
    artifact_downloads: Connection[ArtifactDownload] = connection("Query", "artifact_downloads")

    @strawberry.field(
        description="Any object by global ID; null if absent or not visible.",
        metadata=owned_by("projects"),
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Global ID.")],
    ) -> Node | None:
        return await load_node(info, id)

    @strawberry.field(
        description="Objects by global IDs (at most 100), in the same order.",
        metadata=owned_by("projects"),
        directives=[list_size(MAX_NODES)],
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global IDs.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"at most {MAX_NODES} ids per call", field="ids")
        return list(await asyncio.gather(*(load_node(info, i, field="ids") for i in ids)))

    @strawberry.field(
        description=(
            "The caller's rate limit after this operation's charge (README \"Cost and rate "
            'limits"); null where the server runs without rate limits.'
        ),
        metadata=owned_by("projects"),
    )
    def rate_limit(self, info: Info) -> RateLimit | None:
        return rate_limit(info.context)

    evaluate_promotion = strawberry.field(
        resolver=evaluate_promotion,
        description=(
            "Dry-run `transitionModelVersion`: every reason the promotion policy would refuse "
            "moving the version to `stage`, and nothing written. Null if the version is absent "
            "or not visible."
        ),
        metadata=owned_by("registry"),
    )

    @strawberry.field(
        description="Re-compute the audit chain, naming the first broken entry (platform ADMIN).",
        metadata=owned_by("audit"),
    )
    async def verify_audit_chain(self, info: Info) -> AuditChainReport:
        if not info.context.principal.platform_admin:
            raise Forbidden("verifying the whole audit chain needs a platform ADMIN")
        report = await verify_audit_chain(info.context.sessions)
        return AuditChainReport(
            ok=report.ok,
            checked=report.checked,
            broken_sequence=report.broken_seq,  # type: ignore[arg-type]
            broken_entry_id=None
            if report.broken_id is None
            else strawberry.ID(encode_global_id("AuditEntry", report.broken_id)),
            reason=report.reason or None,
        )
