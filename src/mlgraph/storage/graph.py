"""The graph, declared once: each type's table and columns, each relation's keys and order.

Both read paths derive from this data. The resolver path builds its loaders from it
(``mlgraph.loaders``); the compiled path (a later issue) plans SQL from the same objects. Nothing
here is code that runs per request: keep it data.

Vocabulary:

* ``EntityDecl``: one GraphQL object type backed by one table. ``fields`` maps each scalar
  GraphQL field (python name) to its column; ``orders`` maps each ``<Type>OrderField`` enum
  member to a column; ``filters`` lists the typed filter fields of ``<Type>Filter``.
* ``Relation``: a field that leads from a parent object to target rows. ``parent_key`` is the
  parent's attribute, ``child_key`` the target's column holding the same value (or ``through``
  a link table). ``kind`` is ``one`` (a single object), ``list`` (a short bounded list) or
  ``connection`` (a Relay connection with cursors, ``totalCount``, page cap).
* Root connections (``Query.projects`` ...) are relations of the pseudo-entity ``Query`` with no
  parent key.
* Every table has ``project_id`` (``id`` for projects): the authorization policy filters on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Table

from mlgraph.storage import models as m
from mlgraph.storage.db import Base

RelationKind = Literal["one", "list", "connection"]
FilterOp = Literal["in", "eq", "icontains", "contains_all", "gte", "lt", "exists_in", "global_id"]


@dataclass(frozen=True)
class Order:
    """One ordering: a column and a direction. The id column always breaks ties, same way."""

    column: str
    descending: bool = False


@dataclass(frozen=True)
class Filter:
    """A typed filter field. ``column`` is on the target table unless ``via`` names a child
    table (``exists_in``: some child row ``via.child_key = target.id`` has ``column`` in the
    values)."""

    name: str
    column: str
    op: FilterOp
    via: tuple[type[Base], str] | None = None


@dataclass(frozen=True)
class Through:
    """A link table for many-to-many relations: ``parent_col`` holds the parent key,
    ``target_col`` the target id."""

    model: type[Base]
    parent_col: str
    target_col: str


@dataclass(frozen=True)
class Relation:
    name: str
    target: str
    kind: RelationKind
    child_key: str | None = None
    parent_key: str = "id"
    through: Through | None = None
    order: Order = Order("created_at")
    default_page: int = 20
    page_cap: int = 100
    filterable: bool = True


@dataclass(frozen=True)
class EntityDecl:
    name: str
    model: type[Base]
    fields: Mapping[str, str]
    orders: Mapping[str, str] = field(default_factory=dict)
    filters: tuple[Filter, ...] = ()
    relations: Mapping[str, Relation] = field(default_factory=dict)
    project_column: str = "project_id"
    unique_keys: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table


def _fields(*names: str, **renamed: str) -> dict[str, str]:
    return {**{n: n for n in names}, **renamed}


def _rels(*relations: Relation) -> dict[str, Relation]:
    return {r.name: r for r in relations}


def _one(name: str, target: str, parent_key: str, child_key: str = "id") -> Relation:
    return Relation(name, target, "one", child_key=child_key, parent_key=parent_key)


_STAMPS = ("created_at", "updated_at")
_TIME_ORDERS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}
_NEWEST = Order("created_at", descending=True)

ENTITIES: dict[str, EntityDecl] = {
    d.name: d
    for d in [
        EntityDecl(
            "Project",
            m.Project,
            _fields("slug", "name", "description", "archived_at", "revision", *_STAMPS),
            orders={"NAME": "name", "SLUG": "slug", **_TIME_ORDERS},
            project_column="id",
            unique_keys=("slug",),
            relations=_rels(
                Relation("pipelines", "Pipeline", "connection", "project_id", order=Order("name")),
                Relation("models", "Model", "connection", "project_id", order=Order("name")),
                Relation("deployments", "Deployment", "connection", "project_id", order=_NEWEST),
                Relation(
                    "alert_rules", "AlertRule", "connection", "project_id", order=Order("name")
                ),
                Relation(
                    "alerts",
                    "Alert",
                    "connection",
                    "project_id",
                    order=Order("fired_at", descending=True),
                ),
                Relation("webhooks", "Webhook", "connection", "project_id"),
                Relation("members", "ProjectMember", "connection", "project_id"),
                Relation("api_keys", "ApiKey", "connection", "project_id"),
                Relation(
                    "audit_entries",
                    "AuditEntry",
                    "connection",
                    "project_id",
                    order=Order("seq", descending=True),
                ),
            ),
        ),
        EntityDecl(
            "ProjectMember",
            m.ProjectMember,
            _fields("principal_id", "display_name", "role", *_STAMPS),
            orders={"PRINCIPAL_ID": "principal_id", **_TIME_ORDERS},
            relations=_rels(_one("project", "Project", "project_id")),
        ),
        EntityDecl(
            "ApiKey",
            m.ApiKey,
            _fields(
                "name",
                "prefix",
                "role",
                "created_by",
                "expires_at",
                "revoked_at",
                "last_used_at",
                *_STAMPS,
            ),
            orders=_TIME_ORDERS,
            relations=_rels(_one("project", "Project", "project_id")),
        ),
        EntityDecl(
            "Pipeline",
            m.Pipeline,
            _fields("name", "description", "nodes", "revision", *_STAMPS),
            orders={"NAME": "name", **_TIME_ORDERS},
            relations=_rels(
                _one("project", "Project", "project_id"),
                Relation("runs", "Job", "connection", "pipeline_id", order=_NEWEST),
            ),
        ),
        EntityDecl(
            "Job",
            m.Job,
            _fields(
                "kind",
                "status",
                "progress",
                "message",
                "parameters",
                "started_at",
                "finished_at",
                "revision",
                *_STAMPS,
            ),
            orders=_TIME_ORDERS,
            filters=(Filter("status", "status", "in"), Filter("kind", "kind", "in")),
            relations=_rels(
                _one("project", "Project", "project_id"),
                _one("pipeline", "Pipeline", "pipeline_id"),
            ),
        ),
        EntityDecl(
            "Model",
            m.Model,
            _fields(
                "name",
                "description",
                "tags",
                "risk_tier",
                "required_metrics",
                "archived_at",
                "revision",
                *_STAMPS,
            ),
            orders={"NAME": "name", **_TIME_ORDERS},
            filters=(
                Filter("name_contains", "name", "icontains"),
                Filter("tags", "tags", "contains_all"),
                Filter("risk_tier", "risk_tier", "in"),
                Filter("stage", "stage", "exists_in", via=(m.ModelVersion, "model_id")),
            ),
            relations=_rels(
                _one("project", "Project", "project_id"),
                Relation("versions", "ModelVersion", "connection", "model_id", order=_NEWEST),
                Relation("deployments", "Deployment", "connection", "model_id", order=_NEWEST),
                Relation("aliases", "ModelAlias", "list", "model_id", order=Order("alias")),
            ),
        ),
        EntityDecl(
            "ModelVersion",
            m.ModelVersion,
            _fields(
                "version",
                "stage",
                "description",
                "metrics",
                "metadata",
                "commit_sha",
                "revision",
                *_STAMPS,
            ),
            orders={"VERSION": "version", **_TIME_ORDERS},
            filters=(Filter("stage", "stage", "in"),),
            relations=_rels(
                _one("model", "Model", "model_id"),
                _one("source_run", "Job", "source_run_id"),
                Relation("artifacts", "Artifact", "connection", "version_id"),
                Relation(
                    "parents",
                    "ModelVersion",
                    "connection",
                    through=Through(m.ModelVersionLineage, "child_id", "parent_id"),
                    order=_NEWEST,
                ),
                Relation(
                    "children",
                    "ModelVersion",
                    "connection",
                    through=Through(m.ModelVersionLineage, "parent_id", "child_id"),
                    order=_NEWEST,
                ),
                Relation(
                    "deployments",
                    "Deployment",
                    "connection",
                    through=Through(m.DeploymentTarget, "version_id", "deployment_id"),
                    order=_NEWEST,
                ),
                Relation("aliases", "ModelAlias", "list", "version_id", order=Order("alias")),
            ),
        ),
        EntityDecl(
            "ModelAlias",
            m.ModelAlias,
            _fields("alias", *_STAMPS),
            relations=_rels(
                _one("model", "Model", "model_id"),
                _one("version", "ModelVersion", "version_id"),
            ),
        ),
        EntityDecl(
            "Artifact",
            m.Artifact,
            _fields(
                "kind", "status", "file_name", "size_bytes", "sha256", "content_type", *_STAMPS
            ),
            orders={"FILE_NAME": "file_name", **_TIME_ORDERS},
            relations=_rels(_one("version", "ModelVersion", "version_id")),
        ),
        EntityDecl(
            "Deployment",
            m.Deployment,
            _fields("name", "environment", "strategy", "status", "config", "revision", *_STAMPS),
            orders={"NAME": "name", **_TIME_ORDERS},
            filters=(
                Filter("status", "status", "in"),
                Filter("environment", "environment", "in"),
                Filter("strategy", "strategy", "in"),
            ),
            relations=_rels(
                _one("project", "Project", "project_id"),
                _one("model", "Model", "model_id"),
                Relation(
                    "targets",
                    "DeploymentTarget",
                    "list",
                    "deployment_id",
                    order=Order("traffic_percent", descending=True),
                ),
                Relation("events", "DeploymentEvent", "connection", "deployment_id", order=_NEWEST),
                Relation(
                    "drift_metrics", "DriftMetric", "connection", "deployment_id", order=_NEWEST
                ),
                Relation(
                    "alerts",
                    "Alert",
                    "connection",
                    "deployment_id",
                    order=Order("fired_at", descending=True),
                ),
            ),
        ),
        EntityDecl(
            "DeploymentTarget",
            m.DeploymentTarget,
            _fields("traffic_percent", *_STAMPS),
            relations=_rels(
                _one("deployment", "Deployment", "deployment_id"),
                _one("version", "ModelVersion", "version_id"),
            ),
        ),
        EntityDecl(
            "DeploymentEvent",
            m.DeploymentEvent,
            _fields("kind", "message", "data", "actor", *_STAMPS),
            orders=_TIME_ORDERS,
            filters=(Filter("kind", "kind", "in"),),
            relations=_rels(_one("deployment", "Deployment", "deployment_id")),
        ),
        EntityDecl(
            "DriftMetric",
            m.DriftMetric,
            _fields(
                "kind",
                "metric",
                "feature",
                "score",
                "threshold",
                "detected",
                "window_start",
                "window_end",
                *_STAMPS,
            ),
            orders={"WINDOW_END": "window_end", "SCORE": "score", **_TIME_ORDERS},
            filters=(
                Filter("kind", "kind", "in"),
                Filter("feature", "feature", "eq"),
                Filter("detected", "detected", "eq"),
            ),
            relations=_rels(_one("deployment", "Deployment", "deployment_id")),
        ),
        EntityDecl(
            "AlertRule",
            m.AlertRule,
            _fields(
                "name",
                "metric",
                "drift_kind",
                "operator",
                "threshold",
                "evaluation_periods",
                "severity",
                "enabled",
                "revision",
                *_STAMPS,
            ),
            orders={"NAME": "name", **_TIME_ORDERS},
            relations=_rels(
                _one("project", "Project", "project_id"),
                _one("deployment", "Deployment", "deployment_id"),
                Relation(
                    "alerts",
                    "Alert",
                    "connection",
                    "rule_id",
                    order=Order("fired_at", descending=True),
                ),
            ),
        ),
        EntityDecl(
            "Alert",
            m.Alert,
            _fields(
                "severity",
                "status",
                "message",
                "value",
                "fired_at",
                "acknowledged_at",
                "resolved_at",
                *_STAMPS,
            ),
            orders={"FIRED_AT": "fired_at", **_TIME_ORDERS},
            filters=(Filter("status", "status", "in"), Filter("severity", "severity", "in")),
            relations=_rels(
                _one("project", "Project", "project_id"),
                _one("rule", "AlertRule", "rule_id"),
                _one("deployment", "Deployment", "deployment_id"),
            ),
        ),
        EntityDecl(
            "Webhook",
            m.Webhook,
            _fields("url", "description", "event_types", "enabled", "revision", *_STAMPS),
            orders=_TIME_ORDERS,
            relations=_rels(
                _one("project", "Project", "project_id"),
                Relation(
                    "deliveries", "WebhookDelivery", "connection", "webhook_id", order=_NEWEST
                ),
            ),
        ),
        EntityDecl(
            "WebhookDelivery",
            m.WebhookDelivery,
            _fields(
                "event_type",
                "status",
                "attempt",
                "response_status",
                "error",
                "next_attempt_at",
                "delivered_at",
                *_STAMPS,
            ),
            orders=_TIME_ORDERS,
            filters=(Filter("status", "status", "in"),),
            relations=_rels(_one("webhook", "Webhook", "webhook_id")),
        ),
        EntityDecl(
            "AuditEntry",
            m.AuditEntry,
            _fields(
                "seq",
                "actor",
                "action",
                "entity_type",
                "changes",
                "request_id",
                "prev_hash",
                "hash",
                *_STAMPS,
            ),
            orders={"SEQUENCE": "seq", "CREATED_AT": "created_at"},
            filters=(
                Filter("entity_id", "entity_id", "global_id"),
                Filter("entity_type", "entity_type", "eq"),
                Filter("actor", "actor", "eq"),
                Filter("action", "action", "eq"),
                Filter("created_after", "created_at", "gte"),
                Filter("created_before", "created_at", "lt"),
            ),
            relations=_rels(_one("project", "Project", "project_id")),
        ),
    ]
}

#: Root connections, the relations of ``Query``: no parent key, all visible rows.
ROOT: dict[str, Relation] = _rels(
    Relation("projects", "Project", "connection", order=Order("name")),
    Relation("models", "Model", "connection", order=Order("name")),
    Relation("deployments", "Deployment", "connection", order=_NEWEST),
    Relation("alerts", "Alert", "connection", order=Order("fired_at", descending=True)),
    Relation("audit_entries", "AuditEntry", "connection", order=Order("seq", descending=True)),
)

#: The viewer's memberships: ProjectMember rows keyed by the principal id.
VIEWER_MEMBERSHIPS = Relation(
    "memberships", "ProjectMember", "connection", "principal_id", parent_key="principal_id"
)


def relation(owner: str, name: str) -> Relation:
    """The relation ``owner.name`` (owner ``Query`` for root connections)."""
    if owner == "Query":
        return ROOT[name]
    if owner == "Viewer":
        return VIEWER_MEMBERSHIPS
    return ENTITIES[owner].relations[name]


def entity_for_table(table_name: str) -> EntityDecl:
    for decl in ENTITIES.values():
        if decl.table.name == table_name:
            return decl
    raise KeyError(table_name)
