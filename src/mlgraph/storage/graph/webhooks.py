"""Webhook endpoints and their delivery log."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    TIME_ORDERS,
    EntityDecl,
    Filter,
    fields,
    many,
    one,
    rels,
)

ENTITIES = (
    EntityDecl(
        "Webhook",
        m.Webhook,
        "webhooks",
        "An HTTPS endpoint told about deployment and alert events (Standard Webhooks).",
        fields(
            url="Where events are POSTed.",
            description="What the endpoint is for.",
            event_types="Event types it receives.",
            enabled="Disabled endpoints receive nothing.",
            revision=REVISION,
            created_at="When registered.",
            updated_at="When last changed.",
        ),
        orders=TIME_ORDERS,
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            many("deliveries", "WebhookDelivery", "webhook_id", "Delivery attempts", order=NEWEST),
        ),
    ),
    EntityDecl(
        "WebhookDelivery",
        m.WebhookDelivery,
        "webhooks",
        "One event sent (or being sent) to a webhook endpoint.",
        fields(
            event_type="Type of the delivered event.",
            status="Pending, succeeded or failed.",
            attempt="Attempts made so far.",
            response_status="HTTP status of the last attempt.",
            error="Why the last attempt failed, if it did.",
            next_attempt_at="When it is retried next.",
            delivered_at="When it succeeded.",
            created_at="When the event was queued.",
            updated_at="When last attempted.",
        ),
        orders=TIME_ORDERS,
        filters=(Filter("status", "status", "in", "Any of these."),),
        filter_description="Filter webhook deliveries.",
        relations=rels(one("webhook", "Webhook", "webhook_id", "The endpoint.")),
    ),
)
