"""The promotion policy, as one list of rules: ``transitionModelVersion`` refuses with it and
``Query.evaluatePromotion`` reports it, so the dry run and the mutation cannot disagree.

* ``TRANSITIONS``: the allowed stage moves (INVALID_TRANSITION on ``stage``). A move that is not
  allowed is the only reason given: there is no such transition whose policy could be checked.
* ``RULES``, every one evaluated (each failure is one reason): an archived model's versions do
  not move to STAGING or PRODUCTION; PRODUCTION needs each required metric, an AVAILABLE
  WEIGHTS artifact and, for a HIGH risk tier model, an approval (all POLICY_VIOLATION on
  ``versionId``).

Nothing here writes: ``problems`` reads what the rules need (at most two statements, only for
PRODUCTION) and returns the reasons.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.errors import Problem, UserErrorCode
from mlgraph.storage.enums import ArtifactKind, ArtifactStatus, RiskTier, Stage
from mlgraph.storage.models import Artifact, Model, ModelVersion, ModelVersionApproval

#: Allowed stage transitions; ARCHIVED is final.
TRANSITIONS: Mapping[Stage, frozenset[Stage]] = {
    Stage.DRAFT: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.DRAFT, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset(),
}
_LIVE = frozenset({Stage.STAGING, Stage.PRODUCTION})
_PRODUCTION = frozenset({Stage.PRODUCTION})


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the model, the version, and two facts read for PRODUCTION."""

    model: Model
    version: ModelVersion
    has_weights: bool
    approved: bool


@dataclass(frozen=True)
class Rule:
    """One policy rule: for moves to ``stages``, a message per way ``facts`` break it."""

    stages: frozenset[Stage]
    failures: Callable[[Facts], Iterable[str]]
    code: UserErrorCode = UserErrorCode.POLICY_VIOLATION
    field: str = "versionId"


def _archived(facts: Facts) -> Iterable[str]:
    if facts.model.archived_at is not None:
        yield f"model {facts.model.name!r} is archived"


def _metrics(facts: Facts) -> Iterable[str]:
    for name in facts.model.required_metrics:
        if name not in facts.version.metrics:
            yield f"required metric {name!r} is missing from the version's metrics"


def _weights(facts: Facts) -> Iterable[str]:
    if not facts.has_weights:
        yield "the version has no AVAILABLE artifact of kind WEIGHTS"


def _approval(facts: Facts) -> Iterable[str]:
    if facts.model.risk_tier == RiskTier.HIGH and not facts.approved:
        yield "a HIGH risk tier model needs at least one approval before PRODUCTION"


RULES: tuple[Rule, ...] = (
    Rule(_LIVE, _archived),
    Rule(_PRODUCTION, _metrics),
    Rule(_PRODUCTION, _weights),
    Rule(_PRODUCTION, _approval),
)


async def _facts(s: AsyncSession, model: Model, version: ModelVersion, target: Stage) -> Facts:
    if target != Stage.PRODUCTION:
        return Facts(model, version, has_weights=False, approved=False)
    weights = await s.scalar(
        select(Artifact.id)
        .where(
            Artifact.version_id == version.id,
            Artifact.kind == ArtifactKind.WEIGHTS,
            Artifact.status == ArtifactStatus.AVAILABLE,
        )
        .limit(1)
    )
    approved = None
    if model.risk_tier == RiskTier.HIGH:
        approved = await s.scalar(
            select(ModelVersionApproval.id)
            .where(ModelVersionApproval.version_id == version.id)
            .limit(1)
        )
    return Facts(model, version, has_weights=weights is not None, approved=approved is not None)


async def problems(
    s: AsyncSession, model: Model, version: ModelVersion, target: Stage, *prefix: str
) -> list[Problem]:
    """Every reason moving ``version`` to ``target`` is refused (fields under ``prefix``)."""
    if target not in TRANSITIONS[version.stage]:
        message = f"a {version.stage.value} version cannot move to {target.value}"
        return [Problem(UserErrorCode.INVALID_TRANSITION, message, (*prefix, "stage"))]
    facts = await _facts(s, model, version, target)
    return [
        Problem(rule.code, message, (*prefix, rule.field))
        for rule in RULES
        if target in rule.stages
        for message in rule.failures(facts)
    ]


async def evaluate(
    sessions: async_sessionmaker[AsyncSession], version_id: uuid.UUID, target: Stage
) -> list[Problem]:
    """The dry run: every reason ``transitionModelVersion`` would refuse now (a version the
    caller may see; fields name the query's arguments). Reads only."""
    async with sessions() as s:
        version = await s.get_one(ModelVersion, version_id)
        model = await s.get_one(Model, version.model_id)
        return await problems(s, model, version, target)
