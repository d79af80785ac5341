"""Projects, their members and API keys."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    STAMPS,
    TIME_ORDERS,
    EntityDecl,
    Order,
    Relation,
    fields,
    many,
    one,
    rels,
)

ENTITIES = (
    EntityDecl(
        "Project",
        m.Project,
        "projects",
        "A team's space: its pipelines, models, deployments, alerts and audit trail.",
        fields(
            slug="Short unique name used in URLs and `project(slug:)`.",
            name="Display name.",
            description="What the project is for.",
            archived_at="When archived; null if active.",
            revision=REVISION,
            **STAMPS,
        ),
        orders={"NAME": "name", "SLUG": "slug", **TIME_ORDERS},
        project_column="id",
        unique_keys=("slug",),
        audit_extra=("protected_aliases",),
        relations=rels(
            many("pipelines", "Pipeline", "project_id", "Pipelines", order=Order("name")),
            many("models", "Model", "project_id", "Registered models", order=Order("name")),
            many("deployments", "Deployment", "project_id", "Deployments", order=NEWEST),
            many(
                "alert_rules",
                "AlertRule",
                "project_id",
                "Alert rules evaluated on drift metrics",
                order=Order("name"),
            ),
            many(
                "alerts",
                "Alert",
                "project_id",
                "Alerts",
                order=Order("fired_at", descending=True),
            ),
            many(
                "downtimes",
                "Downtime",
                "project_id",
                "Scheduled downtimes: no alert fires in their scope meanwhile",
                order=Order("starts_at", descending=True),
            ),
            many("webhooks", "Webhook", "project_id", "Registered webhook endpoints"),
            many(
                "members", "ProjectMember", "project_id", "Principals with a role in this project"
            ),
            many(
                "api_keys",
                "ApiKey",
                "project_id",
                "API keys for runners and monitors (never their secrets)",
            ),
            many(
                "audit_entries",
                "AuditEntry",
                "project_id",
                "The project's audit trail",
                order=Order("seq", descending=True),
            ),
        ),
    ),
    EntityDecl(
        "ProjectMember",
        m.ProjectMember,
        "projects",
        "A principal's role in one project.",
        fields(
            principal_id="Subject of the user or API key.",
            display_name="Human-readable name.",
            role="VIEWER reads, EDITOR writes, ADMIN administers.",
            created_at="When the role was granted.",
            updated_at="When the role last changed.",
        ),
        orders={"PRINCIPAL_ID": "principal_id", **TIME_ORDERS},
        relations=rels(one("project", "Project", "project_id", "The project.")),
    ),
    EntityDecl(
        "ApiKey",
        m.ApiKey,
        "projects",
        "A project-scoped credential for a runner or monitor; the secret is shown once.",
        fields(
            name="What the key is for.",
            prefix="Public part of the key, e.g. `mlg_ab12cd34`.",
            role="The role the key acts with in its project.",
            created_by="Principal that created it.",
            expires_at="When it stops working.",
            revoked_at="When it was revoked.",
            last_used_at="Last use (to the minute).",
            **STAMPS,
        ),
        orders=TIME_ORDERS,
        relations=rels(one("project", "Project", "project_id", "The project it is scoped to.")),
    ),
)

#: The viewer's memberships: ProjectMember rows keyed by the principal id.
VIEWER_MEMBERSHIPS = Relation(
    "memberships",
    "ProjectMember",
    "connection",
    "principal_id",
    parent_key="principal_id",
    description="The caller's project roles",
)
