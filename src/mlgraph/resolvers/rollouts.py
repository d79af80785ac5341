"""Rollouts: a canary version's share of a deployment's traffic goes up in steps, gated.

``startRollout`` applies the first step at once (canary ``steps[0]``%, the baseline the rest).
The scheduler (``mlgraph.rollouts``) calls ``advance`` for each RUNNING rollout whose
``next_step_at`` has passed or whose deployment has a FIRING alert at the gate's severity:

* a FIRING alert of severity >= ``gate_severity`` on the deployment rolls it back at once;
* at the end of a step, a metric threshold of ``gate_metrics`` breached by a window recorded
  during the step rolls it back;
* otherwise the next step is applied; one interval after the last step it SUCCEEDED.

A rollback gives the baseline 100% (deployment status ROLLED_BACK); ``abortRollout`` does the
same by hand (status stays). Every transition is a ``DeploymentEvent`` with its
``deployment.updated`` outbox event (subscriptions, webhooks) and a ``Rollout`` audit entry; a
traffic change also writes the deployment's own audit entry (``resolvers.deployments``).
Whoever changes a rollout holds its row lock (the scheduler takes it ``SKIP LOCKED``) and then
the deployment's, so each step is applied once, whatever the number of replicas.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.alerting import COMPARE
from mlgraph.resolvers.commands import Command, Target
from mlgraph.resolvers.common import Checks, fetch, snapshot
from mlgraph.resolvers.deployments import (
    REASON_MAX,
    add_event,
    apply_split,
    check_serves,
    locked_targets,
    refuse_retired,
)
from mlgraph.storage.enums import (
    AlertStatus,
    DeploymentEventKind,
    DeploymentStatus,
    Operator,
    RolloutStatus,
    Severity,
)
from mlgraph.storage.models import Alert, Deployment, DriftMetric, ModelVersion, Rollout
from mlgraph.storage.uow import UnitOfWork

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.rollouts import (  # noqa: F401
        AbortRolloutInput,
        PauseRolloutInput,
        ResumeRolloutInput,
        StartRolloutInput,
    )

STEPS_MAX = 10
INTERVAL_MIN, INTERVAL_MAX = 1, 7 * 86400
GATE_METRICS_MAX = 10
ACTIVE = (RolloutStatus.RUNNING, RolloutStatus.PAUSED)
#: Severities from the least urgent up: a gate at X counts X and those after it.
SEVERITY_ORDER = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)


def at_least(severity: Severity) -> list[Severity]:
    return list(SEVERITY_ORDER[SEVERITY_ORDER.index(severity) :])


def _gid(type_name: str, pk: uuid.UUID) -> str:
    return encode_global_id(type_name, pk)


def _split(rollout: Rollout, percent: float) -> dict[uuid.UUID, float]:
    return {rollout.canary_version_id: percent, rollout.baseline_version_id: 100.0 - percent}


async def _deployment(s: AsyncSession, rollout: Rollout) -> Deployment:
    """The rollout's deployment, locked after the rollout (the one lock order)."""
    stmt = select(Deployment).where(Deployment.id == rollout.deployment_id)
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    deployment = (await s.scalars(stmt)).one()
    return deployment


async def transition(
    tx: UnitOfWork,
    rollout: Rollout,
    deployment: Deployment,
    kind: DeploymentEventKind,
    message: str,
    before: dict[str, Any] | None,
    *,
    percent: float | None = None,
    status: DeploymentStatus | None = None,
) -> None:
    """Record what the caller changed on ``rollout`` since ``before`` (its snapshot; None for a
    new one), setting the canary to ``percent`` if given."""
    rollout.canary_percent = rollout.canary_percent if percent is None else percent
    data = {
        "rolloutId": _gid("Rollout", rollout.id),
        "step": rollout.step,
        "canaryPercent": rollout.canary_percent,
        "status": rollout.status.value,
    }
    action = f"rollout.{kind.value.removeprefix('ROLLOUT_').lower()}"
    if percent is None:
        add_event(tx, deployment, kind, message, data)
    else:
        targets = await locked_targets(tx.session, deployment.id)
        split = _split(rollout, percent)
        await apply_split(
            tx, deployment, targets, split, kind=kind, action=action, status=status,
            message=message, extra=data,
        )  # fmt: skip
    await tx.session.flush()
    tx.audit(
        action, "Rollout", rollout.id, rollout.project_id, before=before, after=snapshot(rollout)
    )


def _step(rollout: Rollout, now: datetime, index: int) -> float:
    rollout.step = index
    rollout.step_started_at = now
    rollout.next_step_at = now + timedelta(seconds=rollout.interval_seconds)
    return float(rollout.steps[index])


def _finish(rollout: Rollout, now: datetime, status: RolloutStatus, reason: str) -> None:
    rollout.status, rollout.reason = status, reason
    rollout.finished_at, rollout.next_step_at = now, None


