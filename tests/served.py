"""``mlgraph serve`` as a user runs it: a real process on the embedded default (a SQLite file
and a local artifact directory in a data dir of its own), migrated and seeded with the demo by
the CLI, on a free loopback port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    url: str
    env: dict[str, str]
    log: Path

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``mlgraph ARGS`` with this server's settings (its data dir, its port)."""
        return subprocess.run(
            [sys.executable, "-m", "mlgraph", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def admin_headers(self) -> dict[str, str]:
        done = self.cli("token", "--user", "admin@example.com", "--role", "admin")
        assert done.returncode == 0, done.stderr
        return {"Authorization": f"Bearer {done.stdout.strip()}"}

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        headers = await asyncio.to_thread(self.admin_headers)
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as client:
            body = await client.post("/graphql", json={"query": query, "variables": variables})
            answer = body.json()
        assert "errors" not in answer, answer
        return answer["data"]


def user_env(**settings: str) -> dict[str, str]:
    """A user's shell: this environment without the developer's MLGRAPH_ settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")}
    return env | settings


def embedded_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a user's shell with only the embedded default's settings."""
    return user_env(
        MLGRAPH_DATA_DIR=str(data_dir), MLGRAPH_PORT=str(port), MLGRAPH_GC_FREEZE="false", **extra
    )


@asynccontextmanager
async def mlgraph_serve(data_dir: Path, *args: str, **extra: str) -> AsyncIterator[Served]:
    """Migrate, seed the demo, serve (with ``args``); stopped with SIGTERM afterwards."""
    port = free_port()
    served = Served(
        f"http://127.0.0.1:{port}", embedded_env(data_dir, port, **extra), data_dir / "serve.log"
    )
    for step in (("db", "upgrade"), ("seed", "--demo")):
        done = await asyncio.to_thread(served.cli, *step)
        assert done.returncode == 0, done.stderr
    with served.log.open("w") as log:
        process = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "mlgraph", "serve", *args],
            env=served.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        await _ready(served, process)
        yield served
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 20)


async def _ready(served: Served, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=2) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"mlgraph serve exited: {served.log.read_text()[-2000:]}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"mlgraph serve not ready: {served.log.read_text()[-2000:]}")
