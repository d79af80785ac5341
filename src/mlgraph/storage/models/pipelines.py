from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import JobKind, JobStatus
from mlgraph.storage.models._columns import enum_column, finite, project_fk
from mlgraph.storage.types import JSONDoc, UTCDateTime


class Pipeline(Entity):
    __tablename__ = "pipeline"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = project_fk()
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    edges: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class Job(Entity):
    __tablename__ = "job"
    __table_args__ = finite("progress")

    project_id: Mapped[uuid.UUID] = project_fk()
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pipeline.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[JobKind] = mapped_column(enum_column(JobKind), index=True)
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


# "latest runs of each pipeline": the per-parent page index.
Index("ix_job_pipeline_id_created_at_id", Job.pipeline_id, Job.created_at, Job.id)
