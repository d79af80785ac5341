"""Benchmark: N graphql-transport-ws subscribers receive each job update.

Not a test: it prints figures. Starts ``mlgraph serve`` (one worker per replica) as real
processes on a database of their own (PostgreSQL by default, so the LISTEN/NOTIFY broker is
in the path; ``--sqlite`` for the embedded default), opens N connections that each subscribe to
one job (spread evenly over the replicas), then reports that job's progress ``--events`` times
on the first replica and prints, per run:

* delivery latency p50/p99/max from commit to client: the client's receive time minus the
  event's ``occurredAt`` (set in the committing transaction; same host, same clock);
* server memory per idle connection: growth of each replica's RSS from before the first
  connection to when all its connections are subscribed (and one event went out), over N;
* the load generator's own CPU per received message, so its share of the latency is visible.

The load generator is one process per replica (the file-descriptor limit is per process),
each holding its sockets with websockets' sans-I/O protocol on a plain asyncio protocol: a
received frame costs a few microseconds, and its receive time is taken when its bytes arrive.
While timing it polls its sockets between 1 ms naps rather than waiting in ``epoll_wait``
(``nap``; ``--blocking-client`` waits), so the server's writes do not pay for waking it.

    .venv/bin/python bench/subscribers.py                       # 1k, 5k, 10k; 2 x 10k
    .venv/bin/python bench/subscribers.py --counts 100 --replica-runs --sqlite
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
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SUBSCRIPTION = (
    "subscription($p: ID!, $j: ID) { jobUpdated(projectId: $p, jobId: $j) "
    "{ cursor occurredAt progress } }"
)
NODES = [{"id": "train", "kind": "train"}]
WAVE = 250  # connections opened at once


def raise_fd_limit() -> None:
    """As many file descriptors as the hard limit allows (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    return sum(user_system_s(pid))


def user_system_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- the load generator (``--load``: a child process per replica) ----------------------------


class Socket(asyncio.Protocol):
    """One graphql-transport-ws client: init, subscribe, then note each message's arrival."""

    def __init__(self, url: str, init: bytes, subscribe: bytes, load: Load) -> None:
        self.ws = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("graphql-transport-ws")])
        self.init, self.subscribe, self.load = init, subscribe, load
        self.transport: Any = None
        self.received = 0
        self.open = False  # the handshake is done
        self.pending = b""  # the start of a frame not received whole yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport's
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        load = self.load
        if load.timing and not self.pending and data[0] == 0x81:  # FIN, text
            n = data[1]
            if (n == 126 and len(data) == 4 + (data[2] << 8 | data[3])) or len(data) == 2 + n < 128:
                load.frames.append((now, data))  # one whole text frame: read once timed
                return
        if self.open:
            self._frames(now, data)
        else:
            self._protocol(now, data)

    def _protocol(self, now: float, data: bytes) -> None:
        """Through websockets' protocol: the handshake, and every frame but a whole text one."""
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self.load.fail(f"handshake answered {event.status_code}")
                self.open = True  # the server sends nothing more before our init
                self.ws.send_text(self.init)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(now, bytes(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self.load.fail(f"closed by the server: {event.data[2:]!r}")
        self._flush()

    def _frames(self, now: float, data: bytes) -> None:
        """Whole unfragmented text frames (unmasked: a server's) read here, the rest (ping,
        close, fragments) handed to websockets' protocol frame by frame: websockets' parser
        costs the load generator more per message than the server's fan-out does."""
        buf = self.pending + data if self.pending else data
        i, n = 0, len(buf)
        while n - i >= 2:
            length, head = buf[i + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buf[i + 2 : i + 4]), 4
            elif length == 127:
                length, head = int.from_bytes(buf[i + 2 : i + 10]), 10
            end = i + head + length
            if n - i < head or end > n:
                break
            if buf[i] == 0x81:  # FIN, text
                self._message(now, buf[i + head : end])
            else:
                self._protocol(now, buf[i:end])
            i = end
        self.pending = buf[i:]

    def _message(self, now: float, data: bytes) -> None:
        if b'"type":"connection_ack"' in data:
            self.ws.send_text(self.subscribe)
            self._flush()
            self.load.subscribed += 1
        elif self.load.message(now, data):
            self.received += 1
            if self.received == 1:
                self.load.warm += 1

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.lost += 1


class Load:
    def __init__(self) -> None:
        self.subscribed = self.warm = self.lost = self.ended = 0
        self.timing = False
        #: While timing: (receive time, a ``next`` message).
        self.arrivals: list[tuple[float, bytes]] = []
        #: While timing: (receive time, a whole text frame that was all a read brought), looked
        #: at only when the timing ends (``read_frames``): a message then costs a list append.
        self.frames: list[tuple[float, bytes]] = []
        self.failures: dict[str, int] = {}

    def message(self, now: float, data: bytes) -> bool:
        """Note a message after the handshake; True: a ``next``."""
        if b'"errors"' in data or b'"type":"complete"' in data:
            self.fail(f"subscription ended: {bytes(data[:300])!r}")
            self.ended += 1
        elif b'"type":"next"' in data:
            if self.timing:
                self.arrivals.append((now, data))
            return True
        else:
            self.fail(f"unexpected message {data[:200]!r}")
        return False

    def read_frames(self) -> None:
        """The frames kept while timing, as messages."""
        for at, frame in self.frames:
            self.message(at, frame[4:] if frame[1] == 126 else frame[2:])
        self.frames.clear()

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def nap(loop: asyncio.AbstractEventLoop) -> None:
    """Sleep 1 ms, then again after the loop's next pass: the loop then polls its sockets
    without waiting in ``epoll_wait``. On loopback the server's write runs the receiver's TCP
    path, and waking a receiver that waits in ``epoll_wait`` took 13.5% of the server's
    samples (perf, 10,000 subscribers): work a remote client's kernel does on its own machine.
    A frame waits at most ~1 ms more to be read (counted in its latency)."""
    time.sleep(0.001)
    loop.call_soon(nap, loop)


async def generate_load(
    url: str, n: int, token: str, variables: dict[str, Any], blocking: bool
) -> None:
    """The child's protocol on stdout/stdin: ``subscribed`` -> ``warm`` -> (``time``) ->
    (``report``) -> latencies. While timing, it naps between polls (``nap``) unless
    ``blocking``."""
    loop = asyncio.get_running_loop()
    load = Load()
    init = json.dumps({"type": "connection_init", "payload": {"token": token}}).encode()
    query = {"query": SUBSCRIPTION, "variables": variables}
    subscribe = json.dumps({"id": "1", "type": "subscribe", "payload": query}).encode()
    address = parse_uri(url)
    sockets: list[Socket] = []
    for start in range(0, n, WAVE):
        size = min(WAVE, n - start)
        made = await asyncio.gather(
            *(
                loop.create_connection(
                    lambda: Socket(url, init, subscribe, load), address.host, address.port
                )
                for _ in range(size)
            )
        )
        sockets += [protocol for _, protocol in made]
        while load.subscribed < len(sockets) - load.lost:  # noqa: ASYNC110 - counted in callbacks
            await asyncio.sleep(0.01)
    say(subscribed=load.subscribed, failures=load.failures)
    while load.warm < n - load.ended - load.lost:  # noqa: ASYNC110 - counted in callbacks
        await asyncio.sleep(0.05)
    say(warm=load.warm, failures=load.failures)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()  # "time"
    before = os.times()
    load.timing = True
    if not blocking:
        nap(loop)
    await stdin.readline()  # "report"
    after = os.times()
    load.read_frames()
    latencies = []
    for at, data in load.arrivals:
        update = json.loads(data)["payload"]["data"]["jobUpdated"]
        if update["progress"] == 0.0:  # a warm-up event that arrived late: not timed
            continue
        latencies.append(at - datetime.fromisoformat(update["occurredAt"]).timestamp())
    received = max(len(load.arrivals), 1)
    user, system = after.user - before.user, after.system - before.system
    say(
        latencies=latencies,
        lost=load.lost,
        ended=load.ended,
        cpu_us=(user + system) / received * 1e6,
        system_us=system / received * 1e6,
    )


# -- the servers and the run ----------------------------------------------------------------


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
        self.proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [cli, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(400):
                try:
                    if (await client.get(f"{self.base}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    @property
    def rss_kib(self) -> int:
        assert self.proc is not None
        return rss_kib(self.proc.pid)

    @property
    def cpu_s(self) -> tuple[float, float]:
        """User and system CPU seconds so far."""
        assert self.proc is not None
        return user_system_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:  # closing 10,000 sockets can take that long
                self.proc.kill()
                self.proc.wait(10)


async def mutate(client: httpx.AsyncClient, name: str, input: dict[str, Any], sel: str) -> Any:
    query = (
        f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
        f"{{ {sel} userErrors {{ code }} }} }}"
    )
    for _ in range(5):  # a server busy with thousands of sockets may pass its deadline
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"input": input}}
        )
        body = response.json()
        if response.status_code != 503:
            break
    if body.get("errors") or body["data"][name]["userErrors"]:
        raise RuntimeError(body)
    return body["data"][name]


class LoadProcess:
    """A ``--load`` child and its line protocol."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the load generator died")
        answer: dict[str, Any] = json.loads(line)
        for why, count in answer.get("failures", {}).items():
            print(f"load generator: {count} x {why}", file=sys.stderr)
        return answer

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")


async def start_load(
    url: str, n: int, token: str, variables: dict[str, Any], blocking: bool
) -> LoadProcess:
    spec = {"url": url, "n": n, "token": token, "variables": variables, "blocking": blocking}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load",
        json.dumps(spec),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        limit=2**30,
    )
    return LoadProcess(proc)


async def run(
    servers: list[Server], token: str, n: int, events: int, gap_s: float, blocking: bool
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=servers[0].base, headers=headers, timeout=60) as client:
        slug = f"b{n}-{len(servers)}-{time.monotonic_ns()}"
        project = await mutate(
            client, "createProject", {"slug": slug, "name": slug}, "project { id }"
        )
        pid = project["project"]["id"]
        nodes = {"projectId": pid, "name": "t", "nodes": NODES}
        pipeline = await mutate(client, "createPipeline", nodes, "pipeline { id }")
        run_input = {"pipelineId": pipeline["pipeline"]["id"]}
        jid = (await mutate(client, "startPipelineRun", run_input, "job { id }"))["job"]["id"]
        await mutate(client, "updateJob", {"jobId": jid, "status": "RUNNING"}, "job { id }")
        await asyncio.sleep(1.0)
        before = [s.rss_kib for s in servers]
        share = n // len(servers)
        variables = {"p": pid, "j": jid}
        loads = [
            await start_load(
                s.base.replace("http", "ws") + "/graphql", share, token, variables, blocking
            )
            for s in servers
        ]
        for load in loads:
            await load.read()  # subscribed
        warm = asyncio.gather(*(load.read() for load in loads))
        warm_events = 0
        while not warm.done():  # until every subscription has received one
            await mutate(client, "updateJob", {"jobId": jid, "progress": 0.0}, "job { id }")
            warm_events += 1
            await asyncio.wait([warm], timeout=1.0)
        await warm
        await asyncio.sleep(2.0)
        after = [s.rss_kib for s in servers]
        for load in loads:
            load.send("time")
        await asyncio.sleep(0.5)
        cpu = [s.cpu_s for s in servers]
        for i in range(events):
            progress = {"jobId": jid, "progress": (i + 1) / (events + 1)}
            await mutate(client, "updateJob", progress, "job { id }")
            await asyncio.sleep(gap_s)
        await asyncio.sleep(3.0)
        cpu = [(s.cpu_s[0] - c[0], s.cpu_s[1] - c[1]) for s, c in zip(servers, cpu, strict=True)]
        for load in loads:
            load.send("report")
        reports = [await load.read() for load in loads]
        for load in loads:
            await load.proc.wait()
    ms = sorted(x * 1000 for r in reports for x in r["latencies"])
    return {
        "subscribers": share * len(servers),
        "replicas": len(servers),
        "events": events,
        "gap_s": gap_s,
        "client": "blocking" if blocking else "polling",
        "warm_up_events": warm_events,
        "delivered": f"{len(ms)}/{share * len(servers) * events}",
        "subscriptions_ended_or_lost": sum(r["ended"] + r["lost"] for r in reports),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 1) if ms else None,
        "max_ms": round(ms[-1], 1) if ms else None,
        "rss_per_connection_kib": [
            round((a - b) / share, 1) for a, b in zip(after, before, strict=True)
        ],
        "server_cpu_us_per_message": [
            round(sum(c) / max(len(ms), 1) * len(servers) * 1e6, 1) for c in cpu
        ],
        "server_system_cpu_us_per_message": [
            round(c[1] / max(len(ms), 1) * len(servers) * 1e6, 1) for c in cpu
        ],
        "load_generator_cpu_us_per_message": [round(r["cpu_us"], 1) for r in reports],
        "load_generator_system_cpu_us_per_message": [round(r["system_us"], 1) for r in reports],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| subscribers | replicas | delivered | commit -> client p50 | p99 | max "
        "| RSS per idle connection | server CPU per message (of it system) "
        "| load generator CPU per message (of it system) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cpu(r: dict[str, Any], who: str) -> str:
        return " / ".join(
            f"{x} µs ({y} µs)"
            for x, y in zip(
                r[f"{who}_cpu_us_per_message"], r[f"{who}_system_cpu_us_per_message"], strict=True
            )
        )

    for r in rows:
        rss = " / ".join(f"{x} KiB" for x in r["rss_per_connection_kib"])
        lines.append(
            f"| {r['subscribers']:,} | {r['replicas']} | {r['delivered']} | {r['p50_ms']} ms "
            f"| {r['p99_ms']} ms | {r['max_ms']} ms | {rss} | {cpu(r, 'server')} "
            f"| {cpu(r, 'load_generator')} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument(
        "--replica-runs",
        type=int,
        nargs="*",
        default=[20000],
        help="subscriber totals to run over 2 replicas (none: skip)",
    )
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between events")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument(
        "--blocking-client",
        action="store_true",
        help="the load generator waits in epoll_wait while timing (the server's writes then "
        "pay for waking it), instead of napping 1 ms between polls",
    )
    parser.add_argument("--port", type=int, default=8765, help="first replica's port")
    parser.add_argument(
        "--database", default=f"mlg_subs_bench_{os.getpid()}", help="PostgreSQL database to use"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit()
    if args.load:
        spec = json.loads(args.load)
        await generate_load(
            spec["url"], spec["n"], spec["token"], spec["variables"], spec["blocking"]
        )
        return
    sys.path.insert(0, str(ROOT / "src"))
    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.settings import Settings

    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        db_name = args.database
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
        cli = str(ROOT / ".venv" / "bin" / "mlgraph")
        upgrade = [cli, "db", "upgrade"]
        subprocess.run(upgrade, env=env, check=True, capture_output=True)  # noqa: S603, ASYNC221 - before any load
        plan = [(n, 1) for n in args.counts]
        plan += [(n, 2) for n in args.replica_runs if not args.sqlite]
        for n, replicas in plan:
            servers = [Server(env, args.port + i) for i in range(replicas)]
            try:
                for server in servers:
                    server.start()
                for server in servers:
                    await server.ready()
                row = await run(servers, token, n, args.events, args.gap, args.blocking_client)
                rows.append(row)
                print(json.dumps(row), flush=True)
            finally:
                for server in servers:
                    server.stop()
        if not args.sqlite:
            await drop_postgres(db_name)
    print(table(rows))


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # the server uses it when installed; the load generator too
        asyncio.run(main())
    else:
        uvloop.run(main())
