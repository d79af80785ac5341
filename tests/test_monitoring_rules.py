"""Alert rules beyond drift: operational series on the same batched ingest, the `for`
duration (PENDING first), and scheduled downtime during which nothing fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def setup(db: Backend) -> tuple[m.Project, m.Deployment]:
    p = f.project()
    md = f.model(p)
    d = f.deployment(md)
    await f.save(db.sessions, p, md, d)
    return p, d


def gid(type_name: str, row: Any) -> str:
    return encode_global_id(type_name, row.id)


async def rule(db: Backend, p: m.Project, metric: str, op: str, limit: float, **more: Any) -> str:
    payload = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": gid("Project", p),
            "name": metric,
            "metric": metric,
            "driftKind": "OPERATIONAL",
            "operator": op,
            "threshold": limit,
            "severity": "CRITICAL",
            **more,
        },
        "alertRule { id forSeconds }",
    )
    assert payload["userErrors"] == []
    return str(payload["alertRule"]["id"])


async def record(db: Backend, d: m.Deployment, end: datetime, **series: float) -> None:
    """One window (ending ``end``) of each operational series, in one batch."""
    metrics = [
        {
            "kind": "OPERATIONAL",
            "metric": name,
            "feature": "all",
            "score": value,
            "threshold": 0.0,
            "windowStart": (end - MINUTE).isoformat(),
            "windowEnd": end.isoformat(),
        }
        for name, value in series.items()
    ]
    payload = await mutate(
        db,
        "recordDriftMetrics",
        {"deploymentId": gid("Deployment", d), "metrics": metrics},
        "count",
    )
    assert payload["userErrors"] == []


async def alerts(db: Backend) -> list[tuple[str, str]]:
    """(rule name, status) of every alert."""
    async with db.sessions() as s:
        rows = await s.execute(
            select(m.AlertRule.name, m.Alert.status)
            .join(m.AlertRule, m.AlertRule.id == m.Alert.rule_id)
            .order_by(m.AlertRule.name, m.Alert.created_at)
        )
        return [(name, status.value) for name, status in rows]


async def topics(db: Backend) -> list[str]:
    async with db.sessions() as s:
        stmt = select(m.OutboxEvent.topic).where(m.OutboxEvent.topic.like("alert.%"))
        return list((await s.scalars(stmt.order_by(m.OutboxEvent.created_at))).all())


async def test_rules_watch_operational_series(db: Backend) -> None:
    p, d = await setup(db)
    await rule(db, p, "latency_p99", "GT", 500.0)
    await rule(db, p, "error_rate", "GT", 0.05)
    await rule(db, p, "throughput", "LT", 10.0)
    await record(db, d, T0, latency_p99=120.0, error_rate=0.01, throughput=80.0)
    assert await alerts(db) == []
    await record(db, d, T0 + MINUTE, latency_p99=900.0, error_rate=0.2, throughput=3.0)
    assert await alerts(db) == [
        ("error_rate", "FIRING"),
        ("latency_p99", "FIRING"),
        ("throughput", "FIRING"),
    ]
    await record(db, d, T0 + 2 * MINUTE, latency_p99=100.0, error_rate=0.2, throughput=50.0)
    assert await alerts(db) == [
        ("error_rate", "FIRING"),
        ("latency_p99", "RESOLVED"),
        ("throughput", "RESOLVED"),
    ]


async def test_for_duration_keeps_an_alert_pending_until_the_breach_held(db: Backend) -> None:
    p, d = await setup(db)
    created = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": gid("Project", p),
            "name": "slow",
            "metric": "latency_p99",
            "operator": "GT",
            "threshold": 500.0,
            "severity": "WARNING",
            "forSeconds": 300,
        },
        "alertRule { forSeconds }",
    )
    assert created["alertRule"] == {"forSeconds": 300}
    await record(db, d, T0, latency_p99=900.0)
    assert await alerts(db) == [("slow", "PENDING")]
    await record(db, d, T0 + 4 * MINUTE, latency_p99=950.0)
    assert await alerts(db) == [("slow", "PENDING")]  # held 4 of its 5 minutes
    assert await topics(db) == []  # nothing fired: no event, no webhook, no subscription
    await record(db, d, T0 + 5 * MINUTE, latency_p99=990.0)
    assert await alerts(db) == [("slow", "FIRING")]
    assert await topics(db) == ["alert.fired"]

    # A breach that ends before its `for` never fires; the pending alert is resolved quietly.
    await record(db, d, T0 + 6 * MINUTE, latency_p99=100.0)
    await record(db, d, T0 + 7 * MINUTE, latency_p99=900.0)
    await record(db, d, T0 + 8 * MINUTE, latency_p99=100.0)
    assert await alerts(db) == [("slow", "RESOLVED"), ("slow", "RESOLVED")]
    assert await topics(db) == ["alert.fired", "alert.resolved"]
    async with db.sessions() as s:
        actions = (await s.scalars(select(m.AuditEntry.action).order_by(m.AuditEntry.seq))).all()
    assert [a for a in actions if a.startswith("alert.")] == [
        "alert.pend",
        "alert.fire",
        "alert.auto_resolve",
        "alert.pend",
        "alert.clear",
    ]


async def downtime(db: Backend, p: m.Project, start: datetime, end: datetime, **scope: Any) -> Any:
    return await mutate(
        db,
        "scheduleDowntime",
        {
            "projectId": gid("Project", p),
            "startsAt": start.isoformat(),
            "endsAt": end.isoformat(),
            "reason": "maintenance",
            **scope,
        },
        "downtime { id startsAt endsAt reason deployment { id } rule { id } }",
    )


async def test_nothing_fires_during_downtime(db: Backend) -> None:
    p, d = await setup(db)
    latency = await rule(db, p, "latency_p99", "GT", 500.0)
    await rule(db, p, "error_rate", "GT", 0.05)
    scheduled = await downtime(
        db, p, T0, T0 + 10 * MINUTE, deploymentId=gid("Deployment", d), alertRuleId=latency
    )
    assert scheduled["userErrors"] == []
    assert scheduled["downtime"]["rule"] == {"id": latency}

    await record(db, d, T0 + MINUTE, latency_p99=900.0, error_rate=0.5)
    assert await alerts(db) == [("error_rate", "FIRING")]  # the other rule is not silenced
    await record(db, d, T0 + 9 * MINUTE, latency_p99=900.0, error_rate=0.5)
    assert await alerts(db) == [("error_rate", "FIRING")]
    await record(db, d, T0 + 10 * MINUTE, latency_p99=900.0, error_rate=0.5)  # it has ended
    assert await alerts(db) == [("error_rate", "FIRING"), ("latency_p99", "FIRING")]

    # A project-wide downtime silences every rule; cancelling it lets them fire again.
    _, other = await setup(db)
    other_p = await _project_of(db, other)
    await rule(db, other_p, "throughput", "LT", 10.0)
    everywhere = await downtime(db, other_p, T0, T0 + 60 * MINUTE)
    await record(db, other, T0 + MINUTE, throughput=1.0)
    assert ("throughput", "FIRING") not in await alerts(db)
    cancelled = await mutate(
        db, "cancelDowntime", {"downtimeId": everywhere["downtime"]["id"]}, "deletedDowntimeId"
    )
    assert cancelled["deletedDowntimeId"] == everywhere["downtime"]["id"]
    await record(db, other, T0 + 2 * MINUTE, throughput=1.0)
    assert ("throughput", "FIRING") in await alerts(db)


async def _project_of(db: Backend, d: m.Deployment) -> m.Project:
    async with db.sessions() as s:
        project = await s.get(m.Project, d.project_id)
    assert project is not None
    return project


async def test_refusals_and_authorization(db: Backend) -> None:
    p, _ = await setup(db)
    q, e = await setup(db)
    backwards = await downtime(db, p, T0, T0 - MINUTE)
    assert codes(backwards) == ["INVALID"]
    too_long = await downtime(db, p, T0, T0 + timedelta(days=40))
    assert codes(too_long) == ["LIMIT_EXCEEDED"]
    foreign = await downtime(db, p, T0, T0 + MINUTE, deploymentId=gid("Deployment", e))
    assert codes(foreign) == ["INVALID"]  # a deployment of another project
    bad_for = await mutate(
        db,
        "createAlertRule",
        {
            "projectId": gid("Project", p),
            "name": "x",
            "metric": "latency_p99",
            "operator": "GT",
            "threshold": 1.0,
            "severity": "INFO",
            "forSeconds": -1,
        },
        "alertRule { id }",
    )
    assert codes(bad_for) == ["INVALID"]

    # A member of project q only: p's downtimes are invisible to them and out of their reach.
    mine = await downtime(db, p, T0, T0 + MINUTE)
    async with db.sessions() as s, s.begin():
        s.add(m.ProjectMember(project_id=q.id, principal_id="eve", role=Role.ADMIN))
    eve = db.headers("eve")
    schedule = {
        "projectId": gid("Project", p),
        "startsAt": T0.isoformat(),
        "endsAt": (T0 + MINUTE).isoformat(),
        "reason": "mine now",
    }
    theirs = await mutate(db, "scheduleDowntime", schedule, "downtime { id }", headers=eve)
    assert codes(theirs) == ["NOT_FOUND"]
    cancel = {"downtimeId": mine["downtime"]["id"]}
    taken = await mutate(db, "cancelDowntime", cancel, "deletedDowntimeId", headers=eve)
    assert codes(taken) == ["NOT_FOUND"]
    assert db.client is not None
    body = {
        "query": "query($id: ID!) { node(id: $id) { id } }",
        "variables": {"id": mine["downtime"]["id"]},
    }
    seen = (await db.client.post("/graphql", json=body, headers=eve)).json()
    assert seen["data"] == {"node": None}
    async with db.sessions() as s:
        assert len((await s.scalars(select(m.Downtime))).all()) == 1
