"""What `make run` does, step by step, on the embedded default: migrate, seed, serve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from mlgraph.migrations import alembic_config
from tests.conftest import free_port

MLGRAPH = [sys.executable, "-m", "mlgraph"]
ROOT = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*MLGRAPH, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_migrations_have_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_embedded_default_migrates_seeds_and_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MLGRAPH_DATA_DIR": str(tmp_path),
        "MLGRAPH_PORT": str(port),
        "MLGRAPH_DATABASE_URL": "",
    }
    assert "database at revision head" in run(env, "db", "upgrade")
    assert "seeded" in run(env, "seed", "--demo")
    assert "nothing seeded" in run(env, "seed", "--demo")  # idempotent: make run twice
    assert (tmp_path / "mlgraph.sqlite3").is_file()
    assert "up to date" in run(env, "schema", "--check")

    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([*MLGRAPH, "serve"], env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        ide = httpx.get(f"{base}/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 200
        assert "graphiql" in ide.text.lower()
        query = {"query": "{ projects { totalCount } }"}
        refused = httpx.post(f"{base}/graphql", json=query)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        token = run(env, "token", "--user", "admin@example.com", "--role", "admin").strip()
        body = httpx.post(
            f"{base}/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert body["data"]["projects"]["totalCount"] == 6
        # The demo's reports and job logs are in the local object store.
        objects = """{ projects(first: 1) { nodes {
          deployments(first: 1) { nodes { driftMetrics(first: 6) { nodes { kind report } } } }
          pipelines(first: 1) { nodes { runs(first: 5) { nodes { startedAt logsUrl } } } } } } }"""
        body = httpx.post(
            f"{base}/graphql", json={"query": objects}, headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert "errors" not in body, body["errors"]
        [project] = body["data"]["projects"]["nodes"]
        metrics = project["deployments"]["nodes"][0]["driftMetrics"]["nodes"]
        assert {m["kind"] for m in metrics if m["report"] is not None} == {"DATA"}
        runs = project["pipelines"]["nodes"][0]["runs"]["nodes"]
        started = [r for r in runs if r["startedAt"] is not None]
        assert started
        assert [r["logsUrl"] is not None for r in runs] == [
            r["startedAt"] is not None for r in runs
        ]
        assert " started\n" in httpx.get(started[0]["logsUrl"]).text
    finally:
        server.terminate()
        server.wait(timeout=30)
