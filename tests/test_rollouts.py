"""Progressive rollouts under a fake clock: steps, gates, manual moves, two replicas.

The apps here run their schedulers on a ``Clock`` the test moves; the test calls
``Scheduler.tick`` itself (the loops are off), so no test sleeps for a step to come due.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mlgraph.ids import decode_global_id, encode_global_id
from mlgraph.rollouts import ACTOR, Scheduler
from mlgraph.storage import models as m
from mlgraph.storage.enums import AlertStatus, Operator, Role, Severity, Stage
from tests import factories as f
from tests.conftest import OPERATIONS, Backend, truncate
from tests.live import DEPLOYMENT_EVENTS, Instance, instance, sse_events, until
from tests.webhook_support import create_webhook, receiving, settled

INTERVAL = 60
FIELDS = (
    "id status step canaryPercent steps intervalSeconds gateSeverity nextStepAt "
    "reason canary { id } baseline { id } deployment { status targets { trafficPercent "
    "version { id } } }"
)
ROLLOUT = f"rollout {{ {FIELDS} }}"
#: Several replicas share one PostgreSQL; the embedded SQLite default is one process.
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


class FakeClock:
    """Starts at the wall clock's now and moves only when told."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def gid(type_name: str, row: Any) -> str:
    return encode_global_id(type_name, row.id)


async def setup(inst: Instance) -> tuple[m.Project, m.ModelVersion, m.ModelVersion, str]:
    """A project, a model with an old (baseline) and a new (canary) STAGING version, and a
    deployment serving the old one; returns them and the deployment's global id."""
    p = f.project()
    md = f.model(p)
    old = f.version(md, stage=Stage.STAGING)
    new = f.version(md, stage=Stage.STAGING)
    await f.save(inst.backend.sessions, p, md, old, new)
    created = await inst.mutate(
        "createDeployment",
        {
            "modelId": gid("Model", md),
            "name": "fraud-api",
            "environment": "PRODUCTION",
            "strategy": "CANARY",
            "versionId": gid("ModelVersion", old),
        },
        "deployment { id }",
    )
    return p, old, new, created["deployment"]["id"]


async def start(inst: Instance, deployment: str, canary: m.ModelVersion, **more: Any) -> Any:
    payload = await inst.mutate(
        "startRollout",
        {
            "deploymentId": deployment,
            "canaryVersionId": gid("ModelVersion", canary),
            "steps": [10, 50, 100],
            "intervalSeconds": INTERVAL,
            **more,
        },
        ROLLOUT,
    )
    return payload["rollout"]


def traffic(rollout: dict[str, Any]) -> dict[str, float]:
    return {t["version"]["id"]: t["trafficPercent"] for t in rollout["deployment"]["targets"]}


async def read(inst: Instance, rollout_id: str) -> dict[str, Any]:
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on Rollout {{ {FIELDS} }} }} }}"
    node: dict[str, Any] = (await inst.data(query, {"id": rollout_id}))["node"]
    return node


async def events(db: Backend) -> list[tuple[str, str]]:
    """(kind, actor) of every deployment event, oldest first."""
    async with db.sessions() as s:
        rows = await s.execute(
            select(m.DeploymentEvent.kind, m.DeploymentEvent.actor).order_by(
                m.DeploymentEvent.created_at, m.DeploymentEvent.id
            )
        )
        return [(kind.value, actor) for kind, actor in rows]


async def rollout_audits(db: Backend) -> list[tuple[str, str]]:
    async with db.sessions() as s:
        rows = await s.execute(
            select(m.AuditEntry.action, m.AuditEntry.actor)
            .where(m.AuditEntry.entity_type == "Rollout")
            .order_by(m.AuditEntry.seq)
        )
        return [(action, actor) for action, actor in rows]


def scheduler(inst: Instance) -> Scheduler:
    found: Scheduler = inst.app.state.rollouts
    return found