async def alert_failure(s: AsyncSession, rollout: Rollout) -> str | None:
    """Why the alert gate fails now (a FIRING alert at the gate's severity), or None."""
    if rollout.gate_severity is None:
        return None
    alert = await s.scalar(
        select(Alert)
        .where(
            Alert.deployment_id == rollout.deployment_id,
            Alert.status == AlertStatus.FIRING,
            Alert.severity.in_(at_least(rollout.gate_severity)),
        )
        .order_by(Alert.fired_at, Alert.id)
        .limit(1)
    )
    if alert is None:
        return None
    return f"{alert.severity.value} alert {_gid('Alert', alert.id)} is FIRING: {alert.message}"


async def metric_failure(s: AsyncSession, rollout: Rollout) -> str | None:
    """Why a metric gate fails on the windows recorded during the step, or None."""
    gates = rollout.gate_metrics
    if not gates:
        return None
    rows = await s.execute(
        select(DriftMetric.metric, func.max(DriftMetric.score), func.min(DriftMetric.score))
        .where(
            DriftMetric.deployment_id == rollout.deployment_id,
            DriftMetric.metric.in_({g["metric"] for g in gates}),
            DriftMetric.window_end > rollout.step_started_at,
        )
        .group_by(DriftMetric.metric)
    )
    seen = {metric: (float(high), float(low)) for metric, high, low in rows}
    for gate in gates:
        op = Operator(gate["operator"])
        if gate["metric"] not in seen:
            continue
        high, low = seen[gate["metric"]]
        worst = high if op in (Operator.GT, Operator.GTE) else low
        if COMPARE[op](worst, gate["threshold"]):
            return f"{gate['metric']} {op.value} {gate['threshold']} (measured {worst:g})"
    return None


async def advance(tx: UnitOfWork, rollout: Rollout, now: datetime) -> bool:
    """The scheduler's move on a RUNNING rollout it holds locked; True when it changed."""
    s = tx.session
    deployment = await _deployment(s, rollout)
    before = snapshot(rollout)
    if deployment.status == DeploymentStatus.RETIRED:
        _finish(rollout, now, RolloutStatus.ABORTED, "deployment retired")
        kind = DeploymentEventKind.ROLLOUT_ABORTED
        await transition(tx, rollout, deployment, kind, "deployment retired", before)
        return True
    due = rollout.next_step_at is not None and rollout.next_step_at <= now
    failure = await alert_failure(s, rollout)
    if failure is None and due:
        failure = await metric_failure(s, rollout)
    if failure is not None:
        _finish(rollout, now, RolloutStatus.ROLLED_BACK, failure)
        await transition(
            tx, rollout, deployment, DeploymentEventKind.ROLLED_BACK,
            f"rollout rolled back: {failure}", before, percent=0.0,
            status=DeploymentStatus.ROLLED_BACK,
        )  # fmt: skip
        return True
    if not due:
        return False
    if rollout.step + 1 < len(rollout.steps):
        percent = _step(rollout, now, rollout.step + 1)
        message = f"rollout step {rollout.step + 1}/{len(rollout.steps)}: canary at {percent:g}%"
        kind = DeploymentEventKind.ROLLOUT_STEP
        await transition(tx, rollout, deployment, kind, message, before, percent=percent)
        return True
    _finish(rollout, now, RolloutStatus.SUCCEEDED, "")
    message = f"rollout succeeded: canary at {rollout.canary_percent:g}%"
    kind = DeploymentEventKind.ROLLOUT_SUCCEEDED
    await transition(tx, rollout, deployment, kind, message, before)
    return True


def _check_plan(checks: Checks, input: StartRolloutInput) -> None:
    steps = input.steps
    if not 1 <= len(steps) <= STEPS_MAX:
        checks.fail(UserErrorCode.INVALID, f"1 to {STEPS_MAX} steps", "steps")
    for i, percent in enumerate(steps):
        if not (math.isfinite(percent) and 0.0 < percent <= 100.0):
            checks.fail(UserErrorCode.INVALID, "a step is within (0, 100]", "steps", str(i))
        elif i and not percent > steps[i - 1]:
            checks.fail(UserErrorCode.INVALID, "steps must increase", "steps", str(i))
    if not INTERVAL_MIN <= input.interval_seconds <= INTERVAL_MAX:
        checks.fail(
            UserErrorCode.INVALID,
            f"intervalSeconds must be within [{INTERVAL_MIN}, {INTERVAL_MAX}]",
            "intervalSeconds",
        )
    gates = input.gate_metrics or []
    if len(gates) > GATE_METRICS_MAX:
        checks.fail(
            UserErrorCode.LIMIT_EXCEEDED, f"at most {GATE_METRICS_MAX} gates", "gateMetrics"
        )
    for i, gate in enumerate(gates):
        checks.text(gate.metric, "gateMetrics", str(i), "metric", max_len=64)
        checks.number(gate.threshold, "gateMetrics", str(i), "threshold")


