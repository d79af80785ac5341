"""Benchmark: the dashboard query side by side on one database, mlgraph against PostGraphile.

Not a test: it prints figures (``make bench``). In one run, on one PostgreSQL database
(bulk-seeded once with ``seed_bulk(projects=100)`` and reused), under the same load, it measures:

    resolver-1w   mlgraph, resolver path, 1 worker, tuned GC   (MLGRAPH_COMPILED_READS=false)
    resolver-2w   mlgraph, resolver path, 2 workers            (MLGRAPH_COMPILED_READS=false)
    compiled      mlgraph, compiled path, 1 worker             (MLGRAPH_COMPILED_READS=true)
    compiled-no-telemetry  the same without spans and metrics  (MLGRAPH_TELEMETRY=false): the
                  cost of telemetry with no exporter is measured with both running, loaded in
                  turns (``telemetry_turns``)
    federation    mlgraph as its seven domain subgraphs (one process each, compiled reads where
                  a subgraph can) behind Hive Gateway (`mlgraph federation up`)
    postgraphile  PostGraphile 5 (Node 22) over the same tables, its own query for the same data
                  (bench/postgraphile/dashboard.graphql); skipped when Node/npm are missing

Steps: (1) start each peer against a statement-counting proxy, check every peer returns the
same rows as the first (abort with a diff if not), count SQL statements per request and read
the ``x-mlgraph-plan`` header; (2) start each peer again against PostgreSQL directly, warm it
up and load it with ``wrk`` (32 connections, 20 s, POST via bench/wrk_post.lua), or with an
in-process httpx load generator when wrk is missing, reading the CPU time of the peer's
processes and PostgreSQL backends from /proc; (3) print the table, the ratios to PostGraphile
and whether the issue-18 targets hold. Only ratios from one run mean anything on a shared
machine. Examples:

    make bench
    .venv/bin/python bench/compare.py --seconds 60 --peers resolver-2w postgraphile
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import difflib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from alembic.util import CommandError

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"  # the local issuer's key (mlgraph data dir); git-ignored
PGL_DIR = BENCH / "postgraphile"
PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
MLGRAPH_QUERY = (ROOT / "graphql" / "operations" / "dashboard.graphql").read_text()
PGL_QUERY = (PGL_DIR / "dashboard.graphql").read_text()
SEED_LOCK = 7_000_007  # pg_advisory_lock key: two benches never seed one database twice
PROBE_REQUESTS = 4
PLAN_HEADER = "x-mlgraph-plan"


@dataclasses.dataclass(frozen=True)
class Peer:
    name: str
    description: str
    kind: str  # "mlgraph" | "federation" | "postgraphile"
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()
    expected_plan: str | None = None  # the x-mlgraph-plan this peer should answer with


PEERS = {
    p.name: p
    for p in [
        Peer(
            "resolver-1w",
            "mlgraph resolver path, 1 worker, tuned GC",
            "mlgraph",
            env=(("MLGRAPH_COMPILED_READS", "false"),),
            expected_plan="resolver",
        ),
        Peer(
            "resolver-2w",
            "mlgraph resolver path, 2 workers",
            "mlgraph",
            workers=2,
            env=(("MLGRAPH_COMPILED_READS", "false"),),
            expected_plan="resolver",
        ),
        Peer(
            "compiled",
            "mlgraph compiled path, 1 worker",
            "mlgraph",
            env=(("MLGRAPH_COMPILED_READS", "true"),),
            expected_plan="compiled",
        ),
        Peer(
            "compiled-no-telemetry",
            "mlgraph compiled path, 1 worker, no spans and no metrics",
            "mlgraph",
            env=(("MLGRAPH_COMPILED_READS", "true"), ("MLGRAPH_TELEMETRY", "false")),
            expected_plan="compiled",
        ),
        Peer(
            "federation",
            "mlgraph as seven subgraphs behind Hive Gateway",
            "federation",
            env=(("MLGRAPH_COMPILED_READS", "true"),),
        ),
        Peer("postgraphile", "PostGraphile 5.1.5 (Node 22), one process", "postgraphile"),
    ]
}


# --- the database ---------------------------------------------------------------------------


async def prepare(db: str, projects: int) -> None:
    """Create, migrate and bulk-seed ``db`` unless it already has projects; add bench.sql."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", SEED_LOCK)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await admin.execute(f'CREATE DATABASE "{db}"')
        from mlgraph.migrations import upgrade
        from mlgraph.seed import seed_bulk, seed_is_empty
        from mlgraph.settings import Settings
        from mlgraph.storage.db import create_engine, create_sessions

        url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{db}"
        try:
            await asyncio.to_thread(upgrade, url)
        except CommandError as error:  # e.g. migrated by a newer checkout
            raise SystemExit(
                f"cannot migrate database {db}: {error}\n"
                f"drop it (dropdb -h {PG_HOST} -U postgres {db}) or pass another --database"
            ) from error
        engine = create_engine(Settings(database_url=url))
        try:
            sessions = create_sessions(engine)
            if await seed_is_empty(sessions):
                print(f"seeding {projects} projects into {db} (once) ...", flush=True)
                print(await seed_bulk(sessions, projects=projects), flush=True)
        finally:
            await engine.dispose()
        conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{db}")
        try:
            await conn.execute((PGL_DIR / "bench.sql").read_text())
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    finally:
        await admin.execute("SELECT pg_advisory_unlock($1)", SEED_LOCK)
        await admin.close()


