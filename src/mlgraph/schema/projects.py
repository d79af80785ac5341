"""Projects, their members, and the viewer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from mlgraph.schema.enums import Role
from mlgraph.schema.relay import Connection, Node, connection, node_type, one

if TYPE_CHECKING:
    from mlgraph.schema.audit import AuditEntry
    from mlgraph.schema.deployments import Deployment
    from mlgraph.schema.monitoring import Alert, AlertRule
    from mlgraph.schema.pipelines import Pipeline
    from mlgraph.schema.registry import Model
    from mlgraph.schema.webhooks import Webhook


@node_type("A team's space: its pipelines, models, deployments, alerts and audit trail.")
class Project(Node):
    slug: str = strawberry.field(description="Short unique name used in URLs and `project(slug:)`.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="What the project is for.")
    archived_at: datetime | None = strawberry.field(description="When archived; null if active.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    pipelines: Connection[Annotated[Pipeline, strawberry.lazy("mlgraph.schema.pipelines")]] = (
        connection("Project", "pipelines", "Pipelines, by name.")
    )
    models: Connection[Annotated[Model, strawberry.lazy("mlgraph.schema.registry")]] = connection(
        "Project", "models", "Registered models, by name."
    )
    deployments: Connection[
        Annotated[Deployment, strawberry.lazy("mlgraph.schema.deployments")]
    ] = connection("Project", "deployments", "Deployments, newest first.")
    alert_rules: Connection[Annotated[AlertRule, strawberry.lazy("mlgraph.schema.monitoring")]] = (
        connection("Project", "alert_rules", "Alert rules evaluated on drift metrics, by name.")
    )
    alerts: Connection[Annotated[Alert, strawberry.lazy("mlgraph.schema.monitoring")]] = connection(
        "Project", "alerts", "Alerts, most recently fired first."
    )
    webhooks: Connection[Annotated[Webhook, strawberry.lazy("mlgraph.schema.webhooks")]] = (
        connection("Project", "webhooks", "Registered webhook endpoints, oldest first.")
    )
    members: Connection[ProjectMember] = connection(
        "Project", "members", "Principals with a role in this project, oldest first."
    )
    api_keys: Connection[ApiKey] = connection(
        "Project", "api_keys", "API keys for runners and monitors (never their secrets)."
    )
    audit_entries: Connection[Annotated[AuditEntry, strawberry.lazy("mlgraph.schema.audit")]] = (
        connection("Project", "audit_entries", "The project's audit trail, newest first.")
    )


@node_type("A principal's role in one project.")
class ProjectMember(Node):
    principal_id: str = strawberry.field(description="Subject of the user or API key.")
    display_name: str = strawberry.field(description="Human-readable name.")
    role: Role = strawberry.field(description="VIEWER reads, EDITOR writes, ADMIN administers.")
    created_at: datetime = strawberry.field(description="When the role was granted.")
    updated_at: datetime = strawberry.field(description="When the role last changed.")
    project: Project | None = one("ProjectMember", "project", "The project.")


@node_type("A project-scoped credential for a runner or monitor; the secret is shown once.")
class ApiKey(Node):
    name: str = strawberry.field(description="What the key is for.")
    prefix: str = strawberry.field(description="Public part of the key, e.g. `mlg_ab12cd34`.")
    role: Role = strawberry.field(description="The role the key acts with in its project.")
    created_by: str = strawberry.field(description="Principal that created it.")
    expires_at: datetime | None = strawberry.field(description="When it stops working.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")
    last_used_at: datetime | None = strawberry.field(description="Last use (to the minute).")
    created_at: datetime = strawberry.field(description="When created.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Project | None = one("ApiKey", "project", "The project it is scoped to.")


@strawberry.type(description="The caller: who they are and where they have roles.")
class Viewer:
    principal_id: str = strawberry.field(description="Subject of the caller.")
    display_name: str = strawberry.field(description="Human-readable name.")
    is_platform_admin: bool = strawberry.field(description="May read and administer everything.")
    memberships: Connection[ProjectMember] = connection(
        "Viewer", "memberships", "The caller's project roles."
    )
