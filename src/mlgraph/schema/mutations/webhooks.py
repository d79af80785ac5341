"""Webhook mutations (project ADMIN only)."""

from __future__ import annotations

import strawberry

from mlgraph.resolvers import webhooks
from mlgraph.schema.enums import WebhookFormat
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command
from mlgraph.schema.webhooks import Webhook, WebhookDelivery
from mlgraph.webhooks.events import EVENT_TYPES

_REVISION = "Fail with CONFLICT unless the webhook's current revision is this one."
_KEY_DOC = (
    "The signing secret (`whsec_...`), shown this once; it is stored encrypted. Receivers "
    "verify `webhook-signature` with it (Standard Webhooks)."
)
_EVENT_TYPES = (
    "Event types to receive: "
    + ", ".join(f"`{t}`" for t in EVENT_TYPES)
    + "; or `<group>.*` (e.g. `deployment.*`), `*`."
)


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookInput:
    project_id: strawberry.ID = strawberry.field(description="The project whose events it gets.")
    url: str = strawberry.field(
        description="An https URL (at most 2048 characters, no credentials) whose host is a "
        "public address."
    )
    event_types: list[str] = strawberry.field(description=_EVENT_TYPES)
    description: str | None = strawberry.field(default=None, description="What it is for.")
    format: WebhookFormat = strawberry.field(
        default=WebhookFormat.STANDARD,
        description="STANDARD (`{type, timestamp, data}`) or SLACK (incoming-webhook `{text}`).",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Retries with the same key and input return the first result (and secret).",
    )


@strawberry.input(description="Change a webhook; omitted fields stay as they are.")
class UpdateWebhookInput:
    webhook_id: strawberry.ID = strawberry.field(description="The webhook.")
    url: str | None = strawberry.field(default=None, description="A new URL (checked again).")
    event_types: list[str] | None = strawberry.field(default=None, description=_EVENT_TYPES)
    description: str | None = strawberry.field(default=None, description="What it is for.")
    format: WebhookFormat | None = strawberry.field(default=None, description="The body format.")
    enabled: bool | None = strawberry.field(
        default=None,
        description="Enable (clears `disabledReason` and the failure count) or disable it.",
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="A new signing secret; the old one signs beside it for a while.")
class RotateWebhookSecretInput:
    webhook_id: strawberry.ID = strawberry.field(description="The webhook.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Delete a webhook and its delivery log.")
class DeleteWebhookInput:
    webhook_id: strawberry.ID = strawberry.field(description="The webhook.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Send a `webhook.ping` event to an endpoint once.")
class PingWebhookInput:
    webhook_id: strawberry.ID = strawberry.field(description="The webhook.")


@strawberry.input(description="Send a finished (succeeded or failed) delivery again.")
class RedeliverWebhookDeliveryInput:
    webhook_delivery_id: strawberry.ID = strawberry.field(description="The delivery.")


@strawberry.type(description="Result of `createWebhook`.")
class CreateWebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The webhook, without its secret.")
    secret: str | None = strawberry.field(default=None, description=_KEY_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `updateWebhook`.")
class UpdateWebhookPayload:
    webhook: Webhook | None = strawberry.field(description="The changed webhook.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `rotateWebhookSecret`.")
class RotateWebhookSecretPayload:
    webhook: Webhook | None = strawberry.field(
        description="The webhook; `previousSecretExpiresAt` says until when the old secret signs."
    )
    secret: str | None = strawberry.field(default=None, description=_KEY_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `deleteWebhook`.")
class DeleteWebhookPayload:
    deleted_webhook_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the deleted webhook."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `pingWebhook`.")
class PingWebhookPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The ping's delivery.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `redeliverWebhookDelivery`.")
class RedeliverWebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery, queued.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type
class WebhookMutations:
    create_webhook = command(
        webhooks.CreateWebhook,
        CreateWebhookInput,
        CreateWebhookPayload,
        description="Register a webhook; its signing secret is returned once.",
    )

    update_webhook = command(
        webhooks.UpdateWebhook,
        UpdateWebhookInput,
        UpdateWebhookPayload,
        description="Change a webhook's URL, event types, format or state.",
    )

    rotate_webhook_secret = command(
        webhooks.RotateWebhookSecret,
        RotateWebhookSecretInput,
        RotateWebhookSecretPayload,
        description="New signing secret, returned once; the old one keeps signing beside it "
        "for the configured overlap (24 h by default).",
    )

    delete_webhook = command(
        webhooks.DeleteWebhook,
        DeleteWebhookInput,
        DeleteWebhookPayload,
        description="Delete a webhook and its delivery log.",
    )

    ping_webhook = command(
        webhooks.PingWebhook,
        PingWebhookInput,
        PingWebhookPayload,
        description="Send a `webhook.ping` to the endpoint (once, no retries).",
    )
    redeliver_webhook_delivery = command(
        webhooks.RedeliverWebhookDelivery,
        RedeliverWebhookDeliveryInput,
        RedeliverWebhookDeliveryPayload,
        description="Send a finished delivery again, with a fresh retry schedule.",
    )
