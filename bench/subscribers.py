"""Benchmark: N WebSocket subscribers on one server process receive each job update.

Not a test: it prints figures. Starts `mlgraph serve` (one worker) as a real process on a
database of its own (PostgreSQL by default, so the LISTEN/NOTIFY broker is in the path;
``--sqlite`` for the embedded default), opens N graphql-transport-ws connections that each
subscribe to one job, then reports that job's progress ``--events`` times and prints, per N:

* delivery latency p50/p99/max from commit to client: the client's receive time minus the
  event's ``occurredAt`` (set in the committing transaction; same host, same clock);
* server memory per connection: growth of the server's RSS from before the first connection
  to when all N are subscribed, divided by N.

    .venv/bin/python bench/subscribers.py                     # N = 100 and 1000
    .venv/bin/python bench/subscribers.py --counts 100 --events 10 --sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SUBSCRIPTION = (
    "subscription($p: ID!, $j: ID) { jobUpdated(projectId: $p, jobId: $j) "
    "{ cursor occurredAt progress } }"
)
NODES = [{"id": "train", "kind": "train"}]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def fresh_postgres(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_postgres(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Server:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cli = str(ROOT / ".venv" / "bin" / "mlgraph")
        subprocess.run([cli, "db", "upgrade"], env=self.env, check=True, capture_output=True)
        self.proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [cli, "serve", "--port", str(self.port)], env=self.env, stderr=subprocess.DEVNULL
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{self.base}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


async def call(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def mutate(client: httpx.AsyncClient, name: str, input: dict[str, Any], sel: str) -> Any:
    query = (
        f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
        f"{{ {sel} userErrors {{ code }} }} }}"
    )
    return (await call(client, query, {"input": input}))[name]


async def subscriber(
    url: str,
    token: str,
    variables: dict[str, Any],
    number: int,
    seen: set[int],
    latencies: list[float],
) -> ClientConnection:
    ws = await connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    query = {"query": SUBSCRIPTION, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))

    async def read() -> None:
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if message.get("type") != "next":
                print("unexpected:", message, file=sys.stderr)
            if message.get("type") == "next":
                at = message["payload"]["data"]["jobUpdated"]["occurredAt"]
                committed = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
                latencies.append(now - committed)
                seen.add(number)

    asyncio.get_running_loop().create_task(read())
    return ws


async def run(server: Server, token: str, n: int, events: int, gap_s: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as client:
        project = await mutate(
            client, "createProject", {"slug": f"b{n}", "name": f"b{n}"}, "project { id }"
        )
        pid = project["project"]["id"]
        pl = await mutate(
            client,
            "createPipeline",
            {"projectId": pid, "name": "t", "nodes": NODES},
            "pipeline { id }",
        )
        job = await mutate(
            client, "startPipelineRun", {"pipelineId": pl["pipeline"]["id"]}, "job { id }"
        )
        jid = job["job"]["id"]
        assert server.proc is not None
        await asyncio.sleep(0.5)
        before = rss_kib(server.proc.pid)
        latencies: list[float] = []
        seen: set[int] = set()
        url = server.base.replace("http", "ws") + "/graphql"
        sockets = []
        for start in range(0, n, 100):  # connect in waves of 100
            sockets += await asyncio.gather(
                *(
                    subscriber(url, token, {"p": pid, "j": jid}, i, seen, latencies)
                    for i in range(start, min(n, start + 100))
                )
            )
        # warm-up events until every subscription has received one (so all are registered)
        deadline, warm = time.monotonic() + 60, 0
        while len(seen) < n and time.monotonic() < deadline:
            await mutate(client, "updateJob", {"jobId": jid, "progress": 0.0}, "job { id }")
            warm += 1
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.5)
        after = rss_kib(server.proc.pid)
        latencies.clear()
        for i in range(events):
            await mutate(
                client,
                "updateJob",
                {"jobId": jid, "progress": (i + 1) / (events + 1)},
                "job { id }",
            )
            await asyncio.sleep(gap_s)
        deadline = time.monotonic() + 30
        while len(latencies) < n * events and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for ws in sockets:
            await ws.close()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "subscribers": n,
        "events": events,
        "warm_up_events": warm,
        "delivered": f"{len(ms)}/{n * events}",
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1) if ms else None,
        "max_ms": round(ms[-1], 1) if ms else None,
        "rss_per_connection_kib": round((after - before) / n, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between events")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))  # the server inherits it
    sys.path.insert(0, str(ROOT / "src"))
    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        db_name = f"mlgraph_bench_subs_{os.getpid()}"
        url = "" if args.sqlite else await fresh_postgres(db_name)
        env = {
            **os.environ,
            "MLGRAPH_DATA_DIR": data_dir,
            "MLGRAPH_DATABASE_URL": url,
            "MLGRAPH_LOG_LEVEL": "WARNING",
        }
        settings = Settings(data_dir=Path(data_dir), database_url=url)
        token = issue_token(
            settings, subject="bench@example.com", roles=settings.oidc_admin_roles[:1]
        )
        for n in args.counts:
            server = Server(env, args.port)
            server.start()
            try:
                await server.ready()
                print(json.dumps(await run(server, token, n, args.events, args.gap)), flush=True)
            finally:
                server.stop()
        if not args.sqlite:
            await drop_postgres(db_name)


if __name__ == "__main__":
    asyncio.run(main())
