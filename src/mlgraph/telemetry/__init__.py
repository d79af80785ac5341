"""Telemetry: OpenTelemetry spans (``tracing``), Prometheus metrics (``metrics``) and log lines
(``logs``). The operation span and the per-operation metrics come from a strawberry schema
extension (``schema/telemetry.py``), the request span and ``/metrics`` from the HTTP edge
(``app/telemetry.py``). Nothing here imports strawberry or starlette."""
