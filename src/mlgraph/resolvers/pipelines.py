"""Pipelines and their runs: create, replace/lock/unlock nodes; start, report on, cancel jobs.

A pipeline's ``nodes`` is a JSON list of ``{"id", "kind", "config", "locked"}``, its ``edges``
a JSON list of ``{"from", "to"}`` node ids (``to`` runs after ``from``) forming a DAG: an edge
naming no node is NOT_FOUND, one given twice INVALID, a cycle (a self-loop included) CYCLE. A
locked node cannot be changed or removed by ``updatePipelineNodes`` until it is unlocked, and
neither can its inputs: the edges into it (LOCKED). Edges out of it belong to the nodes they
lead to.

Jobs follow ``QUEUED -> RUNNING | CANCELLED | FAILED``, ``RUNNING -> SUCCEEDED | FAILED |
CANCELLED``; SUCCEEDED, FAILED and CANCELLED are final. Reporting the current status again is a
progress report. Every successful update bumps the row's revision (``updated_at`` is always
set), so concurrent writers with the same ``expectedRevision`` cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mlgraph.errors import Problem, UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.commands import Command, Target
from mlgraph.resolvers.common import TEXT_MAX, Checks
from mlgraph.storage.enums import JobKind, JobStatus
from mlgraph.storage.models import Job, Pipeline, Project
from mlgraph.storage.types import utcnow

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.pipelines import (  # noqa: F401
        CancelJobInput,
        CreatePipelineInput,
        LockPipelineNodesInput,
        PipelineEdgeInput,
        PipelineNodeInput,
        StartPipelineRunInput,
        UnlockPipelineNodesInput,
        UpdateJobInput,
        UpdatePipelineNodesInput,
    )

NODES_MAX = 200
EDGES_MAX = 1_000
NODE_TEXT_MAX = 64
NODE_CONFIG_MAX_BYTES = 64_000
#: The whole node list (200 nodes x 64 kB configs would otherwise be 12.8 MB per row).
NODES_MAX_BYTES = 1_000_000
PARAMETERS_MAX_BYTES = 64_000
MESSAGE_MAX = 2_000

TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
#: Allowed status changes; staying in a non-terminal status is a progress report.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


# --- pipelines ----------------------------------------------------------------------------


def _check_nodes(checks: Checks, nodes: Sequence[PipelineNodeInput]) -> None:
    """Shape of a node list: count, id/kind text, unique ids, config and total size."""
    if len(nodes) > NODES_MAX:
        checks.fail(
            UserErrorCode.LIMIT_EXCEEDED, f"a pipeline has at most {NODES_MAX} nodes", "nodes"
        )
        return
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        checks.text(node.id, "nodes", str(i), "id", max_len=NODE_TEXT_MAX)
        checks.text(node.kind, "nodes", str(i), "kind", max_len=NODE_TEXT_MAX)
        checks.json_size(node.config, "nodes", str(i), "config", max_bytes=NODE_CONFIG_MAX_BYTES)
        if node.id in seen:
            checks.fail(
                UserErrorCode.INVALID, f"node id {node.id!r} is used twice", "nodes", str(i), "id"
            )
        seen.add(node.id)
    if not checks.problems:
        checks.json_size(_stored_nodes(nodes), "nodes", max_bytes=NODES_MAX_BYTES)


def _stored_nodes(nodes: Sequence[PipelineNodeInput]) -> list[dict[str, Any]]:
    """Input nodes as stored: new and replaced nodes start unlocked."""
    return [{"id": n.id, "kind": n.kind, "config": n.config, "locked": False} for n in nodes]


Edge = tuple[str, str]


def _edges(given: Sequence[PipelineEdgeInput]) -> list[Edge]:
    return [(e.from_, e.to) for e in given]


def _stored_edges(edges: Sequence[Edge]) -> list[dict[str, str]]:
    return [{"from": a, "to": b} for a, b in edges]


def _edge_problems(node_ids: Sequence[str], edges: Sequence[Edge]) -> list[Problem]:
    """Every edge names two nodes, once; together they form no cycle."""

    def problem(code: UserErrorCode, message: str, *field: str) -> Problem:
        return Problem(code, message, ("input", "edges", *field))

    if len(edges) > EDGES_MAX:
        return [problem(UserErrorCode.LIMIT_EXCEEDED, f"at most {EDGES_MAX} edges")]
    known, seen, problems = set(node_ids), set[Edge](), list[Problem]()
    for i, (a, b) in enumerate(edges):
        for end, name in ((a, "from"), (b, "to")):
            if end not in known:
                problems.append(problem(UserErrorCode.NOT_FOUND, f"no node {end!r}", str(i), name))
        if (a, b) in seen:
            problems.append(
                problem(UserErrorCode.INVALID, f"edge {a!r} -> {b!r} is given twice", str(i))
            )
        seen.add((a, b))
    if problems:
        return problems
    graph: dict[str, set[str]] = {n: set() for n in node_ids}
    for a, b in edges:
        graph[b].add(a)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        path = " -> ".join(reversed(cycle.args[1]))
        return [problem(UserErrorCode.CYCLE, f"the edges form a cycle: {path}")]
    return []


def _locked_input_problems(
    locked: set[str], old: Sequence[Edge], new: Sequence[Edge]
) -> list[Problem]:
    """The edges into a locked node stay as they are."""
    changed = set(old) ^ set(new)
    return [
        Problem(
            UserErrorCode.LOCKED,
            f"node {b!r} is locked: its input {a!r} -> {b!r} cannot be "
            f"{'added' if (a, b) in set(new) else 'removed'}; unlock it first",
            ("input", "edges"),
        )
        for a, b in sorted(changed)
        if b in locked
    ]


def _same_json(a: Any, b: Any) -> bool:
    """Equal JSON values: numbers by value (PostgreSQL may hand 1e20 back as an integer), but
    ``true`` is not ``1`` as it would be for Python's ``==``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _locked_ids(nodes: Sequence[dict[str, Any]]) -> list[str]:
    return [n["id"] for n in nodes if n.get("locked")]


