"""``Query.evaluatePromotion``: the promotion policy's dry run (``resolvers.promotion``)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mlgraph.errors import BadUserInput
from mlgraph.ids import decode_global_id
from mlgraph.resolvers import promotion
from mlgraph.schema.enums import Stage
from mlgraph.schema.payloads import UserError
from mlgraph.schema.registry import ModelVersion
from mlgraph.schema.relay import Info


@strawberry.type(
    description=(
        "What `transitionModelVersion` would answer now, computed without writing anything."
    )
)
class PromotionEvaluation:
    version: ModelVersion = strawberry.field(description="The version evaluated.")
    stage: Stage = strawberry.field(description="The stage it would move to.")
    allowed: bool = strawberry.field(description="True when no rule refuses the transition.")
    reasons: list[UserError] = strawberry.field(
        description=(
            "Every reason the transition would be refused, with the codes the mutation uses "
            "(`INVALID_TRANSITION` on `stage`, `POLICY_VIOLATION` on `versionId`); empty if "
            "allowed."
        )
    )


async def evaluate_promotion(
    info: Info,
    version_id: Annotated[strawberry.ID, strawberry.argument(description="The version.")],
    stage: Annotated[Stage, strawberry.argument(description="The stage to move it to.")],
) -> PromotionEvaluation | None:
    """The field's resolver: null when the version is absent or not visible."""
    type_name, pk = decode_global_id(version_id, field="versionId")
    if type_name != "ModelVersion":
        raise BadUserInput(f"{version_id!r} is not a ModelVersion id", field="versionId")
    row = await info.context.loaders.by_key("ModelVersion").load(pk)
    if row is None:
        return None
    reasons = await promotion.evaluate(info.context.sessions, pk, stage)
    return PromotionEvaluation(
        version=ModelVersion.from_row(row),
        stage=stage,
        allowed=not reasons,
        reasons=[UserError.of(p) for p in reasons],
    )
