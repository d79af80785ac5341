"""The deliverer: claims due deliveries, POSTs them, logs each attempt, schedules retries.

A claim is a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that counts the
attempt and moves ``next_attempt_at`` one lease ahead, so no other process takes the row while
the request is in flight; a process that dies mid-request leaves the row to be retried when the
lease ends (at least once). The outcome is written in a second transaction: the attempt row,
the delivery's state and, when an endpoint is gone (410) or failed too many events in a row,
the endpoint disabled with an audit entry saying why. Successes are recorded behind the
requests, in batches of one transaction each (group commit), so a request slot is free once
its response is in: slots held through a commit each were what bounded throughput
(bench/webhooks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from opentelemetry.trace import SpanKind
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.live.tasks import stop_task
from mlgraph.settings import Settings
from mlgraph.storage.enums import DeliveryStatus, WebhookFormat
from mlgraph.storage.models import Webhook, WebhookDelivery
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import write_lock
from mlgraph.telemetry.tracing import caller_context, set_error, span
from mlgraph.webhooks import messages
from mlgraph.webhooks.events import PING
from mlgraph.webhooks.fanout import fan_out_once
from mlgraph.webhooks.outcomes import Finished, Outcome, record, record_successes
from mlgraph.webhooks.signing import SecretBox, SecretUnavailable, signature
from mlgraph.webhooks.transport import PinnedTransport
from mlgraph.webhooks.urls import Policy

log = logging.getLogger("mlgraph.webhooks")
BODY_KEEP = 1024
RECORD_BATCH = 100
#: Events one fan-out round reads; a full round is followed by another at once.
FAN_OUT_BATCH = 500
#: How long a woken deliverer waits for more commits to share its round (a delivery's
#: latency grows by as much; bench/webhooks.py's target is a p99 under 1 s).
GATHER_S = 0.02
STOP_RECORDING_S = 5.0
USER_AGENT = "mlgraph-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    """What one attempt needs, read while claiming (plain values, no session)."""

    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    project_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    attempt: int
    url: str
    format: WebhookFormat
    secrets: tuple[str, ...]
    payload: dict[str, Any]
    traceparent: str


def policy_of(settings: Settings) -> Policy:
    return Policy(settings.webhook_allow_http, settings.webhook_allow_loopback)


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        self._box = SecretBox.from_settings(settings)
        timeout = httpx.Timeout(
            settings.webhook_read_timeout_s, connect=settings.webhook_connect_timeout_s
        )
        self._client = httpx.AsyncClient(
            transport=transport or PinnedTransport(policy_of(settings)),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # no proxies: the connection goes where the guard checked
        )
        self._lease = timedelta(
            seconds=settings.webhook_connect_timeout_s + 2 * settings.webhook_read_timeout_s + 30
        )
        self._wakeup = asyncio.Event()
        self._claim_due = True
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._successes: list[Finished] = []
        self._recorder: asyncio.Task[None] | None = None
        self.attempts = 0

    def wake(self, *_: object) -> None:
        self._wakeup.set()

    @property
    def woken(self) -> bool:
        """A wake-up is pending (the next round starts without waiting for the poll)."""
        return self._wakeup.is_set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="mlgraph-webhooks")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        for task in list(self._inflight):
            await stop_task(task)
        with contextlib.suppress(TimeoutError):  # what was sent is recorded, if it can be soon
            await asyncio.wait_for(self._recorded(), STOP_RECORDING_S)
        await stop_task(self._recorder)
        self._recorder = None
        await self._client.aclose()

    async def run_once(self) -> int:
        """Fan out, then send every due delivery and wait for them; returns attempts made."""
        while (await fan_out_once(self._sessions)).read > 0:
            pass
        claimed = await self.claim(self.settings.webhook_concurrency)
        await asyncio.gather(*(self.attempt(c) for c in claimed))
        await self._recorded()
        return len(claimed)

    async def _run(self) -> None:
        """Rounds of fan-out and claims. A claim runs only when something may be due: the
        fan-out made deliveries, a request slot or the recording made room, the last claim
        filled every free slot, or a poll interval passed (retries coming due, deliveries
        another process made). A wake-up waits ``GATHER_S`` first, so the events committed
        meanwhile share one round: under load each commit woke a round of four transactions
        (a fan-out, a claim, the fan-out that found nothing more, its claim)."""
        while True:
            more = False
            try:
                fanned = await fan_out_once(self._sessions, limit=FAN_OUT_BATCH)
                more = fanned.read >= FAN_OUT_BATCH
                self._claim_due = self._claim_due or fanned.delivered > 0
                free = self.settings.webhook_concurrency - len(self._inflight)
                if self.backlog >= RECORD_BATCH:
                    free = 0  # recording lags: send no more until it catches up
                if self._claim_due and free > 0:
                    claimed = await self.claim(free)
                    self._claim_due = len(claimed) >= free  # a full claim: more may be due
                    for job in claimed:
                        task = asyncio.create_task(self.attempt(job))
                        self._inflight.add(task)
                        task.add_done_callback(self._finished)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                self._claim_due = True
                log.warning("webhooks: round failed (%r); retrying", exc)
            except Exception:  # a bug must not stop deliveries for good; it is logged
                self._claim_due = True
                log.exception("webhooks: round failed unexpectedly; retrying")
            if more:
                await asyncio.sleep(0)
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.settings.webhook_poll_interval_s)
            except TimeoutError:
                self._claim_due = True
            else:
                await asyncio.sleep(GATHER_S)
            self._wakeup.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._room()  # a slot is free, and a retry may be due soon

    def _room(self) -> None:
        """Room for more claims: the next round claims."""
        self._claim_due = True
        self._wakeup.set()

    async def claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        async with write_lock(self._engine), self._sessions() as s, s.begin():
            stmt = (
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(Webhook.enabled.is_(True), WebhookDelivery.event_type == PING),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
            if self._engine.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=WebhookDelivery)
            rows = {delivery.id: (delivery, hook) for delivery, hook in (await s.execute(stmt))}
            if not rows:
                return []
            # Compare and set, one statement for the batch: a row another process took after
            # our read (SQLite reads without a lock) has its next attempt a lease ahead, and
            # is left alone.
            taken = await s.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(rows),
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(attempt=WebhookDelivery.attempt + 1, next_attempt_at=now + self._lease)
                .returning(WebhookDelivery.id, WebhookDelivery.attempt)
                .execution_options(synchronize_session=False)
            )
            attempts: dict[uuid.UUID, int] = {row.id: row.attempt for row in taken}
            return [_claimed(*rows[i], now, attempts[i]) for i in rows if i in attempts]

    async def attempt(self, job: Claimed) -> None:
        """One HTTP attempt of ``job`` and its outcome recorded; never raises for the
        receiver's faults."""
        started = asyncio.get_running_loop().time()
        with span(
            "webhook deliver",
            {
                "mlgraph.webhook.id": str(job.webhook_id),
                "mlgraph.webhook.event_type": job.event_type,
                "mlgraph.webhook.attempt": job.attempt,
                "server.address": httpx.URL(job.url).host,
            },
            kind=SpanKind.CLIENT,
            parent=caller_context(job.traceparent),
        ) as current:
            try:
                outcome = await self._post(job)
            except SecretUnavailable as missing:
                outcome = Outcome(None, str(missing), "", None)
            except httpx.HTTPError as failed:
                outcome = Outcome(None, _describe(failed), "", None)
            except TimeoutError:
                outcome = Outcome(None, "timed out", "", None)
            if outcome.status_code is not None:
                current.set_attribute("http.response.status_code", outcome.status_code)
            if not outcome.succeeded:
                set_error(current, outcome.description)
        duration = int((asyncio.get_running_loop().time() - started) * 1000)
        self.attempts += 1
        if outcome.succeeded:
            self._record_success(Finished(job, outcome, duration))
            return
        try:
            await record(self.settings, self._sessions, job, outcome, duration)
        except (SQLAlchemyError, OSError) as exc:  # the lease ends; another round retries
            log.warning("webhooks: recording delivery %s failed (%r)", job.delivery_id, exc)

    def _record_success(self, done: Finished) -> None:
        """Group commit: successes are written in batches, in one transaction each, behind
        the requests (the slot is free for the next request at once); those that finish
        while a batch is being written go in the next."""
        self._successes.append(done)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_batches())

    @property
    def backlog(self) -> int:
        """Successes sent and not yet recorded (claims wait while it is a full batch)."""
        return len(self._successes)

    async def _record_batches(self) -> None:
        while self._successes:
            batch = self._successes[:RECORD_BATCH]
            del self._successes[:RECORD_BATCH]
            try:
                await record_successes(self._sessions, batch)
            except (SQLAlchemyError, OSError):  # e.g. a deadlock: each on its own instead
                for done in batch:
                    await self._record_alone(done)
            except Exception:  # a bug: logged; the leases end and those rows are sent again
                log.exception("webhooks: recording %d deliveries failed", len(batch))
            self._room()

    async def _record_alone(self, done: Finished) -> None:
        job = done.job
        try:
            await record(self.settings, self._sessions, job, done.outcome, done.duration_ms)
        except (SQLAlchemyError, OSError) as exc:  # the lease ends; another round retries
            log.warning("webhooks: recording delivery %s failed (%r)", job.delivery_id, exc)

    async def _recorded(self) -> None:
        """Wait until every success sent so far is recorded."""
        while self._recorder is not None and not self._recorder.done():
            await asyncio.shield(self._recorder)

    async def _post(self, job: Claimed) -> Outcome:
        secrets = [self._box.open(token) for token in job.secrets]
        body = messages.body(job.format, job.payload)
        timestamp = utcnow()
        msg_id = f"msg_{job.event_id.hex}"
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature(secrets, msg_id, timestamp, body),
        }
        if job.traceparent:
            headers["traceparent"] = job.traceparent
        total = self.settings.webhook_connect_timeout_s + 2 * self.settings.webhook_read_timeout_s
        async with asyncio.timeout(total):
            request = self._client.build_request("POST", job.url, content=body, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                kept = await _head_of_body(response)
            finally:
                await response.aclose()
        return Outcome(response.status_code, "", kept, response.headers.get("retry-after"))


async def _head_of_body(response: httpx.Response) -> str:
    chunks = bytearray()
    async for chunk in response.aiter_raw():
        chunks += chunk
        if len(chunks) >= BODY_KEEP:
            break
    return bytes(chunks[:BODY_KEEP]).decode("utf-8", errors="replace")


def _describe(error: httpx.HTTPError) -> str:
    kind = type(error).__name__
    detail = str(error)[:200]
    return f"{kind}: {detail}" if detail else kind


def _claimed(delivery: WebhookDelivery, hook: Webhook, now: datetime, attempt: int) -> Claimed:
    secrets = [hook.secret]
    expires = hook.previous_secret_expires_at
    if hook.previous_secret and expires is not None and expires > now:
        secrets.append(hook.previous_secret)
    return Claimed(
        delivery.id,
        hook.id,
        hook.project_id,
        delivery.event_id,
        delivery.event_type,
        attempt,
        hook.url,
        hook.format,
        tuple(secrets),
        dict(delivery.payload or {}),
        delivery.traceparent,
    )
