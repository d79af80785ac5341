"""Benchmark: the write path on PostgreSQL against pgbench TPC-B measured in the same run.

Not a test: it prints figures (``make bench-writes``). In one run it measures:

    pgbench       TPC-B (``pgbench -i -s 10``, 8 clients, 2 threads) on a database of its own:
                  the machine's reference for small transactions
    one-metric    ``recordDriftMetrics`` with one metric per call, round-robin over one deployment
                  in each of 10 projects (so every call evaluates that project's alert rules)
    batch-1000    ``recordDriftMetrics`` with 1,000 metrics per call, same deployments

mlgraph runs as a real server with 2 workers on a database of its own (created, migrated and
bulk-seeded with ``seed_bulk(projects=10)`` once, then reused, less the metrics earlier runs
recorded), loaded by ``wrk`` with 8 connections (bench/wrk_writes.lua: bodies round-robin; an
answer with errors or userErrors counts as failed). CPU is measured per call: mlgraph's
processes from /proc, the PostgreSQL backends sampled every 0.1 s while the load runs
(``compare.BackendCpu``: backends a pool opens and closes meanwhile count too), and the whole
machine's busy CPU (the figure vmstat shows), the same way for pgbench's transactions, so each
workload prints beside pgbench. After the load, the audit chain is verified (``mlgraph audit
verify``'s check), so the figures are for writes that kept it intact.
Only ratios from one run mean anything on a shared machine. Examples:

    make bench-writes
    .venv/bin/python bench/writes.py --seconds 30 --workloads one-metric
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare

BENCH = compare.BENCH
PG = f"postgresql://postgres@{compare.PG_HOST}:{compare.PG_PORT}"
MUTATION = (
    "mutation Record($input: RecordDriftMetricsInput!) "
    "{ recordDriftMetrics(input: $input) { count userErrors { code field } } }"
)
TARGETS = {"one-metric": (500.0, 100.0), "batch-1000": (50_000.0, None)}
#: The issue measured pgbench TPC-B at 5,473 tps where it set TARGETS, so each target scaled to
#: this run's pgbench is TARGETS' rate times (this run's tps / 5,473).
TARGETS_PGBENCH_TPS = 5_473.0
#: The bench's metrics measure windows from here on (the seeded ones end around their seeding).
WINDOWS_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Workload:
    name: str
    metrics_per_call: int
    description: str


WORKLOADS = {
    w.name: w
    for w in [
        Workload("one-metric", 1, "recordDriftMetrics, 1 metric per call, 10 projects"),
        Workload("batch-1000", 1000, "recordDriftMetrics, 1,000 metrics per call, 10 projects"),
    ]
}


# --- the databases --------------------------------------------------------------------------


async def prepare(db: str, projects: int) -> list[str]:
    """Create, migrate and bulk-seed ``db`` once; one deployment's global id per project."""
    admin = await asyncpg.connect(f"{PG}/postgres")
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", compare.SEED_LOCK)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await admin.execute(f'CREATE DATABASE "{db}"')
        from mlgraph.migrations import upgrade
        from mlgraph.seed import seed_bulk, seed_is_empty
        from mlgraph.settings import Settings
        from mlgraph.storage.db import create_engine, create_sessions

        url = f"postgresql+asyncpg://postgres@{compare.PG_HOST}:{compare.PG_PORT}/{db}"
        await asyncio.to_thread(upgrade, url)
        engine = create_engine(Settings(database_url=url))
        try:
            sessions = create_sessions(engine)
            if await seed_is_empty(sessions):
                print(f"seeding {projects} projects into {db} (once) ...", flush=True)
                print(await seed_bulk(sessions, projects=projects), flush=True)
        finally:
            await engine.dispose()
    finally:
        await admin.execute("SELECT pg_advisory_unlock($1)", compare.SEED_LOCK)
        await admin.close()
    conn = await asyncpg.connect(f"{PG}/{db}")
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (d.project_id) d.id FROM deployment d "
            "JOIN project p ON p.id = d.project_id "
            "ORDER BY d.project_id, d.created_at, d.id LIMIT $1",
            projects,
        )
        # Earlier runs' metrics go (the seeded ones stay), so each run starts from the same
        # table: one batch-1000 run adds ~500,000 rows, and a table and indexes grown by
        # every run before made each run's INSERTs dearer than the last.
        await conn.execute(
            "DELETE FROM drift_metric WHERE window_end >= $1 AND window_end < $2",
            WINDOWS_START,
            WINDOWS_START + timedelta(days=1),
        )
        await conn.execute("VACUUM FULL drift_metric")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    from mlgraph.ids import encode_global_id

    return [encode_global_id("Deployment", row["id"]) for row in rows]


@dataclass
class Reference:
    """pgbench TPC-B in this run: the machine's reference for small transactions."""

    tps: float
    latency_ms: float
    transactions: int
    db_cpu_s: float  # its PostgreSQL backends, sampled as for mlgraph (compare.BackendCpu)
    machine_cpu_s: float  # the whole machine's busy CPU meanwhile (pgbench itself included)

    def per_transaction_ms(self, seconds: float) -> float:
        return seconds / self.transactions * 1000 if self.transactions else 0.0


