"""A simulated runner and monitor for the demo (``mlgraph demo simulate``).

It talks to a running server over GraphQL, as a real runner would: the demo's projects take
turns; it starts pipeline runs, reports their progress (QUEUED -> RUNNING -> SUCCEEDED or
FAILED, the only moves the state machine allows) until they finish, and posts drift batches for
one deployment per project (sometimes over the threshold, so the "simulated psi" alert rule it
sets up fires and resolves). It prints one line per action; open the dashboard at ``/`` or a
subscription in GraphiQL and watch the updates arrive. A job or project someone else changed
meanwhile (cancelled, archived) is let go of; any other refusal ends it with an error.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

RULE_NAME = "simulated psi"
#: Every project of the demo (it has 6), each with its pipelines and deployments.
TARGETS = """
query { projects(first: 100) { nodes { id slug
  pipelines(first: 50) { nodes { id name } }
  deployments(first: 50) { nodes { id name environment } }
  alertRules(first: 100) { nodes { name } } } } }
"""
#: Refusals that mean someone else changed the job or project (in GraphiQL, say): the runner
#: lets go of it and carries on. Anything else is a real error and ends the simulation.
LET_GO = {"INVALID_TRANSITION", "NOT_FOUND", "PROJECT_ARCHIVED", "FORBIDDEN"}
MAX_RUNNING = 4


class SimulationError(Exception):
    """The server refused a call (wrong URL, credentials, or no demo data)."""


class Refused(SimulationError):
    """A mutation came back with userErrors."""

    def __init__(self, name: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{name}: {errors}")
        self.codes = {e["code"] for e in errors}


@dataclass
class Target:
    """A project the simulation drives: its pipelines and the deployment it posts drift for."""

    slug: str
    pipelines: list[tuple[str, str]]  # (id, name)
    deployment: tuple[str, str] | None  # (id, name)


@dataclass
class Simulation:
    client: httpx.AsyncClient
    rng: random.Random
    report: Callable[[str], None] = lambda line: None
    projects: list[Target] = field(default_factory=list)
    #: Jobs started and not finished: (project slug, pipeline name, progress or None while QUEUED).
    running: dict[str, tuple[str, str, float | None]] = field(default_factory=dict)
    windows: dict[str, datetime] = field(default_factory=dict)
    turn: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"started": 0, "updated": 0, "finished": 0, "drift": 0}
    )

    async def call(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        """Run one operation; over the rate limit (429), wait as ``Retry-After`` says."""
        json = {"query": query, "variables": variables}
        while (response := await self.client.post("/graphql", json=json)).status_code == 429:
            wait = float(response.headers.get("retry-after", "1"))
            self.report(f"{datetime.now().strftime('%H:%M:%S')} rate limited: waiting {wait:g} s")
            await asyncio.sleep(wait)
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
            raise Refused(name, payload["userErrors"])
        return payload

    def say(self, slug: str, what: str) -> None:
        self.report(f"{datetime.now().strftime('%H:%M:%S')} {slug}: {what}")

    async def prepare(self) -> None:
        data = await self.call(TARGETS)
        for p in data["projects"]["nodes"]:
            deployments = p["deployments"]["nodes"]
            # drift goes to one deployment per project, production first, so its alerts fire
            deployments.sort(key=lambda d: d["environment"] != "PRODUCTION")
            first = (deployments[0]["id"], deployments[0]["name"]) if deployments else None
            pipelines = [(pl["id"], pl["name"]) for pl in p["pipelines"]["nodes"]]
            self.projects.append(Target(p["slug"], pipelines, first))
            if first is not None and not _has_rule(p):
                await self.mutate("createAlertRule", _rule(p["id"]), "alertRule { id }")
                self.say(p["slug"], f"created alert rule {RULE_NAME!r} (psi > 0.2, 2 windows)")
        if not any(t.pipelines for t in self.projects):
            raise SimulationError("no pipelines to run: seed the demo first (mlgraph seed --demo)")

    async def tick(self) -> None:
        """One step: maybe start a run (the projects take turns), advance every running job,
        maybe post drift for the next project's deployment."""
        project = self.projects[self.turn % len(self.projects)]
        self.turn += 1
        if len(self.running) < MAX_RUNNING and project.pipelines and self.rng.random() < 0.6:
            await self._start(project)
        for job_id, (slug, pipeline, progress) in list(self.running.items()):
            await self._advance(job_id, slug, pipeline, progress)
        if project.deployment is not None and self.rng.random() < 0.5:
            await self._drift(project.slug, *project.deployment)

    async def _start(self, project: Target) -> None:
        pipeline_id, name = self.rng.choice(project.pipelines)
        try:
            job = await self.mutate("startPipelineRun", {"pipelineId": pipeline_id}, "job { id }")
        except Refused as refused:
            if not refused.codes <= LET_GO:
                raise
            project.pipelines.remove((pipeline_id, name))
            self.say(project.slug, f"leaves pipeline {name} alone: {sorted(refused.codes)}")
            return
        self.running[job["job"]["id"]] = (project.slug, name, None)
        self.counts["started"] += 1
        self.say(project.slug, f"started a run of {name} (QUEUED)")

    async def _advance(self, job_id: str, slug: str, pipeline: str, last: float | None) -> None:
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
        try:
            await self.mutate("updateJob", update, "job { id }")
        except Refused as refused:
            if not refused.codes <= LET_GO:
                raise
            del self.running[job_id]  # cancelled (or deleted) by someone else: let go of it
            self.say(slug, f"lets go of a run of {pipeline}: {sorted(refused.codes)}")
            return
        if progress >= 1.0:
            del self.running[job_id]
            self.counts["finished"] += 1
            self.say(slug, f"run of {pipeline} {update['status']}")
        else:
            self.running[job_id] = (slug, pipeline, progress)
            self.say(slug, f"run of {pipeline} RUNNING {round(progress * 100)}%")
        self.counts["updated"] += 1

    async def _drift(self, slug: str, deployment_id: str, name: str) -> None:
        # windows follow the clock (from the last one's end to now), never into the future by
        # more than a second a batch, however fast the simulation runs
        now = datetime.now(UTC).replace(microsecond=0)
        start = self.windows.get(deployment_id) or now - timedelta(minutes=10)
        self.windows[deployment_id] = end = max(now, start + timedelta(seconds=1))
        score = round(self.rng.choice([0.05, 0.1, 0.15, 0.35, 0.5]), 2)
        metrics = [
            {
                "kind": "DATA",
                "metric": "psi",
                "feature": feature,
                "score": score if feature == "amount" else round(score / 2, 3),
                "threshold": 0.2,
                "windowStart": start.isoformat().replace("+00:00", "Z"),
                "windowEnd": end.isoformat().replace("+00:00", "Z"),
            }
            for feature in ("amount", "country")
        ]
        await self.mutate(
            "recordDriftMetrics", {"deploymentId": deployment_id, "metrics": metrics}, "count"
        )
        self.counts["drift"] += 1
        over = "over" if score > 0.2 else "under"
        self.say(slug, f"drift on {name}: psi(amount) {score} ({over} 0.2)")


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
    report: Callable[[str], None] = lambda line: None,
) -> dict[str, int]:
    """Run ``ticks`` steps (forever if None), ``interval_s`` apart, telling ``report`` one line
    per action; returns what it did."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        sim = Simulation(client, random.Random(seed), report)  # noqa: S311 - demo data
        await sim.prepare()
        done = 0
        while ticks is None or done < ticks:
            await sim.tick()
            done += 1
            await asyncio.sleep(interval_s)
        return sim.counts


async def wait_until_ready(base_url: str, timeout_s: float) -> None:
    """Until ``/readyz`` answers 200 (a server starting beside us), at most ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while True:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
            if asyncio.get_running_loop().time() > deadline:
                raise SimulationError(f"{base_url} is not ready after {timeout_s:g} s")
            await asyncio.sleep(0.2)
