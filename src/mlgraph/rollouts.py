"""The rollout scheduler: each replica runs one; each rollout step is applied once.

Every ``rollout_poll_interval_s`` (or on ``wake``), ``tick`` reads the RUNNING rollouts that
need a move, by the app's clock: the next step is due, or the deployment has a FIRING alert at
the gate's severity. Each one is then taken in a unit of work of its own, ``FOR UPDATE SKIP
LOCKED`` and still RUNNING: a replica that finds it locked skips it, and one that comes after
the commit sees its new ``next_step_at`` (not due any more). ``resolvers.rollouts.advance``
decides the move. SQLite is one process: its units of work run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import case, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.live.tasks import stop_task
from mlgraph.ratelimit import Clock
from mlgraph.resolvers.rollouts import SEVERITY_ORDER, advance
from mlgraph.settings import Settings
from mlgraph.storage.enums import AlertStatus, RolloutStatus
from mlgraph.storage.models import Alert, Rollout
from mlgraph.storage.uow import unit_of_work

log = logging.getLogger("mlgraph.rollouts")

#: The actor of the scheduler's audit entries and deployment events.
ACTOR = "system:rollout-scheduler"


def _rank(column: object) -> object:
    return case({s.value: n for n, s in enumerate(SEVERITY_ORDER)}, value=column)


class Scheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_interval_s: float = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self._sessions = sessions
        self.poll_interval_s = poll_interval_s
        self.clock = clock
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def wake(self, *_: object) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="mlgraph-rollouts")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def candidates(self, now: datetime) -> list[uuid.UUID]:
        """RUNNING rollouts with a step due or a FIRING alert at their gate (one statement)."""
        alarmed = (
            select(Alert.id)
            .where(
                Alert.deployment_id == Rollout.deployment_id,
                Alert.status == AlertStatus.FIRING,
                _rank(Alert.severity) >= _rank(Rollout.gate_severity),  # type: ignore[operator]
            )
            .exists()
        )
        stmt = (
            select(Rollout.id)
            .where(
                Rollout.status == RolloutStatus.RUNNING,
                or_(Rollout.next_step_at <= now, Rollout.gate_severity.is_not(None) & alarmed),
            )
            .order_by(Rollout.next_step_at, Rollout.id)
        )
        async with self._sessions() as s:
            return list((await s.scalars(stmt)).all())

    async def tick(self) -> int:
        """Move every rollout that needs it now; returns how many this replica moved."""
        now = self.now()
        moved = 0
        for rollout_id in await self.candidates(now):
            moved += await self._move(rollout_id, now)
        return moved

    async def _move(self, rollout_id: uuid.UUID, now: datetime) -> int:
        request_id = f"rollout-{uuid.uuid4().hex[:12]}"
        async with unit_of_work(self._sessions, actor=ACTOR, request_id=request_id) as tx:
            rollout = await tx.session.scalar(
                select(Rollout)
                .where(Rollout.id == rollout_id, Rollout.status == RolloutStatus.RUNNING)
                .with_for_update(skip_locked=True)
            )
            if rollout is None:
                return 0  # another replica holds it, or it has just ended
            return int(await advance(tx, rollout, now))

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("rollouts: round failed (%r); retrying", exc)
            except Exception:  # a bug must not stop rollouts for good; it is logged
                log.exception("rollouts: round failed unexpectedly; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval_s)
            self._wakeup.clear()


@asynccontextmanager
async def running_scheduler(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(sessions, poll_interval_s=settings.rollout_poll_interval_s, clock=clock)
    if settings.rollout_scheduler:
        scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()
