"""`mlgraph demo simulate`: the simulated runner drives the demo data, and a subscriber sees it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gql import GraphQLRequest

from mlgraph.demo import simulate
from mlgraph.seed import seed_demo
from tests.conftest import ADMIN, Backend, truncate
from tests.live import TRANSPORT_WS, instance, subscribed, ws_client
from tests.served import mlgraph_serve

PROJECT_JOBS = "subscription($p: ID!) { jobUpdated(projectId: $p) { status job { id } } }"


async def test_simulated_runner_moves_jobs_that_subscribers_see(backend: Backend) -> None:
    await truncate(backend)
    await seed_demo(backend.sessions, projects=3)
    async with instance(backend) as app:
        await app.reset()
        projects = await app.data("{ projects(first: 3) { nodes { id } } }")
        received: list[dict[str, Any]] = []

        async def watch() -> None:
            async with ws_client(app, TRANSPORT_WS) as session:
                streams = [
                    session.subscribe(GraphQLRequest(PROJECT_JOBS, variable_values={"p": p["id"]}))
                    for p in projects["projects"]["nodes"]
                ]

                async def drain(stream: Any) -> None:
                    async for result in stream:
                        received.append(result)

                await asyncio.gather(*(drain(s) for s in streams))

        watcher = asyncio.create_task(watch())
        await subscribed(app, 3)
        counts = await simulate(
            app.base_url, app.backend.headers(ADMIN, admin=True), interval_s=0, ticks=8, seed=3
        )
        assert counts["started"] > 0
        assert counts["updated"] > 0
        await asyncio.sleep(0.5)
        watcher.cancel()
        statuses = {r["jobUpdated"]["status"] for r in received}
        assert len(received) >= counts["started"] + counts["updated"]
        assert "RUNNING" in statuses


async def test_a_long_simulation_only_makes_valid_transitions(backend: Backend) -> None:
    """Issue 13: the runner reported progress on QUEUED jobs and then finished them from
    QUEUED (INVALID_TRANSITION). Any refused call ends ``simulate`` with SimulationError."""
    await truncate(backend)
    await seed_demo(backend.sessions, projects=2)
    async with instance(backend) as app:
        headers = app.backend.headers(ADMIN, admin=True)
        for seed in (1, 2, 3, 13):
            counts = await simulate(app.base_url, headers, interval_s=0, ticks=25, seed=seed)
            assert counts["finished"] > 0
            assert counts["updated"] > counts["started"]
        jobs = await app.data(JOBS)
        progress = [
            (run["status"], run["progress"])
            for p in jobs["projects"]["nodes"]
            for pl in p["pipelines"]["nodes"]
            for run in pl["runs"]["nodes"]
        ]
        assert all(status != "QUEUED" or value == 0.0 for status, value in progress)
        assert all(status != "SUCCEEDED" or value == 1.0 for status, value in progress)


JOBS = """{ projects(first: 2) { nodes { pipelines(first: 3) { nodes {
  runs(first: 100) { nodes { status progress } } } } } } }"""
RUNS = "{ projects(first: 2) { nodes { pipelines(first: 3) { nodes { runs { totalCount } } } } } }"


def simulate_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlgraph", "demo", "simulate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_demo_simulate_command_runs_against_a_server(backend: Backend) -> None:
    await truncate(backend)
    await seed_demo(backend.sessions, projects=2)
    async with instance(backend) as app:
        env = {**os.environ, "MLGRAPH_DATA_DIR": str(app.settings.data_dir)}

        async def runs() -> int:
            data = await app.data(RUNS)
            return sum(
                pl["runs"]["totalCount"]
                for p in data["projects"]["nodes"]
                for pl in p["pipelines"]["nodes"]
            )

        before = await runs()
        args = ("--url", app.base_url, "--ticks", "6", "--interval", "0", "--seed", "5")
        done = await asyncio.to_thread(simulate_command, env, *args)
        assert done.returncode == 0, done.stderr
        assert "updated=" in done.stdout
        assert await runs() > before
    # no server there: a one-line error, exit 1
    unreachable = ("--url", "http://127.0.0.1:9", "--ticks", "1")
    done = await asyncio.to_thread(simulate_command, env, *unreachable)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot reach")


DEMO_SLUGS = {
    "churn-prediction",
    "credit-risk",
    "demand-forecasting",
    "fraud-detection",
    "search-ranking",
    "support-triage",
}


async def test_the_demo_simulator_runs_long_against_a_real_server(tmp_path: Path) -> None:
    """Issue 13: `make run`'s simulator, as it runs there (a real `mlgraph serve` process on the
    embedded default, the CLI beside it): hundreds of steps without an error, every demo
    project driven, one printed line per action."""
    async with mlgraph_serve(tmp_path) as served:
        args = ("demo", "simulate", "--interval", "0", "--ticks", "200", "--seed", "13")
        done = await asyncio.to_thread(served.cli, *args, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.splitlines()
        assert lines[0] == f"simulating against {served.url} (Ctrl-C to stop)"
        counts = dict(pair.split("=") for pair in lines[-1].split())
        actions = lines[1:-1]
        rules = [a for a in actions if "created alert rule" in a]
        assert len(actions) == len(rules) + sum(
            int(counts[k]) for k in ("started", "updated", "drift")
        )
        assert {a.split()[1].rstrip(":") for a in actions} == DEMO_SLUGS
        assert int(counts["finished"]) > 15
        assert any("SUCCEEDED" in a for a in actions)
        assert not any("lets go" in a for a in actions)  # nobody else touched its jobs
        fired = await served.data(LATEST_ALERT_RULES)
        rule_names = {a["rule"]["name"] for a in fired["alerts"]["nodes"] if a["rule"]}
        assert "simulated psi" in rule_names  # its drift fired the rule it set up


LATEST_ALERT_RULES = """{ alerts(first: 50, orderBy: {field: FIRED_AT, direction: DESC}) {
  nodes { rule { name } } } }"""