async def pgbench(db: str, seconds: float, clients: int) -> Reference:
    """TPC-B on its own database, its backends' CPU sampled while it runs."""
    base = ["-h", compare.PG_HOST, "-p", str(compare.PG_PORT), "-U", "postgres"]
    for cmd in (["dropdb", *base, "--if-exists", db], ["createdb", *base, db]):
        await asyncio.to_thread(subprocess.run, cmd, check=True)
    init = ["pgbench", *base, "-i", "-s", "10", "-q", db]
    await asyncio.to_thread(subprocess.run, init, check=True, capture_output=True)
    run = ["pgbench", *base, "-c", str(clients), "-j", "2", "-T", f"{seconds:g}", db]
    async with compare.BackendCpu(db) as db_cpu:
        machine_before = compare.machine_cpu_seconds()
        done = await asyncio.to_thread(
            subprocess.run, run, check=True, capture_output=True, text=True
        )
        machine = compare.machine_cpu_seconds() - machine_before
    tps = re.search(r"tps = ([\d.]+) \(without initial", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    count = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    if tps is None or latency is None or count is None:
        raise RuntimeError(f"cannot read pgbench's output:\n{done.stdout}\n{done.stderr}")
    return Reference(
        float(tps.group(1)), float(latency.group(1)), int(count.group(1)), db_cpu.seconds, machine
    )


# --- the load -------------------------------------------------------------------------------


def bodies(workload: Workload, deployments: list[str], count: int = 40) -> list[bytes]:
    """``count`` request bodies, round-robin over the deployments, each its own window."""
    start = WINDOWS_START
    out = []
    for n in range(count):
        end = start + timedelta(minutes=n + 1)
        metrics = [
            {
                "kind": "DATA",
                "metric": "psi",
                "feature": f"feature_{i}",
                "score": round(0.05 + (n * 7 + i) % 30 / 100, 4),
                "threshold": 0.2,
                "windowStart": (end - timedelta(minutes=1)).isoformat(),
                "windowEnd": end.isoformat(),
            }
            for i in range(workload.metrics_per_call)
        ]
        variables = {
            "input": {"deploymentId": deployments[n % len(deployments)], "metrics": metrics}
        }
        body = {"query": MUTATION, "variables": variables}
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


def wrk(url: str, payloads: list[bytes], auth: str, seconds: float, clients: int) -> compare.Load:
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        f.write(b"\n".join(payloads) + b"\n")
        f.flush()
        env = {**os.environ, "BENCH_BODIES_FILE": f.name, "BENCH_AUTHORIZATION": auth}
        cmd = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "--latency"]
        cmd += ["--timeout", "60s", "-s", str(BENCH / "wrk_writes.lua"), url]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)  # noqa: S603
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    r = json.loads(line.removeprefix("BENCH "))
    return compare.Load(
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        failed=r["failed"] + r["socket_errors"],
        in_flight=clients,
    )


async def probe(run: compare.Running, payload: bytes, auth: str) -> None:
    """One call must take effect, or the load would measure refusals."""
    async with httpx.AsyncClient(timeout=60) as client:
        headers = {"authorization": auth, "content-type": "application/json"}
        answer = await client.post(run.url, content=payload, headers=headers)
    data = answer.json()
    if (
        answer.status_code != 200
        or "errors" in data
        or data["data"]["recordDriftMetrics"]["userErrors"]
    ):
        raise RuntimeError(f"the probe call failed: {answer.status_code} {answer.text[:2000]}")


async def measure(
    run: compare.Running,
    workload: Workload,
    deployments: list[str],
    auth: str,
    args: argparse.Namespace,
) -> compare.Load:
    payloads = bodies(workload, deployments)
    await probe(run, payloads[0], auth)
    await asyncio.to_thread(wrk, run.url, payloads, auth, args.warmup, args.clients)
    await compare.wait_idle(run.process.pid)
    server_before = compare.cpu_seconds(group=run.process.pid)
    async with compare.BackendCpu(args.database) as db_cpu:
        machine_before = compare.machine_cpu_seconds()
        load = await asyncio.to_thread(wrk, run.url, payloads, auth, args.seconds, args.clients)
        load.machine_cpu_s = compare.machine_cpu_seconds() - machine_before
        await compare.wait_idle(run.process.pid)
    server_after = compare.cpu_seconds(group=run.process.pid)
    load.server_cpu_s = sum(v - server_before.get(k, 0) for k, v in server_after.items())
    load.db_cpu_s, load.db_sessions = db_cpu.seconds, db_cpu.sessions
    return load