async def pg_stat_statements_state(db: str) -> str:
    """Why statements are counted at the wire: pg_stat_statements needs a server restart here."""
    conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{db}")
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.fetchval("SELECT count(*) FROM pg_stat_statements")
    except asyncpg.PostgresError as error:
        return f"pg_stat_statements unusable here ({error})"
    finally:
        await conn.close()
    return "pg_stat_statements is loaded, but the proxy count is used for every peer alike"


# --- counting SQL statements: a PostgreSQL wire-protocol proxy ------------------------------

DATA_VERBS = {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "VALUES", "TABLE", "MERGE"}


class StatementCounter:
    """A TCP proxy in front of PostgreSQL that counts what clients execute.

    Every simple ``Query`` and every extended-protocol ``Execute`` (resolved through ``Bind`` to
    the text of its ``Parse``) is one statement. Statements reading rows (SELECT/WITH/...) are
    ``data``; the rest (BEGIN/COMMIT/ROLLBACK/SET, the pool's empty ping, driver catalog
    introspection) is ``other``. Only used for the probe, never under load. It answers a
    client's SSLRequest/GSSENCRequest with "no" itself, so it always sees plain protocol.
    """

    def __init__(self, host: str = PG_HOST, port: int = PG_PORT) -> None:
        self.upstream = (host, port)
        self.data = 0
        self.other = 0
        self.samples: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        self.data = self.other = 0
        self.samples.clear()

    def record(self, sql: str) -> None:
        text = sql.strip().lstrip("(").strip()
        verb = text.split(None, 1)[0].upper() if text else ""
        if verb in DATA_VERBS and "pg_catalog" not in text and "pg_type" not in text:
            self.data += 1
        else:
            self.other += 1
        key = " ".join(text.split())[:100]
        self.samples[key] = self.samples.get(key, 0) + 1

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in self._clients:
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            first = await reader.readexactly(8)
            while first[:4] == b"\0\0\0\x08" and int.from_bytes(first[4:]) in _ENCRYPTION_REQUESTS:
                writer.write(b"N")  # no TLS / GSS encryption: the client goes on in plain text
                await writer.drain()
                first = await reader.readexactly(8)
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            self._clients.discard(task)
            return
        frontend = _Frontend(self.record)
        frontend.feed(first)
        up_writer.write(first)
        try:
            await asyncio.gather(
                _pump(reader, up_writer, frontend.feed),
                _pump(up_reader, writer, None),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            up_writer.close()
            writer.close()
        finally:
            self._clients.discard(task)


_ENCRYPTION_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest


async def _pump(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, inspect: Callable[[bytes], None] | None
) -> None:
    try:
        while data := await src.read(1 << 16):
            if inspect is not None:
                inspect(data)
            dst.write(data)
            await dst.drain()
    finally:
        dst.close()


class _Frontend:
    """Splits the client's byte stream into protocol-3 messages and reports executions."""

    PROTOCOL_3 = 196608

    def __init__(self, record: Callable[[str], None]) -> None:
        self.record = record
        self.buffer = bytearray()
        self.started = False  # before StartupMessage, messages have no type byte
        self.statements: dict[bytes, str] = {}
        self.portals: dict[bytes, str] = {}

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:  # SSLRequest / GSSENCRequest / StartupMessage
                if len(self.buffer) < 8:
                    return
                length = int.from_bytes(self.buffer[:4], "big")
                if len(self.buffer) < length:
                    return
                code = int.from_bytes(self.buffer[4:8], "big")
                del self.buffer[:length]
                self.started = code == self.PROTOCOL_3
                continue
            if len(self.buffer) < 5:
                return
            length = int.from_bytes(self.buffer[1:5], "big")
            if len(self.buffer) < 1 + length:
                return
            kind, body = self.buffer[0], bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            self.message(chr(kind), body)

    def message(self, kind: str, body: bytes) -> None:
        if kind == "Q":
            self.record(body.rstrip(b"\0").decode(errors="replace"))
        elif kind == "P":
            name, rest = body.split(b"\0", 1)
            self.statements[name] = rest.split(b"\0", 1)[0].decode(errors="replace")
        elif kind == "B":
            portal, statement = body.split(b"\0", 2)[:2]
            self.portals[portal] = self.statements.get(statement, "?")
        elif kind == "E":
            self.record(self.portals.get(body.split(b"\0", 1)[0], "?"))


# --- peers ----------------------------------------------------------------------------------


def free_port() -> int:
    """A free port; within ``BENCH_PORTS`` (``low-high``) when set, for a machine whose
    sessions each keep to a range of their own."""
    low, _, high = os.environ.get("BENCH_PORTS", "").partition("-")
    candidates = range(int(low), int(high) + 1) if low and high else [0]
    for candidate in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = s.getsockname()[1]
            return port
    raise RuntimeError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def node_binary() -> Path | None:
    """Node 22 from bench/postgraphile/node_modules (``npm ci`` once, then cached there)."""
    node = PGL_DIR / "node_modules" / ".bin" / "node"
    if not (node.exists() and (PGL_DIR / "node_modules" / "postgraphile").exists()):
        npm = shutil.which("npm")
        if npm is None:
            return None
        print("installing PostGraphile and Node 22 into bench/postgraphile (once) ...", flush=True)
        done = subprocess.run(  # noqa: S603 (fixed argv)
            [npm, "ci", "--no-audit", "--no-fund"], cwd=PGL_DIR, capture_output=True, text=True
        )
        if done.returncode != 0 or not node.exists():
            print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
            return None
    argv = [str(node), "--version"]
    version = subprocess.run(argv, capture_output=True, text=True).stdout.strip()  # noqa: S603
    if not version.startswith("v") or int(version[1:].split(".")[0]) < 22:
        print(f"bench/postgraphile has Node {version}; PostGraphile 5 needs Node 22+")
        return None
    return node


@dataclasses.dataclass
class Running:
    peer: Peer
    process: subprocess.Popen[bytes]
    base: str
    log: Any

    @property
    def url(self) -> str:
        return f"{self.base}/graphql"


def admin_token() -> str:
    """A platform-admin bearer token of the local issuer (key kept in bench/.cache)."""
    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.settings import Settings

    settings = Settings(data_dir=CACHE / "mlgraph")
    roles = settings.oidc_admin_roles[:1]
    return issue_token(settings, subject="bench-admin@example.com", roles=roles, ttl_s=4 * 3600)


@contextlib.asynccontextmanager
async def running(
    peer: Peer, db: str, pg_port: int, node: Path | None, extra: dict[str, str] | None = None
) -> AsyncIterator[Running]:
    """``peer`` as a real server process on a free port, talking to PostgreSQL at ``pg_port``
    (``extra``: MLGRAPH_* settings of this run over the peer's own, for mlgraph peers)."""
    port = free_port()
    log = tempfile.TemporaryFile()
    if peer.kind in ("mlgraph", "federation"):
        env = {  # the bench's settings only, whatever MLGRAPH_* the shell has
            **{k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")},
            "MLGRAPH_DATABASE_URL": f"postgresql+asyncpg://postgres@{PG_HOST}:{pg_port}/{db}",
            "MLGRAPH_DATA_DIR": str(CACHE / "mlgraph"),
            "MLGRAPH_PORT": str(port),
            "MLGRAPH_LOG_LEVEL": "WARNING",
            "MLGRAPH_DB_POOL_SIZE": "20",
            # One principal sends every request: its rate limit is kept (and so measured) but
            # set high enough never to refuse one.
            "MLGRAPH_RATE_LIMIT_POINTS": str(10**9),
            **dict(peer.env),
            **(extra or {}),
        }
        cmd = [sys.executable, "-m", "mlgraph", "serve", "--workers", str(peer.workers)]
        if peer.kind == "federation":  # the gateway on `port`; subgraphs log their requests
            env["MLGRAPH_LOG_LEVEL"] = "INFO"
            cmd = [sys.executable, "-m", "mlgraph", "federation", "up", "--gateway-port", str(port)]
            cmd += [f"--port={name}={free_port()}" for name in federation_subgraphs()]
        cwd = ROOT
    else:
        assert node is not None
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@{PG_HOST}:{pg_port}/{db}",
            "PORT": str(port),
            "PG_POOL_SIZE": "20",
            "NODE_ENV": "production",
            "GRAPHILE_ENV": "production",
        }
        cmd = [str(node), "server.mjs"]
        cwd = PGL_DIR
    process = subprocess.Popen(  # noqa: S603, ASYNC220 (fixed argv; returns at once)
        cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    run = Running(peer, process, f"http://127.0.0.1:{port}", log)
    try:
        await wait_ready(run)
        yield run
    finally:  # in a thread: the event loop keeps serving the proxy while the peer shuts down
        await asyncio.to_thread(stop_process, process)
        log.close()


def federation_subgraphs() -> list[str]:
    layout = json.loads((ROOT / "federation" / "subgraphs.json").read_text())
    return list(layout["subgraphs"])


def subgraph_requests() -> int:
    """GraphQL requests the running federation's subgraphs have logged (uvicorn access log)."""
    logs = CACHE / "mlgraph" / "federation"
    return sum(
        (logs / f"{name}.log").read_text(errors="replace").count('"POST /graphql')
        for name in federation_subgraphs()
        if (logs / f"{name}.log").exists()
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the peer's process group (uvicorn's workers too); SIGKILL after 20 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_output(run: Running) -> str:
    run.log.seek(0)
    text: str = run.log.read().decode(errors="replace")
    return text[-3000:]


async def wait_ready(run: Running) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(600):
            if run.process.poll() is not None:
                break
            try:
                answer = await client.post(run.url, json={"query": "{ __typename }"})
                if answer.status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{run.peer.name} did not start:\n{server_output(run)}")


def request_body(peer: Peer) -> bytes:
    query = PGL_QUERY if peer.kind == "postgraphile" else MLGRAPH_QUERY
    return json.dumps({"query": query}).encode()


# --- same rows on every peer ----------------------------------------------------------------

# (mlgraph field, PostGraphile field, key fields, children) from the dashboard query down.
Shape = tuple[str, str, tuple[str, ...], tuple["Shape", ...]]
DRIFT: Shape = (
    "driftMetrics",
    "driftMetricsByDeploymentId",
    ("kind", "feature", "metric", "score", "threshold", "detected", "windowEnd"),
    (),
)
DEPLOYMENTS: Shape = (
    "deployments",
    "deployments",
    ("name", "environment", "status", "strategy"),
    (DRIFT,),
)
VERSIONS: Shape = (
    "versions",
    "modelVersionsByModelId",
    ("version", "stage", "createdAt"),
    (DEPLOYMENTS,),
)
MODELS: Shape = ("models", "modelsByProjectId", ("name", "riskTier", "tags"), (VERSIONS,))
RUNS: Shape = (
    "runs",
    "jobsByPipelineId",
    ("kind", "status", "progress", "startedAt", "finishedAt"),
    (),
)
PIPELINES: Shape = ("pipelines", "pipelinesByProjectId", ("name",), (RUNS,))
PROJECTS: Shape = ("projects", "allProjects", ("slug", "name"), (PIPELINES, MODELS))


def _value(value: Any) -> Any:
    """Same value, same spelling: timestamps as UTC ISO strings, numbers as floats."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _row_id(node: dict[str, Any], postgraphile: bool) -> str:
    if postgraphile:
        return str(node["rowId"])
    _, _, uuid = base64.b64decode(node["id"]).decode().partition(":")
    return uuid  # the type is implied by the position in the tree


def normalize(body: dict[str, Any], postgraphile: bool) -> dict[str, Any]:
    """The rows of a dashboard answer as a tree of plain values, whichever server sent it."""
    if body.get("errors") or not body.get("data"):
        raise ValueError(f"answer has errors: {json.dumps(body)[:2000]}")

    def rows(connection: dict[str, Any], shape: Shape) -> list[Any]:
        _, _, keys, children = shape
        out = []
        for node in connection["nodes"]:
            row: list[Any] = [_row_id(node, postgraphile)]
            row += [[key, _value(node[key])] for key in keys]
            for child in children:
                field = child[1] if postgraphile else child[0]
                row.append([child[0], rows(node[field], child)])
            out.append(row)
        return out

    root = body["data"][PROJECTS[1] if postgraphile else PROJECTS[0]]
    return {
        "totalCount": root["totalCount"],
        "hasNextPage": root["pageInfo"]["hasNextPage"],
        "projects": rows(root, PROJECTS),
    }


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 36 and value.count("-") == 4


def _is_pair(value: Any) -> bool:
    """A ``[field, value]`` pair of a normalized row (rows start with their id instead)."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and not _is_id(value[0])
    )


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    """Where two normalized answers first differ, e.g. ``data.projects[3].models[0].name``."""
    if type(a) is not type(b):
        return f"{path}: {a!r:.120} != {b!r:.120}"
    if isinstance(a, dict):
        for key in sorted(a.keys() | b.keys()):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if _is_pair(a) and _is_pair(b):
        if a[0] != b[0]:
            return f"{path}: field {a[0]} != field {b[0]}"
        return first_difference(a[1], b[1], f"{path}.{a[0]}")
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if _is_pair(x):
                where = path
            elif i == 0 and _is_id(x):
                where = f"{path}.id"
            else:
                where = f"{path}[{i}]"
            found = first_difference(x, y, where)
            if found:
                return found
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        return None
    return None if a == b else f"{path}: {a!r:.120} != {b!r:.120}"


def diff(reference: str, ref: Any, name: str, other: Any) -> str:
    lines = difflib.unified_diff(
        json.dumps(ref, indent=1).splitlines(),
        json.dumps(other, indent=1).splitlines(),
        fromfile=reference,
        tofile=name,
        lineterm="",
        n=6,
    )
    return "\n".join(list(lines)[:80])


def count_objects(tree: Any) -> int:
    if isinstance(tree, list) and tree and _is_id(tree[0]):
        return 1 + sum(count_objects(x) for x in tree[1:])
    if isinstance(tree, list):
        return sum(count_objects(x) for x in tree)
    if isinstance(tree, dict):
        return sum(count_objects(x) for x in tree.values())
    return 0


@dataclasses.dataclass
class Probe:
    rows: dict[str, Any]
    plan: str
    data_sql: float
    other_sql: float
    samples: dict[str, int]
    bytes: int
    subgraph_requests: float | None = None  # per request, for the federation peer


async def probe(run: Running, headers: dict[str, str], counter: StatementCounter) -> Probe:
    """A few sequential requests through the counting proxy: rows, plan, statements/request."""
    body = request_body(run.peer)
    async with httpx.AsyncClient(timeout=120, headers=headers) as client:

        async def post() -> httpx.Response:
            answer = await client.post(run.url, content=body)
            if answer.status_code != 200:
                raise RuntimeError(
                    f"{run.peer.name}: HTTP {answer.status_code}: {answer.text[:500]}"
                )
            return answer

        for _ in range(2 * run.peer.workers + 1):  # every worker has its pool connection
            await post()
        counter.reset()
        answers = [await post() for _ in range(PROBE_REQUESTS)]
    last = answers[-1]
    sent = 2 * run.peer.workers + 1 + PROBE_REQUESTS
    fetches = subgraph_requests() / sent if run.peer.kind == "federation" else None
    return Probe(
        rows=normalize(last.json(), run.peer.kind == "postgraphile"),
        plan=last.headers.get(PLAN_HEADER, "missing") if run.peer.kind == "mlgraph" else "-",
        data_sql=counter.data / PROBE_REQUESTS,
        other_sql=counter.other / PROBE_REQUESTS,
        samples=dict(counter.samples),
        bytes=len(last.content),
        subgraph_requests=fetches,
    )


# --- load -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    in_flight: int  # requests sent but not answered when the measured time ended
    server_cpu_s: float | None = None  # the peer's processes, for the requests sent
    db_cpu_s: float | None = None  # the PostgreSQL backends serving it
    db_sessions: int = 0  # PostgreSQL sessions opened during the measured load
    machine_cpu_s: float = 0.0  # the whole machine's busy CPU during the measured load

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def per_request_ms(self, seconds: float | None) -> str:
        """CPU per request sent: the CPU is measured until the server has answered them all."""
        sent = self.requests + self.in_flight
        return "-" if seconds is None or not sent else f"{seconds / sent * 1000:.1f}"


def wrk_load(url: str, body: bytes, auth: str, seconds: float, connections: int) -> Load:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        env = {**os.environ, "BENCH_BODY_FILE": f.name, "BENCH_AUTHORIZATION": auth}
        threads = str(min(2, connections))
        cmd = ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds:g}s"]
        cmd += ["--timeout", "120s", "-s", str(BENCH / "wrk_post.lua"), url]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)  # noqa: S603
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    r = json.loads(line.removeprefix("BENCH "))
    return Load(
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        failed=r["failed"] + r["socket_errors"],
        in_flight=connections,  # wrk keeps one request outstanding on every connection
    )


