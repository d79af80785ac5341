"""Deployments: create, shift traffic, promote, roll back.

Every change writes a ``DeploymentEvent`` row, an audit entry and a ``deployment.updated``
outbox event in the same unit of work, and bumps the deployment's revision. Traffic changes
lock the deployment row before reading its targets, so concurrent shifts serialize and the
traffic over a deployment's versions never exceeds 100%.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.context import Context
from mlgraph.errors import Forbidden, Problem, UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.commands import Command, Delete, Target
from mlgraph.resolvers.common import Checks, decode_id, fetch, snapshot
from mlgraph.storage.enums import DeploymentEventKind, DeploymentStatus, Environment, Role
from mlgraph.storage.models import (
    Deployment,
    DeploymentEvent,
    DeploymentTarget,
    Model,
    ModelVersion,
)
from mlgraph.storage.objects.keys import deployment_prefix
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.deployments import (  # noqa: F401
        CreateDeploymentInput,
        DeleteDeploymentInput,
        PromoteDeploymentInput,
        RollbackDeploymentInput,
        ShiftTrafficInput,
        TrafficSplitInput,
    )

MAX_SPLITS = 10
#: Float slack for "the splits sum to at most 100" (e.g. 3 x 33.333...).
TOLERANCE = 1e-9
REASON_MAX = 2000
CONFIG_MAX_BYTES = 16_000


def check_serves(ctx: Context, version: ModelVersion, checks: Checks, *field: str) -> None:
    """Traffic goes only to versions in ``settings.traffic_stages`` (STAGING, PRODUCTION)."""
    allowed = ctx.settings.traffic_stages
    if version.stage not in allowed:
        names = ", ".join(stage.value for stage in allowed) or "none"
        checks.fail(
            UserErrorCode.POLICY_VIOLATION,
            f"a {version.stage.value} version cannot receive traffic (stages allowed: {names})",
            *field,
        )


def _version_gid(pk: uuid.UUID) -> str:
    return encode_global_id("ModelVersion", pk)


def _traffic(split: dict[uuid.UUID, float]) -> dict[str, float]:
    """``{version global ID: percent}`` for events and audit snapshots."""
    return {_version_gid(pk): pct for pk, pct in split.items()}


def _state(deployment: Deployment, split: dict[uuid.UUID, float]) -> dict[str, Any]:
    return {**snapshot(deployment), "traffic": _traffic(split)}


async def locked_targets(s: AsyncSession, deployment_id: uuid.UUID) -> list[DeploymentTarget]:
    """The deployment's targets; read only after the deployment row is locked."""
    return list(
        (
            await s.scalars(
                select(DeploymentTarget)
                .where(DeploymentTarget.deployment_id == deployment_id)
                .order_by(DeploymentTarget.traffic_percent.desc(), DeploymentTarget.id)
            )
        ).all()
    )


def refuse_retired(deployment: Deployment) -> None:
    if deployment.status == DeploymentStatus.RETIRED:
        raise UserErrors.one(
            UserErrorCode.INVALID_TRANSITION,
            "deployment is retired",
            "input",
            "deploymentId",
        )


async def _versions(
    ctx: Context, s: AsyncSession, wanted: Sequence[tuple[uuid.UUID, tuple[str, ...]]]
) -> dict[uuid.UUID, ModelVersion]:
    """Versions by id in one query; a missing or invisible one is NOT_FOUND on its field."""
    pks = [pk for pk, _ in wanted]
    rows = (await s.scalars(select(ModelVersion).where(ModelVersion.id.in_(pks)))).all()
    visible = ctx.principal.visible_projects()
    found = {v.id: v for v in rows if visible is None or v.project_id in visible}
    missing = [
        Problem(UserErrorCode.NOT_FOUND, f"no ModelVersion with id {_version_gid(pk)!r}", field)
        for pk, field in wanted
        if pk not in found
    ]
    if missing:
        raise UserErrors(missing)
    return found


