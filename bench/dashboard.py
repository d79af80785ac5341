"""Benchmark: the dashboard query on the resolver path, under concurrent load.

Not a test: it prints figures. Runs `mlgraph serve` as a real process against PostgreSQL (a
database of its own, bulk-seeded once), drives it with N concurrent HTTP clients for a fixed
time, and prints req/s, p50/p99 latency and SQL statements per request for each setup:

    .venv/bin/python bench/dashboard.py                    # all setups, 20 s each
    .venv/bin/python bench/dashboard.py --seconds 60 --setups gc-tuned

Setups: ``default-gc`` (1 worker, stock garbage collector), ``gc-tuned`` (1 worker,
gc.freeze + raised threshold, the server default) and ``gc-tuned-2w`` (2 workers).
Only ratios between setups of one run mean anything on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
QUERY = (ROOT / "graphql" / "operations" / "dashboard.graphql").read_text()
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SETUPS = {
    "default-gc": {"MLGRAPH_GC_FREEZE": "false", "MLGRAPH_GC_THRESHOLD": "[700,10,10]"},
    "gc-tuned": {},
    "gc-tuned-2w": {"workers": "2"},
}


async def prepare(db: str, projects: int) -> str:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
    admin = await asyncpg.connect(ADMIN_DSN)
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    from mlgraph.migrations import upgrade
    from mlgraph.seed import seed_bulk, seed_is_empty
    from mlgraph.settings import Settings
    from mlgraph.storage.db import create_engine, create_sessions

    await asyncio.to_thread(upgrade, url)
    engine = create_engine(Settings(database_url=url))
    sessions = create_sessions(engine)
    if await seed_is_empty(sessions):
        print(f"seeding {projects} projects ...", flush=True)
        print(await seed_bulk(sessions, projects=projects), flush=True)
    await engine.dispose()
    return url


async def statements_per_request(url: str) -> int:
    """One dashboard request in-process, counting statements on the engine."""
    sys.path.insert(0, str(ROOT))
    from mlgraph.app import create_app
    from mlgraph.settings import Settings
    from mlgraph.storage.db import create_engine
    from tests.conftest import serve, stop

    settings = Settings(database_url=url, gc_freeze=False)
    engine = create_engine(settings)
    seen: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    server, task, base = await serve(create_app(settings, engine=engine))
    async with httpx.AsyncClient(base_url=base) as client:
        body = (await client.post("/graphql", json={"query": QUERY})).json()
    await stop(server, task)
    await engine.dispose()
    assert "errors" not in body, body
    return len(seen)


async def load(base: str, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.post("/graphql", json={"query": QUERY})
                assert response.status_code == 200 and b'"errors"' not in response.content
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


def start_server(url: str, port: int, overrides: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLGRAPH_DATABASE_URL": url,
        "MLGRAPH_PORT": str(port),
        "MLGRAPH_LOG_LEVEL": "WARNING",
        "MLGRAPH_DB_POOL_SIZE": "20",
    }
    env.update({k: v for k, v in overrides.items() if k.startswith("MLGRAPH_")})
    cmd = [sys.executable, "-m", "mlgraph", "serve", "--workers", overrides.get("workers", "1")]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="mlgraph_bench")
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--setups", nargs="*", default=list(SETUPS), choices=list(SETUPS))
    args = parser.parse_args()

    url = await prepare(args.database, args.projects)
    statements = await statements_per_request(url)
    results = {}
    for name in args.setups:
        server = start_server(url, args.port, SETUPS[name])
        try:
            base = f"http://127.0.0.1:{args.port}"
            await wait_ready(base)
            await load(base, 3, args.connections)  # warm-up
            latencies = sorted(await load(base, args.seconds, args.connections))
        finally:
            server.terminate()
            server.wait(timeout=30)
        results[name] = {
            "req_per_s": round(len(latencies) / args.seconds, 2),
            "p50_ms": round(statistics.median(latencies) * 1000),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
            "requests": len(latencies),
            "sql_statements_per_request": statements,
        }
        print(name, json.dumps(results[name]), flush=True)
    if "default-gc" in results:
        base_rps = results["default-gc"]["req_per_s"]
        for name, r in results.items():
            print(f"{name}: {r['req_per_s'] / base_rps:.2f}x default-gc req/s")


if __name__ == "__main__":
    asyncio.run(main())
