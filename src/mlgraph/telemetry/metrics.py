"""Prometheus metrics (prometheus-client), served at ``/metrics`` by ``app/telemetry.py``.

* ``mlgraph_graphql_requests_total{operation,type,plan}``: operations by name, type and read
  path (``compiled`` | ``resolver``).
* ``mlgraph_graphql_request_duration_seconds{operation,plan}``: latency, parse to result.
* ``mlgraph_graphql_errors_total{code}``: GraphQL errors by ``extensions.code``.
* ``mlgraph_graphql_cost{operation}``: the estimated cost of each operation, where known.
* ``mlgraph_rate_limited_total``: requests answered 429.
* ``mlgraph_subscriptions_open``: subscriptions streaming now.
* ``mlgraph_outbox_pending_events`` and ``mlgraph_outbox_lag_seconds``: committed events the
  dispatcher has not published yet, and the age of the oldest (read when scraped).

Operation names are the client's: past ``MAX_OPERATION_NAMES`` distinct names per process,
further ones count as ``_other`` (a label per name would let a client add series without end).

Several worker processes (``mlgraph serve --workers N``) share one port, so a scrape reaches any
one of them: the CLI then sets prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, a fresh directory per start) and a scrape adds up every worker's
files; the subscriptions gauge sums live workers only. One worker keeps everything in memory.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlgraph.storage.types import utcnow

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROCESS_ENV", "exposition"]

#: prometheus-client's own variable: set, every metric lives in files in that directory.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "_other"
ANONYMOUS = "_anonymous"
MAX_OPERATION_NAMES = 100

REQUESTS = Counter(
    "mlgraph_graphql_requests",
    "GraphQL operations, by operation name, operation type and read path.",
    ["operation", "type", "plan"],
)
DURATION = Histogram(
    "mlgraph_graphql_request_duration_seconds",
    "GraphQL operation latency (parse to result), by operation name and read path.",
    ["operation", "plan"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ERRORS = Counter("mlgraph_graphql_errors", "GraphQL errors, by extensions.code.", ["code"])
COST = Histogram(
    "mlgraph_graphql_cost",
    "Estimated cost (nodes) of each GraphQL operation whose cost is known.",
    ["operation"],
    buckets=(1, 10, 100, 1_000, 10_000, 100_000, 500_000),
)
RATE_LIMITED = Counter("mlgraph_rate_limited", "Requests refused with HTTP 429 (RATE_LIMITED).")
SUBSCRIPTIONS = Gauge(
    "mlgraph_subscriptions_open", "Subscriptions streaming now.", multiprocess_mode="livesum"
)


class OperationNames:
    """The label for an operation name: itself for the first ``limit`` distinct names."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if len(self._seen) >= self.limit:
            return OTHER
        self._seen.add(name)
        return name


operation_names = OperationNames(MAX_OPERATION_NAMES)


class _Outbox(Collector):
    """The outbox gauges, from figures read just before the scrape."""

    def __init__(self, pending: int, oldest: datetime | None) -> None:
        self.pending, self.oldest = pending, oldest

    def collect(self) -> list[GaugeMetricFamily]:
        lag = 0.0 if self.oldest is None else max(0.0, (utcnow() - self.oldest).total_seconds())
        return [
            GaugeMetricFamily(
                "mlgraph_outbox_pending_events",
                "Committed outbox events not yet published by the dispatcher.",
                value=self.pending,
            ),
            GaugeMetricFamily(
                "mlgraph_outbox_lag_seconds",
                "Age of the oldest outbox event not yet published (0: none waits).",
                value=lag,
            ),
        ]


def exposition(outbox: tuple[int, datetime | None] | None) -> bytes:
    """The text exposition of every metric (all workers' in multiprocess mode), with the
    outbox gauges when ``outbox`` (pending, oldest) could be read."""
    if os.environ.get(MULTIPROCESS_ENV):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)  # type: ignore[no-untyped-call]
    else:
        base = REGISTRY
    text = generate_latest(base)
    if outbox is not None:
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(_Outbox(*outbox))
        text += generate_latest(scraped)
    return text


def fresh_multiprocess_dir(path: Path) -> Path:
    """An empty directory for a new server's metric files (a previous run's are stale)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def worker_exited() -> None:
    """Drop this process's live gauges from the shared files (multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