async def test_plan_advances_step_by_step(db: Backend) -> None:
    clock = FakeClock()
    async with instance(db, clock=clock, rollout_scheduler=False) as inst:
        _, old, new, deployment = await setup(inst)
        sched = scheduler(inst)
        rollout = await start(inst, deployment, new)
        canary, baseline = gid("ModelVersion", new), gid("ModelVersion", old)
        assert rollout["status"] == "RUNNING"
        assert traffic(rollout) == {canary: 10.0, baseline: 90.0}
        assert rollout["baseline"]["id"] == baseline

        assert await sched.tick() == 0  # nothing is due yet
        clock.advance(INTERVAL - 1)
        assert await sched.tick() == 0
        clock.advance(1)
        assert await sched.tick() == 1
        now = await read(inst, rollout["id"])
        assert (now["step"], now["canaryPercent"]) == (1, 50.0)
        assert traffic(now) == {canary: 50.0, baseline: 50.0}
        assert await sched.tick() == 0  # the same step is never applied twice

        clock.advance(INTERVAL)
        assert await sched.tick() == 1
        now = await read(inst, rollout["id"])
        assert traffic(now) == {canary: 100.0}  # the baseline stopped serving
        assert now["status"] == "RUNNING"  # the last step is watched for an interval too

        clock.advance(INTERVAL)
        assert await sched.tick() == 1
        now = await read(inst, rollout["id"])
        assert (now["status"], now["nextStepAt"]) == ("SUCCEEDED", None)
        assert traffic(now) == {canary: 100.0}
        assert await sched.tick() == 0

    kinds = [kind for kind, _ in await events(db)]
    assert kinds == [
        "CREATED",
        "ROLLOUT_STARTED",
        "ROLLOUT_STEP",
        "ROLLOUT_STEP",
        "ROLLOUT_SUCCEEDED",
    ]
    audits = await rollout_audits(db)
    assert [a for a, _ in audits] == [
        "rollout.started",
        "rollout.step",
        "rollout.step",
        "rollout.succeeded",
    ]
    assert [actor for _, actor in audits[1:]] == [ACTOR] * 3


async def alert_rule(inst: Instance, p: m.Project, deployment: str, severity: str) -> None:
    await inst.mutate(
        "createAlertRule",
        {
            "projectId": gid("Project", p),
            "deploymentId": deployment,
            "name": "p99 latency",
            "metric": "latency_p99",
            "driftKind": "OPERATIONAL",
            "operator": "GT",
            "threshold": 500.0,
            "severity": severity,
        },
        "alertRule { id }",
    )


async def latency(inst: Instance, deployment: str, value: float, end: datetime) -> None:
    metric = {
        "kind": "OPERATIONAL",
        "metric": "latency_p99",
        "feature": "all",
        "score": value,
        "threshold": 500.0,
        "windowStart": (end - timedelta(minutes=1)).isoformat(),
        "windowEnd": end.isoformat(),
    }
    await inst.mutate(
        "recordDriftMetrics", {"deploymentId": deployment, "metrics": [metric]}, "count"
    )


async def test_firing_alert_on_the_canary_rolls_back(db: Backend) -> None:
    clock = FakeClock()
    async with receiving(db, clock=clock, rollout_scheduler=False) as (inst, receiver):
        p, old, new, deployment = await setup(inst)
        hook = await create_webhook(inst, p, receiver.url, ["deployment.*"])
        receiver.secrets.append(hook["secret"])
        await alert_rule(inst, p, deployment, "CRITICAL")
        frames: list[tuple[str, Any]] = []
        variables = {"p": gid("Project", p), "d": deployment}
        listening = asyncio.create_task(
            sse_events(inst.client, DEPLOYMENT_EVENTS, variables, 3, frames)
        )
        await until(lambda: inst.live.hub.subscriber_count >= 1)
        rollout = await start(inst, deployment, new, gateSeverity="WARNING")
        clock.advance(INTERVAL)
        assert await scheduler(inst).tick() == 1  # 50%

        await latency(inst, deployment, 900.0, datetime.now(UTC))  # the canary is slow
        assert await scheduler(inst).tick() == 1  # at once, mid-step
        now = await read(inst, rollout["id"])
        assert now["status"] == "ROLLED_BACK"
        assert "CRITICAL alert" in now["reason"]
        assert traffic(now) == {gid("ModelVersion", old): 100.0}
        assert now["deployment"]["status"] == "ROLLED_BACK"
        clock.advance(INTERVAL)
        assert await scheduler(inst).tick() == 0  # it stays rolled back

        await asyncio.wait_for(listening, 15)
        sent = await settled(db, 3)
    assert [data["data"]["deploymentEvents"]["kind"] for _, data in frames] == [
        "ROLLOUT_STARTED",
        "ROLLOUT_STEP",
        "ROLLED_BACK",
    ]
    assert [kind for kind, _ in await events(db)][-3:] == [
        "ROLLOUT_STARTED",
        "ROLLOUT_STEP",
        "ROLLED_BACK",
    ]
    assert [a for a, _ in await rollout_audits(db)] == [
        "rollout.started",
        "rollout.step",
        "rollout.rolled_back",
    ]
    types = sorted(d.event_type for d in sent)
    assert types == [
        "deployment.rolled_back",
        "deployment.rollout_started",
        "deployment.rollout_step",
    ]
    assert all(d.status.value == "SUCCEEDED" for d in sent)
    assert len(receiver.received) == 3
    assert all(r.verified for r in receiver.received)


