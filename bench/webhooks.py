"""Benchmark: webhook delivery latency from commit to receiver, and throughput.

Not a test: it prints figures. On a PostgreSQL database of its own (``mlgraph_bench_webhooks``,
created and migrated here, dropped afterwards) it starts:

* R loopback receivers (default 10): real HTTP servers (uvicorn + Starlette) in a process of
  their own, each verifying every request's signature with the ``standardwebhooks`` library
  under the secret ``createWebhook`` returned for it;
* one ``mlgraph serve`` process (its deliverer running) allowed to reach exactly those
  receivers (``MLGRAPH_WEBHOOK_ALLOW_LOOPBACK``).

Each receiver is registered for ``model_version.created`` in one project; then E events
(default 1,000) are committed through the real mutation path: ``createModelVersion`` over
HTTP, from C concurrent clients (default 4), so each event is delivered to every receiver.
It prints, as JSON lines:

* commit -> delivery latency p50/p99/max: the receiver's receive time minus the event's
  ``timestamp`` (the outbox event's ``created_at``, set in the committing transaction; same
  host, same clock), and the same from the mutation's response time;
* events/s: events whose every delivery arrived, per second from the first commit to the
  last delivery (and deliveries/s, and the mutation rate alone);
* whether the target holds: p99 < 1 s.

    .venv/bin/python bench/webhooks.py
    .venv/bin/python bench/webhooks.py --events 300 --receivers 5 --clients 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from subscribers import Server, drop_postgres, fresh_postgres, mutate

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "mlgraph_bench_webhooks"
TARGET_P99_S = 1.0


# --- the receivers (run with --receivers-json in a process of their own) --------------------


def run_receivers(spec: list[dict[str, Any]]) -> None:
    """Serve one verifying receiver per ``{"port", "secret"}``; ``GET /received`` answers what
    that receiver got: ``[webhook-id, receive time, verified, seconds since the event's
    timestamp, the version created]``."""
    import uvicorn
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def receiver(secret: str) -> Starlette:
        hook = Webhook(secret)
        got: list[tuple[str, float, bool, float, str]] = []

        async def receive(request: Request) -> Response:
            body = await request.body()
            at = time.time()
            headers = dict(request.headers)
            try:
                hook.verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            event = json.loads(body)
            stamp = datetime.fromisoformat(event["timestamp"]).timestamp()
            msg_id = headers.get("webhook-id", "")
            got.append((msg_id, at, verified, at - stamp, event["data"]["version"]))
            return Response(status_code=204)

        async def received(_: Request) -> Response:
            return JSONResponse(got)

        return Starlette(
            routes=[
                Route("/hook", receive, methods=["POST"]),
                Route("/received", received, methods=["GET"]),
            ]
        )

    async def main() -> None:
        servers = [
            uvicorn.Server(
                uvicorn.Config(
                    receiver(r["secret"]),
                    host="127.0.0.1",
                    port=r["port"],
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                )
            )
            for r in spec
        ]
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        while not all(s.started for s in servers):
            for t in tasks:
                if t.done():
                    t.result()
            await asyncio.sleep(0.02)
        print("ready", flush=True)
        await asyncio.gather(*tasks)

    asyncio.run(main())


class Receivers:
    def __init__(self, spec: list[dict[str, Any]]) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - this script
            [sys.executable, __file__, "--receivers-json", json.dumps(self.spec)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("receivers did not start")

    async def received(self, client: httpx.AsyncClient) -> list[list[list[Any]]]:
        answers = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{r['port']}/received") for r in self.spec)
        )
        return [a.json() for a in answers]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


# --- the run ----------------------------------------------------------------------------------


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[max(0, int(len(sorted_ms) * q) - 1)], 1)


async def setup(client: httpx.AsyncClient, ports: list[int]) -> tuple[str, list[dict[str, Any]]]:
    """A project, a model, and one webhook per receiver port; returns the model id and the
    receivers' spec (port and secret)."""
    made = await mutate(
        client, "createProject", {"slug": "hooks", "name": "hooks"}, "project { id }"
    )
    pid = made["project"]["id"]
    model = await mutate(
        client,
        "registerModel",
        {"projectId": pid, "name": "churn", "riskTier": "LOW"},
        "model { id }",
    )
    spec = []
    for port in ports:
        hook = await mutate(
            client,
            "createWebhook",
            {
                "projectId": pid,
                "url": f"http://127.0.0.1:{port}/hook",
                "eventTypes": ["model_version.created"],
            },
            "webhook { id } secret",
        )
        assert not hook["userErrors"], hook["userErrors"]
        spec.append({"port": port, "secret": hook["secret"]})
    return model["model"]["id"], spec


