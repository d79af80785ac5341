from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Entity
from mlgraph.storage.enums import Role
from mlgraph.storage.models._columns import enum_column, project_fk
from mlgraph.storage.types import UTCDateTime


class ApiKey(Entity):
    """A secret for runners and monitors, scoped to one project and role.

    The secret itself is never stored: ``prefix`` finds the row, ``secret_hash`` (SHA-256 of a
    256-bit random secret) checks it in constant time."""

    __tablename__ = "api_key"

    project_id: Mapped[uuid.UUID] = project_fk()
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
