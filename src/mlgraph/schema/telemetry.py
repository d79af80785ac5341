"""The operation's span and metrics: a schema extension around the whole operation (parse,
validation, execution, on either read path).

The span is the current one while the operation runs, so loader batches and SQL statements
nest inside it. Its parent is the request's span (``app/telemetry.py``, itself a child of the
caller's ``traceparent``); an operation outside an HTTP request (a WebSocket subscription) takes
the caller's ``traceparent`` of its connection instead. It is named
``<type> <operation name>`` and carries ``graphql.operation.name``/``type``, ``mlgraph.plan``
(``compiled`` | ``resolver``, from ``Context.plan``), ``mlgraph.cost`` when the cost is known,
and the request id.

Only ``on_operation`` is implemented, never ``resolve``: a ``resolve`` hook installs per-field
middleware, under which the resolver path's executor turns its short cuts off
(``schema/execution.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError
from opentelemetry.trace import Span, SpanKind
from strawberry.extensions import SchemaExtension

from mlgraph.context import Context
from mlgraph.schema.errors import classify
from mlgraph.telemetry import metrics, tracing

_INTERNAL = "INTERNAL"


class OperationTelemetry(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        parent, kind = None, SpanKind.INTERNAL  # inside the request's span
        if not tracing.in_span():  # an operation of a WebSocket: the connection's caller
            kind = SpanKind.SERVER
            if isinstance(context, Context):
                parent = tracing.caller_context(context.traceparent)
        started = time.perf_counter()
        with tracing.span("graphql.operation", kind=kind, parent=parent) as span:
            raised: Exception | None = None
            try:
                yield
            except Exception as error:  # strawberry answers it; it is this operation's error
                raised = error
                raise
            finally:
                self._finish(span, time.perf_counter() - started, raised)

    def _finish(self, span: Span, seconds: float, raised: Exception | None) -> None:
        execution = self.execution_context
        context = execution.context
        plan = context.plan if isinstance(context, Context) else "resolver"
        cost = context.cost if isinstance(context, Context) else None
        try:
            kind = execution.operation_type.value
        except RuntimeError:  # no document, or no operation of that name in it
            kind = "unknown"
        name = execution.operation_name
        span.update_name(f"{kind} {name}" if name else kind)
        span.set_attribute("graphql.operation.type", kind)
        span.set_attribute("mlgraph.plan", plan)
        if name:
            span.set_attribute("graphql.operation.name", name)
        if cost is not None:
            span.set_attribute("mlgraph.cost", cost)
        if isinstance(context, Context):
            span.set_attribute("mlgraph.request_id", context.request_id)
        codes = _codes(execution.result, raised)
        if codes:
            span.set_attribute("mlgraph.error_codes", codes)
        if _INTERNAL in codes:
            tracing.set_error(span, _INTERNAL)
        label = metrics.operation_names.label(name)
        metrics.REQUESTS.labels(label, kind, plan).inc()
        metrics.DURATION.labels(label, plan).observe(seconds)
        for code in codes:
            metrics.ERRORS.labels(code).inc()
        if cost is not None:
            metrics.COST.labels(label).observe(cost)


def _codes(result: object, raised: Exception | None) -> list[str]:
    """The ``extensions.code`` of each error of the operation (classified where not set)."""
    if raised is not None:
        return [_code(raised) if isinstance(raised, GraphQLError) else _INTERNAL]
    return [_code(e) for e in getattr(result, "errors", None) or []]


def _code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return str(code) if code else classify(error)[0].value