async def commit_events(
    client: httpx.AsyncClient, model_id: str, events: int, clients: int
) -> dict[str, float]:
    """``events`` createModelVersion mutations from ``clients`` concurrent callers; returns
    each version's response time (by version string)."""
    answered: dict[str, float] = {}
    numbers = iter(range(events))

    async def caller() -> None:
        for i in numbers:
            version = f"1.0.{i}"
            made = await mutate(
                client,
                "createModelVersion",
                {"modelId": model_id, "version": version},
                "modelVersion { id }",
            )
            answered[version] = time.time()
            if made["userErrors"]:
                raise RuntimeError(made["userErrors"])

    await asyncio.gather(*(caller() for _ in range(clients)))
    return answered


async def run(args: argparse.Namespace, server: Server, token: str) -> dict[str, Any]:
    ports = [args.receiver_port + i for i in range(args.receivers)]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as client:
        model_id, spec = await setup(client, ports)
        receivers = Receivers(spec)
        receivers.start()
        try:
            assert server.proc is not None
            cpu_before = cpu_s(server.proc.pid)
            started = time.time()
            answered = await commit_events(client, model_id, args.events, args.clients)
            committed = time.time()
            want = args.events * args.receivers
            deadline = time.monotonic() + args.timeout
            while True:
                got = await receivers.received(client)
                if sum(map(len, got)) >= want or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            cpu_used = cpu_s(server.proc.pid) - cpu_before
        finally:
            receivers.stop()
    return summarize(args, got, answered, started, committed, cpu_used)


def summarize(
    args: argparse.Namespace,
    got: list[list[list[Any]]],
    answered: dict[str, float],
    started: float,
    committed: float,
    cpu_used: float,
) -> dict[str, Any]:
    rows = [r for per_receiver in got for r in per_receiver]
    if not rows:
        raise RuntimeError("nothing was delivered")
    from_commit = sorted(r[3] * 1000 for r in rows)
    from_response = sorted((r[1] - answered[r[4]]) * 1000 for r in rows)
    last = max(r[1] for r in rows)
    everywhere = set.intersection(*({r[0] for r in per} for per in got))
    p99 = percentile(from_commit, 0.99)
    return {
        "events": args.events,
        "receivers": args.receivers,
        "clients": args.clients,
        "delivered": f"{len(rows)}/{args.events * args.receivers}",
        "verified": sum(1 for r in rows if r[2]),
        "duplicates": sum(len(per) - len({r[0] for r in per}) for per in got),
        "p50_ms": percentile(from_commit, 0.5),
        "p99_ms": p99,
        "max_ms": round(from_commit[-1], 1),
        "from_response_p50_ms": percentile(from_response, 0.5),
        "from_response_p99_ms": percentile(from_response, 0.99),
        "events_per_s": round(len(everywhere) / (last - started), 1),
        "deliveries_per_s": round(len(rows) / (last - started), 1),
        "mutations_per_s": round(args.events / (committed - started), 1),
        "server_cpu_ms_per_event": round(cpu_used * 1000 / args.events, 1),
        "target_p99_under_1s": p99 < TARGET_P99_S * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4, help="concurrent mutation callers")
    parser.add_argument("--port", type=int, default=4500, help="mlgraph serve")
    parser.add_argument("--receiver-port", type=int, default=4510, help="first receiver port")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for all")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.settings import Settings

    ports = [args.receiver_port + i for i in range(args.receivers)]
    with tempfile.TemporaryDirectory() as data_dir:
        url = await fresh_postgres(DB_NAME)
        env = {
            **os.environ,
            "MLGRAPH_DATA_DIR": data_dir,
            "MLGRAPH_DATABASE_URL": url,
            "MLGRAPH_LOG_LEVEL": "WARNING",
            "MLGRAPH_WEBHOOK_ALLOW_HTTP": "true",
            "MLGRAPH_WEBHOOK_ALLOW_LOOPBACK": ",".join(f"127.0.0.1:{p}" for p in ports),
        }
        settings = Settings(data_dir=Path(data_dir), database_url=url)
        token = issue_token(
            settings, subject="bench@example.com", roles=settings.oidc_admin_roles[:1]
        )
        server = Server(env, args.port)
        server.start()
        try:
            await server.ready()
            print(json.dumps(await run(args, server, token)), flush=True)
        finally:
            server.stop()
            if not args.keep_db:
                await drop_postgres(DB_NAME)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receivers-json"]:  # the receivers' process (Receivers.start)
        run_receivers(json.loads(sys.argv[2]))
    else:
        asyncio.run(main())