async def test_metric_gate_rolls_back_at_the_end_of_a_step(db: Backend) -> None:
    clock = FakeClock()
    async with instance(db, clock=clock, rollout_scheduler=False) as inst:
        _, old, new, deployment = await setup(inst)
        gates = [{"metric": "error_rate", "operator": "GT", "threshold": 0.05}]
        rollout = await start(inst, deployment, new, gateSeverity=None, gateMetrics=gates)
        metric = {
            "kind": "OPERATIONAL",
            "metric": "error_rate",
            "feature": "all",
            "score": 0.2,
            "threshold": 0.05,
            "windowStart": datetime.fromtimestamp(clock.t, UTC).isoformat(),
            "windowEnd": datetime.fromtimestamp(clock.t + 30, UTC).isoformat(),
        }
        await inst.mutate(
            "recordDriftMetrics", {"deploymentId": deployment, "metrics": [metric]}, "count"
        )
        assert await scheduler(inst).tick() == 0  # metric gates are judged when a step ends
        clock.advance(INTERVAL)
        assert await scheduler(inst).tick() == 1
        now = await read(inst, rollout["id"])
        assert now["status"] == "ROLLED_BACK"
        assert now["reason"].startswith("error_rate GT 0.05")
        assert traffic(now) == {gid("ModelVersion", old): 100.0}


async def test_pause_resume_abort(db: Backend) -> None:
    clock = FakeClock()
    async with instance(db, clock=clock, rollout_scheduler=False) as inst:
        _, old, new, deployment = await setup(inst)
        rollout = await start(inst, deployment, new)
        rid = {"rolloutId": rollout["id"]}
        sched = scheduler(inst)

        paused = await inst.mutate("pauseRollout", rid, "rollout { status nextStepAt }")
        assert paused["rollout"] == {"status": "PAUSED", "nextStepAt": None}
        clock.advance(10 * INTERVAL)
        assert await sched.tick() == 0  # a paused rollout does not move

        resumed = await inst.mutate("resumeRollout", rid, "rollout { status step nextStepAt }")
        due = datetime.fromisoformat(resumed["rollout"]["nextStepAt"])
        assert resumed["rollout"]["status"] == "RUNNING"
        assert resumed["rollout"]["step"] == 0  # the step starts over, a whole interval
        assert due == datetime.fromtimestamp(clock.t, UTC) + timedelta(seconds=INTERVAL)

        aborted = await inst.mutate("abortRollout", {**rid, "reason": "wrong build"}, ROLLOUT)
        now = aborted["rollout"]
        assert (now["status"], now["reason"]) == ("ABORTED", "wrong build")
        assert traffic(now) == {gid("ModelVersion", old): 100.0}
        assert now["deployment"]["status"] == "ACTIVE"
    kinds = [kind for kind, _ in await events(db)]
    assert kinds[-3:] == ["ROLLOUT_PAUSED", "ROLLOUT_RESUMED", "ROLLOUT_ABORTED"]


MUTATION = (
    "mutation($input: {name}Input!) {{ {field}(input: $input) {{ rollout {{ id }} "
    "userErrors {{ field code }} }} }}"
)


