"""Telemetry as an operator sees it: one trace per request with the operation's SQL inside it,
joined to the caller's ``traceparent``; ``/metrics`` counting what was served; log lines with
the request id and the trace id, and without credentials.

Spans are read with OpenTelemetry's in-memory exporter added to the process's tracer provider
(the exporter stands in for a collector: nothing else can receive spans here)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlgraph.app import create_app
from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.ids import encode_global_id
from mlgraph.schema import Schema, build_schema
from mlgraph.seed import seed_demo
from mlgraph.storage.enums import JobStatus
from mlgraph.storage.objects import open_store
from mlgraph.storage.objects.s3 import S3ObjectStore
from mlgraph.telemetry import tracing
from mlgraph.telemetry.logs import REQUEST_ID, RequestContext, TextFormatter, redact
from tests import factories as f
from tests.conftest import ADMIN, Backend, free_port, serve, stop
from tests.live import (
    JOB_UPDATED,
    TRANSPORT_WS,
    Instance,
    collect,
    instance,
    sse_events,
    subscribed,
    until,
    ws_client,
)
from tests.s3_server import BUCKET, moto_server
from tests.served import Served, mlgraph_serve

METRICS_TOKEN = "scrape-" + secrets.token_hex(8)
CALLER_SPAN = "b7ad6b7169203331"


def caller() -> tuple[str, str]:
    """A new trace id, and the caller's ``traceparent`` header of a span in it."""
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{CALLER_SPAN}-01"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    tracing.install()
    exporter = InMemorySpanExporter()
    tracing.export(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the provider; it keeps nothing from now on


def trace_of(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    wanted = int(trace_id, 16)
    return [s for s in spans.get_finished_spans() if s.context and s.context.trace_id == wanted]


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_one_dashboard_query_is_one_trace_with_its_sql_inside_the_operation(
    db: Backend, spans: InMemorySpanExporter, dashboard_query: str
) -> None:
    """SQLite answers on the resolver path, PostgreSQL on the compiled path."""
    await seed_demo(db.sessions)
    assert db.client is not None
    trace_id, traceparent = caller()
    db.sql.start()
    response = await db.client.post(
        "/graphql",
        json={"query": dashboard_query},
        headers={"traceparent": traceparent, "x-request-id": "dashboard-1"},
    )
    statements = db.sql.stop()
    assert response.status_code == 200
    assert "errors" not in response.json()
    plan = response.headers["x-mlgraph-plan"]
    assert plan == ("compiled" if db.name == "postgresql" else "resolver")

    trace = trace_of(spans, trace_id)
    by_id = {s.context.span_id: s for s in trace if s.context}
    (request,) = [s for s in trace if s.name == "POST /graphql"]
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == CALLER_SPAN  # joined to the caller
    (operation,) = [s for s in trace if s.name == "query Dashboard"]
    assert operation.parent is not None
    assert operation.parent.span_id == request.context.span_id
    assert operation.attributes is not None
    assert operation.attributes["mlgraph.plan"] == plan
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["mlgraph.request_id"] == "dashboard-1"
    sql = [s for s in trace if s.attributes and "db.query.text" in s.attributes]
    assert len(sql) == statements  # every statement the request ran is a span of its trace
    assert all("query Dashboard" in ancestors(s, by_id) for s in sql)
    loaders = [s for s in trace if s.name.startswith("loader ")]
    if plan == "resolver":
        assert len(sql) > 1
        assert loaders  # the batches, with their statements inside them
        assert all(ancestors(s, by_id)[0].startswith("loader ") for s in sql)
    else:
        assert len(sql) == 1
        assert not loaders


async def test_a_request_without_a_traceparent_starts_its_own_trace(
    backend: Backend, spans: InMemorySpanExporter
) -> None:
    assert backend.client is not None
    trace_id, traceparent = caller()
    response = await backend.client.post(
        "/graphql",
        json={"query": "query Me { viewer { principalId } }"},
        headers={"traceparent": traceparent.upper()},  # malformed: upper case
    )
    assert "errors" not in response.json()
    (operation,) = [s for s in spans.get_finished_spans() if s.name == "query Me"][-1:]
    assert operation.context is not None
    assert operation.context.trace_id != int(trace_id, 16)
    request = [s for s in spans.get_finished_spans() if s.context == operation.parent]
    assert [s.parent for s in request] == [None]  # the request span is the trace's root


async def test_the_resolver_path_keeps_its_short_cuts_with_the_telemetry_extension(
    db: Backend, dashboard_query: str
) -> None:
    """The extension must not install per-field middleware: the executor's breadth-first walk
    (and its other short cuts) would be off, and a task made per object, as with the stock
    executor (tests/test_executor.py)."""
    await seed_demo(db.sessions)

    async def tasks_made(schema: Schema) -> int:
        async with open_store(db.settings) as store:
            context = Context.create(
                principal=Principal("root", "Root", platform_admin=True),
                request_id="shortcuts",
                settings=db.settings,
                sessions=db.sessions,
                objects=store,
            )
        loop = asyncio.get_running_loop()
        made = 0

        def factory(loop_: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
            nonlocal made
            made += 1
            return asyncio.Task(coro, loop=loop_, **kw)

        loop.set_task_factory(factory)
        try:
            result = await schema.execute(dashboard_query, context_value=context)
        finally:
            loop.set_task_factory(None)
        assert result.errors is None
        return made

    with_telemetry = build_schema(telemetry=True)
    assert await tasks_made(with_telemetry) <= 40
    assert await tasks_made(with_telemetry) == await tasks_made(build_schema(telemetry=False))


OBJECTS = """{ projects(first: 1) { nodes { models(first: 2) { nodes { versions(first: 2) {
  nodes { artifacts(first: 3) { nodes { fileName object { exists } } } } } } } } } }"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_each_s3_call_is_a_span_inside_the_operation(
    db: Backend, spans: InMemorySpanExporter
) -> None:
    """Against a real S3 endpoint (moto's server) holding none of the demo's objects: every
    HEAD is a span of the operation, and a missing object is an answer, not an error."""
    await seed_demo(db.sessions)
    trace_id, traceparent = caller()
    with moto_server(free_port()) as moto:
        settings = db.settings.model_copy(
            update={
                "object_store": "s3",
                "s3_endpoint_url": moto,
                "s3_bucket": BUCKET,
                "s3_path_style": True,
                "s3_access_key_id": "test",
                "s3_secret_access_key": SecretStr("test"),
            }
        )
        async with S3ObjectStore.open(settings) as direct:
            await direct.client.create_bucket(Bucket=BUCKET)
        server, task, url = await serve(create_app(settings, engine=db.engine))
        try:
            async with httpx.AsyncClient(base_url=url, headers=db.headers(ADMIN, admin=True)) as c:
                response = await c.post(
                    "/graphql", json={"query": OBJECTS}, headers={"traceparent": traceparent}
                )
        finally:
            await stop(server, task)
    answered = [
        a["object"]
        for m in response.json()["data"]["projects"]["nodes"][0]["models"]["nodes"]
        for v in m["versions"]["nodes"]
        for a in v["artifacts"]["nodes"]
    ]
    assert answered
    assert answered == [{"exists": False}] * len(answered)
    trace = trace_of(spans, trace_id)
    by_id = {s.context.span_id: s for s in trace if s.context}
    heads = [s for s in trace if s.name == "S3.HeadObject"]
    assert len(heads) == len(answered)
    assert all("query" in ancestors(s, by_id) for s in heads)  # the anonymous operation
    assert all(s.status.status_code is not StatusCode.ERROR for s in heads)
    assert all(s.attributes and s.attributes["aws.s3.bucket"] == BUCKET for s in heads)


# --- /metrics -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def observed(backend: Backend) -> AsyncIterator[Instance]:
    async with instance(backend, metrics_token=METRICS_TOKEN) as inst:
        yield inst


async def scrape(inst: Instance) -> str:
    response = await inst.client.get(
        "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_need_the_metrics_token(observed: Instance, backend: Backend) -> None:
    bare = httpx.AsyncClient(base_url=observed.base_url)
    async with bare:
        assert (await bare.get("/metrics")).status_code == 401
        wrong = {"authorization": f"Bearer {METRICS_TOKEN}x"}
        assert (await bare.get("/metrics", headers=wrong)).status_code == 401
    # An admin's own token is no scrape credential, and without a token there is no /metrics.
    assert (await observed.client.get("/metrics")).status_code == 401
    assert backend.client is not None
    assert (await backend.client.get("/metrics")).status_code == 404


async def test_metrics_count_operations_errors_and_latency(
    observed: Instance, dashboard_query: str
) -> None:
    await observed.fresh()
    await seed_demo(observed.backend.sessions)
    plan = "compiled" if observed.backend.name == "postgresql" else "resolver"
    before = await scrape(observed)
    for _ in range(2):
        await observed.data(dashboard_query)
    bad = await observed.client.post("/graphql", json={"query": "{ node(id: 7) { id } }"})
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    after = await scrape(observed)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    dashboard = {"operation": "Dashboard", "type": "query", "plan": plan}
    assert moved("mlgraph_graphql_requests_total", **dashboard) == 2
    latency = {"operation": "Dashboard", "plan": plan}
    assert moved("mlgraph_graphql_request_duration_seconds_count", **latency) == 2
    assert moved("mlgraph_graphql_request_duration_seconds_sum", **latency) > 0
    assert moved("mlgraph_graphql_errors_total", code="BAD_USER_INPUT") == 1
    assert moved("mlgraph_graphql_requests_total", operation="_anonymous", type="query") == 1


async def test_metrics_show_open_subscriptions_and_the_outbox_lag(observed: Instance) -> None:
    inst = await observed.fresh()
    slug = "tel-" + secrets.token_hex(3)
    made = await inst.mutate("createProject", {"slug": slug, "name": "T"}, "project { id }")
    await until(lambda: inst.live.dispatcher.dispatched > 0)
    await inst.live.dispatcher.stop()  # events now wait in the outbox
    try:
        await inst.mutate("createProject", {"slug": slug + "b", "name": "U"}, "project { id }")
        await asyncio.sleep(0.05)
        waiting = await scrape(inst)
        assert value(waiting, "mlgraph_outbox_pending_events") >= 1
        assert value(waiting, "mlgraph_outbox_lag_seconds") > 0
    finally:
        inst.live.dispatcher.start()
    await until(lambda: inst.live.dispatcher.dispatched >= 2)
    assert value(await scrape(inst), "mlgraph_outbox_pending_events") == 0

    before = value(await scrape(inst), "mlgraph_subscriptions_open")
    frames: list[tuple[str, Any]] = []
    variables = {"p": made["project"]["id"]}
    stream = asyncio.create_task(sse_events(inst.client, JOB_UPDATED, variables, 1, frames))
    try:
        await subscribed(inst)
        assert value(await scrape(inst), "mlgraph_subscriptions_open") == before + 1
    finally:
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
    await until(lambda: inst.live.hub.subscriber_count == 0)
    assert value(await scrape(inst), "mlgraph_subscriptions_open") == before


async def test_a_websocket_subscription_is_a_span_joined_to_the_connections_traceparent(
    observed: Instance, spans: InMemorySpanExporter
) -> None:
    """No request span around a WebSocket's operations: each is a SERVER span whose parent is
    the caller's traceparent of the upgrade request; each event's SQL runs inside it."""
    inst = await observed.fresh()
    p = f.project()
    pl = f.pipeline(p)
    job = f.job(pl, status=JobStatus.RUNNING)
    await f.save(inst.backend.sessions, p, pl, job)
    trace_id, traceparent = caller()
    headers = {"traceparent": traceparent}
    received: list[Any] = []
    variables = {"p": encode_global_id("Project", p.id), "j": encode_global_id("Job", job.id)}
    client = ws_client(inst, TRANSPORT_WS, headers=headers)
    listener = asyncio.create_task(collect(client, JOB_UPDATED, variables, 1, received))
    await subscribed(inst)
    await inst.mutate("updateJob", {"jobId": variables["j"], "progress": 0.5}, "job { id }")
    await asyncio.wait_for(listener, 10)
    assert received[0]["jobUpdated"]["progress"] == 0.5
    await until(lambda: any(s.name == "subscription" for s in trace_of(spans, trace_id)))
    trace = trace_of(spans, trace_id)
    by_id = {s.context.span_id: s for s in trace if s.context}
    (operation,) = [s for s in trace if s.name == "subscription"]
    assert operation.kind is SpanKind.SERVER
    assert operation.parent is not None
    assert format(operation.parent.span_id, "016x") == CALLER_SPAN
    sql = [s for s in trace if s.attributes and "db.query.text" in s.attributes]
    assert sql
    assert all("subscription" in ancestors(s, by_id) for s in sql)


# --- logs -----------------------------------------------------------------------------------


def test_redact_blanks_every_kind_of_credential() -> None:
    line = (
        "Authorization: Bearer abc.def.ghi key mlg_abcdefghij_s3cr3tPart secret whsec_QUJDRA== "
        "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln url https://s3/x?X-Amz-Signature=f00d"
        "&X-Amz-Credential=AKIA%2F1&ok=1 local /objects/k?expires=1&signature=beef"
    )
    clean = redact(line)
    for secret in (
        "abc.def.ghi",
        "s3cr3tPart",
        "QUJDRA",
        "eyJzdWIiOiJhIn0",
        "f00d",
        "AKIA",
        "beef",
    ):
        assert secret not in clean
    assert "mlg_abcdefghij_[redacted]" in clean  # the prefix names the key, as the audit does
    assert "ok=1" in clean


@dataclass
class Collector:
    """An OTLP/HTTP trace receiver on a loopback port: keeps every export it is sent."""

    exports: list[ExportTraceServiceRequest] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        self.exports.append(ExportTraceServiceRequest.FromString(await request.body()))
        return Response(b"", media_type="application/x-protobuf")

    def spans(self, trace_id: str) -> list[Any]:
        wanted = bytes.fromhex(trace_id)
        return [
            (resource.resource, span)
            for export in self.exports
            for resource in export.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
            if span.trace_id == wanted
        ]


@pytest.fixture(scope="module")
async def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Served, Collector]]:
    """``mlgraph serve`` with JSON logs, exporting spans to the collector (OpenTelemetry's own
    variables; a short batch delay so that the test need not wait 5 s)."""
    collector = Collector()
    app = Starlette(routes=[Route("/v1/traces", collector.receive, methods=["POST"])])
    server, task, url = await serve(app)
    try:
        async with mlgraph_serve(
            tmp_path_factory.mktemp("served"),
            MLGRAPH_LOG_FORMAT="json",
            MLGRAPH_LOG_LEVEL="INFO",
            OTEL_EXPORTER_OTLP_ENDPOINT=url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as process:
            yield process, collector
    finally:
        await stop(server, task)


async def test_spans_go_to_the_otlp_endpoint_the_otel_variables_name(
    served: tuple[Served, Collector],
) -> None:
    process, collector = served
    trace_id, traceparent = caller()
    admin = await asyncio.to_thread(process.admin_headers)
    async with httpx.AsyncClient(base_url=process.url, timeout=30, headers=admin) as client:
        answer = await client.post(
            "/graphql",
            json={"query": "query Exported { viewer { principalId } }"},
            headers={"traceparent": traceparent},
        )
    assert "errors" not in answer.json()
    await until(lambda: len(collector.spans(trace_id)) >= 2)
    names = {span.name for _, span in collector.spans(trace_id)}
    assert {"POST /graphql", "query Exported"} <= names
    resource = collector.spans(trace_id)[0][0]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "mlgraph"


def test_no_exporter_unless_the_otel_variables_ask_for_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert tracing.exporters() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert [type(e).__name__ for e in tracing.exporters()] == ["ConsoleSpanExporter"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        tracing.exporters()


def test_text_log_lines_name_their_request_and_trace_and_hide_credentials() -> None:
    provider = TracerProvider(sampler=tracing.WhileExported(ALWAYS_ON), shutdown_on_exit=False)
    record = logging.LogRecord(
        "mlgraph", logging.INFO, __file__, 1, "got %s", ("Bearer a.b",), None
    )
    reset = REQUEST_ID.set("req-9")
    try:
        with provider.get_tracer("test").start_as_current_span("request"):
            trace_id, _ = tracing.ids()
            assert RequestContext().filter(record)
    finally:
        REQUEST_ID.reset(reset)
    line = TextFormatter().format(record)
    assert line.endswith(f"INFO mlgraph got Bearer [redacted] [request req-9 trace {trace_id}]")


def test_without_an_exporter_spans_cost_little_and_still_give_log_lines_their_ids() -> None:
    provider = TracerProvider(sampler=tracing.WhileExported(ALWAYS_ON), shutdown_on_exit=False)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("unexported") as span:
        assert not span.is_recording()
        trace_id, span_id = tracing.ids()
        assert len(trace_id) == 32
        assert len(span_id) == 16
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert isinstance(provider.sampler, tracing.WhileExported)
    provider.sampler.exporting = True  # what tracing.export() does to the process's provider
    with tracer.start_as_current_span("exported") as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["exported"]


async def test_json_log_lines_carry_request_and_trace_ids_and_no_credentials(
    served: tuple[Served, Collector],
) -> None:
    process, _ = served
    api_key = "mlg_abcdefghij_" + secrets.token_hex(16)
    signature = secrets.token_hex(16)
    trace_id, traceparent = caller()
    admin = await asyncio.to_thread(process.admin_headers)
    async with httpx.AsyncClient(base_url=process.url, timeout=30) as client:
        ok = await client.post(
            "/graphql",
            json={"query": "{ viewer { principalId } }"},
            headers={**admin, "traceparent": traceparent, "x-request-id": "logged-1"},
        )
        assert ok.status_code == 200
        refused = await client.post(
            "/graphql",
            json={"query": "{ viewer { principalId } }"},
            headers={"x-api-key": api_key, "x-request-id": "logged-2"},
        )
        assert refused.status_code == 401
        signed = await client.get(f"/objects/a/b?expires=1&signature={signature}")
        assert signed.status_code == 403
    await asyncio.sleep(0.2)  # the server writes its last lines
    text = process.log.read_text()
    # Log lines are JSON; the rest of the output is `mlgraph serve`'s banner (where to go).
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) >= 6
    assert all({"request_id", "trace_id", "span_id", "message"} <= line.keys() for line in lines)
    first = [line for line in lines if line["request_id"] == "logged-1"]
    assert first
    assert {line["trace_id"] for line in first} == {trace_id}
    second = [line for line in lines if line["request_id"] == "logged-2"]
    assert any("unknown API key mlg_abcdefghij" in line["message"] for line in second)
    assert all(len(line["trace_id"]) == 32 for line in second)
    token = admin["Authorization"].removeprefix("Bearer ")
    for secret in (token, api_key.removeprefix("mlg_abcdefghij_"), signature):
        assert secret not in text
