"""Drift metrics, alert rules and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from strawberry.scalars import JSON

from mlgraph.schema.declared import entity_type
from mlgraph.schema.objects import OBJECT_STORE_CALL, json_report
from mlgraph.schema.relay import Info, Node


class _DriftMetricFields:
    @strawberry.field(
        description="The monitor's full JSON report from the object store; null if it wrote none.",
        directives=[OBJECT_STORE_CALL],
    )
    async def report(self, info: Info) -> JSON | None:
        key = self.row.report_key  # type: ignore[attr-defined]
        return None if key is None else await json_report(info, key)


if TYPE_CHECKING:  # mypy sees the generated types as Node
    DriftMetric: TypeAlias = Node
    AlertRule: TypeAlias = Node
    Alert: TypeAlias = Node
    Downtime: TypeAlias = Node
else:
    DriftMetric = entity_type("DriftMetric", _DriftMetricFields)
    AlertRule = entity_type("AlertRule")
    Alert = entity_type("Alert")
    Downtime = entity_type("Downtime")
