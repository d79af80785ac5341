"""Drift metrics, alert rules and alerts."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    REVISION,
    STAMPS,
    TIME_ORDERS,
    EntityDecl,
    Filter,
    Order,
    fields,
    many,
    one,
    rels,
)

_FIRED = Order("fired_at", descending=True)

ENTITIES: tuple[EntityDecl, ...] = (
    EntityDecl(
        "DriftMetric",
        m.DriftMetric,
        "monitoring",
        "One drift measurement of one feature over a time window.",
        fields(
            kind="Data, concept or prediction drift.",
            metric="Statistic used, e.g. `psi`, `ks`.",
            feature="The feature (or `prediction`).",
            score="Measured value.",
            threshold="Threshold the monitor applied.",
            detected="The monitor judged this drift.",
            window_start="Start of the measured window.",
            window_end="End of the measured window.",
            created_at="When recorded.",
            updated_at="When last changed.",
        ),
        orders={"WINDOW_END": "window_end", "SCORE": "score", **TIME_ORDERS},
        filters=(
            Filter("kind", "kind", "in", "Any of these kinds."),
            Filter("feature", "feature", "eq", "This feature only."),
            Filter("detected", "detected", "eq", "Drift detected or not."),
        ),
        filter_description="Filter drift metrics.",
        relations=rels(
            one("deployment", "Deployment", "deployment_id", "The monitored deployment.")
        ),
    ),
    EntityDecl(
        "AlertRule",
        m.AlertRule,
        "monitoring",
        "A condition on a metric series of deployments (drift, or OPERATIONAL series such as "
        "latency p99, error rate, throughput) that fires alerts.",
        fields(
            name="Display name.",
            metric="Statistic the rule watches, e.g. `psi`.",
            drift_kind="Only this kind; null for any.",
            operator="How the score compares to the threshold.",
            threshold="The limit.",
            evaluation_periods="Consecutive breaches before firing.",
            severity="Severity of the alerts it fires.",
            enabled="Disabled rules are not evaluated.",
            for_seconds="The breach must hold this long (by the windows' ends) before an alert "
            "fires; until then the alert is PENDING (Prometheus `for`).",
            revision=REVISION,
            **STAMPS,
        ),
        orders={"NAME": "name", **TIME_ORDERS},
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            one(
                "deployment",
                "Deployment",
                "deployment_id",
                "Only this deployment; null for every deployment.",
            ),
            many("alerts", "Alert", "rule_id", "Alerts fired by this rule", order=_FIRED),
            many(
                "downtimes",
                "Downtime",
                "rule_id",
                "Scheduled downtimes of this rule",
                order=Order("starts_at", descending=True),
            ),
        ),
    ),
    EntityDecl(
        "Alert",
        m.Alert,
        "monitoring",
        "A rule breach on one deployment, open until resolved.",
        fields(
            severity="How urgent.",
            status="Firing, acknowledged or resolved.",
            message="What breached.",
            value="The metric value that fired it.",
            fired_at="When it fired (when it became PENDING, while it is).",
            active_since="End of the first breaching window of this breach.",
            acknowledged_at="When acknowledged.",
            resolved_at="When resolved.",
            created_at="When recorded.",
            updated_at="When last changed.",
        ),
        orders={"FIRED_AT": "fired_at", **TIME_ORDERS},
        filters=(
            Filter("status", "status", "in", "Any of these."),
            Filter("severity", "severity", "in", "Any of these."),
        ),
        filter_description="Filter alerts.",
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            one("rule", "AlertRule", "rule_id", "The rule that fired."),
            one("deployment", "Deployment", "deployment_id", "The deployment it concerns."),
        ),
    ),
)

ENTITIES += (
    EntityDecl(
        "Downtime",
        m.Downtime,
        "monitoring",
        "Scheduled downtime: from `startsAt` to `endsAt` (by the measured windows' ends) no "
        "alert fires in its scope; breaches still resolve.",
        fields(
            starts_at="Start of the downtime.",
            ends_at="End of the downtime (exclusive).",
            reason="Why (maintenance, a known incident).",
            **STAMPS,
        ),
        orders={"STARTS_AT": "starts_at", **TIME_ORDERS},
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            one("deployment", "Deployment", "deployment_id", "Only this deployment; null: all."),
            one("rule", "AlertRule", "rule_id", "Only this rule; null: every rule."),
        ),
    ),
)
