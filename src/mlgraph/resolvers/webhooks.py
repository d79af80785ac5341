"""Webhooks (project ADMIN): register, change, rotate the secret of, delete and ping endpoints;
redeliver a delivery. The signing secret is returned once (by create and rotate) and stored
encrypted; the URL passes the SSRF guard before anything is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.common import TEXT_MAX, Checks, check_revision, fetch, remember, replay
from mlgraph.storage.enums import DeliveryStatus, Role
from mlgraph.storage.models import Project, Webhook, WebhookDelivery
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import snapshot
from mlgraph.webhooks.deliverer import policy_of
from mlgraph.webhooks.events import PING, known_pattern
from mlgraph.webhooks.messages import message
from mlgraph.webhooks.signing import SecretBox, new_secret
from mlgraph.webhooks.urls import UnsafeUrl, check_syntax, resolve

MAX_EVENT_TYPES = 50
_URL_CODES = {"length": UserErrorCode.TOO_LONG, "address": UserErrorCode.POLICY_VIOLATION}


@dataclass(frozen=True)
class WithSecret:
    webhook_id: uuid.UUID
    secret: str


async def check_url(ctx: Context, url: str) -> None:
    """The SSRF guard on ``url`` (form, then every address its host resolves to)."""
    policy = policy_of(ctx.settings)
    try:
        await resolve(check_syntax(url, policy), policy)
    except UnsafeUrl as refused:
        code = _URL_CODES.get(refused.reason, UserErrorCode.INVALID)
        raise UserErrors.one(code, refused.message, "input", "url") from None


def _check_event_types(checks: Checks, event_types: list[str] | None) -> None:
    if event_types is None:
        return
    if not event_types:
        checks.fail(UserErrorCode.INVALID, "name at least one event type", "eventTypes")
    elif len(event_types) > MAX_EVENT_TYPES:
        checks.fail(UserErrorCode.TOO_LONG, f"over {MAX_EVENT_TYPES} event types", "eventTypes")
    for i, pattern in enumerate(event_types):
        if not known_pattern(pattern):
            checks.fail(
                UserErrorCode.INVALID, f"unknown event type {pattern!r}", "eventTypes", str(i)
            )


async def create_webhook(ctx: Context, input: Any) -> WithSecret:
    checks = Checks()
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    _check_event_types(checks, input.event_types)
    checks.done()
    await check_url(ctx, input.url)
    box = SecretBox.from_settings(ctx.settings)
    async with ctx.uow() as tx:
        s = tx.session
        project = await fetch(
            ctx, s, Project, input.project_id, "Project", "projectId", role=Role.ADMIN
        )
        if done := await replay(ctx, s, "createWebhook", input.idempotency_key, input):
            hook = await s.get(Webhook, done)
            return WithSecret(done, box.open(hook.secret) if hook is not None else "")
        secret = new_secret()
        hook = Webhook(
            id=uuid.uuid4(),
            project_id=project.id,
            url=input.url,
            description=input.description or "",
            event_types=list(dict.fromkeys(input.event_types)),
            format=input.format,
            secret=box.seal(secret),
        )
        s.add(hook)
        await s.flush()
        tx.record(hook, "webhook.create", "webhook.created", before=None, payload=_event(hook))
        remember(ctx, s, "createWebhook", input.idempotency_key, input, "Webhook", hook.id)
        return WithSecret(hook.id, secret)


async def update_webhook(ctx: Context, input: Any) -> uuid.UUID:
    checks = Checks()
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    _check_event_types(checks, input.event_types)
    checks.done()
    if input.url is not None:
        await check_url(ctx, input.url)
    async with ctx.uow() as tx:
        hook = await _webhook(ctx, tx.session, input.webhook_id)
        check_revision(hook, input.expected_revision)
        before = snapshot(hook)
        if input.url is not None:
            hook.url = input.url
        if input.description is not None:
            hook.description = input.description
        if input.event_types is not None:
            hook.event_types = list(dict.fromkeys(input.event_types))
        if input.format is not None:
            hook.format = input.format
        if input.enabled is not None and input.enabled != hook.enabled:
            hook.enabled = input.enabled
            hook.disabled_reason = "" if input.enabled else "disabled by an administrator"
            hook.consecutive_failures = 0
        hook.updated_at = utcnow()
        await tx.session.flush()
        tx.record(hook, "webhook.update", "webhook.updated", before=before, payload=_event(hook))
        return hook.id


async def rotate_webhook_secret(ctx: Context, input: Any) -> WithSecret:
    box = SecretBox.from_settings(ctx.settings)
    overlap = timedelta(seconds=ctx.settings.webhook_secret_overlap_s)
    async with ctx.uow() as tx:
        hook = await _webhook(ctx, tx.session, input.webhook_id)
        check_revision(hook, input.expected_revision)
        before = snapshot(hook)
        secret = new_secret()
        usable = hook.secret and overlap > timedelta(0)
        hook.previous_secret = hook.secret if usable else None
        hook.previous_secret_expires_at = utcnow() + overlap if usable else None
        hook.secret = box.seal(secret)
        hook.updated_at = utcnow()
        await tx.session.flush()
        tx.record(
            hook,
            "webhook.rotate_secret",
            "webhook.secret_rotated",
            before=before,
            payload={
                **_event(hook),
                "previousSecretExpiresAt": _iso(hook.previous_secret_expires_at),
            },
        )
        return WithSecret(hook.id, secret)


async def delete_webhook(ctx: Context, input: Any) -> uuid.UUID:
    async with ctx.uow() as tx:
        hook = await _webhook(ctx, tx.session, input.webhook_id)
        check_revision(hook, input.expected_revision)
        before = snapshot(hook)
        tx.audit("webhook.delete", "Webhook", hook.id, hook.project_id, before=before, after=None)
        tx.emit("webhook.deleted", "Webhook", hook.id, hook.project_id, _event(hook))
        await tx.session.delete(hook)
        await tx.session.flush()
        return hook.id


async def ping_webhook(ctx: Context, input: Any) -> uuid.UUID:
    """A ``webhook.ping`` delivery, sent once (no retries), also to a disabled endpoint."""
    async with ctx.uow() as tx:
        hook = await _webhook(ctx, tx.session, input.webhook_id)
        now = utcnow()
        data = {
            "webhookId": encode_global_id("Webhook", hook.id),
            "projectId": encode_global_id("Project", hook.project_id),
        }
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            project_id=hook.project_id,
            webhook_id=hook.id,
            event_id=uuid.uuid4(),
            event_type=PING,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            payload=message(PING, now, data),
            traceparent=tx.traceparent,
        )
        tx.session.add(delivery)
        await tx.session.flush()
        tx.record(delivery, "webhook.ping", "webhook.pinged", before=None, payload=data)
        return delivery.id


async def redeliver_webhook_delivery(ctx: Context, input: Any) -> uuid.UUID:
    """Queue a finished delivery again: same message id and body, a fresh retry schedule."""
    async with ctx.uow() as tx:
        delivery = await fetch(
            ctx,
            tx.session,
            WebhookDelivery,
            input.webhook_delivery_id,
            "WebhookDelivery",
            "webhookDeliveryId",
            lock=True,
            role=Role.ADMIN,
        )
        if delivery.status is DeliveryStatus.PENDING:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                "the delivery is still pending",
                "input",
                "webhookDeliveryId",
            )
        before = snapshot(delivery)
        delivery.status = DeliveryStatus.PENDING
        delivery.attempt_base = delivery.attempt
        delivery.next_attempt_at = utcnow()
        delivery.updated_at = utcnow()
        await tx.session.flush()
        tx.record(
            delivery,
            "webhook_delivery.redeliver",
            "webhook_delivery.requeued",
            before=before,
            payload={"webhookId": encode_global_id("Webhook", delivery.webhook_id)},
        )
        return delivery.id


async def _webhook(ctx: Context, session: Any, global_id: str) -> Webhook:
    return await fetch(
        ctx, session, Webhook, global_id, "Webhook", "webhookId", lock=True, role=Role.ADMIN
    )


def _event(hook: Webhook) -> dict[str, Any]:
    return {
        "webhookId": encode_global_id("Webhook", hook.id),
        "url": hook.url,
        "eventTypes": list(hook.event_types),
        "enabled": hook.enabled,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