async def python_load(url: str, body: bytes, auth: str, seconds: float, connections: int) -> Load:
    """The fallback when wrk is missing: N httpx clients in this process (costs CPU here too)."""
    latencies: list[float] = []
    failed = 0
    headers = {"content-type": "application/json"} | ({"authorization": auth} if auth else {})
    limits = httpx.Limits(max_connections=connections)
    start = time.perf_counter()
    deadline = start + seconds
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:

        async def worker() -> None:
            nonlocal failed
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                answer = await client.post(url, content=body)
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 200 or b'"errors"' in answer.content:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return Load(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=statistics.median(latencies) * 1000 if latencies else 0,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else 0,
        failed=failed,
        in_flight=0,  # every worker waited for its last answer
    )


def cpu_seconds(pids: set[int] | None = None, group: int | None = None) -> dict[int, float]:
    """User+system CPU seconds of processes by pid, or of every process in a process group,
    read from /proc (so the figures are per request, whatever else runs on the machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or (pids is not None and int(entry) not in pids):
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # fields 3.. of proc(5)
        if group is not None and int(fields[2]) != group:
            continue
        out[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def backend_pids(db: str) -> set[int]:
    conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{db}")
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
    finally:
        await conn.close()
    return {row["pid"] for row in rows}


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (/proc/stat: everything but idle and iowait),
    the figure vmstat shows: every peer's CPU figures must fit inside it."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU of the PostgreSQL backends serving ``db`` while a load runs, sampled every
    ``interval`` s from /proc, and how many sessions were opened meanwhile.

    A backend that starts during the load counts from its start (its fork and authentication
    are the load's too); one that exits keeps its last sample. Reading only the backends alive
    before and after the load, as this bench first did, missed every backend a pool opened and
    closed in between (connections over the pool size): the compiled peer's PostgreSQL CPU
    read 2.9 ms/request where the statement alone costs about 9 ms."""

    def __init__(self, db: str, interval: float = 0.1) -> None:
        self.db, self.interval = db, interval
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.sessions = 0
        self._conn: Any = None  # asyncpg.Connection
        self._task: asyncio.Task[None] | None = None
        self._sessions_before = 0

    @property
    def seconds(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())

    async def __aenter__(self) -> BackendCpu:
        self._conn = await asyncpg.connect(f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{self.db}")
        self._sessions_before = await self._session_count()
        self.start = await self._sample()
        self.last = dict(self.start)
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._conn is not None
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.last.update(await self._sample())
        self.sessions = await self._session_count() - self._sessions_before
        await self._conn.close()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.last.update(await self._sample())

    async def _sample(self) -> dict[int, float]:
        assert self._conn is not None
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.db,
        )
        return cpu_seconds(pids={row["pid"] for row in rows})

    async def _session_count(self) -> int:
        assert self._conn is not None
        query = "SELECT sessions FROM pg_stat_database WHERE datname = $1"
        return int(await self._conn.fetchval(query, self.db))