class CreatePipeline(Command["CreatePipelineInput", Project]):
    target = Target(Project, "project_id", lock=False)
    action, topic, creates = "pipeline.create", "pipeline.created", True

    def check(self, checks: Checks) -> None:
        checks.text(self.input.name, "name")
        checks.text(self.input.description, "description", max_len=TEXT_MAX, required=False)
        nodes = self.input.nodes or []
        _check_nodes(checks, nodes)
        if not checks.problems:
            edges = _edges(self.input.edges or [])
            checks.problems.extend(_edge_problems([n.id for n in nodes], edges))

    async def apply(self, project: Project) -> Pipeline:
        s, input = self.tx.session, self.input
        taken = await s.scalar(
            select(Pipeline.id).where(
                Pipeline.project_id == project.id, Pipeline.name == input.name
            )
        )
        if taken is not None:
            raise UserErrors.one(
                UserErrorCode.DUPLICATE,
                f"the project already has a pipeline named {input.name!r}",
                "input",
                "name",
            )
        pipeline = Pipeline(
            id=uuid.uuid4(),
            project_id=project.id,
            name=input.name,
            description=input.description or "",
            nodes=_stored_nodes(input.nodes or []),
            edges=_stored_edges(_edges(input.edges or [])),
        )
        s.add(pipeline)
        return pipeline

    def event(self, changed: Pipeline) -> dict[str, Any]:
        return {"name": changed.name, "revision": changed.revision}


_PIPELINE = Target(Pipeline, "pipeline_id")


