"""What a delivery sends: the Standard Webhooks JSON body, or a Slack incoming-webhook text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mlgraph.storage.enums import WebhookFormat


def message(event_type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}


def body(fmt: WebhookFormat, payload: dict[str, Any]) -> str:
    """The exact bytes (as text) that are signed and POSTed."""
    if fmt is WebhookFormat.SLACK:
        return json.dumps({"text": slack_text(payload)}, separators=(",", ":"))
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def slack_text(payload: dict[str, Any]) -> str:
    """One readable line (Slack mrkdwn) for an event."""
    kind = str(payload.get("type", ""))
    data: dict[str, Any] = payload.get("data") or {}
    name = data.get("name") or data.get("id") or ""
    if kind.startswith("alert."):
        verb = "fired" if kind == "alert.fired" else "resolved"
        icon = ":rotating_light:" if verb == "fired" else ":white_check_mark:"
        severity = data.get("severity", "")
        value = data.get("value")
        detail = f" {data.get('message', '')}".rstrip()
        shown = f" (value {value})" if value is not None and not detail else ""
        return f"{icon} *{severity} alert {verb}*{detail}{shown}"
    if kind.startswith("deployment."):
        what = kind.removeprefix("deployment.").replace("_", " ")
        parts = [f":rocket: Deployment *{name}* {what}"]
        if data.get("environment"):
            parts.append(f"in {data['environment']}")
        if data.get("status"):
            parts.append(f"(status {data['status']})")
        if data.get("traffic"):
            parts.append(f"traffic {data['traffic']}")
        return " ".join(parts)
    if kind == "webhook.ping":
        return ":wave: mlgraph webhook test (ping)"
    return f"mlgraph event `{kind}` for {name}".rstrip()