class StartRollout(Command["StartRolloutInput", Deployment]):
    """Put a plan on a deployment and apply its first step."""

    target = Target(Deployment, "deployment_id")

    def check(self, checks: Checks) -> None:
        _check_plan(checks, self.input)

    async def apply(self, deployment: Deployment) -> Rollout:
        ctx, s, input = self.ctx, self.tx.session, self.input
        refuse_retired(deployment)
        canary = await fetch(
            ctx, s, ModelVersion, input.canary_version_id, "ModelVersion", "canaryVersionId"
        )
        active = await s.scalar(
            select(Rollout.id).where(
                Rollout.deployment_id == deployment.id, Rollout.status.in_(ACTIVE)
            )
        )
        if active is not None:
            raise UserErrors.one(
                UserErrorCode.CONFLICT,
                f"rollout {_gid('Rollout', active)} is still active on this deployment",
                "input",
                "deploymentId",
            )
        targets = await locked_targets(s, deployment.id)
        baseline = targets[0].version_id if targets else None
        checks = Checks()
        if canary.model_id != deployment.model_id:
            checks.fail(
                UserErrorCode.INVALID, "version is not of the deployment's model", "canaryVersionId"
            )
        elif baseline is None or baseline == canary.id:
            checks.fail(
                UserErrorCode.INVALID,
                "the canary must differ from the version serving most traffic now",
                "canaryVersionId",
            )
        else:
            check_serves(ctx, canary, checks, "canaryVersionId")
        checks.done()
        assert baseline is not None
        now = ctx.now()
        rollout = Rollout(
            id=uuid.uuid4(),
            project_id=deployment.project_id,
            deployment_id=deployment.id,
            canary_version_id=canary.id,
            baseline_version_id=baseline,
            steps=[float(p) for p in input.steps],
            interval_seconds=input.interval_seconds,
            gate_severity=input.gate_severity,
            gate_metrics=[
                {"metric": g.metric, "operator": g.operator.value, "threshold": g.threshold}
                for g in input.gate_metrics or []
            ],
            status=RolloutStatus.RUNNING,
            step=0,
            canary_percent=0.0,
            step_started_at=now,
            reason="",
        )
        if (firing := await alert_failure(s, rollout)) is not None:
            raise UserErrors.one(
                UserErrorCode.POLICY_VIOLATION,
                f"the gate would roll back at once: {firing}",
                "input",
                "gateSeverity",
            )
        s.add(rollout)
        percent = _step(rollout, now, 0)
        message = f"rollout started: canary {canary.version} at {percent:g}%"
        await transition(
            self.tx, rollout, deployment, DeploymentEventKind.ROLLOUT_STARTED, message, None,
            percent=percent,
        )  # fmt: skip
        return rollout


class _Manual(Command[Any, Rollout]):
    """A manual move on a rollout: ``allowed`` states it may leave, what it becomes."""

    target = Target(Rollout, "rollout_id")
    allowed: tuple[RolloutStatus, ...] = (RolloutStatus.RUNNING,)
    kind = DeploymentEventKind.ROLLOUT_PAUSED

    def refuse(self, rollout: Rollout) -> None:
        if rollout.status not in self.allowed:
            verb = self.kind.value.removeprefix("ROLLOUT_").lower()
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"rollout is {rollout.status.value}, cannot be {verb}",
                "input",
                "rolloutId",
            )

    def record(self, changed: Rollout) -> None:
        """``transition`` wrote the audit entry and the event."""


class PauseRollout(_Manual):
    """RUNNING -> PAUSED: the scheduler leaves it alone (gates included) until resumed."""

    async def apply(self, rollout: Rollout) -> Rollout:
        self.refuse(rollout)
        deployment = await _deployment(self.tx.session, rollout)
        before = snapshot(rollout)
        rollout.status, rollout.next_step_at = RolloutStatus.PAUSED, None
        await transition(self.tx, rollout, deployment, self.kind, "rollout paused", before)
        return rollout


class ResumeRollout(_Manual):
    """PAUSED -> RUNNING: the current step starts again, for a whole interval."""

    allowed = (RolloutStatus.PAUSED,)
    kind = DeploymentEventKind.ROLLOUT_RESUMED

    async def apply(self, rollout: Rollout) -> Rollout:
        self.refuse(rollout)
        deployment = await _deployment(self.tx.session, rollout)
        before = snapshot(rollout)
        rollout.status = RolloutStatus.RUNNING
        _step(rollout, self.ctx.now(), rollout.step)
        await transition(self.tx, rollout, deployment, self.kind, "rollout resumed", before)
        return rollout


class AbortRollout(_Manual):
    """RUNNING or PAUSED -> ABORTED: the baseline gets all traffic back."""

    allowed = ACTIVE
    kind = DeploymentEventKind.ROLLOUT_ABORTED

    def check(self, checks: Checks) -> None:
        checks.text(self.input.reason, "reason", max_len=REASON_MAX)

    async def apply(self, rollout: Rollout) -> Rollout:
        self.refuse(rollout)
        deployment = await _deployment(self.tx.session, rollout)
        before = snapshot(rollout)
        _finish(rollout, self.ctx.now(), RolloutStatus.ABORTED, self.input.reason)
        message = f"rollout aborted: {self.input.reason}"
        await transition(self.tx, rollout, deployment, self.kind, message, before, percent=0.0)
        return rollout
