"""Deployments, their traffic split and their event history."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    STAMPS,
    TIME_ORDERS,
    EntityDecl,
    Field,
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
                "rollouts",
                "Rollout",
                "deployment_id",
                "Progressive rollout plans, the newest (the current one) first",
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
            many(
                "downtimes",
                "Downtime",
                "deployment_id",
                "Scheduled downtimes of this deployment",
                order=Order("starts_at", descending=True),
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
        "Rollout",
        m.Rollout,
        "deployments",
        "A progressive rollout: the canary version's traffic goes through `steps`, one every "
        "`intervalSeconds`, while the gates hold; a failing gate rolls it back to the baseline.",
        fields(
            steps=Field("The canary's traffic share at each step, increasing.", type=list[float]),
            interval_seconds="How long each step lasts before the next one.",
            gate_severity="A FIRING alert on the deployment of this severity or higher rolls "
            "the rollout back; null: alerts do not gate.",
            gate_metrics="Metric thresholds checked at the end of each step on the windows "
            "recorded during it: `[{metric, operator, threshold}]`; a breach rolls back.",
            status="RUNNING, PAUSED, or how it ended.",
            step="Index of the step applied last (0 = the first).",
            canary_percent="The canary's traffic share now.",
            step_started_at="When the current step was applied (or the rollout resumed).",
            next_step_at="When the scheduler applies the next step; null unless RUNNING.",
            finished_at="When it succeeded, rolled back or was aborted.",
            reason="Why it rolled back or was aborted.",
            revision=REVISION,
            **STAMPS,
        ),
        orders=TIME_ORDERS,
        filters=(Filter("status", "status", "in", "Any of these."),),
        filter_description="Filter rollouts.",
        relations=rels(
            one("deployment", "Deployment", "deployment_id", "The deployment rolled out."),
            one("canary", "ModelVersion", "canary_version_id", "The version rolled out."),
            one(
                "baseline",
                "ModelVersion",
                "baseline_version_id",
                "The version served before; it gets all traffic back on a rollback.",
            ),
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
