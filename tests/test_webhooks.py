"""Webhooks end to end: mutations, and deliveries to a real receiver that verifies every
signature with the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from mlgraph.ids import encode_global_id
from mlgraph.live.brokers import Envelope
from mlgraph.live.runtime import wake_for_webhooks
from mlgraph.storage import models as m
from mlgraph.storage.db import create_engine, create_sessions
from mlgraph.storage.enums import JobStatus
from mlgraph.webhooks.deliverer import Deliverer
from tests import factories as f
from tests.conftest import Backend
from tests.webhook_support import (
    create_webhook,
    deliveries,
    emit,
    project,
    receiving,
    settled,
)
from tests.writes import codes, mutate, written

DELIVERIES = """
query($id: ID!) { node(id: $id) { ... on Webhook {
  enabled disabledReason consecutiveFailures
  deliveries(first: 20) { nodes {
    eventType status attempt responseStatus durationMs responseBody error nextAttemptAt
    attempts { number succeeded statusCode durationMs error responseBody nextAttemptAt createdAt }
  } }
} } }"""


async def test_create_returns_the_secret_once_and_stores_it_encrypted(db: Backend) -> None:
    async with receiving(db, introspection=True) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["deployment.*", "alert.fired"])
        secret = made["secret"]
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
        async with db.sessions() as s:
            row = (await s.scalars(select(m.Webhook))).one()
            audit = (await s.scalars(select(m.AuditEntry))).one()
        stored = json.dumps([row.secret, row.previous_secret, audit.changes])
        assert secret not in stored
        assert secret.removeprefix("whsec_") not in stored
        fields = await inst.data('{ __type(name: "Webhook") { fields { name } } }')
        names = {f["name"] for f in fields["__type"]["fields"]}
        assert not {n for n in names if "secret" in n.lower()} - {"previousSecretExpiresAt"}


REFUSED = [
    ({"url": "ftp://hooks.example.com/x"}, "INVALID", ["input", "url"]),
    ({"url": "http://hooks.example.com/x"}, "INVALID", ["input", "url"]),
    ({"url": "https://user:pw@hooks.example.com/x"}, "INVALID", ["input", "url"]),
    ({"url": "https://hooks.example.com/" + "a" * 2100}, "TOO_LONG", ["input", "url"]),
    ({"url": "https://127.0.0.1/x"}, "POLICY_VIOLATION", ["input", "url"]),
    ({"url": "https://2130706433/x"}, "POLICY_VIOLATION", ["input", "url"]),
    ({"url": "https://10.1.2.3/x"}, "POLICY_VIOLATION", ["input", "url"]),
    ({"url": "https://[::ffff:169.254.169.254]/x"}, "POLICY_VIOLATION", ["input", "url"]),
    ({"url": "https://internal.corp.test/x"}, "POLICY_VIOLATION", ["input", "url"]),
    ({"eventTypes": ["deployment.exploded"]}, "INVALID", ["input", "eventTypes", "0"]),
    ({"eventTypes": []}, "INVALID", ["input", "eventTypes"]),
    ({"eventTypes": ["nothing.*"]}, "INVALID", ["input", "eventTypes", "0"]),
]


@pytest.mark.parametrize(("change", "code", "field"), REFUSED)
async def test_create_refusals_are_coded_and_write_nothing(
    db: Backend,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    code: str,
    field: list[str],
) -> None:
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "internal.corp.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    p = await project(db)
    before = await written(db)
    payload = await mutate(
        db,
        "createWebhook",
        {
            "projectId": encode_global_id("Project", p.id),
            "url": "https://hooks.example.com/x",
            "eventTypes": ["alert.fired"],
        }
        | change,
        "webhook { id } secret",
    )
    assert codes(payload) == [code]
    assert payload["userErrors"][0]["field"] == field
    assert payload["webhook"] is None
    assert payload["secret"] is None
    assert await written(db) == before
    assert await deliveries(db) == []


async def test_fails_twice_then_succeeds_three_attempts_logged(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        receiver.script = [500, 503]
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.*"])
        receiver.secrets = [made["secret"]]
        await emit(db, p, "alert.fired")
        await settled(db, 1)
        data = await inst.data(DELIVERIES, {"id": made["webhook"]["id"]})
        (delivery,) = data["node"]["deliveries"]["nodes"]
        assert delivery["status"] == "SUCCEEDED"
        assert delivery["attempt"] == 3
        attempts = delivery["attempts"]
        assert [a["number"] for a in attempts] == [1, 2, 3]
        assert [a["statusCode"] for a in attempts] == [500, 503, 200]
        assert [a["succeeded"] for a in attempts] == [False, False, True]
        assert attempts[0]["nextAttemptAt"]
        assert attempts[2]["nextAttemptAt"] is None
        assert attempts[0]["responseBody"] == "status 500"
        assert all(r.verified for r in receiver.received)
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
        assert all(0.3 <= g < 2.0 for g in gaps), gaps
        body = json.loads(receiver.received[-1].body)
        assert body["type"] == "alert.fired"
        assert body["data"]["severity"] == "CRITICAL"
        assert body["data"]["projectId"] == encode_global_id("Project", p.id)


async def test_receiver_down_at_commit_gets_the_event_when_up(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["*"])
        receiver.secrets = [made["secret"]]
        await receiver.stop()
        event_id = await emit(db, p, "alert.resolved")
        async with asyncio.timeout(10):
            while not [d for d in await deliveries(db) if d.error]:  # noqa: ASYNC110 - state in the DB
                await asyncio.sleep(0.05)
        await receiver.start()
        (delivery,) = await settled(db, 1)
        assert delivery.status.value == "SUCCEEDED"
        assert delivery.attempt >= 2
        assert [r.verified for r in receiver.received] == [True]
        assert receiver.received[0].headers["webhook-id"] == f"msg_{event_id.hex}"


async def test_a_tampered_body_fails_verification(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        receiver.secrets = [made["secret"]]
        await emit(db, p)
        await settled(db, 1)
        (got,) = receiver.received
        assert got.verified
        tampered = got.body.replace(b"CRITICAL", b"INFO")
        assert tampered != got.body
        with pytest.raises(WebhookVerificationError):
            StandardWebhook(made["secret"]).verify(tampered, got.headers)


async def test_during_a_rotation_overlap_either_secret_verifies(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        old = made["secret"]
        rotated = await inst.mutate(
            "rotateWebhookSecret",
            {"webhookId": made["webhook"]["id"]},
            "webhook { previousSecretExpiresAt } secret",
        )
        new = rotated["secret"]
        assert new != old
        assert rotated["webhook"]["previousSecretExpiresAt"]
        await emit(db, p)
        await settled(db, 1)
        (got,) = receiver.received
        assert receiver.verify(got.body, got.headers, old)
        assert receiver.verify(got.body, got.headers, new)
        assert len(got.headers["webhook-signature"].split(" ")) == 2


async def test_after_the_overlap_only_the_new_secret_verifies(db: Backend) -> None:
    async with receiving(db, webhook_secret_overlap_s=0) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        rotated = await inst.mutate(
            "rotateWebhookSecret", {"webhookId": made["webhook"]["id"]}, "secret"
        )
        await emit(db, p)
        await settled(db, 1)
        (got,) = receiver.received
        assert receiver.verify(got.body, got.headers, rotated["secret"])
        assert not receiver.verify(got.body, got.headers, made["secret"])


async def test_410_gone_disables_the_endpoint_with_an_audit_entry(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        receiver.script = [410]
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        await emit(db, p)
        (delivery,) = await settled(db, 1)
        assert delivery.status.value == "FAILED"
        assert delivery.attempt == 1
        data = await inst.data(DELIVERIES, {"id": made["webhook"]["id"]})
        assert data["node"]["enabled"] is False
        assert "410" in data["node"]["disabledReason"]
        async with db.sessions() as s:
            actions = list(await s.scalars(select(m.AuditEntry.action)))
        assert "webhook.disable" in actions
        await emit(db, p)
        await asyncio.sleep(0.5)
        assert len(await deliveries(db)) == 1
        assert len(receiver.received) == 1


async def test_consecutive_failed_events_disable_the_endpoint(db: Backend) -> None:
    overrides = {"webhook_retry_schedule_s": [0.1], "webhook_disable_after": 2}
    async with receiving(db, **overrides) as (inst, receiver):
        receiver.script = [500] * 10
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        await emit(db, p)
        await settled(db, 1)
        await emit(db, p)
        found = await settled(db, 2)
        assert [d.status.value for d in found] == ["FAILED", "FAILED"]
        data = await inst.data(DELIVERIES, {"id": made["webhook"]["id"]})
        assert data["node"]["enabled"] is False
        assert data["node"]["consecutiveFailures"] == 2
        assert len(receiver.received) == 4  # two events, one retry each


async def test_retry_after_is_honoured(db: Backend) -> None:
    async with receiving(db, webhook_retry_schedule_s=[0.1]) as (inst, receiver):
        receiver.script = [(429, {"Retry-After": "1"})]
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
        receiver.secrets = [made["secret"]]
        await emit(db, p)
        await settled(db, 1)
        first, second = receiver.received
        assert second.at - first.at >= 1.0


async def test_redirects_are_not_followed(db: Backend) -> None:
    async with receiving(db, webhook_retry_schedule_s=[]) as (inst, receiver):
        receiver.script = [(302, {"Location": "http://169.254.169.254/latest"})]
        p = await project(db)
        await create_webhook(inst, p, receiver.url, ["alert.fired"])
        await emit(db, p)
        (delivery,) = await settled(db, 1)
        assert delivery.status.value == "FAILED"
        assert delivery.response_status == 302
        assert len(receiver.received) == 1


async def test_slack_format_posts_a_readable_text(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["alert.*"], format="SLACK")
        receiver.secrets = [made["secret"]]
        await emit(db, p, message="psi 0.31 > 0.2 on age")
        await settled(db, 1)
        (got,) = receiver.received
        body = json.loads(got.body)
        assert list(body) == ["text"]
        assert "CRITICAL" in body["text"]
        assert "psi" in body["text"]
        assert got.verified


async def test_ping_update_redeliver_delete(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        made = await create_webhook(inst, p, receiver.url, ["job.finished"])
        hook_id = made["webhook"]["id"]
        receiver.secrets = [made["secret"]]
        ping = await inst.mutate("pingWebhook", {"webhookId": hook_id}, "delivery { id }")
        (_delivery,) = await settled(db, 1)
        assert json.loads(receiver.received[0].body)["type"] == "webhook.ping"
        again = await inst.mutate(
            "redeliverWebhookDelivery",
            {"webhookDeliveryId": ping["delivery"]["id"]},
            "delivery { status }",
        )
        assert again["delivery"]["status"] == "PENDING"
        await settled(db, 1)
        assert [r.headers["webhook-id"] for r in receiver.received].count(
            receiver.received[0].headers["webhook-id"]
        ) == 2
        updated = await inst.mutate(
            "updateWebhook",
            {"webhookId": hook_id, "eventTypes": ["alert.fired"], "expectedRevision": 1},
            "webhook { eventTypes revision }",
        )
        assert updated["webhook"]["eventTypes"] == ["alert.fired"]
        stale = await inst.client.post(
            "/graphql",
            json={
                "query": "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) "
                "{ userErrors { code } } }",
                "variables": {"i": {"webhookId": hook_id, "enabled": False, "expectedRevision": 1}},
            },
        )
        assert stale.json()["data"]["updateWebhook"]["userErrors"][0]["code"] == "CONFLICT"
        gone = await inst.mutate("deleteWebhook", {"webhookId": hook_id}, "deletedWebhookId")
        assert gone["deletedWebhookId"] == hook_id
        assert await deliveries(db) == []
        data = await inst.data("query($id: ID!) { node(id: $id) { id } }", {"id": hook_id})
        assert data["node"] is None


async def test_a_real_mutation_event_arrives_as_job_finished(db: Backend) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        pl = f.pipeline(p)
        job = f.job(pl)
        async with db.sessions() as s, s.begin():
            s.add(pl)
            await s.flush()
            s.add(job)
        made = await create_webhook(inst, p, receiver.url, ["job.finished"])
        receiver.secrets = [made["secret"]]
        job_id = encode_global_id("Job", job.id)
        await inst.mutate("updateJob", {"jobId": job_id, "status": "RUNNING"}, "job { id }")
        await inst.mutate("updateJob", {"jobId": job_id, "status": "SUCCEEDED"}, "job { id }")
        await settled(db, 1)
        (got,) = receiver.received
        body = json.loads(got.body)
        assert got.verified
        assert body["type"] == "job.finished"
        assert body["data"]["id"] == job_id
        assert body["data"]["status"] == "SUCCEEDED"
        assert body["data"]["pipelineId"] == encode_global_id("Pipeline", pl.id)


async def test_a_created_model_version_arrives_with_its_fields(db: Backend) -> None:
    """``metadata`` is a column whose ORM attribute has another name (``meta``)."""
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        model = f.model(p)
        async with db.sessions() as s, s.begin():
            s.add(model)
        made = await create_webhook(inst, p, receiver.url, ["model_version.*"])
        receiver.secrets = [made["secret"]]
        created = await inst.mutate(
            "createModelVersion",
            {
                "modelId": encode_global_id("Model", model.id),
                "version": "1.2.3",
                "metadata": {"framework": "xgboost"},
            },
            "modelVersion { id }",
        )
        await settled(db, 1)
        (got,) = receiver.received
        body = json.loads(got.body)
        assert got.verified
        assert body["type"] == "model_version.created"
        assert body["data"]["id"] == created["modelVersion"]["id"]
        assert body["data"]["version"] == "1.2.3"
        assert body["data"]["metadata"] == {"framework": "xgboost"}
        assert body["data"]["modelId"] == encode_global_id("Model", model.id)


async def test_two_deliverers_send_every_event_once(db: Backend) -> None:
    """Two deliverers (own engines, as two processes would have) on one database: every event
    arrives, each attempt is made once (PostgreSQL: SKIP LOCKED claims; SQLite: one writer)."""
    async with receiving(db, webhooks_enabled=False) as (inst, receiver):
        engines = [create_engine(inst.settings) for _ in range(2)]
        # two requests in flight each, 0.1 s per answer: one worker alone cannot take them all
        narrow = inst.settings.model_copy(update={"webhook_concurrency": 2})
        workers = [Deliverer(narrow, create_sessions(e)) for e in engines]
        receiver.delay_s = 0.1
        try:
            p = await project(db)
            made = await create_webhook(inst, p, receiver.url, ["alert.fired"])
            receiver.secrets = [made["secret"]]
            for w in workers:
                w.start()
            events = [await emit(db, p) for _ in range(30)]
            await settled(db, 30, within_s=30)
        finally:
            for w in workers:
                await w.stop()
            for e in engines:
                await e.dispose()
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert sorted(ids) == sorted(f"msg_{e.hex}" for e in events)
        assert all(r.verified for r in receiver.received)
        assert sum(w.attempts for w in workers) == 30
        assert all(w.attempts > 0 for w in workers) or db.name == "sqlite"
        async with db.sessions() as s:
            attempts = list(await s.scalars(select(m.WebhookDeliveryAttempt)))
        assert len(attempts) == 30
        assert all(a.number == 1 for a in attempts)


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#: traceparent sent with a mutation -> the header the receiver gets (None: no header).
TRACEPARENTS: list[tuple[str | None, str | None]] = [
    (f"00-{TRACE}", f"00-{TRACE}"),
    (f"01-{TRACE}-a-later-field", f"01-{TRACE}"),  # a later version: its version-00 part
    (None, None),
    (f"00-{TRACE.upper()}", None),
    (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),
    (f"00-4bf92f3577b34da6a3ce929d0e0e4736-{'0' * 16}-01", None),
    (f"ff-{TRACE}", None),
    (f"00-{TRACE}-more", None),
    (f"00-{TRACE[:-1]}", None),
    ("not a traceparent", None),
]


async def test_the_callers_traceparent_reaches_the_receiver_unless_malformed(
    db: Backend,
) -> None:
    async with receiving(db) as (inst, receiver):
        p = await project(db)
        pl = f.pipeline(p)
        jobs = [f.job(pl, status=JobStatus.RUNNING) for _ in TRACEPARENTS]
        async with db.sessions() as s, s.begin():
            s.add(pl)
            await s.flush()
            s.add_all(jobs)
        made = await create_webhook(inst, p, receiver.url, ["job.finished"])
        receiver.secrets = [made["secret"]]
        expected: dict[str, str | None] = {}
        for job, (sent, passed_on) in zip(jobs, TRACEPARENTS, strict=True):
            job_id = encode_global_id("Job", job.id)
            response = await inst.client.post(
                "/graphql",
                json={
                    "query": "mutation($i: UpdateJobInput!) { updateJob(input: $i) "
                    "{ job { id } userErrors { code } } }",
                    "variables": {"i": {"jobId": job_id, "status": "SUCCEEDED"}},
                },
                headers={} if sent is None else {"traceparent": sent},
            )
            assert response.json()["data"]["updateJob"]["userErrors"] == []
            expected[job_id] = passed_on
        ping = await inst.client.post(
            "/graphql",
            json={
                "query": "mutation($i: PingWebhookInput!) { pingWebhook(input: $i) "
                "{ userErrors { code } } }",
                "variables": {"i": {"webhookId": made["webhook"]["id"]}},
            },
            headers={"traceparent": f"00-{TRACE}"},
        )
        assert ping.json()["data"]["pingWebhook"]["userErrors"] == []
        await settled(db, len(TRACEPARENTS) + 1)
        assert all(r.verified for r in receiver.received)
        got: dict[str, str | None] = {}
        for r in receiver.received:
            body = json.loads(r.body)
            key = body["data"]["id"] if body["type"] == "job.finished" else body["type"]
            got[key] = r.headers.get("traceparent")
            assert "traceparent" not in body["data"]
        assert got == expected | {"webhook.ping": f"00-{TRACE}"}


async def test_only_rounds_with_an_event_a_webhook_receives_wake_the_deliverer(
    db: Backend,
) -> None:
    """A round of drift metrics (no webhook receives ``drift.recorded``) costs the deliverer
    no fan-out round; one with an alert does (its poll still moves past the others)."""
    deliverer = Deliverer(db.settings, db.sessions)
    wake = wake_for_webhooks(deliverer)
    wake(Envelope(1, 3, 3, frozenset({"drift.recorded"})))
    assert not deliverer.woken
    wake(Envelope(4, 5, 2, frozenset({"drift.recorded", "alert.fired"})))
    assert deliverer.woken
    await deliverer.stop()
