"""The read audit: every download URL issued for an artifact."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.types import UTCDateTime


class ArtifactDownload(Entity):
    """One issued download URL of an artifact: who asked, when, from which address.

    No foreign keys: like audit entries, the records of a deleted artifact or project stay
    (readable by platform admins once the project is gone)."""

    __tablename__ = "artifact_download"

    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    artifact_id: Mapped[uuid.UUID] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index(
    "ix_artifact_download_project_id_created_at_id",
    ArtifactDownload.project_id,
    ArtifactDownload.created_at,
    ArtifactDownload.id,
)
Index(
    "ix_artifact_download_artifact_id_created_at_id",
    ArtifactDownload.artifact_id,
    ArtifactDownload.created_at,
    ArtifactDownload.id,
)
