"""Where token buckets live: in this process (SQLite, one replica), or in PostgreSQL (shared).

A bucket is kept as GCRA's theoretical arrival time ``tat``: it is full again at ``tat``, and
until then ``(tat - now) * rate`` of its ``limit`` points are spent. ``take`` grants ``want``
points, or as many as are left if that is at least ``need``, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class Rate:
    """``limit`` points, refilled evenly over ``period_s`` seconds."""

    limit: int
    period_s: float

    @property
    def per_s(self) -> float:
        return self.limit / self.period_s


@dataclass(frozen=True)
class Taken:
    granted: float
    #: The bucket's arrival time after this take (epoch seconds).
    tat: float


#: Points closer than this count as equal (times and rates are floats).
EPSILON = 1e-6


def grant(rate: Rate, tat: float | None, now: float, need: float, want: float) -> Taken:
    """GCRA: what a bucket at ``tat`` grants at ``now``, and its arrival time afterwards."""
    start = now if tat is None else max(tat, now)
    left = rate.limit - (start - now) * rate.per_s
    if left + EPSILON < need or left <= EPSILON:
        return Taken(0.0, start)
    granted = max(min(left, want), need)
    return Taken(granted, start + granted / rate.per_s)


class Buckets(Protocol):
    async def take(self, key: str, now: float, need: float, want: float) -> Taken: ...

    async def give_back(self, key: str, points: float) -> None:
        """Return points taken but not spent (a replica shutting down)."""


class MemoryBuckets:
    """Buckets in this process: exact, and one replica's alone."""

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._tat: dict[str, float] = {}

    async def take(self, key: str, now: float, need: float, want: float) -> Taken:
        taken = grant(self.rate, self._tat.get(key), now, need, want)
        self._tat[key] = taken.tat
        return taken

    async def give_back(self, key: str, points: float) -> None:
        if key in self._tat:
            self._tat[key] -= points / self.rate.per_s


# Lock the principal's row (created full if new) and read it, in the transaction that sets it.
_LOCK = text(
    "INSERT INTO rate_limit_bucket (principal_id, tat) VALUES (:key, :now) "
    "ON CONFLICT (principal_id) DO UPDATE SET tat = rate_limit_bucket.tat RETURNING tat"
)
_SET = text("UPDATE rate_limit_bucket SET tat = :tat WHERE principal_id = :key")
_GIVE_BACK = text("UPDATE rate_limit_bucket SET tat = tat - :seconds WHERE principal_id = :key")


class PostgresBuckets:
    """Buckets in the ``rate_limit_bucket`` table, shared by every replica on the database.

    ``engine`` is the rate limiter's own (not the requests'): a take is one short transaction
    of two statements, run once per chunk of points, never counted against a request."""

    def __init__(self, rate: Rate, engine: AsyncEngine) -> None:
        self.rate, self.engine = rate, engine

    async def take(self, key: str, now: float, need: float, want: float) -> Taken:
        async with self.engine.begin() as conn:
            tat = (await conn.execute(_LOCK, {"key": key, "now": now})).scalar_one()
            taken = grant(self.rate, tat, now, need, want)
            if taken.granted:
                await conn.execute(_SET, {"key": key, "tat": taken.tat})
        return taken

    async def give_back(self, key: str, points: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_GIVE_BACK, {"key": key, "seconds": points / self.rate.per_s})