def _set_traffic(
    s: AsyncSession,
    deployment: Deployment,
    targets: Iterable[DeploymentTarget],
    split: dict[uuid.UUID, float],
) -> list[DeploymentTarget]:
    """Make the targets exactly ``split`` (versions at 0 are removed); returns the deleted."""
    current = {t.version_id: t for t in targets}
    removed = [t for vid, t in current.items() if split.get(vid, 0.0) <= 0.0]
    for vid, percent in split.items():
        if percent <= 0.0:
            continue
        target = current.get(vid)
        if target is None:
            s.add(
                DeploymentTarget(
                    id=uuid.uuid4(),
                    project_id=deployment.project_id,
                    deployment_id=deployment.id,
                    version_id=vid,
                    traffic_percent=percent,
                )
            )
        elif target.traffic_percent != percent:
            target.traffic_percent = percent
    return removed


async def apply_split(
    tx: UnitOfWork,
    deployment: Deployment,
    targets: list[DeploymentTarget],
    split: dict[uuid.UUID, float],
    *,
    kind: DeploymentEventKind,
    action: str,
    status: DeploymentStatus | None = None,
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Replace the traffic split, touch the deployment (new revision), record the change
    (``extra`` joins the event's data)."""
    s = tx.session
    old = {t.version_id: t.traffic_percent for t in targets}
    new = {vid: pct for vid, pct in split.items() if pct > 0.0}
    before = _state(deployment, old)
    for target in _set_traffic(s, deployment, targets, split):
        await s.delete(target)
    if status is not None:
        deployment.status = status
    deployment.updated_at = utcnow()
    await s.flush()
    data = {"from": _traffic(old), "to": _traffic(new), **(extra or {})}
    _record(tx, deployment, kind, action, before, _state(deployment, new), message, data)
    return deployment.id


def _record(
    tx: UnitOfWork,
    deployment: Deployment,
    kind: DeploymentEventKind,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    message: str,
    data: dict[str, Any],
) -> None:
    add_event(tx, deployment, kind, message, data)
    project = deployment.project_id
    tx.audit(
        action, "Deployment", deployment.id, project, before=before, after=after, reason=message
    )


def add_event(
    tx: UnitOfWork,
    deployment: Deployment,
    kind: DeploymentEventKind,
    message: str,
    data: dict[str, Any],
) -> None:
    """The ``DeploymentEvent`` row and its ``deployment.updated`` outbox event (subscriptions
    and webhooks); the caller writes the audit entry."""
    event_id = uuid.uuid4()
    tx.session.add(
        DeploymentEvent(
            id=event_id,
            project_id=deployment.project_id,
            deployment_id=deployment.id,
            kind=kind,
            message=message,
            data=data,
            actor=tx.actor,
        )
    )
    tx.emit(
        "deployment.updated",
        "Deployment",
        deployment.id,
        deployment.project_id,
        {
            "kind": kind.value,
            "deploymentId": encode_global_id("Deployment", deployment.id),
            "deploymentEventId": str(event_id),
        },
    )


class CreateDeployment(Command["CreateDeploymentInput", Model]):
    target = Target(Model, "model_id", lock=False)
    creates = True

    def check(self, checks: Checks) -> None:
        config = self.input.config
        checks.text(self.input.name, "name")
        if config is not None and not isinstance(config, dict):
            checks.fail(UserErrorCode.INVALID, "config must be a JSON object", "config")
        else:
            checks.json_size(config, "config", max_bytes=CONFIG_MAX_BYTES)

    async def apply(self, model: Model) -> Deployment:
        ctx, s, input = self.ctx, self.tx.session, self.input
        version = await fetch(ctx, s, ModelVersion, input.version_id, "ModelVersion", "versionId")
        checks = Checks()
        if model.archived_at is not None:
            checks.fail(UserErrorCode.POLICY_VIOLATION, "model is archived", "modelId")
        if version.model_id != model.id:
            checks.fail(UserErrorCode.INVALID, "version is not of this model", "versionId")
        else:
            check_serves(ctx, version, checks, "versionId")
        checks.done()
        taken = await s.scalar(
            select(Deployment.id).where(
                Deployment.project_id == model.project_id, Deployment.name == input.name
            )
        )
        if taken is not None:
            raise UserErrors.one(
                UserErrorCode.DUPLICATE,
                f"a deployment named {input.name!r} exists in this project",
                "input",
                "name",
            )
        deployment = Deployment(
            id=uuid.uuid4(),
            project_id=model.project_id,
            model_id=model.id,
            name=input.name,
            environment=input.environment,
            strategy=input.strategy,
            status=DeploymentStatus.ACTIVE,
            config=dict(input.config) if isinstance(input.config, dict) else {},
        )
        s.add(deployment)
        await s.flush()
        split = {version.id: 100.0}
        _set_traffic(s, deployment, [], split)
        await s.flush()
        _record(
            self.tx,
            deployment,
            DeploymentEventKind.CREATED,
            "deployment.create",
            None,
            _state(deployment, split),
            f"created serving {version.version}",
            {"from": {}, "to": _traffic(split)},
        )
        return deployment


def _check_splits(splits: Sequence[TrafficSplitInput]) -> dict[uuid.UUID, tuple[int, float]]:
    """Input-only rules of a split: ``{version pk: (index, percent)}`` or UserErrors."""
    if len(splits) > MAX_SPLITS:
        raise UserErrors.one(
            UserErrorCode.LIMIT_EXCEEDED,
            f"at most {MAX_SPLITS} versions in a split",
            "input",
            "splits",
        )
    checks = Checks()
    if not splits:
        checks.fail(UserErrorCode.INVALID, "a split needs at least one version", "splits")
    result: dict[uuid.UUID, tuple[int, float]] = {}
    for i, split in enumerate(splits):
        checks.number(split.percent, "splits", str(i), "percent", low=0.0, high=100.0)
        try:
            pk = decode_id(split.version_id, "ModelVersion", "splits", str(i), "versionId")
        except UserErrors as refused:
            checks.problems.extend(refused.problems)
            continue
        if pk in result:
            checks.fail(
                UserErrorCode.INVALID, "version listed twice", "splits", str(i), "versionId"
            )
        else:
            result[pk] = (i, split.percent)
    percents = [split.percent for split in splits]
    if splits and all(math.isfinite(p) and 0.0 <= p <= 100.0 for p in percents):
        total = math.fsum(percents)
        if total > 100.0 + TOLERANCE:
            checks.fail(
                UserErrorCode.LIMIT_EXCEEDED, f"traffic sums to {total}%, over 100%", "splits"
            )
        elif all(p <= 0.0 for p in percents):
            checks.fail(UserErrorCode.INVALID, "some version must receive traffic", "splits")
    checks.done()
    return result


_DEPLOYMENT = Target(Deployment, "deployment_id")


class ShiftTraffic(Command["ShiftTrafficInput", Deployment]):
    """Replace the traffic split; versions not listed (or at 0) stop being targets."""

    target = _DEPLOYMENT

    def check(self, checks: Checks) -> None:
        self.wanted = _check_splits(self.input.splits)

    async def apply(self, deployment: Deployment) -> Deployment:
        ctx, s, wanted = self.ctx, self.tx.session, self.wanted
        refuse_retired(deployment)
        versions = await _versions(
            ctx,
            s,
            [(pk, ("input", "splits", str(i), "versionId")) for pk, (i, _) in wanted.items()],
        )
        checks = Checks()
        for pk, (i, percent) in wanted.items():
            version = versions[pk]
            if version.model_id != deployment.model_id:
                checks.fail(
                    UserErrorCode.INVALID,
                    "version is not of the deployment's model",
                    "splits",
                    str(i),
                    "versionId",
                )
            elif percent > 0.0:
                check_serves(ctx, version, checks, "splits", str(i), "versionId")
        checks.done()
        targets = await locked_targets(s, deployment.id)
        split = {pk: float(percent) for pk, (_, percent) in wanted.items()}
        await apply_split(
            self.tx,
            deployment,
            targets,
            split,
            kind=DeploymentEventKind.TRAFFIC_SHIFTED,
            action="deployment.shift_traffic",
            message="traffic shifted",
        )
        return deployment


class PromoteDeployment(Command["PromoteDeploymentInput", Deployment]):
    """Send all traffic to one of the deployment's current targets."""

    target = _DEPLOYMENT

    async def apply(self, deployment: Deployment) -> Deployment:
        ctx, s = self.ctx, self.tx.session
        refuse_retired(deployment)
        version = await fetch(
            ctx, s, ModelVersion, self.input.version_id, "ModelVersion", "versionId"
        )
        targets = await locked_targets(s, deployment.id)
        if version.id not in {t.version_id for t in targets}:
            raise UserErrors.one(
                UserErrorCode.INVALID,
                "version is not a target of this deployment",
                "input",
                "versionId",
            )
        checks = Checks()
        check_serves(ctx, version, checks, "versionId")
        checks.done()
        await apply_split(
            self.tx,
            deployment,
            targets,
            {version.id: 100.0},
            kind=DeploymentEventKind.PROMOTED,
            action="deployment.promote",
            status=DeploymentStatus.ACTIVE,
            message=f"promoted {version.version}",
        )
        return deployment


class RollbackDeployment(Command["RollbackDeploymentInput", Deployment]):
    """Send all traffic to a version older than the one serving most traffic now."""

    target = _DEPLOYMENT

    def check(self, checks: Checks) -> None:
        checks.text(self.input.reason, "reason", max_len=REASON_MAX)

    async def apply(self, deployment: Deployment) -> Deployment:
        ctx, s = self.ctx, self.tx.session
        refuse_retired(deployment)
        version = await fetch(
            ctx, s, ModelVersion, self.input.to_version_id, "ModelVersion", "toVersionId"
        )
        if version.model_id != deployment.model_id:
            raise UserErrors.one(
                UserErrorCode.INVALID,
                "version is not of the deployment's model",
                "input",
                "toVersionId",
            )
        targets = await locked_targets(s, deployment.id)
        serving = await _versions(
            ctx, s, [(t.version_id, ("input", "deploymentId")) for t in targets]
        )
        current = max(
            targets,
            key=lambda t: (t.traffic_percent, serving[t.version_id].created_at),
            default=None,
        )
        checks = Checks()
        if current is None:
            checks.fail(UserErrorCode.INVALID, "deployment serves no version", "deploymentId")
        elif not version.created_at < serving[current.version_id].created_at:
            checks.fail(
                UserErrorCode.INVALID,
                "not an earlier version than the one serving most traffic",
                "toVersionId",
            )
        check_serves(ctx, version, checks, "toVersionId")
        checks.done()
        await apply_split(
            self.tx,
            deployment,
            targets,
            {version.id: 100.0},
            kind=DeploymentEventKind.ROLLED_BACK,
            action="deployment.rollback",
            status=DeploymentStatus.ROLLED_BACK,
            message=self.input.reason,
        )
        return deployment


class DeleteDeployment(Delete["DeleteDeploymentInput", Deployment]):
    """A deployment with its traffic split, events, drift metrics (and their reports in the
    store), alerts and the alert rules scoped to it. An EDITOR deletes any but an ACTIVE
    PRODUCTION one, which needs a project ADMIN (FORBIDDEN otherwise). Once a model's
    deployments are gone, ``deleteModel`` can delete it."""

    target = _DEPLOYMENT
    action, topic = "deployment.delete", "deployment.deleted"

    async def refuse(self, deployment: Deployment) -> None:
        live = (
            deployment.environment == Environment.PRODUCTION
            and deployment.status == DeploymentStatus.ACTIVE
        )
        if live and not self.ctx.principal.can(deployment.project_id, Role.ADMIN):
            raise Forbidden("deleting an ACTIVE PRODUCTION deployment needs the ADMIN role")

    def objects(self, deployment: Deployment) -> str:
        return deployment_prefix(deployment.project_id, deployment.id)
