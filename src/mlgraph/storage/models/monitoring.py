from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import AlertStatus, DriftKind, Operator, Severity
from mlgraph.storage.models._columns import enum_column, finite, project_fk
from mlgraph.storage.types import UTCDateTime


class DriftMetric(Entity):
    """A recorded metric's one foreign key is its deployment with the deployment's project
    (migration ``0017``): one check per row of a batch, and the project is the deployment's;
    the project's deletion reaches it through the deployment."""

    __tablename__ = "drift_metric"
    __table_args__ = (
        *finite("score", "threshold"),
        ForeignKeyConstraint(
            ["deployment_id", "project_id"],
            ["deployment.id", "deployment.project_id"],
            ondelete="CASCADE",
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    deployment_id: Mapped[uuid.UUID]  # indexed by the two below
    kind: Mapped[DriftKind] = mapped_column(enum_column(DriftKind), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str] = mapped_column(String(200), index=True)
    score: Mapped[float] = mapped_column(index=True)
    threshold: Mapped[float]
    detected: Mapped[bool] = mapped_column(index=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    report_key: Mapped[str | None] = mapped_column(String(1024))


Index(
    "ix_drift_metric_deployment_id_created_at_id",
    DriftMetric.deployment_id,
    DriftMetric.created_at,
    DriftMetric.id,
)
#: Alert evaluation: a deployment's latest windows of one metric and kind.
Index(
    "ix_drift_metric_deployment_id_metric_kind_window_end",
    DriftMetric.deployment_id,
    DriftMetric.metric,
    DriftMetric.kind,
    DriftMetric.window_end,
)


class AlertRule(Entity):
    __tablename__ = "alert_rule"
    __table_args__ = finite("threshold")

    project_id: Mapped[uuid.UUID] = project_fk()
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    metric: Mapped[str] = mapped_column(String(64))
    drift_kind: Mapped[DriftKind | None] = mapped_column(enum_column(DriftKind))
    operator: Mapped[Operator] = mapped_column(enum_column(Operator))
    threshold: Mapped[float]
    evaluation_periods: Mapped[int] = mapped_column(default=1)
    severity: Mapped[Severity] = mapped_column(enum_column(Severity), index=True)
    enabled: Mapped[bool] = mapped_column(default=True, index=True)
    #: The breach must hold this long (window time) before an alert fires (Prometheus `for`).
    for_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class Alert(Entity):
    __tablename__ = "alert"
    __table_args__ = finite("value")

    project_id: Mapped[uuid.UUID] = project_fk()
    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    severity: Mapped[Severity] = mapped_column(enum_column(Severity), index=True)
    status: Mapped[AlertStatus] = mapped_column(enum_column(AlertStatus), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[float]
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: The end of the first window of the breach (PENDING until it has held ``for_seconds``).
    active_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Downtime(Entity):
    """Scheduled downtime: from ``starts_at`` to ``ends_at`` no alert fires on its scope
    (a deployment, a rule, or both; neither: the whole project)."""

    __tablename__ = "downtime"

    project_id: Mapped[uuid.UUID] = project_fk()
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