async def wait_idle(group: int) -> None:
    """Until the peer's processes use under 5% of a core: it has finished the requests that a
    load generator left in flight (the server works on after the client hangs up)."""
    before = sum(cpu_seconds(group=group).values())
    for _ in range(600):
        await asyncio.sleep(0.3)
        now = sum(cpu_seconds(group=group).values())
        if now - before < 0.3 * 0.05:
            return
        before = now


async def measure(run: Running, auth: str, args: argparse.Namespace) -> Load:
    """Warm-up load, wait until the peer is idle, measured load, wait until idle again: CPU
    seconds of the peer's processes and of its PostgreSQL backends for the measured requests."""
    body = request_body(run.peer)
    if args.load == "wrk":
        await asyncio.to_thread(wrk_load, run.url, body, auth, args.warmup, args.connections)
    else:
        await python_load(run.url, body, auth, args.warmup, args.connections)
    await wait_idle(run.process.pid)
    server_before = cpu_seconds(group=run.process.pid)
    async with BackendCpu(args.database) as db_cpu:
        machine_before = machine_cpu_seconds()
        if args.load == "wrk":
            load = await asyncio.to_thread(
                wrk_load, run.url, body, auth, args.seconds, args.connections
            )
        else:
            load = await python_load(run.url, body, auth, args.seconds, args.connections)
        load.machine_cpu_s = machine_cpu_seconds() - machine_before
        await wait_idle(run.process.pid)
    server_after = cpu_seconds(group=run.process.pid)
    if server_after:
        load.server_cpu_s = sum(v - server_before.get(k, 0) for k, v in server_after.items())
    load.db_cpu_s, load.db_sessions = db_cpu.seconds, db_cpu.sessions
    return load


