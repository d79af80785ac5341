"""OpenTelemetry spans: the process's tracer provider, the caller's trace context, SQL spans.

``install()`` sets one SDK ``TracerProvider`` for the process (once; later calls return it).
Spans are exported only where OpenTelemetry's own variables ask for an exporter:
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; comma separated), or else
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over
HTTP/protobuf). The exporter reads its other ``OTEL_EXPORTER_OTLP_*`` variables itself, the SDK
reads ``OTEL_TRACES_SAMPLER``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_SDK_DISABLED``. (These are OpenTelemetry's variables, read here and by the SDK, not
mlgraph settings.) Nothing is fetched at start.

With no exporter, spans are not recorded (``WhileExported``): each is a non-recording span whose
trace and span ids still reach the log lines and propagate, at a fraction of a recorded span's
cost (the compiled path's budget is a few milliseconds per request). ``export(processor)`` adds
an exporter later (tests add an in-memory one) and turns recording on.

``trace_engine(engine)`` makes a span of every SQL statement the engine runs, from its
``before/after_cursor_execute`` events (opentelemetry-instrumentation-sqlalchemy does not fit:
it supports SQLAlchemy < 2.1 only and patches ``create_engine`` process-wide, once). A
statement gets a span only inside another one (a request, a loader batch, an outbox dispatch):
pool pings and background polls make no one-span traces.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

tracer = trace.get_tracer("mlgraph")
_PROPAGATOR = TraceContextTextMapPropagator()
_SPAN_KEY = "_mlgraph_span"
#: The exporters' variable (the SDK's own list of them lacks it): otlp, console, none.
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
_TRACED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
#: Longest SQL text a span carries (the compiled dashboard statement is ~20 KB).
MAX_STATEMENT_CHARS = 4096


def install(service_name: str = "mlgraph") -> TracerProvider | None:
    """The process's SDK tracer provider, made and set on first use; None with
    ``OTEL_SDK_DISABLED=true`` (OpenTelemetry's no-op provider stays)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return None
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    # The sampler OTEL_TRACES_SAMPLER names (the SDK's own reading of it).
    provider = TracerProvider(
        resource=resource, sampler=WhileExported(sampling._get_from_env_or_default())
    )
    trace.set_tracer_provider(provider)
    for exporter in exporters():
        export(BatchSpanProcessor(exporter))
    return provider


class WhileExported(Sampler):
    """The configured sampler once an exporter takes spans; until then every span is dropped
    (non-recording, with valid ids)."""

    def __init__(self, configured: Sampler) -> None:
        self.configured = configured
        self.exporting = False

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampler = self.configured if self.exporting else sampling.ALWAYS_OFF
        return sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WhileExported{{{self.configured.get_description()}}}"


def export(processor: SpanProcessor) -> None:
    """Send the spans of the process's provider to ``processor`` too, and record them."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        raise RuntimeError("no tracer provider installed (OTEL_SDK_DISABLED?)")
    provider.add_span_processor(processor)
    if isinstance(provider.sampler, WhileExported):
        provider.sampler.exporting = True


def exporters() -> list[SpanExporter]:
    """The span exporters OpenTelemetry's variables ask for (none unless they do)."""
    named = os.environ.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    if not named:
        endpoint = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or os.environ.get(
            OTEL_EXPORTER_OTLP_ENDPOINT
        )
        named = "otlp" if endpoint else "none"
    exporters: list[SpanExporter] = []
    for name in filter(None, (n.strip() for n in named.split(","))):
        if name == "otlp":
            exporters.append(_otlp())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(f"{OTEL_TRACES_EXPORTER}={name!r}: use otlp, console or none")
    return exporters


def _otlp() -> SpanExporter:
    protocol = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(
        OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        raise ValueError(
            f"OTLP protocol {protocol!r} is not supported here: use http/protobuf "
            "(the collector's port 4318)"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def caller_context(traceparent: str) -> otel_context.Context | None:
    """The caller's span as a parent context (None without a well-formed ``traceparent``)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def ids() -> tuple[str, str]:
    """The current span's trace id and span id in hex, or ``("", "")`` outside any span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return "", ""
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def in_span() -> bool:
    """Whether a span (recorded or not) is current: a request's, a batch's, a dispatch's."""
    return trace.get_current_span().get_span_context().is_valid


def recording() -> bool:
    return trace.get_current_span().is_recording()


@contextmanager
def span(
    name: str,
    attributes: dict[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    record_errors: bool = True,
) -> Iterator[Span]:
    """A current span named ``name``; an exception escaping it is recorded as its error
    (unless ``record_errors`` is false: the caller tells which exceptions are errors)."""
    with tracer.start_as_current_span(
        name,
        parent,
        kind,
        attributes,
        record_exception=record_errors,
        set_status_on_exception=record_errors,
    ) as current:
        yield current


def set_error(current: Span, description: str) -> None:
    current.set_status(Status(StatusCode.ERROR, description))


def trace_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement of ``engine`` (inside a recorded span); once per engine."""
    sync = engine.sync_engine
    if sync in _TRACED_ENGINES:
        return
    _TRACED_ENGINES.add(sync)
    system = sync.dialect.name
    database = sync.url.database or ""

    def before(_conn: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any) -> None:
        if context is None or not recording():
            return
        operation = statement.lstrip(" (\n").split(None, 1)[0].upper() if statement else ""
        setattr(
            context,
            _SPAN_KEY,
            tracer.start_span(
                f"{operation} {database}".strip(),
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system.name": system,
                    "db.namespace": database,
                    "db.operation.name": operation,
                    "db.query.text": statement[:MAX_STATEMENT_CHARS],
                },
            ),
        )

    def after(_conn: Any, _cursor: Any, _s: str, _p: Any, context: Any, _m: Any) -> None:
        current = getattr(context, _SPAN_KEY, None)
        if current is not None:
            current.end()
            setattr(context, _SPAN_KEY, None)

    def error(exception_context: Any) -> None:
        context = exception_context.execution_context
        current = getattr(context, _SPAN_KEY, None) if context is not None else None
        if current is not None:
            error = exception_context.original_exception
            current.record_exception(error)
            set_error(current, type(error).__name__)
            current.end()
            setattr(context, _SPAN_KEY, None)

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "handle_error", error)
