"""Webhooks (project ADMIN): register, change, rotate the secret of, delete and ping endpoints;
redeliver a delivery. The signing secret is returned once (by create and rotate) and stored
encrypted; the URL passes the SSRF guard before anything is written."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.commands import Command, Delete, Outcome, Target
from mlgraph.resolvers.common import TEXT_MAX, Checks
from mlgraph.storage.enums import DeliveryStatus, Role
from mlgraph.storage.models import Project, Webhook, WebhookDelivery
from mlgraph.storage.types import utcnow
from mlgraph.webhooks.deliverer import policy_of
from mlgraph.webhooks.events import PING, known_pattern
from mlgraph.webhooks.messages import message
from mlgraph.webhooks.signing import SecretBox, new_secret
from mlgraph.webhooks.urls import UnsafeUrl, check_syntax, resolve

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.webhooks import (  # noqa: F401
        CreateWebhookInput,
        DeleteWebhookInput,
        PingWebhookInput,
        RedeliverWebhookDeliveryInput,
        RotateWebhookSecretInput,
        UpdateWebhookInput,
    )

MAX_EVENT_TYPES = 50
_URL_CODES = {"length": UserErrorCode.TOO_LONG, "address": UserErrorCode.POLICY_VIOLATION}


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


class _WebhookEvent:
    """The outbox payload of a webhook's changes."""

    def event(self, changed: Webhook) -> dict[str, Any]:
        return _event(changed)


def _event(hook: Webhook) -> dict[str, Any]:
    return {
        "webhookId": encode_global_id("Webhook", hook.id),
        "url": hook.url,
        "eventTypes": list(hook.event_types),
        "enabled": hook.enabled,
    }


class CreateWebhook(_WebhookEvent, Command["CreateWebhookInput", Project]):
    target = Target(Project, "project_id", role=Role.ADMIN, lock=False)
    action, topic, creates = "webhook.create", "webhook.created", True

    def check(self, checks: Checks) -> None:
        checks.text(self.input.description, "description", max_len=TEXT_MAX, required=False)
        _check_event_types(checks, self.input.event_types)

    async def prepare(self) -> None:
        await check_url(self.ctx, self.input.url)

    async def apply(self, project: Project) -> Webhook:
        input, secret = self.input, new_secret()
        hook = Webhook(
            id=uuid.uuid4(),
            project_id=project.id,
            url=input.url,
            description=input.description or "",
            event_types=list(dict.fromkeys(input.event_types)),
            format=input.format,
            secret=SecretBox.from_settings(self.ctx.settings).seal(secret),
        )
        self.tx.session.add(hook)
        self.fields["secret"] = secret
        return hook

    async def replayed(self, entity_id: uuid.UUID) -> Outcome:
        """The first result again, with its secret."""
        hook = await self.tx.session.get(Webhook, entity_id)
        box = SecretBox.from_settings(self.ctx.settings)
        return Outcome(entity_id, {"secret": box.open(hook.secret) if hook is not None else ""})


_WEBHOOK = Target(Webhook, "webhook_id", role=Role.ADMIN)


class UpdateWebhook(_WebhookEvent, Command["UpdateWebhookInput", Webhook]):
    target = _WEBHOOK
    action, topic = "webhook.update", "webhook.updated"

    def check(self, checks: Checks) -> None:
        checks.text(self.input.description, "description", max_len=TEXT_MAX, required=False)
        _check_event_types(checks, self.input.event_types)

    async def prepare(self) -> None:
        if self.input.url is not None:
            await check_url(self.ctx, self.input.url)

    async def apply(self, hook: Webhook) -> Webhook:
        input = self.input
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
        return hook


class RotateWebhookSecret(Command["RotateWebhookSecretInput", Webhook]):
    target = _WEBHOOK
    action, topic = "webhook.rotate_secret", "webhook.secret_rotated"

    async def apply(self, hook: Webhook) -> Webhook:
        overlap = timedelta(seconds=self.ctx.settings.webhook_secret_overlap_s)
        secret = new_secret()
        usable = hook.secret and overlap > timedelta(0)
        hook.previous_secret = hook.secret if usable else None
        hook.previous_secret_expires_at = utcnow() + overlap if usable else None
        hook.secret = SecretBox.from_settings(self.ctx.settings).seal(secret)
        hook.updated_at = utcnow()
        self.fields["secret"] = secret
        return hook

    def event(self, changed: Webhook) -> dict[str, Any]:
        expires = _iso(changed.previous_secret_expires_at)
        return {**_event(changed), "previousSecretExpiresAt": expires}


class DeleteWebhook(_WebhookEvent, Delete["DeleteWebhookInput", Webhook]):
    """The webhook and its delivery log."""

    target = _WEBHOOK
    action, topic = "webhook.delete", "webhook.deleted"


class PingWebhook(Command["PingWebhookInput", Webhook]):
    """A ``webhook.ping`` delivery, sent once (no retries), also to a disabled endpoint."""

    target = _WEBHOOK
    action, topic = "webhook.ping", "webhook.pinged"

    async def apply(self, hook: Webhook) -> WebhookDelivery:
        now = utcnow()
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            project_id=hook.project_id,
            webhook_id=hook.id,
            event_id=uuid.uuid4(),
            event_type=PING,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            payload=message(PING, now, self.event(hook)),
            traceparent=self.tx.traceparent,
        )
        self.tx.session.add(delivery)
        return delivery

    def event(self, changed: Webhook | WebhookDelivery) -> dict[str, Any]:
        hook_id = changed.id if isinstance(changed, Webhook) else changed.webhook_id
        return {
            "webhookId": encode_global_id("Webhook", hook_id),
            "projectId": encode_global_id("Project", changed.project_id),
        }


class RedeliverWebhookDelivery(Command["RedeliverWebhookDeliveryInput", WebhookDelivery]):
    """Queue a finished delivery again: same message id and body, a fresh retry schedule."""

    target = Target(WebhookDelivery, "webhook_delivery_id", role=Role.ADMIN)
    action, topic = "webhook_delivery.redeliver", "webhook_delivery.requeued"

    async def apply(self, delivery: WebhookDelivery) -> WebhookDelivery:
        if delivery.status is DeliveryStatus.PENDING:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                "the delivery is still pending",
                "input",
                "webhookDeliveryId",
            )
        delivery.status = DeliveryStatus.PENDING
        delivery.attempt_base = delivery.attempt
        delivery.next_attempt_at = utcnow()
        delivery.updated_at = utcnow()
        return delivery

    def event(self, changed: WebhookDelivery) -> dict[str, Any]:
        return {"webhookId": encode_global_id("Webhook", changed.webhook_id)}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