# --- the compiled statement alone ----------------------------------------------------------

STATEMENT_RUNS = 100


@dataclasses.dataclass
class StatementCost:
    """The compiled dashboard statement, run alone: one connection, one prepared statement,
    ``STATEMENT_RUNS`` sequential executions per ``plan_cache_mode``."""

    backend_ms: dict[str, float]  # backend CPU per execution, by plan_cache_mode
    explained: dict[str, tuple[float, float]]  # EXPLAIN ANALYZE planning, execution ms
    answer_bytes: int

    def lines(self) -> list[str]:
        out = [
            f"compiled statement alone ({STATEMENT_RUNS} sequential executions on one "
            f"connection, {self.answer_bytes:,} bytes of JSON; the compiled pool runs "
            "force_generic_plan):"
        ]
        for mode, ms in self.backend_ms.items():
            out.append(f"  backend CPU, plan_cache_mode {mode}: {ms:.2f} ms/execution")
        for mode, (planning, execution) in self.explained.items():
            out.append(
                f"  EXPLAIN ANALYZE EXECUTE, plan_cache_mode {mode}: planning {planning:.2f} ms, "
                f"execution {execution:.2f} ms"
            )
        return out


async def statement_cost(db: str) -> StatementCost:
    """What PostgreSQL spends on the compiled statement itself, without the server or a load:
    the figure the compiled peer's "PostgreSQL CPU ms/req" should come close to."""
    from mlgraph.auth.principal import Principal
    from mlgraph.compiled.planner import Statement
    from mlgraph.schema import build_schema

    admin = Principal(id="bench", display_name="bench", platform_admin=True)
    plan = build_schema().planner.plan(MLGRAPH_QUERY, None, None, admin)
    assert isinstance(plan, Statement), plan
    dsn = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{db}"
    backend_ms: dict[str, float] = {}
    explained: dict[str, tuple[float, float]] = {}
    row = None
    for mode in ("auto", "force_generic_plan"):
        conn = await asyncpg.connect(dsn, server_settings={"plan_cache_mode": mode})
        try:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            prepared = await conn.prepare(plan.sql)
            for _ in range(10):  # past PostgreSQL's five custom plans of a new statement
                row = await prepared.fetchrow(*plan.params)
            before = cpu_seconds(pids={pid})[pid]
            for _ in range(STATEMENT_RUNS):
                row = await prepared.fetchrow(*plan.params)
            backend_ms[mode] = (cpu_seconds(pids={pid})[pid] - before) * 1000 / STATEMENT_RUNS
            if mode == "auto":  # what auto does when it keeps planning: a custom plan
                await conn.execute("SET plan_cache_mode = force_custom_plan")
                explained["force_custom_plan"] = await _explain(conn, plan.sql, plan.params)
            else:
                explained[mode] = await _explain(conn, plan.sql, plan.params)
        finally:
            await conn.close()
    assert row is not None
    return StatementCost(backend_ms, explained, len("".join(row)))


