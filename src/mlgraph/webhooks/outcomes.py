"""What an attempt's outcome does: an attempt row, the delivery's next state, and maybe the
endpoint disabled (410 Gone at once; after ``webhook_disable_after`` failed events in a row).

Retries follow ``webhook_retry_schedule_s`` (each delay jittered by ``webhook_retry_jitter``);
a 429 or 503 with ``Retry-After`` waits that long instead (capped). After the last retry the
delivery is FAILED. Counters change with plain UPDATEs, so they do not move the endpoint's
``revision``; disabling does (it is a change a client should notice), with an audit entry.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.settings import Settings
from mlgraph.storage.enums import DeliveryStatus
from mlgraph.storage.models import Webhook, WebhookDelivery, WebhookDeliveryAttempt
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork, snapshot, unit_of_work
from mlgraph.webhooks.events import PING

if TYPE_CHECKING:
    from mlgraph.webhooks.deliverer import Claimed

ACTOR = "system:webhooks"
_RANDOM = secrets.SystemRandom()


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    body: str
    retry_after: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def description(self) -> str:
        if self.error or self.succeeded or self.status_code is None:
            return self.error
        return f"HTTP {self.status_code}"


def next_delay(settings: Settings, job: Claimed, base: int, outcome: Outcome) -> float | None:
    """Seconds until the next attempt, or None when there is none."""
    if job.event_type == PING or outcome.status_code == 410:
        return None
    retry = job.attempt - base  # 1 after the first attempt of this round
    schedule = settings.webhook_retry_schedule_s
    if retry > len(schedule):
        return None
    if outcome.status_code in (429, 503) and outcome.retry_after:
        waited = retry_after_s(outcome.retry_after)
        if waited is not None:
            return min(waited, settings.webhook_max_retry_after_s)
    jitter = settings.webhook_retry_jitter
    return float(schedule[retry - 1]) * (1 + _RANDOM.uniform(-jitter, jitter))


def retry_after_s(value: str) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds()) if when.tzinfo else None


async def record(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    job: Claimed,
    outcome: Outcome,
    duration_ms: int,
) -> None:
    async with unit_of_work(sessions, actor=ACTOR, request_id=f"webhook-{job.delivery_id}") as tx:
        s = tx.session
        delivery = await s.get(WebhookDelivery, job.delivery_id, with_for_update=_lock(s))
        if delivery is None or delivery.attempt != job.attempt:
            return  # deleted, or the lease ran out and another worker took it
        delay = (
            None if outcome.succeeded else next_delay(settings, job, delivery.attempt_base, outcome)
        )
        _write(s, delivery, Finished(job, outcome, duration_ms), delay)
        await s.flush()
        await _endpoint(settings, tx, job, outcome, delivery.status)


@dataclass(frozen=True)
class Finished:
    job: Claimed
    outcome: Outcome
    duration_ms: int


async def record_successes(
    sessions: async_sessionmaker[AsyncSession], finished: Sequence[Finished]
) -> None:
    """Successful attempts recorded together in one transaction, each as ``record`` would
    (a success never disables an endpoint, so no audit entry is due). Rows are locked in id
    order; should two processes' batches still deadlock, the caller records them one by one."""
    by_id = {f.job.delivery_id: f for f in finished}
    async with unit_of_work(sessions, actor=ACTOR, request_id="webhook-batch") as tx:
        s = tx.session
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.id.in_(by_id))
            .order_by(WebhookDelivery.id)
        )
        reset = set()
        for delivery in (await s.scalars(stmt.with_for_update() if _lock(s) else stmt)).all():
            done = by_id[delivery.id]
            if delivery.attempt != done.job.attempt:
                continue  # the lease ran out and another worker took it
            _write(s, delivery, done, None)
            if done.job.event_type != PING:
                reset.add(done.job.webhook_id)
        await s.flush()
        if reset:
            await _reset(s, *sorted(reset))


def _write(s: AsyncSession, delivery: WebhookDelivery, done: Finished, delay: float | None) -> None:
    """The attempt row, and the delivery's state after it."""
    job, outcome, duration_ms = done.job, done.outcome, done.duration_ms
    now = utcnow()
    next_at = None if delay is None else now + timedelta(seconds=delay)
    s.add(
        WebhookDeliveryAttempt(
            id=uuid.uuid4(),
            project_id=job.project_id,
            delivery_id=job.delivery_id,
            number=job.attempt,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            duration_ms=duration_ms,
            error=outcome.description,
            response_body=outcome.body,
            next_attempt_at=next_at,
        )
    )
    delivery.response_status = outcome.status_code
    delivery.duration_ms = duration_ms
    delivery.response_body = outcome.body
    delivery.error = outcome.description
    delivery.next_attempt_at = next_at
    if outcome.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
    elif next_at is None:
        delivery.status = DeliveryStatus.FAILED


async def _reset(s: AsyncSession, *webhook_ids: uuid.UUID) -> None:
    """A success ends the endpoint's run of failed events (no write when there was none)."""
    await s.execute(
        update(Webhook)
        .where(Webhook.id.in_(webhook_ids), Webhook.consecutive_failures != 0)
        .values(consecutive_failures=0)
    )


async def _endpoint(
    settings: Settings, tx: UnitOfWork, job: Claimed, outcome: Outcome, status: DeliveryStatus
) -> None:
    """Reset or count the endpoint's failed events; disable it when it is gone or failing."""
    s = tx.session
    if job.event_type == PING and outcome.status_code != 410:
        return
    if outcome.status_code == 410:
        reason = "the endpoint answered 410 Gone"
    elif status is DeliveryStatus.SUCCEEDED:
        await _reset(s, job.webhook_id)
        return
    elif status is DeliveryStatus.FAILED:
        failures = await s.scalar(
            update(Webhook)
            .where(Webhook.id == job.webhook_id)
            .values(consecutive_failures=Webhook.consecutive_failures + 1)
            .returning(Webhook.consecutive_failures)
        )
        if failures is None or failures < settings.webhook_disable_after:
            return
        reason = f"{failures} events in a row failed every attempt"
    else:
        return
    await disable(tx, job.webhook_id, reason)


async def disable(tx: UnitOfWork, webhook_id: uuid.UUID, reason: str) -> None:
    s = tx.session
    stmt = select(Webhook).where(Webhook.id == webhook_id).execution_options(populate_existing=True)
    hook = (await s.scalars(stmt.with_for_update() if _lock(s) else stmt)).first()
    if hook is None or not hook.enabled:
        return
    before = snapshot(hook)
    hook.enabled = False
    hook.disabled_reason = reason
    await s.flush()
    tx.record(
        hook, "webhook.disable", "webhook.disabled", before=before, payload={"reason": reason}
    )


def _lock(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"
