"""A simulated runner and monitor for the demo (``mlgraph demo simulate``).

It talks to a running server over GraphQL, as a real runner would: it starts pipeline runs,
reports their progress until they finish, and now and then posts a drift batch (sometimes
over the threshold, so the "simulated psi" alert rule it sets up fires and resolves). Open a
subscription in GraphiQL and watch the updates arrive.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

RULE_NAME = "simulated psi"
TARGETS = """
query { projects(first: 3) { nodes { id slug
  pipelines(first: 3) { nodes { id } }
  alertRules(first: 50) { nodes { name } } } }
  deployments(first: 3) { nodes { id project { id } } } }
"""


class SimulationError(Exception):
    """The server refused a call (wrong URL, credentials, or no demo data)."""


@dataclass
class Simulation:
    client: httpx.AsyncClient
    rng: random.Random
    pipelines: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    #: Jobs started and not finished: their progress, or None while still QUEUED.
    running: dict[str, float | None] = field(default_factory=dict)
    window: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    counts: dict[str, int] = field(
        default_factory=lambda: {"started": 0, "updated": 0, "finished": 0, "drift": 0}
    )

    async def call(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200 or body.get("errors"):
            raise SimulationError(f"HTTP {response.status_code}: {body.get('errors') or body}")
        return body["data"]

    async def mutate(self, name: str, input: dict[str, Any], selection: str) -> Any:
        query = (
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ {selection} userErrors {{ code message }} }} }}"
        )
        payload = (await self.call(query, {"input": input}))[name]
        if payload["userErrors"]:
            raise SimulationError(f"{name}: {payload['userErrors']}")
        return payload

    async def prepare(self) -> None:
        data = await self.call(TARGETS)
        for p in data["projects"]["nodes"]:
            self.pipelines += [pl["id"] for pl in p["pipelines"]["nodes"]]
        self.deployments = [d["id"] for d in data["deployments"]["nodes"]]
        if not self.pipelines:
            raise SimulationError("no pipelines to run: seed the demo first (mlgraph seed --demo)")
        ruled = {p["id"] for p in data["projects"]["nodes"] if _has_rule(p)}
        for d in data["deployments"]["nodes"]:
            if d["project"]["id"] not in ruled:
                await self.mutate("createAlertRule", _rule(d["project"]["id"]), "alertRule { id }")
                ruled.add(d["project"]["id"])

    async def tick(self) -> None:
        """One step: maybe start a run, advance every running job, maybe post drift."""
        if len(self.running) < 3 and self.rng.random() < 0.5:
            job = await self.mutate(
                "startPipelineRun", {"pipelineId": self.rng.choice(self.pipelines)}, "job { id }"
            )
            self.running[job["job"]["id"]] = None
            self.counts["started"] += 1
        for job_id, progress in list(self.running.items()):
            await self._advance(job_id, progress)
        if self.deployments and self.rng.random() < 0.35:
            await self._drift(self.rng.choice(self.deployments))

    async def _advance(self, job_id: str, last: float | None) -> None:
        """The runner's next report, along the rules: QUEUED -> RUNNING (the first report),
        progress only while RUNNING and never back, then SUCCEEDED or FAILED from RUNNING."""
        if last is None:  # QUEUED: this report starts the run (below 1.0: it is not done yet)
            progress = round(self.rng.uniform(0.05, 0.4), 2)
            update: dict[str, Any] = {"jobId": job_id, "status": "RUNNING", "progress": progress}
        else:
            progress = round(min(1.0, last + self.rng.uniform(0.15, 0.4)), 2)
            update = {"jobId": job_id, "progress": progress}
            if progress >= 1.0:
                update["status"] = "FAILED" if self.rng.random() < 0.15 else "SUCCEEDED"
            elif self.rng.random() < 0.7:
                update["status"] = "RUNNING"  # else a progress-only report
        await self.mutate("updateJob", update, "job { id }")
        if progress >= 1.0:
            del self.running[job_id]
            self.counts["finished"] += 1
        else:
            self.running[job_id] = progress
        self.counts["updated"] += 1

    async def _drift(self, deployment_id: str) -> None:
        start, self.window = self.window, self.window + timedelta(minutes=10)
        score = round(self.rng.choice([0.05, 0.1, 0.15, 0.35, 0.5]), 2)
        metrics = [
            {
                "kind": "DATA",
                "metric": "psi",
                "feature": feature,
                "score": score if feature == "amount" else round(score / 2, 3),
                "threshold": 0.2,
                "windowStart": start.isoformat().replace("+00:00", "Z"),
                "windowEnd": self.window.isoformat().replace("+00:00", "Z"),
            }
            for feature in ("amount", "country")
        ]
        await self.mutate(
            "recordDriftMetrics", {"deploymentId": deployment_id, "metrics": metrics}, "count"
        )
        self.counts["drift"] += 1


def _has_rule(project: dict[str, Any]) -> bool:
    return any(r["name"] == RULE_NAME for r in project["alertRules"]["nodes"])


def _rule(project_id: str) -> dict[str, Any]:
    return {
        "projectId": project_id,
        "name": RULE_NAME,
        "metric": "psi",
        "operator": "GT",
        "threshold": 0.2,
        "evaluationPeriods": 2,
        "severity": "WARNING",
    }


async def simulate(
    base_url: str,
    headers: dict[str, str],
    *,
    interval_s: float = 2.0,
    ticks: int | None = None,
    seed: int | None = None,
) -> dict[str, int]:
    """Run ``ticks`` steps (forever if None), ``interval_s`` apart; returns what it did."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        sim = Simulation(client, random.Random(seed))  # noqa: S311 - demo data, not secrets
        await sim.prepare()
        done = 0
        while ticks is None or done < ticks:
            await sim.tick()
            done += 1
            await asyncio.sleep(interval_s)
        return sim.counts