async def _explain(conn: Any, sql: str, params: tuple[Any, ...]) -> tuple[float, float]:
    """Planning and execution time of ``sql`` as a prepared statement (its plan as the
    session's plan_cache_mode picks it), from EXPLAIN ANALYZE EXECUTE."""
    await conn.execute(f"PREPARE bench_dashboard AS {sql}")
    try:
        args = ", ".join(_sql_literal(p) for p in params)
        for _ in range(6):
            await conn.fetch(f"EXECUTE bench_dashboard({args})")
        lines = [
            r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE) EXECUTE bench_dashboard({args})")
        ]
    finally:
        await conn.execute("DEALLOCATE bench_dashboard")
    found = {
        line.split(":")[0].strip(): float(line.split(":")[1].split()[0])
        for line in lines
        if line.startswith(("Planning Time", "Execution Time"))
    }
    return found.get("Planning Time", 0.0), found["Execution Time"]


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"the dashboard's parameters are page sizes, not {value!r}")
    return str(value)


# --- report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "HOLDS" if ok else "FAILS"


def report(
    probes: dict[str, Probe],
    loads: dict[str, Load],
    load_tool: str,
    sql_note: str,
    turns: tuple[Load, Load] | None,
) -> list[str]:
    ref = loads.get("postgraphile")
    head = "| peer | plan | requests | req/s | p50 ms | p99 ms | SQL statements/request "
    head += "| server CPU ms/req | PostgreSQL CPU ms/req | PG sessions opened "
    head += "| machine CPU ms/req | req/s / PG | p99 / PG |"
    lines = [head, "| --- | --- |" + " ---: |" * 11]
    for name, load in loads.items():
        p = probes[name]
        measured = ref is not None and load.requests > 0 and ref.requests > 0
        rps_ratio = f"{load.rps / ref.rps:.2f}x" if ref and measured else "-"
        p99_ratio = f"{load.p99_ms / ref.p99_ms:.2f}x" if ref and measured else "-"
        sql = f"{p.data_sql:g} (+{p.other_sql:g} tx/ping)"
        cpu = f"{load.per_request_ms(load.server_cpu_s)} | {load.per_request_ms(load.db_cpu_s)}"
        machine = load.machine_cpu_s * 1000 / load.requests if load.requests else 0.0
        cpu += f" | {load.db_sessions} | {machine:.1f}"
        lines.append(
            f"| {name} | {p.plan} | {load.requests} | {load.rps:.1f} | {load.p50_ms:,.0f} "
            f"| {load.p99_ms:,.0f} | {sql} | {cpu} | {rps_ratio} | {p99_ratio} |"
        )
    lines.append("")
    fed = probes.get("federation")
    if fed is not None and fed.subgraph_requests:
        lines.append(
            f"federation: {fed.subgraph_requests:g} subgraph requests per gateway request, "
            f"{fed.data_sql / fed.subgraph_requests:.2f} statements per subgraph request"
        )
    lines.append(f"load: {load_tool}")
    lines.append(f"SQL statements: counted at the wire by the bench's proxy ({sql_note})")
    lines.append(
        "CPU ms/req: user+system CPU (/proc) of the peer's processes and of its PostgreSQL "
        "backends (sampled every 0.1 s, so backends opened and closed meanwhile count) from the "
        "start of the measured load until the peer is idle again, per request sent; machine: "
        "the whole machine's busy CPU (/proc/stat, as vmstat) during the measured load per "
        "request answered, the load generator and anything else running included"
    )
    lines.extend(telemetry_cost(turns))
    lines.append("targets (issues 18 and 15):")
    if ref is None:
        lines.append("  not evaluated: no PostGraphile peer in this run")
        return lines
    compiled, two = loads.get("compiled"), loads.get("resolver-2w")
    if not ref.requests or (compiled and not compiled.requests) or (two and not two.requests):
        lines.append("  not evaluated: a peer finished no request (give it more --seconds)")
        return lines
    if compiled is None and two is None:
        lines.append("  not evaluated: neither the compiled nor the resolver-2w peer ran")
    if compiled is not None:
        plan = probes["compiled"].plan
        rps, p99 = compiled.rps / ref.rps, compiled.p99_ms / ref.p99_ms
        if plan == "compiled":
            lines.append(
                f"  compiled req/s >= 3.0x PostGraphile: {verdict(rps >= 3.0)} ({rps:.2f}x)"
            )
            lines.append(
                f"  compiled p99 <= 0.3x PostGraphile:   {verdict(p99 <= 0.3)} ({p99:.2f}x)"
            )
        else:
            lines.append(
                f"  compiled req/s >= 3.0x, p99 <= 0.3x PostGraphile: NOT MET, the peer answered "
                f"{PLAN_HEADER}={plan} (no compiled path in this build; {rps:.2f}x, {p99:.2f}x)"
            )
    if two is not None:
        rps = two.rps / ref.rps
        lines.append(f"  resolver 2 workers req/s >= 0.35x:   {verdict(rps >= 0.35)} ({rps:.2f}x)")
    federated = loads.get("federation")
    if federated is not None and federated.requests:
        rps = federated.rps / ref.rps
        lines.append(f"  federation req/s >= 0.5x (issue 15):  {verdict(rps >= 0.5)} ({rps:.2f}x)")
    return lines


