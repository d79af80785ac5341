"""Deterministic MLOps demo data (``mlgraph seed --demo``) and larger sets for tests/benchmarks.

Everything comes from one ``random.Random(seed)`` (ids, names, numbers, hashes), so a seed and a
``now`` always give the same rows. Timestamps are aware UTC, fall in the 30 days before ``now``,
children come after their parents, and ``created_at`` values are distinct (whole seconds plus a
per-row counter in the microseconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlgraph.storage import audit
from mlgraph.storage import models as m
from mlgraph.storage.db import Base, Entity
from mlgraph.storage.enums import (
    AlertStatus,
    ArtifactKind,
    ArtifactStatus,
    DeliveryStatus,
    DeploymentEventKind,
    DeploymentStatus,
    DeploymentStrategy,
    DriftKind,
    Environment,
    JobKind,
    JobStatus,
    Operator,
    RiskTier,
    Role,
    RolloutStatus,
    Severity,
    Stage,
)
from mlgraph.storage.objects import ObjectStore
from mlgraph.storage.objects.keys import artifact_key, drift_report_key, job_logs_key
from mlgraph.storage.uow import write_lock

E = TypeVar("E", bound=Entity)

_NAMES = (
    "Fraud Detection",
    "Churn Prediction",
    "Demand Forecasting",
    "Search Ranking",
    "Credit Risk",
    "Support Triage",
)
_PEOPLE = (
    ("alice@example.com", "Alice Chen"),
    ("bob@example.com", "Bob Okafor"),
    ("carol@example.com", "Carol Diaz"),
    ("dave@example.com", "Dave Kim"),
    ("erin@example.com", "Erin Novak"),
    ("frank@example.com", "Frank Müller"),
)
_PIPELINES = (
    "nightly-training",
    "feature-backfill",
    "weekly-retrain",
    "hyperparameter-sweep",
    "data-validation",
    "batch-scoring",
    "shadow-evaluation",
)
_STEPS = ("ingest", "validate", "featurize", "train", "evaluate", "register")
_TAGS = ("nlp", "tabular", "vision", "pii", "realtime", "batch")
_FEATURES = (
    "amount",
    "merchant_category",
    "account_age_days",
    "session_length",
    "country",
    "device_type",
    "txn_velocity_1h",
    "query_length",
)
#: model family -> framework
_FAMILIES = {
    "gbm": "xgboost",
    "bert": "pytorch",
    "tabnet": "pytorch",
    "logreg": "sklearn",
    "ranker": "lightgbm",
    "lstm": "tensorflow",
    "embedder": "onnx",
}
#: framework -> weights file name
_WEIGHTS = {
    "xgboost": "model.ubj",
    "pytorch": "model.pt",
    "sklearn": "model.joblib",
    "lightgbm": "model.txt",
    "tensorflow": "saved_model.tar.gz",
    "onnx": "model.onnx",
}
#: other artifacts: file name, content type, size range in bytes
_FILES = {
    ArtifactKind.METRICS: ("metrics.json", "application/json", 1_000, 20_000),
    ArtifactKind.DATASET: ("train.parquet", "application/vnd.apache.parquet", 2**27, 2**33),
    ArtifactKind.CODE: ("src.tar.gz", "application/gzip", 40_000, 5_000_000),
    ArtifactKind.OTHER: ("model_card.md", "text/markdown", 2_000, 30_000),
}
_JOB_MESSAGES = {
    JobStatus.QUEUED: "waiting for a worker",
    JobStatus.RUNNING: "running step train",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.CANCELLED: "cancelled by user",
    JobStatus.FAILED: "step train failed: CUDA out of memory",
}
_PREVIOUS_STAGE = {
    Stage.STAGING: "DRAFT",
    Stage.PRODUCTION: "STAGING",
    Stage.ARCHIVED: "PRODUCTION",
}


def demo_size(drawn: int) -> int:
    """The size of a demo artifact's object, from the (realistic, gigabyte) size drawn: small
    enough that seeding writes every object, so an AVAILABLE artifact's object is there."""
    return 256 + drawn % 8192


def demo_bytes(artifact: m.Artifact) -> bytes:
    """A demo artifact's bytes, derived from its key (the seed writes them, the row keeps their
    size and SHA-256)."""
    return hashlib.shake_256(artifact.storage_key.encode()).digest(artifact.size_bytes)


#: The statistical kinds the demo's drift series are drawn for (an OPERATIONAL series carries
#: latency and error rates, not a PSI or KS score).
_DRIFT_KINDS = (DriftKind.DATA, DriftKind.CONCEPT, DriftKind.PREDICTION)

#: Why a seeded webhook is disabled (``Webhook.disabledReason``).
SEEDED_DISABLED_REASON = (
    "seeded without a signing secret: rotateWebhookSecret, then updateWebhook(enabled: true)"
)


