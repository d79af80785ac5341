"""Monitoring mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry


@strawberry.type
class MonitoringMutations:
    pass
