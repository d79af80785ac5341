"""Fan-out: committed outbox events become delivery rows, one per (event, matching endpoint).

The outbox position it has read up to is kept in ``webhook_cursor`` and moved in the same
transaction as the rows it writes, so a crash repeats a batch rather than losing it (the unique
``(event_id, webhook_id)`` would refuse a duplicate anyway). On PostgreSQL the cursor row is
taken ``FOR UPDATE SKIP LOCKED``: one process fans out at a time, the others skip the round.

An endpoint receives the events committed after it was registered, of its event types.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.ids import encode_global_id
from mlgraph.storage.enums import DeliveryStatus
from mlgraph.storage.graph import ENTITIES
from mlgraph.storage.models import (
    DeploymentEvent,
    OutboxEvent,
    Webhook,
    WebhookCursor,
    WebhookDelivery,
)
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import plain_json, write_lock
from mlgraph.webhooks.events import TOPICS, event_type, matches
from mlgraph.webhooks.messages import message

CURSOR_ID = 1


@dataclass(frozen=True)
class FanOut:
    """One round: the events read past the cursor, the deliveries made of them."""

    read: int = 0
    delivered: int = 0


async def fan_out_once(sessions: async_sessionmaker[AsyncSession], *, limit: int = 500) -> FanOut:
    """Read up to ``limit`` events past the cursor and make their deliveries."""
    engine = sessions.kw["bind"]
    try:
        async with write_lock(engine), sessions() as s, s.begin():
            cursor = await _take_cursor(s)
            if cursor is None:
                return FanOut()
            events = (
                await s.scalars(
                    select(OutboxEvent)
                    .where(OutboxEvent.stream_position > cursor.position)
                    .order_by(OutboxEvent.stream_position)
                    .limit(limit)
                )
            ).all()
            if not events:
                return FanOut()
            delivered = await _deliveries(s, events)
            cursor.position = events[-1].stream_position or cursor.position
            return FanOut(len(events), delivered)
    except IntegrityError:  # another process created the cursor row first
        return FanOut()


async def _take_cursor(s: AsyncSession) -> WebhookCursor | None:
    stmt = select(WebhookCursor).where(WebhookCursor.id == CURSOR_ID)
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    cursor = (await s.scalars(stmt)).first()
    if cursor is not None:
        return cursor
    if await s.scalar(select(func.count()).select_from(WebhookCursor)):
        return None  # locked by another process
    cursor = WebhookCursor(id=CURSOR_ID, position=0)
    s.add(cursor)
    await s.flush()
    return cursor


async def _deliveries(s: AsyncSession, events: Sequence[OutboxEvent]) -> int:
    """Add the deliveries of ``events``; returns how many."""
    relevant = [e for e in events if e.topic in TOPICS and e.project_id is not None]
    projects = {e.project_id for e in relevant}
    if not projects:
        return 0
    made = 0
    hooks = (
        await s.scalars(
            select(Webhook).where(Webhook.project_id.in_(projects), Webhook.enabled.is_(True))
        )
    ).all()
    for event in relevant:
        candidates = [
            h
            for h in hooks
            if h.project_id == event.project_id and h.created_at <= event.created_at
        ]
        if not candidates:
            continue
        entity = await _entity(s, event)
        kind = event_type(event.topic, event.payload or {}, entity)
        if kind is None:
            continue
        body = message(kind, event.created_at, await _data(s, event, entity))
        for hook in candidates:
            if matches(hook.event_types, kind):
                s.add(_delivery(hook, event, kind, body))
                made += 1
    return made


def _delivery(
    hook: Webhook, event: OutboxEvent, kind: str, body: dict[str, Any]
) -> WebhookDelivery:
    return WebhookDelivery(
        id=uuid.uuid4(),
        project_id=hook.project_id,
        webhook_id=hook.id,
        event_id=event.event_id,
        event_type=kind,
        status=DeliveryStatus.PENDING,
        next_attempt_at=utcnow(),
        payload=body,
        traceparent=str((event.payload or {}).get("traceparent", ""))[:64],
    )


async def _entity(s: AsyncSession, event: OutboxEvent) -> dict[str, Any] | None:
    """The event's entity as the client sees it: declared fields (camelCase), global ids of
    the entity, its project and its to-one relations. None if it is gone."""
    decl = ENTITIES.get(event.entity_type)
    if decl is None or event.entity_id is None:
        return None
    row = await s.get(decl.model, event.entity_id)
    if row is None:
        return None
    data: dict[str, Any] = {"id": encode_global_id(decl.name, event.entity_id)}
    mapper = sa_inspect(decl.model)
    for name, column in decl.columns.items():
        if name != "revision":  # the ORM attribute may be named apart from its column
            attr = mapper.get_property_by_column(decl.table.c[column]).key
            data[_camel(name)] = plain_json(getattr(row, attr))
    for rel in decl.relations.values():
        key = getattr(row, rel.parent_key, None) if rel.kind == "one" else None
        if isinstance(key, uuid.UUID):
            data[f"{_camel(rel.name)}Id"] = encode_global_id(rel.target, key)
    return data


async def _data(
    s: AsyncSession, event: OutboxEvent, entity: dict[str, Any] | None
) -> dict[str, Any]:
    payload = dict(event.payload or {})
    payload.pop("traceparent", None)
    data = {**(entity or {}), **payload}
    data.setdefault("id", encode_global_id(event.entity_type, event.entity_id or uuid.UUID(int=0)))
    if event.project_id is not None:
        data["projectId"] = encode_global_id("Project", event.project_id)
    raw_event_id = payload.get("deploymentEventId")
    if event.entity_type == "Deployment" and isinstance(raw_event_id, str):
        found = await s.get(DeploymentEvent, uuid.UUID(raw_event_id))
        data["deploymentEventId"] = encode_global_id("DeploymentEvent", uuid.UUID(raw_event_id))
        if found is not None:
            data["event"] = {
                "kind": found.kind.value,
                "message": found.message,
                "data": found.data,
            }
    return data


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