async def attempt(db: Backend, name: str, input: dict[str, Any]) -> Any:
    field = name[0].lower() + name[1:]
    body = await db.gql(MUTATION.format(name=name, field=field), {"input": input})
    assert "errors" not in body, body
    return body["data"][field]


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_refusals_have_codes_and_write_nothing(db: Backend) -> None:
    async with instance(db, rollout_scheduler=False) as inst:
        p, old, new, deployment = await setup(inst)
        canary = gid("ModelVersion", new)
        base = {"deploymentId": deployment, "canaryVersionId": canary, "intervalSeconds": 60}
        bad = await attempt(db, "StartRollout", {**base, "steps": [50, 10, 150]})
        assert codes(bad) == ["INVALID", "INVALID"]
        bad = await attempt(db, "StartRollout", {**base, "steps": [10], "intervalSeconds": 0})
        assert codes(bad) == ["INVALID"]
        same = {**base, "canaryVersionId": gid("ModelVersion", old), "steps": [10]}
        assert codes(await attempt(db, "StartRollout", same)) == ["INVALID"]
        assert await events(db) == [("CREATED", await _creator(db))]

        async with db.sessions() as s, s.begin():  # a CRITICAL alert is FIRING already
            rule = m.AlertRule(
                project_id=p.id, name="r", metric="psi", operator=Operator.GT, threshold=1.0,
                severity=Severity.CRITICAL, deployment_id=None, drift_kind=None,
            )  # fmt: skip
            s.add(rule)
            await s.flush()
            alert = m.Alert(
                project_id=p.id, rule_id=rule.id, deployment_id=decode_global_id(deployment)[1],
                severity=Severity.CRITICAL, status=AlertStatus.FIRING, value=2.0,
                fired_at=datetime.now(UTC),
            )  # fmt: skip
            s.add(alert)
        firing = await attempt(db, "StartRollout", {**base, "steps": [10]})
        assert codes(firing) == ["POLICY_VIOLATION"]
        ungated = await attempt(db, "StartRollout", {**base, "steps": [10], "gateSeverity": None})
        assert codes(ungated) == []
        await inst.mutate(
            "abortRollout", {"rolloutId": ungated["rollout"]["id"], "reason": "x"}, "rollout { id }"
        )
        async with db.sessions() as s, s.begin():
            await s.delete(await s.get(m.Alert, alert.id))

        rollout = await start(inst, deployment, new)
        again = await attempt(db, "StartRollout", {**base, "steps": [10]})
        assert codes(again) == ["CONFLICT"]
        resume = await attempt(db, "ResumeRollout", {"rolloutId": rollout["id"]})
        assert codes(resume) == ["INVALID_TRANSITION"]
        await inst.mutate(
            "abortRollout", {"rolloutId": rollout["id"], "reason": "x"}, "rollout { id }"
        )
        pause = await attempt(db, "PauseRollout", {"rolloutId": rollout["id"]})
        assert codes(pause) == ["INVALID_TRANSITION"]


async def _creator(db: Backend) -> str:
    async with db.sessions() as s:
        actor = await s.scalar(select(m.DeploymentEvent.actor))
    return str(actor)


async def test_nothing_of_another_project(db: Backend) -> None:
    """A member of another project neither sees a rollout nor moves it."""
    async with instance(db, rollout_scheduler=False) as inst:
        _, _, new, deployment = await setup(inst)
        rollout = await start(inst, deployment, new)
        other = f.project()
        await f.save(db.sessions, other)
        async with db.sessions() as s, s.begin():
            s.add(m.ProjectMember(project_id=other.id, principal_id="eve", role=Role.ADMIN))
        eve = db.headers("eve")
        assert db.client is not None
        body = {
            "query": "query($id: ID!) { node(id: $id) { id } deployments { totalCount } }",
            "variables": {"id": rollout["id"]},
        }
        seen = (await db.client.post("/graphql", json=body, headers=eve)).json()
        assert seen["data"] == {"node": None, "deployments": {"totalCount": 0}}
        query = MUTATION.format(name="PauseRollout", field="pauseRollout")
        body = {"query": query, "variables": {"input": {"rolloutId": rollout["id"]}}}
        paused = (await db.client.post("/graphql", json=body, headers=eve)).json()
        assert codes(paused["data"]["pauseRollout"]) == ["NOT_FOUND"]
        start_body = {
            "query": MUTATION.format(name="StartRollout", field="startRollout"),
            "variables": {
                "input": {
                    "deploymentId": deployment,
                    "canaryVersionId": gid("ModelVersion", new),
                    "steps": [10],
                    "intervalSeconds": 60,
                }
            },
        }
        started = (await db.client.post("/graphql", json=start_body, headers=eve)).json()
        assert codes(started["data"]["startRollout"]) == ["NOT_FOUND"]
        assert (await read(inst, rollout["id"]))["status"] == "RUNNING"


