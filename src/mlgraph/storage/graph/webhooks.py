"""Webhook endpoints, their deliveries and each delivery's attempts. Signing secrets are never
fields: `createWebhook` and `rotateWebhookSecret` return one once."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import (
    NEWEST,
    REVISION,
    TIME_ORDERS,
    EntityDecl,
    Field,
    Filter,
    Order,
    Relation,
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
        "An HTTPS endpoint told about deployment, registry, alert and job events "
        "(Standard Webhooks signatures).",
        fields(
            url="Where events are POSTed.",
            description="What the endpoint is for.",
            event_types="Event types it receives (`deployment.promoted`, `deployment.*`, `*`).",
            format="The body it receives: STANDARD or SLACK.",
            enabled="Disabled endpoints receive nothing.",
            disabled_reason="Why it was disabled (410 Gone, too many failed events); empty if not.",
            consecutive_failures="Events in a row that failed every attempt (a success resets it).",
            previous_secret_expires_at=Field(
                "Until when the secret before the last rotation still signs beside the current "
                "one; null outside a rotation overlap."
            ),
            revision=REVISION,
            created_at="When registered.",
            updated_at="When last changed.",
        ),
        orders=TIME_ORDERS,
        relations=rels(
            one("project", "Project", "project_id", "The owning project."),
            many("deliveries", "WebhookDelivery", "webhook_id", "Deliveries", order=NEWEST),
        ),
    ),
    EntityDecl(
        "WebhookDelivery",
        m.WebhookDelivery,
        "webhooks",
        "One event sent (or being sent) to a webhook endpoint, with the outcome of its last "
        "attempt; `attempts` lists every attempt.",
        fields(
            event_type="Type of the delivered event.",
            status="Pending, succeeded or failed.",
            attempt="Attempts made so far.",
            response_status="HTTP status of the last attempt.",
            duration_ms="How long the last attempt took, in milliseconds.",
            response_body="The last response's body, cut to 1 KB.",
            error="Why the last attempt failed, if it did.",
            next_attempt_at="When it is tried next (null once succeeded or failed).",
            delivered_at="When it succeeded.",
            payload="The body's `{type, timestamp, data}` (the same on every attempt).",
            created_at="When the event was queued.",
            updated_at="When last attempted.",
        ),
        orders=TIME_ORDERS,
        filters=(Filter("status", "status", "in", "Any of these."),),
        filter_description="Filter webhook deliveries.",
        relations=rels(
            one("webhook", "Webhook", "webhook_id", "The endpoint."),
            Relation(
                "attempts",
                "WebhookDeliveryAttempt",
                "list",
                "delivery_id",
                order=Order("number"),
                page_cap=100,
                description="Every HTTP attempt of this delivery",
            ),
        ),
    ),
    EntityDecl(
        "WebhookDeliveryAttempt",
        m.WebhookDeliveryAttempt,
        "webhooks",
        "One HTTP request of a webhook delivery and what came back.",
        fields(
            number="1 for the first attempt, then 2, 3, ...",
            succeeded="The receiver answered 2xx.",
            status_code="The HTTP status; null when no response came (timeout, refused).",
            duration_ms="From sending to the end of the response, in milliseconds.",
            error="Why it failed, if it did.",
            response_body="The response's body, cut to 1 KB.",
            next_attempt_at="When the next attempt was scheduled after this one (null: none).",
            created_at="When the attempt was made.",
        ),
        relations=rels(one("delivery", "WebhookDelivery", "delivery_id", "The delivery.")),
    ),
)