@dataclass(frozen=True)
class SeedSummary:
    """Rows inserted, per table name."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        parts = ", ".join(f"{count} {table}" for table, count in self.counts.items())
        return f"seeded {self.total} rows: {parts}"


@dataclass
class _Ctx:
    """One project being built: what later domains need from earlier ones."""

    index: int
    project: m.Project
    writers: list[str]  # members who may change things
    runs: list[m.Job] = field(default_factory=list)  # succeeded pipeline runs
    #: (model, production version or None, staging version)
    models: list[tuple[m.Model, m.ModelVersion | None, m.ModelVersion]] = field(
        default_factory=list
    )
    deployments: list[m.Deployment] = field(default_factory=list)
    #: (deployment, the version serving it, the candidate it was deployed beside)
    serving: list[tuple[m.Deployment, m.ModelVersion, m.ModelVersion]] = field(default_factory=list)
    drift: dict[uuid.UUID, list[m.DriftMetric]] = field(default_factory=dict)


class _Seeder:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now
        self.rows: dict[type[Base], list[Any]] = defaultdict(list)
        self.audits: list[dict[str, Any]] = []
        self._tick = 0

    # -- helpers -------------------------------------------------------------------------------
    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, base: datetime, lo: int, hi: int | None = None) -> datetime:
        """``lo..hi`` whole seconds after ``base``'s second, plus a counter in microseconds."""
        self._tick += 1
        seconds = self.rng.randint(lo, lo if hi is None else hi)
        return base.replace(microsecond=0) + timedelta(
            seconds=seconds, microseconds=self._tick % 1_000_000
        )

    def new(
        self,
        c: _Ctx | None,
        cls: type[E],
        created: datetime,
        updated: datetime | None = None,
        **values: Any,
    ) -> E:
        """A row of ``c``'s project with a seeded id and explicit timestamps."""
        if c is not None:
            values["project_id"] = c.project.id
        row = cls(id=self.uid(), created_at=created, updated_at=updated or created, **values)
        self.rows[cls].append(row)
        return row

    def audit(
        self,
        c: _Ctx,
        at: datetime,
        action: str,
        row: Entity,
        after: dict[str, Any],
        *,
        before: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Collect an entry; :meth:`chain` numbers and hashes them once all are known."""
        self.audits.append(
            {
                "actor": actor or self.rng.choice(c.writers),
                "action": action,
                "entity_type": type(row).__name__,
                "entity_id": row.id,
                "project_id": c.project.id,
                "changes": {"before": before, "after": after},
                "request_id": "seed",
                "created_at": self.at(at, 1, 30),
            }
        )

    def event(
        self,
        c: _Ctx,
        dep: m.Deployment,
        at: datetime,
        kind: DeploymentEventKind,
        message: str,
        data: object,
        actor: str,
    ) -> None:
        """One of ``dep``'s deployment events."""
        self.new(
            c,
            m.DeploymentEvent,
            at,
            deployment_id=dep.id,
            kind=kind,
            message=message,
            data=data,
            actor=actor,
        )

    def job(
        self,
        c: _Ctx,
        kind: JobKind,
        status: JobStatus,
        created: datetime,
        parameters: dict[str, Any],
        pipeline_id: uuid.UUID | None = None,
    ) -> m.Job:
        started = None if status is JobStatus.QUEUED else self.at(created, 5, 120)
        done = started is not None and status is not JobStatus.RUNNING
        finished = self.at(started, 120, 3 * 3600) if started and done else None
        progress = {JobStatus.QUEUED: 0.0, JobStatus.SUCCEEDED: 1.0}.get(
            status, round(self.rng.uniform(0.05, 0.95), 2)
        )
        return self.new(
            c,
            m.Job,
            created,
            finished or started,
            pipeline_id=pipeline_id,
            kind=kind,
            status=status,
            progress=progress,
            message=_JOB_MESSAGES[status],
            parameters=parameters,
            started_at=started,
            finished_at=finished,
        )

    # -- domains -------------------------------------------------------------------------------
    def project(self, index: int, name: str, slug: str) -> None:
        rng = self.rng
        created = self.at(self.now - timedelta(days=30), 0, 2 * 86400)
        project = self.new(
            None,
            m.Project,
            created,
            slug=slug,
            name=name,
            archived_at=None,
            description=f"{name}: models, pipelines and deployments.",
            protected_aliases=["production"],
        )
        people = rng.sample(_PEOPLE, rng.randint(2, 4))
        roles = [Role.ADMIN, Role.EDITOR, *rng.choices((Role.EDITOR, Role.VIEWER), k=2)]
        roles[len(people) - 1] = Role.VIEWER if len(people) > 2 else Role.EDITOR
        writers = [p for (p, _), r in zip(people, roles, strict=False) if r is not Role.VIEWER]
        c = _Ctx(index, project, writers)
        for (principal, display), role in zip(people, roles, strict=False):
            self.new(
                c,
                m.ProjectMember,
                self.at(created, 1, 600),
                principal_id=principal,
                display_name=display,
                role=role,
            )
        self.audit(c, created, "project.create", project, {"slug": slug}, actor=writers[0])
        self.pipelines(c)
        self.registry(c)
        self.deployments(c)
        self.drift(c)
        self.alert_rules(c)
        self.webhooks(c)
        self.later_features(c)

    def pipelines(self, c: _Ctx) -> None:
        rng, ok, active = self.rng, JobStatus.SUCCEEDED, (JobStatus.RUNNING, JobStatus.QUEUED)
        for pi, name in enumerate(rng.sample(_PIPELINES, rng.randint(3, 6))):
            created = self.at(c.project.created_at, 3600, 12 * 3600)
            steps = _STEPS[rng.randint(0, 1) : rng.randint(4, 6)]
            nodes = [{"id": s, "kind": s, "locked": s == "ingest"} for s in steps]
            pipe = self.new(
                c,
                m.Pipeline,
                created,
                name=name,
                nodes=nodes,
                revision=rng.randint(1, 4),
                description=f"{name.replace('-', ' ')} for {c.project.name}",
            )
            self.audit(c, created, "pipeline.create", pipe, {"name": name})
            n = rng.randint(4, 10)
            statuses = rng.choices((ok, JobStatus.FAILED, JobStatus.CANCELLED), (7, 2, 1), k=n)
            statuses[0] = ok  # so the first versions have a source run
            if pi < 2:  # every project has a failed, a cancelled, a running and a queued run
                statuses[1] = (JobStatus.FAILED, JobStatus.CANCELLED)[pi]
                statuses[-1] = active[pi]
            elif rng.random() < 0.3:
                statuses[-1] = rng.choice(active)
            span = int((self.now - created).total_seconds()) - 6 * 3600
            offsets = sorted(rng.randint(3 * 3600, span) for _ in range(n))
            offsets[0] = min(offsets[0], rng.randint(600, 4 * 3600))
            for status, offset in zip(statuses, offsets, strict=True):
                recent = status in active
                at = self.at(self.now - timedelta(minutes=90), 0, 3000) if recent else None
                params = {
                    "learning_rate": rng.choice((0.01, 0.05, 0.1)),
                    "max_depth": rng.randint(4, 10),
                    "git_ref": "main",
                }
                run = self.job(
                    c, JobKind.PIPELINE_RUN, status, at or self.at(created, offset), params, pipe.id
                )
                if status is ok:
                    c.runs.append(run)

    def registry(self, c: _Ctx) -> None:
        rng, stem = self.rng, c.project.slug.split("-")[0]
        for mi, family in enumerate(rng.sample(list(_FAMILIES), rng.randint(3, 6))):
            framework, name = _FAMILIES[family], f"{stem}-{family}"
            created = self.at(c.project.created_at, 86400, 2 * 86400)
            model = self.new(
                c,
                m.Model,
                created,
                name=name,
                archived_at=None,
                description=f"{family} model for {c.project.name.lower()}",
                tags=sorted(rng.sample(_TAGS, rng.randint(1, 3))),
                risk_tier=list(RiskTier)[mi % 3],
            )
            self.audit(c, created, "model.register", model, {"name": name})
            n = rng.randint(5 if mi == 0 else 3, 8)
            stages = [Stage.ARCHIVED] * (n - 2) + [Stage.STAGING, Stage.DRAFT]
            if mi < 3 or rng.random() < 0.6:
                stages[-3] = Stage.PRODUCTION
            span = int((self.now - timedelta(days=4) - created).total_seconds())
            offsets = sorted(rng.randint(2 * 3600, span) for _ in range(n))
            versions: list[m.ModelVersion] = []
            semver = [1, 0, 0]
            for vi, (stage, offset) in enumerate(zip(stages, offsets, strict=True)):
                if vi:  # mostly minor bumps, some major and patch releases
                    part = rng.choices((0, 1, 2), (1, 6, 2))[0]
                    semver = [*semver[:part], semver[part] + 1, *[0] * (2 - part)]
                at = self.at(created, offset)
                sources = [j for j in c.runs if j.finished_at and j.finished_at < at]
                auc = min(0.99, 0.82 + 0.012 * vi + rng.uniform(-0.01, 0.02))
                version = self.new(
                    c,
                    m.ModelVersion,
                    at,
                    at if stage is Stage.DRAFT else self.at(at, 3600, 86400),
                    model_id=model.id,
                    version=".".join(map(str, semver)),
                    stage=stage,
                    description=f"{name} retrained on fresh data",
                    metrics={"auc": round(auc, 3), "f1": round(auc - rng.uniform(0.05, 0.1), 3)},
                    meta={"framework": framework, "python": "3.11"},
                    commit_sha=rng.randbytes(20).hex(),
                    source_run_id=rng.choice(sources).id if sources else None,
                    revision=list(Stage).index(stage) + 1,
                )
                self.audit(c, at, "model_version.create", version, {"version": version.version})
                if stage is not Stage.DRAFT:
                    self.audit(
                        c,
                        version.updated_at,
                        "model_version.transition",
                        version,
                        {"stage": stage.value},
                        before={"stage": _PREVIOUS_STAGE[stage]},
                    )
                for parent in versions[-2:] if rng.random() < 0.15 else versions[-1:]:
                    self.rows[m.ModelVersionLineage].append(
                        m.ModelVersionLineage(
                            parent_id=parent.id,
                            child_id=version.id,
                            project_id=c.project.id,
                            created_at=at,
                        )
                    )
                versions.append(version)
                self.artifacts(c, model, version, framework, first=vi == 0)
            prod = next((v for v in versions if v.stage is Stage.PRODUCTION), None)
            aliases = [("latest", versions[-1])]
            aliases += [("champion", prod), ("production", prod)] if prod else []
            for alias, target in aliases:
                self.new(
                    c,
                    m.ModelAlias,
                    self.at(target.updated_at, 1, 60),
                    model_id=model.id,
                    alias=alias,
                    version_id=target.id,
                )
            c.models.append((model, prod, versions[-2]))
        for model, _, staging in rng.sample(c.models, 2):
            status = rng.choice((JobStatus.SUCCEEDED, JobStatus.FAILED))
            params = {"model": model.name, "version": staging.version, "suite": "holdout"}
            self.job(c, JobKind.EVALUATION, status, self.at(staging.created_at, 600, 3600), params)

    def artifacts(
        self, c: _Ctx, model: m.Model, version: m.ModelVersion, framework: str, *, first: bool
    ) -> None:
        rng = self.rng
        extras = rng.sample(list(_FILES), rng.randint(0, 2))
        if first:  # a model's first version keeps its training set
            extras = [ArtifactKind.DATASET, *[k for k in extras if k is not ArtifactKind.DATASET]]
        for kind in [ArtifactKind.WEIGHTS, *extras[:2]]:
            if kind is ArtifactKind.WEIGHTS:
                file_name, content_type = _WEIGHTS[framework], "application/octet-stream"
                big = framework == "pytorch"
                size = rng.randint(2**29, 6 * 2**30) if big else rng.randint(2**20, 300 * 2**20)
            else:
                file_name, content_type, lo, hi = _FILES[kind]
                size = rng.randint(lo, hi)
            draft = version.stage is Stage.DRAFT
            pending = draft and (kind is ArtifactKind.WEIGHTS or rng.random() < 0.3)
            created = self.at(version.created_at, 5, 600)
            rng.randbytes(32)  # drawn (as the sha256 once was), keeping the seeded sequence
            artifact = self.new(
                c,
                m.Artifact,
                created,
                None if pending else self.at(created, 10, 1800),
                version_id=version.id,
                kind=kind,
                file_name=file_name,
                content_type=content_type,
                status=ArtifactStatus.PENDING if pending else ArtifactStatus.AVAILABLE,
                storage_key="",
                size_bytes=demo_size(size),
                sha256="",
            )
            artifact.storage_key = artifact_key(
                c.project.id, model.id, version.id, artifact.id, file_name
            )
            artifact.sha256 = hashlib.sha256(demo_bytes(artifact)).hexdigest()

    def deployments(self, c: _Ctx) -> None:
        rng, strategies = self.rng, list(DeploymentStrategy)  # ROLLING, CANARY, BLUE_GREEN
        for mi, (model, prod, staging) in enumerate(c.models):
            plans = []  # (environment, strategy, the version serving before the change)
            if prod is not None:  # the first three models always have one
                strategy = strategies[mi] if mi < 3 else rng.choice(strategies)
                plans.append((Environment.PRODUCTION, strategy, prod))
            if prod is None or rng.random() < 0.5:
                env = rng.choice((Environment.STAGING, Environment.DEVELOPMENT))
                plans.append((env, DeploymentStrategy.ROLLING, staging))
            for env, strategy, live in plans:
                rolled_back = mi == 2 and env is Environment.PRODUCTION  # a failed blue/green
                self.deployment(c, model, env, strategy, live, staging, rolled_back=rolled_back)

    def deployment(
        self,
        c: _Ctx,
        model: m.Model,
        env: Environment,
        strategy: DeploymentStrategy,
        live: m.ModelVersion,
        candidate: m.ModelVersion,
        *,
        rolled_back: bool,
    ) -> None:
        """CANARY splits live/candidate; a rolled-back cutover is back on live; else live 100%."""
        rng, kinds = self.rng, DeploymentEventKind
        before, after = {live.version: 100}, {candidate.version: 100}
        if strategy is DeploymentStrategy.CANARY:
            share = rng.choice((5, 10, 20))
            after = {live.version: 100 - share, candidate.version: share}
        elif not rolled_back:
            before, after = {}, {live.version: 100}
        serving = after if strategy is DeploymentStrategy.CANARY else {live.version: 100}
        created = self.at(max(live.updated_at, candidate.updated_at), 3600, 86400)
        dep = self.new(
            c,
            m.Deployment,
            created,
            model_id=model.id,
            name=f"{model.name}-{env.value.lower()}",
            environment=env,
            strategy=strategy,
            status=DeploymentStatus.ROLLED_BACK if rolled_back else DeploymentStatus.ACTIVE,
            config={"replicas": rng.randint(2, 8), "cpu": "2", "memory": "4Gi"},
        )
        by_name = {live.version: live, candidate.version: candidate}
        for name, percent in serving.items():
            self.new(
                c,
                m.DeploymentTarget,
                self.at(created, 1, 30),
                deployment_id=dep.id,
                version_id=by_name[name].id,
                traffic_percent=float(percent),
            )
        actor = rng.choice(c.writers)
        events = [
            (kinds.CREATED, f"{strategy.value.lower()} deployment", {"environment": env.value}),
            (kinds.TRAFFIC_SHIFTED, "traffic shifted", {"from": before, "to": after}),
        ]
        if rolled_back:
            reason = "rolled back: p95 latency 3x over SLO after cutover"
            events.append((kinds.ROLLED_BACK, reason, {"from": after, "to": before}))
        elif strategy is not DeploymentStrategy.CANARY:
            events.append((kinds.PROMOTED, f"{live.version} promoted", {"version": live.version}))
        self.audit(c, created, "deployment.create", dep, {"name": dep.name}, actor=actor)
        at = created
        for kind, message, data in events:
            at = self.at(at, 1, 5) if kind is kinds.CREATED else self.at(at, 600, 7200)
            self.event(c, dep, at, kind, message, data, actor)
            if kind is kinds.TRAFFIC_SHIFTED:
                self.audit(
                    c,
                    at,
                    "deployment.shift_traffic",
                    dep,
                    {"traffic": after},
                    before={"traffic": before},
                    actor=actor,
                )
        dep.updated_at, dep.revision = at, len(events)
        if env is Environment.PRODUCTION:
            status = JobStatus.FAILED if rolled_back else JobStatus.SUCCEEDED
            params = {"deployment": dep.name, "strategy": strategy.value}
            self.job(c, JobKind.ROLLOUT, status, self.at(created, 5, 60), params)
        c.deployments.append(dep)
        c.serving.append((dep, live, candidate))

    def drift(self, c: _Ctx) -> None:
        """Hourly windows up to ``now``; one feature trends up at the end, or spikes and settles."""
        rng = self.rng
        last_end = (self.now - timedelta(minutes=10)).replace(minute=0, second=0, microsecond=0)
        for di, dep in enumerate(c.deployments):
            mode = ("trend", "spike")[di] if di < 2 else rng.choice(("trend", "spike", "calm"))
            windows, features = rng.randint(6, 10), rng.sample(_FEATURES, rng.randint(2, 3))
            rows = c.drift.setdefault(dep.id, [])
            for w, fi, kind in product(range(windows), range(len(features)), _DRIFT_KINDS):
                end = last_end - timedelta(hours=windows - 1 - w)
                metric, threshold = ("ks", 0.1) if kind is DriftKind.CONCEPT else ("psi", 0.2)
                score = rng.uniform(0.01, threshold / 2)
                if fi == 0 and metric == "psi" and mode == "trend" and w >= windows - 3:
                    score = 0.24 + 0.07 * (w - windows + 3) + rng.uniform(0, 0.02)
                elif fi == 0 and metric == "psi" and mode == "spike" and 1 <= w <= 3:
                    score = rng.uniform(0.22, 0.35)
                score = round(score, 4)
                report = drift_report_key(c.project.id, dep.id, f"{end:%Y%m%dT%H}/{kind}.json")
                rows.append(
                    self.new(
                        c,
                        m.DriftMetric,
                        self.at(end, 30, 300),
                        deployment_id=dep.id,
                        kind=kind,
                        metric=metric,
                        feature=features[fi],
                        score=score,
                        threshold=threshold,
                        detected=score > threshold,
                        window_start=end - timedelta(hours=1),
                        window_end=end,
                        report_key=report if kind is DriftKind.DATA else None,
                    )
                )

    def alert_rules(self, c: _Ctx) -> None:
        rng, first = self.rng, c.deployments[0]
        specs = [  # name, scoped deployment, drift kind, severity, enabled
            (f"{first.name} data drift", first, DriftKind.DATA, Severity.CRITICAL, True),
            ("Project-wide PSI drift", None, None, Severity.WARNING, True),
            (
                "Prediction drift (muted)",
                rng.choice(c.deployments),
                DriftKind.PREDICTION,
                Severity.INFO,
                False,
            ),
        ]
        rules_at = max(d.updated_at for d in c.deployments)
        count = 3 if c.index == 0 else rng.randint(2, 3)
        for ri, (name, scope, drift_kind, severity, enabled) in enumerate(specs[:count]):
            rule = self.new(
                c,
                m.AlertRule,
                self.at(rules_at, 600, 7200),
                name=name,
                metric="psi",
                deployment_id=scope.id if scope else None,
                drift_kind=drift_kind,
                operator=Operator.GT,
                threshold=0.2,
                evaluation_periods=rng.randint(1, 3),
                severity=severity,
                enabled=enabled,
            )
            self.audit(c, rule.created_at, "alert_rule.create", rule, {"name": name})
            if enabled:
                open_status = AlertStatus.FIRING if ri == 0 else AlertStatus.ACKNOWLEDGED
                for dep in [scope] if scope else c.deployments:
                    self.alerts(c, rule, dep, open_status)

    def alerts(
        self, c: _Ctx, rule: m.AlertRule, dep: m.Deployment, open_status: AlertStatus
    ) -> None:
        """One alert per run of ``evaluation_periods`` breached windows; only the last is open."""
        rows = c.drift[dep.id]
        worst: dict[datetime, m.DriftMetric] = {}  # window end -> its worst breaching metric
        for row in rows:
            if row.metric != rule.metric or rule.drift_kind not in (None, row.kind):
                continue
            best = worst.get(row.window_end)
            if row.score > rule.threshold and (best is None or row.score > best.score):
                worst[row.window_end] = row
        runs: list[list[datetime]] = []  # consecutive breached windows
        for end in sorted(worst):
            if runs and end - runs[-1][-1] == timedelta(hours=1):
                runs[-1].append(end)
            else:
                runs.append([end])
        last_end = max(row.window_end for row in rows)
        for run in runs:
            if len(run) < rule.evaluation_periods:
                continue
            row = worst[run[rule.evaluation_periods - 1]]
            fired = self.at(row.created_at, 1, 20)
            is_open = run[-1] == last_end
            resolved = None if is_open else self.at(run[-1] + timedelta(hours=1), 30, 300)
            status = open_status if is_open else AlertStatus.RESOLVED
            ack = status is AlertStatus.ACKNOWLEDGED or (not is_open and self.rng.random() < 0.5)
            acked = self.at(fired, 30, 240) if ack else None
            self.new(
                c,
                m.Alert,
                fired,
                resolved or acked,
                rule_id=rule.id,
                deployment_id=dep.id,
                severity=rule.severity,
                status=status,
                value=row.score,
                fired_at=fired,
                acknowledged_at=acked,
                resolved_at=resolved,
                message=f"psi {row.score:.3f} > {rule.threshold} on {row.feature} ({dep.name})",
            )

    def webhooks(self, c: _Ctx) -> None:
        rng = self.rng
        for wi in range(rng.randint(1, 2)):
            created = self.at(c.project.created_at, 86400, 5 * 86400)
            # No usable secret (seeding has no encryption key), so they are seeded disabled,
            # saying how to turn them on; they would sign nothing. The bytes are still drawn,
            # keeping the seeded sequence.
            rng.randbytes(24)
            url = f"https://hooks.example.com/{c.project.slug}/{rng.randbytes(6).hex()}"
            if wi:
                rng.random()  # the draw that once decided `enabled`, kept for the sequence
            hook = self.new(
                c,
                m.Webhook,
                created,
                url=url,
                description=("Slack #ml-alerts relay", "PagerDuty bridge")[wi],
                event_types=["deployment.*", "alert.fired"],
                secret="",
                enabled=False,
                disabled_reason=SEEDED_DISABLED_REASON,
            )
            self.audit(c, created, "webhook.create", hook, {"url": hook.url})
            statuses = [DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.PENDING]
            statuses += rng.choices(statuses[:2], (4, 1), k=rng.randint(0, 3))
            for status in statuses:
                values: dict[str, Any] = dict(
                    attempt=1,
                    response_status=200,
                    error="",
                    next_attempt_at=None,
                    delivered_at=None,
                )
                if status is DeliveryStatus.PENDING:  # recent, retrying soon
                    at, attempt = (
                        self.at(self.now - timedelta(minutes=15), 0, 300),
                        rng.randint(0, 1),
                    )
                    values.update(
                        attempt=attempt,
                        response_status=500 if attempt else None,
                        error="HTTP 500" if attempt else "",
                        next_attempt_at=at + timedelta(minutes=2 ** (attempt + 1)),
                    )
                else:
                    at = self.at(self.now - timedelta(days=3), 0, 2 * 86400)
                if status is DeliveryStatus.SUCCEEDED:
                    values["delivered_at"] = self.at(at, 1, 5)
                elif status is DeliveryStatus.FAILED:
                    values.update(attempt=5, response_status=500, error="HTTP 500: gave up")
                delivery = self.new(
                    c,
                    m.WebhookDelivery,
                    at,
                    values["delivered_at"],
                    webhook_id=hook.id,
                    event_id=self.uid(),
                    event_type=rng.choice(hook.event_types),
                    status=status,
                    **values,
                )
                self.delivery_attempts(delivery)

    def later_features(self, c: _Ctx) -> None:
        """What features added after the demo's shape was fixed keep: an aborted rollout, a
        past downtime and a few download records. Drawn from a generator of their own, so every
        other seeded row stays as it was."""
        main, tick = self.rng, self._tick
        self.rng = random.Random(c.project.id.int)
        try:
            self.rollout(c)
            self.downtime(c)
            self.downloads(c)
        finally:
            self.rng, self._tick = main, tick

    def rollout(self, c: _Ctx) -> None:
        """The candidate of a deployment rolled out to 10%, then aborted back to what serves."""
        dep, live, canary = next((s for s in c.serving if s[1] is not s[2]), c.serving[0])
        started = self.at(dep.updated_at, 600, 3600)
        aborted = self.at(started, 900, 1800)
        rollout = self.new(
            c,
            m.Rollout,
            started,
            aborted,
            deployment_id=dep.id,
            canary_version_id=canary.id,
            baseline_version_id=live.id,
            steps=[10.0, 50.0, 100.0],
            interval_seconds=1800,
            gate_severity=Severity.CRITICAL,
            gate_metrics=[],
            status=RolloutStatus.ABORTED,
            step=1,
            canary_percent=0.0,
            step_started_at=started,
            next_step_at=None,
            finished_at=aborted,
            reason="aborted: the feature store backfill is not finished",
            revision=2,
        )
        actor = self.rng.choice(c.writers)
        for at, kind, action, message in (
            (started, DeploymentEventKind.ROLLOUT_STARTED, "rollout.started", "canary at 10%"),
            (aborted, DeploymentEventKind.ROLLOUT_ABORTED, "rollout.aborted", rollout.reason),
        ):
            data = {"rollout": str(rollout.id), "canaryPercent": 10.0 if at is started else 0.0}
            self.event(c, dep, at, kind, message, data, actor)
            self.audit(c, at, action, rollout, {"status": kind.value}, actor=actor)

    def downtime(self, c: _Ctx) -> None:
        """Last week's maintenance window on the first deployment."""
        dep = c.deployments[0]
        starts = (self.now - timedelta(days=7)).replace(hour=2, minute=0, second=0)
        window = self.new(
            c,
            m.Downtime,
            self.at(starts - timedelta(days=1), 0, 3600),
            deployment_id=dep.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            reason="weekly feature store maintenance",
        )
        self.audit(c, window.created_at, "downtime.schedule", window, {"reason": window.reason})

    def downloads(self, c: _Ctx) -> None:
        """Download URLs a few members were issued for the project's available artifacts."""
        artifacts = [
            a
            for a in self.rows[m.Artifact]
            if a.project_id == c.project.id and a.status is ArtifactStatus.AVAILABLE
        ]
        for i, artifact in enumerate(self.rng.sample(artifacts, min(3, len(artifacts)))):
            issued = self.at(artifact.updated_at, 600, 86400)
            self.new(
                c,
                m.ArtifactDownload,
                issued,
                artifact_id=artifact.id,
                actor=self.rng.choice(c.writers),
                client_address=f"10.0.{c.index}.{self.rng.randint(2, 250)}",
                request_id=f"seed-{c.index}-{i}",
                expires_at=issued + timedelta(minutes=15),
            )

    def delivery_attempts(self, d: m.WebhookDelivery) -> None:
        """The attempts behind a seeded delivery (ids and times derived, no random draws, so
        the rest of the seeded data stays as it was)."""
        for number in range(1, d.attempt + 1):
            last = number == d.attempt
            ok = last and d.status is DeliveryStatus.SUCCEEDED
            at = d.created_at + timedelta(seconds=5 * (number - 1))
            self.rows[m.WebhookDeliveryAttempt].append(
                m.WebhookDeliveryAttempt(
                    id=uuid.uuid5(d.id, str(number)),
                    project_id=d.project_id,
                    delivery_id=d.id,
                    number=number,
                    succeeded=ok,
                    status_code=200 if ok else 500,
                    duration_ms=40 + 7 * number,
                    error="" if ok else "HTTP 500",
                    response_body="ok" if ok else "internal error",
                    next_attempt_at=d.next_attempt_at if last else at + timedelta(seconds=5),
                    created_at=at,
                    updated_at=at,
                )
            )

    def audit_entries(self) -> list[dict[str, Any]]:
        """The collected audit entries in time order, each with a seeded id."""
        return [{**e, "id": self.uid()} for e in sorted(self.audits, key=lambda e: e["created_at"])]


async def _seed(
    sessions: async_sessionmaker[AsyncSession],
    projects: list[tuple[str, str]],
    seed: int,
    now: datetime | None,
) -> SeedSummary:
    """Build every row in memory, then insert them in one transaction, table by table."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    seeder = _Seeder(random.Random(seed), now.astimezone(UTC))
    for index, (name, slug) in enumerate(projects):
        seeder.project(index, name, slug)
    entries = seeder.audit_entries()
    async with write_lock(sessions.kw["bind"]), sessions() as session, session.begin():
        # Table by table, each after the tables its foreign keys point at.
        tables = [table.name for table in Base.metadata.sorted_tables]
        for cls in sorted(seeder.rows, key=lambda cls: tables.index(cls.__tablename__)):
            session.add_all(seeder.rows[cls])
            await session.flush()
        # The audit trail through the one serializer, under its chains' head locks.
        await audit.append_entries(session, entries)
    counts = {cls.__tablename__: len(rows) for cls, rows in seeder.rows.items()}
    return SeedSummary({**counts, m.AuditEntry.__tablename__: len(entries)})


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    *,
    projects: int = 6,
    seed: int = 7,
    now: datetime | None = None,
) -> SeedSummary:
    """The demo data set: named projects ("Fraud Detection", ..., then "Project 7", ...)."""
    names = [_NAMES[i] if i < len(_NAMES) else f"Project {i + 1}" for i in range(projects)]
    return await _seed(sessions, [(name, _slug(name)) for name in names], seed, now)


async def seed_bulk(
    sessions: async_sessionmaker[AsyncSession],
    *,
    projects: int,
    seed: int = 11,
    now: datetime | None = None,
) -> SeedSummary:
    """The demo shape for ``projects`` projects, for tests and benchmarks.

    Slugs carry the seed (``fraud-detection-11-1``), so bulk data can sit next to the demo set
    or another seed's bulk data; the audit chain continues after any existing entries.
    """
    names = [_NAMES[i % len(_NAMES)] for i in range(projects)]
    return await _seed(
        sessions,
        [(f"{name} #{i + 1}", f"{_slug(name)}-{seed}-{i + 1}") for i, name in enumerate(names)],
        seed,
        now,
    )


async def seed_demo_objects(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    *,
    limit: int = 2000,
    concurrency: int = 16,
) -> int:
    """Write what the demo rows point at into the object store: each AVAILABLE artifact's
    object, each drift metric's JSON report and each started job's log, so `object`,
    `downloadUrl`, `report` and `logsUrl` answer in a fresh `make run`. ``concurrency`` puts
    are in flight at a time (one after another, the demo's ~2,500 objects took about a minute
    against an S3 endpoint)."""
    async with sessions() as s:
        metrics = (
            await s.scalars(
                select(m.DriftMetric).where(m.DriftMetric.report_key.is_not(None)).limit(limit)
            )
        ).all()
        jobs = (
            await s.scalars(select(m.Job).where(m.Job.started_at.is_not(None)).limit(limit))
        ).all()
        artifacts = (
            await s.scalars(
                select(m.Artifact).where(m.Artifact.status == ArtifactStatus.AVAILABLE).limit(limit)
            )
        ).all()
    # Only the seed's own artifacts: their SHA-256 is that of their demo bytes (an uploaded
    # artifact's object is never overwritten).
    seeded = [(a, demo_bytes(a)) for a in artifacts]
    seeded = [(a, data) for a, data in seeded if hashlib.sha256(data).hexdigest() == a.sha256]
    puts = [(a.storage_key, data, a.content_type) for a, data in seeded]
    for metric in metrics:
        assert metric.report_key is not None
        edges = [round(i / 10, 1) for i in range(11)]
        report = {
            "feature": metric.feature,
            "metric": metric.metric,
            "score": metric.score,
            "threshold": metric.threshold,
            "windowStart": metric.window_start.isoformat(),
            "windowEnd": metric.window_end.isoformat(),
            "bins": edges,
            "expected": [0.1] * 10,
            "actual": [round(0.1 + metric.score * (i - 4.5) / 45, 4) for i in range(10)],
        }
        puts.append((metric.report_key, json.dumps(report).encode(), "application/json"))
    for job in jobs:
        assert job.started_at is not None
        lines = [f"{job.started_at:%Y-%m-%dT%H:%M:%S}Z {job.kind.value.lower()} started"]
        lines += [f"  parameters: {json.dumps(job.parameters, sort_keys=True)}"]
        if job.finished_at is not None:
            lines.append(f"{job.finished_at:%Y-%m-%dT%H:%M:%S}Z {job.status.value.lower()}")
        logs = ("\n".join(lines) + "\n").encode()
        puts.append((job_logs_key(job.project_id, job.id), logs, "text/plain"))
    slots = asyncio.Semaphore(concurrency)

    async def put(key: str, data: bytes, content_type: str) -> None:
        async with slots:
            await store.put(key, data, content_type)

    # A key written twice (metrics of one window share a report) keeps its last object, as
    # when the puts ran one after another.
    last = {key: (key, data, content_type) for key, data, content_type in puts}
    await asyncio.gather(*(put(*p) for p in last.values()))
    return len(puts)


async def seed_is_empty(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """True when no project exists yet, so ``mlgraph seed --demo`` can run just once."""
    async with sessions() as session:
        return (await session.scalar(select(m.Project.id).limit(1))) is None
