"""The webhook event vocabulary, and the one table from outbox topics to webhook event types."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

EVENT_TYPES: tuple[str, ...] = (
    "deployment.created",
    "deployment.traffic_shifted",
    "deployment.promoted",
    "deployment.rolled_back",
    "deployment.failed",
    "deployment.rollout_started",
    "deployment.rollout_step",
    "deployment.rollout_paused",
    "deployment.rollout_resumed",
    "deployment.rollout_succeeded",
    "deployment.rollout_aborted",
    "model_version.created",
    "model_version.stage_changed",
    "model_alias.moved",
    "alert.fired",
    "alert.resolved",
    "job.finished",
)
#: Sent by `pingWebhook` only; no endpoint subscribes to it.
PING = "webhook.ping"
GROUPS = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)

_DEPLOYMENT_KINDS = {
    "CREATED": "deployment.created",
    "TRAFFIC_SHIFTED": "deployment.traffic_shifted",
    "PROMOTED": "deployment.promoted",
    "ROLLED_BACK": "deployment.rolled_back",
    **{
        kind: f"deployment.{kind.lower()}"
        for kind in (
            "ROLLOUT_STARTED",
            "ROLLOUT_STEP",
            "ROLLOUT_PAUSED",
            "ROLLOUT_RESUMED",
            "ROLLOUT_SUCCEEDED",
            "ROLLOUT_ABORTED",
        )
    },
}
_TERMINAL_JOB = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

Rule = Callable[[Mapping[str, Any], Mapping[str, Any] | None], str | None]


def _deployment(payload: Mapping[str, Any], entity: Mapping[str, Any] | None) -> str | None:
    kind = payload.get("kind")
    if kind == "STATUS_CHANGED":
        failed = entity is not None and entity.get("status") == "FAILED"
        return "deployment.failed" if failed else None
    return _DEPLOYMENT_KINDS.get(str(kind))


def _always(event_type: str) -> Rule:
    return lambda _payload, _entity: event_type


#: outbox topic -> rule giving the webhook event type (or None: not a webhook event).
#: A rule sees the event's payload and the entity's current snapshot (when it still exists).
TOPICS: dict[str, Rule] = {
    "deployment.updated": _deployment,
    "model_version.created": _always("model_version.created"),
    "model_version.transitioned": _always("model_version.stage_changed"),
    "model_alias.moved": _always("model_alias.moved"),
    "alert.fired": _always("alert.fired"),
    "alert.resolved": _always("alert.resolved"),
    "alert.updated": lambda p, _e: "alert.resolved" if p.get("status") == "RESOLVED" else None,
    "job.updated": lambda p, _e: "job.finished" if p.get("status") in _TERMINAL_JOB else None,
}


def event_type(
    topic: str, payload: Mapping[str, Any], entity: Mapping[str, Any] | None
) -> str | None:
    rule = TOPICS.get(topic)
    return None if rule is None else rule(payload, entity)


def known_pattern(pattern: str) -> bool:
    """An exact event type, ``<group>.*`` or ``*``."""
    if pattern in EVENT_TYPES or pattern == "*":
        return True
    group, _, rest = pattern.partition(".")
    return rest == "*" and group in GROUPS


def matches(patterns: Iterable[str], event: str) -> bool:
    for pattern in patterns:
        if pattern in ("*", event):
            return True
        if pattern.endswith(".*") and event.startswith(pattern[:-1]):
            return True
    return False
