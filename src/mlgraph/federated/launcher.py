"""Start the federated topology: each subgraph as its own ``mlgraph serve`` process on a
loopback port, a supergraph composed for those ports, and Hive Gateway on it. A person
(``mlgraph federation up``) and the tests (``tests/test_federation_gateway.py``) both start it
with :func:`federation`.

Everything starts at once; then each part is waited for in turn, saying which one it waits
for, so a slow or broken subgraph is named (with the end of its log) instead of surfacing as a
gateway error. Each process writes its output to ``<work_dir>/<name>.log``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mlgraph.federated.compose import compose, gateway_command, gateway_env
from mlgraph.federated.layout import LOOPBACK, Layout, Subgraph

__all__ = ["Child", "Federation", "StartFailed", "federation", "start_gateway", "wait_healthy"]

Say = Callable[[str], None]


class StartFailed(RuntimeError):
    """A part of the topology exited or did not become healthy in time."""


@dataclass
class Child:
    """One process of the topology, with the URL that says it is healthy."""

    label: str
    process: subprocess.Popen[bytes]
    health_url: str
    log: Path

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Federation:
    """A running topology: the gateway's GraphQL URL and each subgraph's."""

    gateway_url: str
    subgraph_urls: dict[str, str]
    supergraph: Path
    children: list[Child] = field(default_factory=list)

    def exited(self) -> Child | None:
        """The first process that has exited, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)


def _spawn(label: str, argv: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> Child:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    return Child(label, process, "", log)


def _subgraph(
    sub: Subgraph, port: int, env: Mapping[str, str], layout: Layout, logs: Path
) -> Child:
    argv = [sys.executable, "-m", "mlgraph", "serve", "--host", LOOPBACK, "--port", str(port)]
    child_env = {**env, "PYTHONUNBUFFERED": "1"}
    if not sub.combined:
        child_env["MLGRAPH_SUBGRAPH"] = sub.name
    child = _spawn(f"subgraph {sub.name}", argv, child_env, logs / f"{sub.name}.log", layout.root)
    child.health_url = f"http://{LOOPBACK}:{port}/readyz"
    return child


def start_gateway(
    layout: Layout, supergraph: Path, port: int, env: Mapping[str, str], log: Path
) -> Child:
    """Hive Gateway on ``supergraph`` at ``port``; healthy once the supergraph is loaded."""
    argv = gateway_command(layout, supergraph, port)
    child = _spawn("gateway", argv, gateway_env(env), log, layout.federation_dir)
    child.health_url = f"http://{LOOPBACK}:{port}/readiness"
    return child


async def wait_healthy(child: Child, say: Say, timeout_s: float = 60.0) -> None:
    """Until ``child`` answers its health URL; :class:`StartFailed` if it exits or times out."""
    say(f"waiting for {child.label} at {child.health_url}")
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if (status := child.process.poll()) is not None:
                raise StartFailed(f"{child.label} exited with status {status}:\n{child.tail()}")
            try:
                if (await client.get(child.health_url)).status_code == 200:
                    say(f"{child.label} is up ({time.monotonic() - started:.1f} s)")
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() - started > timeout_s:
                raise StartFailed(
                    f"{child.label} did not answer {child.health_url} within {timeout_s:.0f} s "
                    f"(log {child.log}):\n{child.tail()}"
                )
            await asyncio.sleep(0.2)


async def stop(child: Child) -> None:
    if child.process.poll() is None:
        child.process.terminate()
        try:
            await asyncio.to_thread(child.process.wait, 10)
        except subprocess.TimeoutExpired:
            child.process.kill()
            await asyncio.to_thread(child.process.wait)


@asynccontextmanager
async def federation(
    layout: Layout,
    work_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
    gateway_port: int | None = None,
    say: Say = print,
    timeout_s: float = 60.0,
) -> AsyncIterator[Federation]:
    """Run the topology until the block ends. ``env`` (default this process's) configures the
    subgraphs (``MLGRAPH_DATABASE_URL``, ...); ``ports`` and ``gateway_port`` default to
    ``federation/subgraphs.json``'s."""
    base_env = dict(os.environ if env is None else env)
    ports = {s.name: (ports or {}).get(s.name, s.port) for s in layout.subgraphs}
    gateway_port = gateway_port or layout.gateway_port
    work_dir = layout.root / work_dir  # absolute: the gateway runs in federation/
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    supergraph = work_dir / "supergraph.graphql"
    running = Federation(
        gateway_url=f"http://{LOOPBACK}:{gateway_port}/graphql",
        subgraph_urls={s.name: s.url(ports[s.name]) for s in layout.subgraphs},
        supergraph=supergraph,
    )
    try:
        for sub in layout.subgraphs:
            running.children.append(_subgraph(sub, ports[sub.name], base_env, layout, work_dir))
        await asyncio.to_thread(compose, layout, out=supergraph, ports=ports)
        gateway_log = work_dir / "gateway.log"
        running.children.append(
            start_gateway(layout, supergraph, gateway_port, base_env, gateway_log)
        )
        for child in running.children:
            await wait_healthy(child, say, timeout_s)
        yield running
    finally:
        for child in reversed(running.children):
            await stop(child)
