from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import Role
from mlgraph.storage.models._columns import enum_column
from mlgraph.storage.types import JSONDoc, UTCDateTime


class Project(Entity):
    __tablename__ = "project"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    protected_aliases: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}


class ProjectMember(Entity):
    __tablename__ = "project_member"
    __table_args__ = (UniqueConstraint("project_id", "principal_id"),)

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    principal_id: Mapped[str] = mapped_column(String(200), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(enum_column(Role))


Index("ix_project_member_principal_role", ProjectMember.principal_id, ProjectMember.role)