class UpdatePipelineNodes(Command["UpdatePipelineNodesInput", Pipeline]):
    """Replace the node list; locked nodes must come back unchanged (order may change)."""

    target = _PIPELINE
    action, topic = "pipeline.update_nodes", "pipeline.updated"

    def check(self, checks: Checks) -> None:
        _check_nodes(checks, self.input.nodes)

    async def apply(self, pipeline: Pipeline) -> Pipeline:
        given = {n.id: n for n in self.input.nodes}
        problems: list[Problem] = []
        for old in pipeline.nodes:
            if not old.get("locked"):
                continue
            new = given.get(old["id"])
            if new is None:
                why = "removed"
            elif new.kind != old["kind"] or not _same_json(new.config, old.get("config")):
                why = "changed"
            else:
                continue
            problems.append(
                Problem(
                    UserErrorCode.LOCKED,
                    f"node {old['id']!r} is locked and cannot be {why}; unlock it first",
                    ("input", "nodes"),
                )
            )
        old_edges = [(e["from"], e["to"]) for e in pipeline.edges]
        given_edges = self.input.edges
        edges = old_edges if given_edges is None else _edges(given_edges)
        problems += _edge_problems([n.id for n in self.input.nodes], edges)
        locked = {n["id"]: n for n in pipeline.nodes if n.get("locked")}
        problems += _locked_input_problems(set(locked), old_edges, edges)
        if problems:
            raise UserErrors(problems)
        # Locked nodes are kept exactly as stored; every other node is stored as given.
        pipeline.nodes = [locked.get(n["id"], n) for n in _stored_nodes(self.input.nodes)]
        pipeline.edges = _stored_edges(edges)
        pipeline.updated_at = utcnow()
        return pipeline

    def event(self, changed: Pipeline) -> dict[str, Any]:
        return {"change": "nodes", "revision": changed.revision}


class LockPipelineNodes(Command["LockPipelineNodesInput | UnlockPipelineNodesInput", Pipeline]):
    """Lock nodes by id; nodes already in that state stay as they are."""

    target = _PIPELINE
    locked = True

    def check(self, checks: Checks) -> None:
        if not self.input.node_ids:
            checks.fail(UserErrorCode.INVALID, "name at least one node", "nodeIds")
        elif len(self.input.node_ids) > NODES_MAX:
            checks.fail(
                UserErrorCode.LIMIT_EXCEEDED,
                f"a pipeline has at most {NODES_MAX} nodes",
                "nodeIds",
            )

    async def apply(self, pipeline: Pipeline) -> Pipeline:
        known = {n["id"] for n in pipeline.nodes}
        missing = [
            Problem(
                UserErrorCode.NOT_FOUND,
                f"the pipeline has no node {node_id!r}",
                ("input", "nodeIds", str(i)),
            )
            for i, node_id in enumerate(self.input.node_ids)
            if node_id not in known
        ]
        if missing:
            raise UserErrors(missing)
        self.before = {"locked": _locked_ids(pipeline.nodes), "revision": pipeline.revision}
        chosen = set(self.input.node_ids)
        pipeline.nodes = [
            {**n, "locked": self.locked if n["id"] in chosen else bool(n.get("locked"))}
            for n in pipeline.nodes
        ]
        pipeline.updated_at = utcnow()
        return pipeline

    def record(self, changed: Pipeline) -> None:
        verb = "lock" if self.locked else "unlock"
        after = {"locked": _locked_ids(changed.nodes), "revision": changed.revision}
        self.tx.audit(
            f"pipeline.{verb}_nodes",
            "Pipeline",
            changed.id,
            changed.project_id,
            before=self.before,
            after=after,
        )
        self.tx.emit(
            "pipeline.updated",
            "Pipeline",
            changed.id,
            changed.project_id,
            {
                "change": verb,
                "nodeIds": sorted(set(self.input.node_ids)),
                "revision": changed.revision,
            },
        )


class UnlockPipelineNodes(LockPipelineNodes):
    """Unlock nodes by id."""

    locked = False


# --- jobs ---------------------------------------------------------------------------------


def _job_event(job: Job) -> dict[str, Any]:
    return {"status": job.status.value, "progress": job.progress}


