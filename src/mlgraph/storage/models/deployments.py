from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import (
    DeploymentEventKind,
    DeploymentStatus,
    DeploymentStrategy,
    Environment,
    RolloutStatus,
    Severity,
)
from mlgraph.storage.models._columns import enum_column, finite, project_fk
from mlgraph.storage.types import JSONDoc, UTCDateTime


class Deployment(Entity):
    __tablename__ = "deployment"
    #: ``(id, project_id)``: the key a drift metric refers to (one foreign key for both).
    __table_args__ = (UniqueConstraint("project_id", "name"), UniqueConstraint("id", "project_id"))

    project_id: Mapped[uuid.UUID] = project_fk()
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), index=True)
    environment: Mapped[Environment] = mapped_column(enum_column(Environment), index=True)
    strategy: Mapped[DeploymentStrategy] = mapped_column(
        enum_column(DeploymentStrategy), index=True
    )
    status: Mapped[DeploymentStatus] = mapped_column(enum_column(DeploymentStatus), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class DeploymentTarget(Entity):
    """One version served by a deployment, with its share of the traffic (0..100)."""

    __tablename__ = "deployment_target"
    __table_args__ = (
        UniqueConstraint("deployment_id", "version_id"),
        *finite("traffic_percent"),
    )

    project_id: Mapped[uuid.UUID] = project_fk()
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    traffic_percent: Mapped[float] = mapped_column(default=0.0)


class DeploymentEvent(Entity):
    __tablename__ = "deployment_event"

    project_id: Mapped[uuid.UUID] = project_fk()
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[DeploymentEventKind] = mapped_column(enum_column(DeploymentEventKind), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="")


Index(
    "ix_deployment_event_deployment_id_created_at_id",
    DeploymentEvent.deployment_id,
    DeploymentEvent.created_at,
    DeploymentEvent.id,
)


class Rollout(Entity):
    """A progressive rollout plan on a deployment: the canary's traffic steps, the interval
    between them and the gates; its state is advanced by the scheduler (``mlgraph.rollouts``)."""

    __tablename__ = "rollout"

    project_id: Mapped[uuid.UUID] = project_fk()
    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployment.id", ondelete="CASCADE"), index=True
    )
    canary_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    baseline_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    steps: Mapped[list[float]] = mapped_column(JSONDoc)
    interval_seconds: Mapped[int]
    gate_severity: Mapped[Severity | None] = mapped_column(enum_column(Severity))
    gate_metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    status: Mapped[RolloutStatus] = mapped_column(enum_column(RolloutStatus), index=True)
    step: Mapped[int] = mapped_column(default=0)
    canary_percent: Mapped[float] = mapped_column(default=0.0)
    step_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the scheduler applies the next step (null unless RUNNING).
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}