@postgresql_only
async def test_two_replicas_apply_each_step_once(backend: Backend) -> None:
    await truncate(backend)
    clock = FakeClock()
    async with (
        instance(backend, clock=clock, rollout_scheduler=False) as a,
        instance(backend, clock=clock, rollout_scheduler=False) as b,
    ):
        _, _, new, deployment = await setup(a)
        rollout = await start(a, deployment, new, steps=[10, 20, 30, 40, 50, 100])
        replicas = [scheduler(a), scheduler(b)]
        for _ in range(6):  # five more steps, then SUCCEEDED
            clock.advance(INTERVAL)
            moved = await asyncio.gather(*(r.tick() for r in replicas for _ in range(4)))
            assert sum(moved) == 1, moved
        assert (await read(b, rollout["id"]))["status"] == "SUCCEEDED"
    kinds = [kind for kind, _ in await events(backend)]
    assert kinds == ["CREATED", "ROLLOUT_STARTED", *["ROLLOUT_STEP"] * 5, "ROLLOUT_SUCCEEDED"]


PANEL = (OPERATIONS / "rollouts.graphql").read_text()


@postgresql_only
async def test_rollout_panel_reads_the_same_on_both_paths(backend: Backend) -> None:
    """The dashboard's rollout panel: compiled into one statement, the same bytes as the
    resolver path answers."""
    await truncate(backend)
    clock = FakeClock()
    async with (
        instance(backend, clock=clock, rollout_scheduler=False) as compiled,
        instance(backend, rollout_scheduler=False, compiled_reads=False) as resolver,
    ):
        p, _, new, deployment = await setup(compiled)
        gates = [{"metric": "error_rate", "operator": "GT", "threshold": 0.05}]
        await start(compiled, deployment, new, gateMetrics=gates)
        clock.advance(INTERVAL)
        await scheduler(compiled).tick()
        body = {"query": PANEL}
        answers = [await i.client.post("/graphql", json=body) for i in (compiled, resolver)]
    assert [a.headers["x-mlgraph-plan"] for a in answers] == ["compiled", "resolver"]
    assert answers[0].content == answers[1].content
    (shown,) = [
        d
        for project in answers[0].json()["data"]["projects"]["nodes"]
        if project["slug"] == p.slug
        for d in project["deployments"]["nodes"]
    ]
    (current,) = shown["rollouts"]["nodes"]
    assert (current["step"], current["steps"], current["canaryPercent"]) == (1, [10, 50, 100], 50)
    assert current["gateMetrics"] == gates


async def test_statements_per_tick_and_per_step(db: Backend) -> None:
    """An idle round is one statement however many rollouts run; a step costs a fixed count."""
    async with instance(db, rollout_scheduler=False) as inst:
        rollouts = []
        for _ in range(3):
            _, _, new, deployment = await setup(inst)
            gates = [{"metric": "error_rate", "operator": "GT", "threshold": 0.05}]
            rollouts.append(await start(inst, deployment, new, gateMetrics=gates))
    clock = FakeClock()
    sched = Scheduler(db.sessions, clock=clock)  # on the counted engine
    db.sql.start()
    assert await sched.tick() == 0
    assert db.sql.stop() == 1
    clock.advance(INTERVAL + 1)
    db.sql.start()
    assert await sched.tick() == 3
    per_step = db.sql.stop()
    assert per_step == 3 * (11 if db.name == "postgresql" else 14) + 1, db.sql.statements
