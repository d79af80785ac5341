"""Rollout mutations: start a progressive rollout, pause, resume or abort it."""

from __future__ import annotations

import strawberry

from mlgraph.resolvers import rollouts
from mlgraph.schema.deployments import Rollout
from mlgraph.schema.enums import Operator, Severity
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command

_REVISION = "Fail with CONFLICT unless the rollout's current revision is this one."


@strawberry.input(description="A metric threshold the canary must keep during each step.")
class RolloutMetricGateInput:
    metric: str = strawberry.field(
        description="A metric series of the deployment, e.g. `latency_p99` (at most 64 chars)."
    )
    operator: Operator = strawberry.field(description="A window's value breaches when it is so.")
    threshold: float = strawberry.field(description="The limit (finite).")


@strawberry.input(description="A progressive rollout plan for a deployment.")
class StartRolloutInput:
    deployment_id: strawberry.ID = strawberry.field(
        description="The deployment; its version serving most traffic now is the baseline."
    )
    canary_version_id: strawberry.ID = strawberry.field(
        description="The version rolled out: of the deployment's model, not the baseline, in a "
        "stage that may receive traffic."
    )
    steps: list[float] = strawberry.field(
        description="The canary's share at each step, 1 to 10 increasing values in (0, 100]; "
        "the first is applied at once. The baseline gets the rest; other versions stop serving."
    )
    interval_seconds: int = strawberry.field(description="How long each step lasts, 1 s to 7 days.")
    gate_severity: Severity | None = strawberry.field(
        default=Severity.WARNING,
        description="A FIRING alert on the deployment of this severity or higher rolls back at "
        "once; null: alerts do not gate.",
    )
    gate_metrics: list[RolloutMetricGateInput] | None = strawberry.field(
        default=None,
        description="At most 10 thresholds, checked at the end of each step on the windows "
        "recorded during it; a breach rolls back.",
    )
    expected_revision: int | None = strawberry.field(
        default=None,
        description="Fail with CONFLICT unless the deployment's current revision is this one.",
    )


@strawberry.input(description="Stop a running rollout where it is.")
class PauseRolloutInput:
    rollout_id: strawberry.ID = strawberry.field(description="The rollout (RUNNING).")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Let a paused rollout go on.")
class ResumeRolloutInput:
    rollout_id: strawberry.ID = strawberry.field(description="The rollout (PAUSED).")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="End a rollout and give the baseline all traffic back.")
class AbortRolloutInput:
    rollout_id: strawberry.ID = strawberry.field(description="The rollout (RUNNING or PAUSED).")
    reason: str = strawberry.field(
        description="Why (required, at most 2000 characters); becomes the event's message."
    )
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.type
class _RolloutPayload:
    rollout: Rollout | None = strawberry.field(description="The rollout after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `startRollout`.")
class StartRolloutPayload(_RolloutPayload):
    pass


@strawberry.type(description="Result of `pauseRollout`.")
class PauseRolloutPayload(_RolloutPayload):
    pass


@strawberry.type(description="Result of `resumeRollout`.")
class ResumeRolloutPayload(_RolloutPayload):
    pass


@strawberry.type(description="Result of `abortRollout`.")
class AbortRolloutPayload(_RolloutPayload):
    pass


@strawberry.type
class RolloutMutations:
    start_rollout = command(
        rollouts.StartRollout,
        StartRolloutInput,
        StartRolloutPayload,
        description="Put a progressive rollout plan on a deployment; its first step applies now, "
        "the scheduler applies the others (one per interval) while the gates hold.",
    )
    pause_rollout = command(
        rollouts.PauseRollout,
        PauseRolloutInput,
        PauseRolloutPayload,
        description="Pause a running rollout: no step and no gate until it is resumed.",
    )
    resume_rollout = command(
        rollouts.ResumeRollout,
        ResumeRolloutInput,
        ResumeRolloutPayload,
        description="Resume a paused rollout: its current step runs a whole interval again.",
    )
    abort_rollout = command(
        rollouts.AbortRollout,
        AbortRolloutInput,
        AbortRolloutPayload,
        description="Abort a rollout: the baseline gets 100% of the traffic back.",
    )
