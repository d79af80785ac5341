from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base, Entity
from mlgraph.storage.enums import ArtifactKind, ArtifactStatus, RiskTier, Stage
from mlgraph.storage.models._columns import enum_column, project_fk
from mlgraph.storage.types import JSONDoc, UTCDateTime, utcnow


class Model(Entity):
    __tablename__ = "model"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    risk_tier: Mapped[RiskTier] = mapped_column(enum_column(RiskTier), index=True)
    required_metrics: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class ModelVersion(Entity):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, float]] = mapped_column(JSONDoc, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDoc, default=dict)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    source_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), index=True
    )
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


Index(
    "ix_model_version_model_id_created_at_id",
    ModelVersion.model_id,
    ModelVersion.created_at,
    ModelVersion.id,
)


class ModelVersionLineage(Base):
    """Edge parent -> child between two versions (a child was trained from its parents)."""

    __tablename__ = "model_version_lineage"

    parent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    project_id: Mapped[uuid.UUID] = project_fk()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelAlias(Entity):
    """A named pointer (``champion``, ``production``...) to one version, unique within a model."""

    __tablename__ = "model_alias"
    __table_args__ = (UniqueConstraint("model_id", "alias"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model.id", ondelete="CASCADE"), index=True
    )
    alias: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )


class Artifact(Entity):
    __tablename__ = "artifact"

    project_id: Mapped[uuid.UUID] = project_fk()
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ArtifactKind] = mapped_column(enum_column(ArtifactKind), index=True)
    status: Mapped[ArtifactStatus] = mapped_column(enum_column(ArtifactStatus), index=True)
    file_name: Mapped[str] = mapped_column(String(255), index=True)
    storage_key: Mapped[str] = mapped_column(String(1024), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")


class ModelVersionApproval(Entity):
    """A recorded approval of a version (HIGH risk tier needs one before PRODUCTION)."""

    __tablename__ = "model_version_approval"
    __table_args__ = (UniqueConstraint("version_id", "approver"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("model_version.id", ondelete="CASCADE"), index=True
    )
    approver: Mapped[str] = mapped_column(String(200), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