#: Telemetry's cost: rounds of a turn each, on / off then off / on (so a drift of the machine's
#: speed during the rounds falls on both alike), of ``TURN_SECONDS`` after a 1 s warm-up.
TURN_ROUNDS = 4
TURN_SECONDS = 5.0


async def telemetry_turns(
    database: str, auth: str, args: argparse.Namespace
) -> tuple[Load, Load] | None:
    """The compiled peer with telemetry (no exporter) and without, both running, loaded in
    turns, each one's turns summed: the two peers' separate loads of the table come minutes
    apart, and the spread between such loads (a few percent) is larger than the cost."""
    turn = argparse.Namespace(**{**vars(args), "seconds": TURN_SECONDS, "warmup": 1.0})
    on_peer, off_peer = PEERS["compiled"], PEERS["compiled-no-telemetry"]
    async with (
        running(on_peer, database, PG_PORT, None, args.env) as on,
        running(off_peer, database, PG_PORT, None, args.env) as off,
    ):
        turns: dict[str, list[Load]] = {on_peer.name: [], off_peer.name: []}
        for i in range(TURN_ROUNDS):
            for run in (on, off) if i % 2 == 0 else (off, on):
                turns[run.peer.name].append(await measure(run, auth, turn))
    summed = [_summed(turns[peer.name]) for peer in (on_peer, off_peer)]
    return (summed[0], summed[1]) if all(load.requests for load in summed) else None