class StartPipelineRun(Command["StartPipelineRunInput", Pipeline]):
    target = Target(Pipeline, "pipeline_id", lock=False)
    action, topic, creates = "job.start", "job.created", True

    def check(self, checks: Checks) -> None:
        parameters = self.input.parameters
        if parameters is not None and not isinstance(parameters, dict):
            checks.fail(UserErrorCode.INVALID, "parameters must be a JSON object", "parameters")
        else:
            checks.json_size(parameters, "parameters", max_bytes=PARAMETERS_MAX_BYTES)

    async def apply(self, pipeline: Pipeline) -> Job:
        self.pipeline = pipeline
        parameters = self.input.parameters
        job = Job(
            id=uuid.uuid4(),
            project_id=pipeline.project_id,
            pipeline_id=pipeline.id,
            kind=JobKind.PIPELINE_RUN,
            status=JobStatus.QUEUED,
            progress=0.0,
            message="",
            parameters=dict(parameters) if isinstance(parameters, dict) else {},
        )
        self.tx.session.add(job)
        return job

    def event(self, changed: Job) -> dict[str, Any]:
        pipeline_id = encode_global_id("Pipeline", self.pipeline.id)
        return {**_job_event(changed), "pipelineId": pipeline_id}


def _enter(job: Job, status: JobStatus) -> None:
    """Move ``job`` to ``status`` (already checked), stamping start and finish times."""
    now = utcnow()
    if status != job.status:
        if status == JobStatus.RUNNING:
            job.started_at = now
        if status in TERMINAL:
            job.finished_at = now
        if status == JobStatus.SUCCEEDED:
            job.progress = 1.0
    job.status = status
    job.updated_at = now


def _check_progress(job: Job, target: JobStatus, progress: float) -> None:
    """Progress is reported while the job runs (or by the report that starts or ends its run),
    and never goes back."""
    if JobStatus.RUNNING not in (job.status, target):
        raise UserErrors.one(
            UserErrorCode.INVALID_TRANSITION,
            f"job is {job.status.value}: progress is reported only while it is RUNNING",
            "input",
            "progress",
        )
    if progress < job.progress:
        raise UserErrors.one(
            UserErrorCode.INVALID,
            f"progress never goes back: it is {job.progress:g}, not {progress:g}",
            "input",
            "progress",
        )


class UpdateJob(Command["UpdateJobInput", Job]):
    """A runner's report: a status change and/or progress and message."""

    target = Target(Job, "job_id")
    action, topic = "job.update", "job.updated"

    def check(self, checks: Checks) -> None:
        input = self.input
        if input.status is None and input.progress is None and input.message is None:
            checks.fail(UserErrorCode.INVALID, "give a status, progress or message")
        checks.number(input.progress, "progress", low=0.0, high=1.0)
        checks.text(input.message, "message", max_len=MESSAGE_MAX, required=False)

    async def apply(self, job: Job) -> Job:
        input = self.input
        target = job.status if input.status is None else JobStatus(input.status)
        if target not in TRANSITIONS[job.status]:
            field = "jobId" if input.status is None else "status"
            final = " (it is final)" if job.status in TERMINAL else ""
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"job is {job.status.value}{final}: cannot move to {target.value}",
                "input",
                field,
            )
        if input.progress is not None:
            _check_progress(job, target, float(input.progress))
            job.progress = float(input.progress)
        if input.message is not None:
            job.message = input.message
        _enter(job, target)
        return job

    def event(self, changed: Job) -> dict[str, Any]:
        return _job_event(changed)


class CancelJob(Command["CancelJobInput", Job]):
    target = Target(Job, "job_id")
    action, topic = "job.cancel", "job.updated"

    def check(self, checks: Checks) -> None:
        checks.text(self.input.reason, "reason", max_len=MESSAGE_MAX, required=False)

    async def apply(self, job: Job) -> Job:
        if job.status in TERMINAL:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                f"job is already {job.status.value}",
                "input",
                "jobId",
            )
        reason = self.input.reason
        job.message = reason if reason and reason.strip() else "cancelled"
        _enter(job, JobStatus.CANCELLED)
        return job

    def event(self, changed: Job) -> dict[str, Any]:
        return _job_event(changed)
