"""Webhook endpoints and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from mlgraph.schema.enums import DeliveryStatus
from mlgraph.schema.relay import Connection, Node, connection, node_type, one

if TYPE_CHECKING:
    from mlgraph.schema.projects import Project


@node_type("An HTTPS endpoint told about deployment and alert events (Standard Webhooks).")
class Webhook(Node):
    url: str = strawberry.field(description="Where events are POSTed.")
    description: str = strawberry.field(description="What the endpoint is for.")
    event_types: list[str] = strawberry.field(description="Event types it receives.")
    enabled: bool = strawberry.field(description="Disabled endpoints receive nothing.")
    revision: int = strawberry.field(
        description="Increases on every change; pass it as `expectedRevision` to update."
    )
    created_at: datetime = strawberry.field(description="When registered.")
    updated_at: datetime = strawberry.field(description="When last changed.")
    project: Annotated[Project, strawberry.lazy("mlgraph.schema.projects")] | None = one(
        "Webhook", "project", "The owning project."
    )
    deliveries: Connection[WebhookDelivery] = connection(
        "Webhook", "deliveries", "Delivery attempts, newest first."
    )


@node_type("One event sent (or being sent) to a webhook endpoint.")
class WebhookDelivery(Node):
    event_type: str = strawberry.field(description="Type of the delivered event.")
    status: DeliveryStatus = strawberry.field(description="Pending, succeeded or failed.")
    attempt: int = strawberry.field(description="Attempts made so far.")
    response_status: int | None = strawberry.field(description="HTTP status of the last attempt.")
    error: str = strawberry.field(description="Why the last attempt failed, if it did.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is retried next.")
    delivered_at: datetime | None = strawberry.field(description="When it succeeded.")
    created_at: datetime = strawberry.field(description="When the event was queued.")
    updated_at: datetime = strawberry.field(description="When last attempted.")
    webhook: Webhook | None = one("WebhookDelivery", "webhook", "The endpoint.")