def _summed(loads: list[Load]) -> Load:
    """One load of several turns: counts and CPU added up, p50 and p99 the turns' median."""
    cpu = [load.server_cpu_s for load in loads]
    return Load(
        requests=sum(load.requests for load in loads),
        seconds=sum(load.seconds for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        failed=sum(load.failed for load in loads),
        in_flight=sum(load.in_flight for load in loads),
        server_cpu_s=None if None in cpu else sum(c for c in cpu if c is not None),
    )


def telemetry_cost(turns: tuple[Load, Load] | None) -> list[str]:
    """The compiled peer (telemetry on, no exporter) against the same without telemetry."""
    if turns is None:
        return []
    on, off = turns
    rps, p99 = on.rps / off.rps, on.p99_ms / off.p99_ms
    cpu = f"{on.per_request_ms(on.server_cpu_s)} vs {off.per_request_ms(off.server_cpu_s)}"
    return [
        f"telemetry on / off, compiled path (issue 17; both running, {TURN_ROUNDS} rounds of "
        f"{TURN_SECONDS:g} s turns): req/s {rps:.2f}x, p99 {p99:.2f}x, server CPU ms/req "
        f"{cpu}; req/s >= 0.95x: {verdict(rps >= 0.95)}"
    ]


# --- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def stage(text: str) -> Iterator[None]:
    print(f"{text} ...", end=" ", flush=True)
    started = time.perf_counter()
    yield
    print(f"{time.perf_counter() - started:.1f} s", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", default="mlgraph_compare")
    parser.add_argument("--projects", type=int, default=100, help="seed size (first run only)")
    parser.add_argument("--seconds", type=float, default=20, help="measured load per peer")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured load per peer")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--load", choices=["wrk", "python"], default=None, help="default: wrk")
    parser.add_argument("--verbose", action="store_true", help="print the counted statements")
    parser.add_argument(
        "--env",
        nargs="*",
        default=[],
        metavar="MLGRAPH_NAME=VALUE",
        help="settings for every mlgraph peer of this run, over the bench's (for trials)",
    )
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    if args.load is None:
        args.load = "wrk" if shutil.which("wrk") else "python"
        if args.load == "python":
            print("wrk not found (apt-get install wrk): using the in-process httpx load generator")
    load_tool = (
        f"wrk, {args.connections} connections, {args.seconds:g} s per peer"
        if args.load == "wrk"
        else f"httpx in the bench process, {args.connections} connections, {args.seconds:g} s"
    )

    peers = [PEERS[name] for name in args.peers]
    node = None
    if any(p.kind == "postgraphile" for p in peers):
        node = node_binary()
        if node is None:
            print("Node 22 / npm not available: PostGraphile is left out of this run")
            peers = [p for p in peers if p.kind != "postgraphile"]

    with stage(f"database {args.database}"):
        await prepare(args.database, args.projects)
    sql_note = await pg_stat_statements_state(args.database)
    token = admin_token()
    auth = {"mlgraph": f"Bearer {token}", "federation": f"Bearer {token}", "postgraphile": ""}

    counter = StatementCounter()
    proxy_port = await counter.start()
    probes: dict[str, Probe] = {}
    try:
        for peer in peers:
            with stage(f"probe {peer.name}"):
                async with running(peer, args.database, proxy_port, node, args.env) as run:
                    headers = {"content-type": "application/json"}
                    if auth[peer.kind]:
                        headers["authorization"] = auth[peer.kind]
                    probes[peer.name] = await probe(run, headers, counter)
            if args.verbose:
                for sql, n in sorted(probes[peer.name].samples.items(), key=lambda x: -x[1]):
                    print(f"    {n / PROBE_REQUESTS:g}x  {sql}")
    except (RuntimeError, ValueError, KeyError) as error:  # no answer, errors, another shape
        print(f"\nABORT: {error!r}"[:3000], file=sys.stderr)
        return 2
    finally:
        await counter.stop()

    reference = peers[0].name
    ref_rows = probes[reference].rows
    print(
        f"{reference}: {count_objects(ref_rows)} objects, {probes[reference].bytes:,} bytes; "
        "comparing rows of every peer with it"
    )
    for name, p in probes.items():
        if p.rows != ref_rows:
            print(f"\nABORT: {name} does not return the same rows as {reference}:", file=sys.stderr)
            print(f"first difference: {first_difference(ref_rows, p.rows)}", file=sys.stderr)
            print(diff(reference, ref_rows, name, p.rows), file=sys.stderr)
            return 2
        expected = PEERS[name].expected_plan
        if expected and p.plan != expected:
            print(f"note: {name} answered with {PLAN_HEADER}={p.plan} (wanted {expected})")
    print("same rows on every peer")

    loads: dict[str, Load] = {}
    for peer in peers:
        with stage(f"load {peer.name} ({args.warmup:g} s warm-up + {args.seconds:g} s)"):
            async with running(peer, args.database, PG_PORT, node, args.env) as run:
                loads[peer.name] = load = await measure(run, auth[peer.kind], args)
        if load.failed:
            print(f"ABORT: {peer.name} failed {load.failed} requests under load", file=sys.stderr)
            return 2
        if load.requests < args.connections:
            print(
                f"warning: {peer.name} finished only {load.requests} requests in "
                f"{args.seconds:g} s: too few for a p99 (give it more --seconds)"
            )

    turns = None
    if "compiled" in loads and "compiled-no-telemetry" in loads:
        with stage(f"telemetry on / off in turns ({TURN_ROUNDS} rounds of {TURN_SECONDS:g} s)"):
            turns = await telemetry_turns(args.database, auth["mlgraph"], args)
    print()
    print("\n".join(report(probes, loads, load_tool, sql_note, turns)))
    if any(PEERS[name].expected_plan == "compiled" for name in loads):
        with stage("the compiled statement alone"):
            cost = await statement_cost(args.database)
        print("\n".join(cost.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