async def verify_chain(db: str) -> str:
    from mlgraph.settings import Settings
    from mlgraph.storage import audit
    from mlgraph.storage.db import create_engine, create_sessions

    url = f"postgresql+asyncpg://postgres@{compare.PG_HOST}:{compare.PG_PORT}/{db}"
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessions(engine)() as s:
            report = await audit.verify(s)
    finally:
        await engine.dispose()
    if report.ok:
        return f"audit chain verifies ({report.checked:,} entries)"
    return f"AUDIT CHAIN BROKEN at seq {report.broken_seq}: {report.reason}"


# --- report ---------------------------------------------------------------------------------


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.1f}×" if reference else "-"


def report(loads: dict[str, compare.Load], ref: Reference, args: argparse.Namespace) -> None:
    """Each workload beside pgbench: rate, latency and CPU per call (mlgraph's processes, its
    PostgreSQL backends sampled every 0.1 s, and the whole machine's busy CPU, which every other
    figure must fit inside), and the ratios to pgbench's per transaction."""
    print()
    print(
        "| workload | calls/s | metrics/s | p50 ms | p99 ms | failed | server CPU ms/call "
        "| PostgreSQL CPU ms/call | PG sessions opened | machine CPU ms/call "
        "| calls/s vs pgbench tps | PostgreSQL CPU vs pgbench | machine CPU vs pgbench |"
    )
    print("| --- |" + " ---: |" * 12)
    ref_db = ref.per_transaction_ms(ref.db_cpu_s)
    ref_machine = ref.per_transaction_ms(ref.machine_cpu_s)
    print(
        f"| pgbench TPC-B ({args.clients} clients) | {ref.tps:,.0f} | | {ref.latency_ms:.1f} "
        f"(mean) | | | | {ref_db:.2f} | | {ref_machine:.2f} | 1.00× | 1.0× | 1.0× |"
    )
    for name, load in loads.items():
        w = WORKLOADS[name]
        sent = load.requests + load.in_flight
        db_ms = (load.db_cpu_s or 0.0) / sent * 1000 if sent else 0.0
        machine_ms = load.machine_cpu_s / load.requests * 1000 if load.requests else 0.0
        print(
            f"| {name} | {load.rps:,.1f} | {load.rps * w.metrics_per_call:,.0f} "
            f"| {load.p50_ms:.1f} | {load.p99_ms:.1f} | {load.failed} "
            f"| {load.per_request_ms(load.server_cpu_s)} | {db_ms:.2f} | {load.db_sessions} "
            f"| {machine_ms:.1f} | {load.rps / ref.tps:.3f}× "
            f"| {ratio(db_ms, ref_db)} | {ratio(machine_ms, ref_machine)} |"
        )
    print()
    cores = os.cpu_count() or 1
    for name, load in loads.items():
        sent = load.requests + load.in_flight
        if load.server_cpu_s is None or load.db_cpu_s is None or not sent:
            continue
        per_call = (load.server_cpu_s + load.db_cpu_s) / sent
        print(
            f"{name}: {per_call * 1000:.1f} ms of CPU per call (mlgraph + PostgreSQL), so "
            f"{cores} cores serve at most {cores / per_call:,.0f} calls/s with nothing else "
            "running (the load generator not counted)"
        )
    print()
    scale = ref.tps / TARGETS_PGBENCH_TPS
    for name, load in loads.items():
        rate, p99 = TARGETS[name]
        got = load.rps * WORKLOADS[name].metrics_per_call  # one-metric: mutations/s
        unit = "mutations/s" if WORKLOADS[name].metrics_per_call == 1 else "metrics/s"
        for label, want in (("", rate), (f" scaled to pgbench's {ref.tps:,.0f} tps", rate * scale)):
            ok = got >= want and (p99 is None or load.p99_ms <= p99) and not load.failed
            bound = f" with p99 ≤ {p99:.0f} ms" if p99 is not None else ""
            print(
                f"target {name}{label} ≥ {want:,.0f} {unit}{bound}: {compare.verdict(ok)} "
                f"({got:,.1f}/s, p99 {load.p99_ms:.1f} ms)"
            )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="mlgraph_bench_writes")
    parser.add_argument("--pgbench-database", default="mlgraph_bench_pgbench")
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    for tool in ("wrk", "pgbench", "createdb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench/writes.py needs {tool} on PATH")
    with compare.stage("databases"):
        deployments = await prepare(args.database, args.projects)
    with compare.stage(f"pgbench TPC-B, {args.clients} clients, {args.seconds:g} s"):
        reference = await pgbench(args.pgbench_database, args.seconds, args.clients)
    auth = f"Bearer {compare.admin_token()}"
    peer = compare.Peer("writes", f"mlgraph, {args.workers} workers", "mlgraph", args.workers)
    loads: dict[str, compare.Load] = {}
    async with compare.running(peer, args.database, compare.PG_PORT, None) as run:
        for name in args.workloads:
            with compare.stage(f"{name}: {WORKLOADS[name].description}, {args.clients} clients"):
                loads[name] = await measure(run, WORKLOADS[name], deployments, auth, args)
    with compare.stage("audit chain"):
        chain = await verify_chain(args.database)
    report(loads, reference, args)
    print(chain)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
