"""Webhook endpoints, their delivery log and each delivery's attempts."""

from typing import TYPE_CHECKING, TypeAlias

from mlgraph.schema.declared import entity_type
from mlgraph.schema.relay import Node

if TYPE_CHECKING:  # mypy sees the generated types as Node
    Webhook: TypeAlias = Node
    WebhookDelivery: TypeAlias = Node
    WebhookDeliveryAttempt: TypeAlias = Node
else:
    Webhook = entity_type("Webhook")
    WebhookDelivery = entity_type("WebhookDelivery")
    WebhookDeliveryAttempt = entity_type("WebhookDeliveryAttempt")
