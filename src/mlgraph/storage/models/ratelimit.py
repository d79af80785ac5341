from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from mlgraph.storage.db import Base


class RateLimitBucket(Base):
    """One principal's token bucket, shared by every replica (``mlgraph.ratelimit``).

    Stored as GCRA's theoretical arrival time: the bucket is full again at ``tat`` (epoch
    seconds); until then ``(tat - now) * rate`` points are spent."""

    __tablename__ = "rate_limit_bucket"

    principal_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)
