"""Deployments, their traffic split and their event history."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    STAMPS,
    TIME_ORDERS,
    EntityDecl,
    Filter,
    Order,
    Relation,
    fields,
    many,
    one,
    rels,
)

ENTITIES = (
    EntityDecl(
        "Deployment",
        m.Deployment,
        "deployments",
        "A model served in an environment, with traffic split over its versions.",
        fields(
            name="Unique within the project.",
            environment="Where it serves.",
            strategy="How traffic moves between versions.",
            status="Current state.",
            config="Strategy configuration.",
            revision=REVISION,
            **STAMPS,
        ),
        orders={"NAME": "name", **TIME_ORDERS},
        filters=(
            Filter("status", "status", "in", "Any of these."),
            Filter("environment", "environment", "in", "Any of these environments."),
            Filter("strategy", "strategy", "in", "Any of these strategies."),
        ),
        filter_description="Filter deployments.",
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            one("model", "Model", "model_id", "The deployed model."),
            Relation(
                "targets",
                "DeploymentTarget",
                "list",
                "deployment_id",
                order=Order("traffic_percent", descending=True),
                description="Versions served and their traffic share",
            ),
            many(
                "events",
                "DeploymentEvent",
                "deployment_id",
                "What happened to this deployment",
                order=NEWEST,
            ),
            many(
                "drift_metrics", "DriftMetric", "deployment_id", "Drift measurements", order=NEWEST
            ),
            many(
                "alerts",
                "Alert",
                "deployment_id",
                "Alerts on this deployment",
                order=Order("fired_at", descending=True),
            ),
        ),
    ),
    EntityDecl(
        "DeploymentTarget",
        m.DeploymentTarget,
        "deployments",
        "One version served by a deployment and its share of traffic.",
        fields(
            traffic_percent="Share of traffic, 0..100.",
            created_at="When the version was added.",
            updated_at="When its share last changed.",
        ),
        relations=rels(
            one("deployment", "Deployment", "deployment_id", "The deployment."),
            one("version", "ModelVersion", "version_id", "The served version."),
        ),
    ),
    EntityDecl(
        "DeploymentEvent",
        m.DeploymentEvent,
        "deployments",
        "Something that happened to a deployment (traffic shift, promotion, rollback).",
        fields(
            kind="What happened.",
            message="Human-readable summary or reason.",
            data="Details, e.g. traffic before and after.",
            actor="Who caused it.",
            created_at="When it happened.",
            updated_at="When recorded.",
        ),
        orders=TIME_ORDERS,
        filters=(Filter("kind", "kind", "in", "Any of these."),),
        filter_description="Filter deployment events.",
        relations=rels(one("deployment", "Deployment", "deployment_id", "The deployment.")),
    ),
)
