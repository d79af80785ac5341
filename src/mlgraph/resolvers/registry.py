"""The model registry: models, versions with lineage, the promotion policy, approvals, aliases.

Rules this module decides (beyond the input checks):

* An archived model is read-only: no new versions, no updates, no alias set, no promotion of
  its versions to STAGING or PRODUCTION (POLICY_VIOLATION). Archiving versions and removing
  aliases stay possible, so it can be cleaned up.
* Stages: DRAFT -> STAGING | ARCHIVED; STAGING -> PRODUCTION | DRAFT | ARCHIVED;
  PRODUCTION -> STAGING | ARCHIVED; ARCHIVED is final. A transition to the stage a version is
  already in is INVALID_TRANSITION (so of two concurrent identical transitions without
  ``expectedRevision`` one succeeds and the other is refused, never a silent double audit).
  Several versions of a model may be in PRODUCTION at once (canaries): promoting one does not
  demote the others.
* Promotion to PRODUCTION names every failing reason: each required metric missing from the
  version's metrics, no AVAILABLE WEIGHTS artifact, HIGH risk tier without an approval. The
  transitions and these rules are ``resolvers.promotion``'s one list, which
  ``Query.evaluatePromotion`` reports without writing.
* Aliases are part of their model: setting, moving or removing one (the automatic ``latest``
  included) increases ``Model.revision``, so ``expectedRevision`` guards alias moves too.
  ``latest`` always points at the version with the highest semver precedence (any stage;
  build metadata ignored, so of two versions equal in precedence the older keeps it).
* Setting an alias to the version it already points at is a no-op: nothing is written.
* A model has at most ``ALIASES_MAX`` aliases (the page cap of ``Model.aliases``), so the
  alias list, and ``Model.version(alias:)`` which reads it, are never truncated.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import semver
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.ids import encode_global_id
from mlgraph.resolvers import promotion
from mlgraph.resolvers.commands import Command, Delete, Target
from mlgraph.resolvers.common import (
    TEXT_MAX,
    Checks,
    camel,
    check_revision,
    decode_id,
    fetch,
    mapping_of_numbers,
    snapshot,
)
from mlgraph.storage.enums import Role, Stage
from mlgraph.storage.graph import relation
from mlgraph.storage.models import (
    Deployment,
    DeploymentTarget,
    Job,
    Model,
    ModelAlias,
    ModelVersion,
    ModelVersionApproval,
    ModelVersionLineage,
    Project,
)
from mlgraph.storage.objects.keys import model_prefix, version_prefix
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import UnitOfWork

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.registry import (  # noqa: F401
        ApproveModelVersionInput,
        ArchiveModelInput,
        CreateModelVersionInput,
        DeleteModelInput,
        DeleteModelVersionInput,
        RegisterModelInput,
        RemoveModelAliasInput,
        SetModelAliasInput,
        TransitionModelVersionInput,
        UpdateModelInput,
    )

TAGS_MAX, TAG_MAX = 50, 64
REQUIRED_METRICS_MAX, METRIC_NAME_MAX = 50, 100
VERSION_MAX = 64
PARENTS_MAX = 20
ALIAS_MAX = 64
ALIASES_MAX = relation("Model", "aliases").page_cap
LATEST = "latest"
ALIAS = re.compile(r"[a-z0-9][a-z0-9._-]*")
COMMIT_SHA = re.compile(r"[0-9a-fA-F]{7,40}")

# --- input checks ---------------------------------------------------------------------------


def _names(
    checks: Checks, values: list[str] | None, field: str, *, max_count: int, max_len: int
) -> list[str] | None:
    """Checked, de-duplicated (first occurrence kept) list of names, or None if not given."""
    if values is None:
        return None
    unique = list(dict.fromkeys(values))
    if len(unique) > max_count:
        checks.fail(
            UserErrorCode.LIMIT_EXCEEDED, f"{field} holds more than {max_count} names", field
        )
    for i, value in enumerate(values):
        checks.text(value, field, str(i), max_len=max_len)
    return unique


def _check_model_fields(
    checks: Checks, input: RegisterModelInput | UpdateModelInput
) -> tuple[list[str] | None, list[str] | None]:
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    tags = _names(checks, input.tags, "tags", max_count=TAGS_MAX, max_len=TAG_MAX)
    required = _names(
        checks,
        input.required_metrics,
        "requiredMetrics",
        max_count=REQUIRED_METRICS_MAX,
        max_len=METRIC_NAME_MAX,
    )
    return tags, required


def _check_alias(checks: Checks, alias: str) -> None:
    checks.text(alias, "alias", max_len=ALIAS_MAX, pattern=ALIAS)
    if alias == LATEST:
        checks.fail(
            UserErrorCode.POLICY_VIOLATION,
            f"{LATEST!r} is managed by the registry: it follows the highest version",
            "alias",
        )


def _parse_semver(value: str) -> semver.Version | None:
    try:
        return semver.Version.parse(value)
    except (ValueError, TypeError):
        return None


def _refuse_if_archived(model: Model, *field: str) -> None:
    if model.archived_at is not None:
        raise UserErrors.one(
            UserErrorCode.POLICY_VIOLATION, f"model {model.name!r} is archived", "input", *field
        )


def _may_manage_protected(ctx: Context, project_id: uuid.UUID) -> bool:
    principal = ctx.principal
    return principal.platform_admin or principal.project_roles.get(project_id) == Role.ADMIN


def _gid(type_name: str, pk: uuid.UUID | None) -> str | None:
    return None if pk is None else encode_global_id(type_name, pk)


# --- models ---------------------------------------------------------------------------------


class RegisterModel(Command["RegisterModelInput", Project]):
    target = Target(Project, "project_id", lock=False)
    action, topic, creates = "model.register", "model.registered", True

    def check(self, checks: Checks) -> None:
        checks.text(self.input.name, "name")
        self.tags, self.required = _check_model_fields(checks, self.input)

    async def apply(self, project: Project) -> Model:
        s, input = self.tx.session, self.input
        taken = await s.scalar(
            select(Model.id).where(Model.project_id == project.id, Model.name == input.name)
        )
        if taken is not None:
            raise UserErrors.one(
                UserErrorCode.DUPLICATE, f"model {input.name!r} exists", "input", "name"
            )
        model = Model(
            id=uuid.uuid4(),
            project_id=project.id,
            name=input.name,
            description=input.description or "",
            tags=self.tags or [],
            risk_tier=input.risk_tier,
            required_metrics=self.required or [],
        )
        s.add(model)
        return model

    def event(self, changed: Model) -> dict[str, Any]:
        return {"name": changed.name, "riskTier": changed.risk_tier.value}


_MODEL = Target(Model, "model_id")


class UpdateModel(Command["UpdateModelInput", Model]):
    target = _MODEL
    action, topic = "model.update", "model.updated"

    def check(self, checks: Checks) -> None:
        self.tags, self.required = _check_model_fields(checks, self.input)

    async def apply(self, model: Model) -> Model:
        input = self.input
        _refuse_if_archived(model, "modelId")
        if input.description is not None:
            model.description = input.description
        if self.tags is not None:
            model.tags = self.tags
        if input.risk_tier is not None:
            model.risk_tier = input.risk_tier
        if self.required is not None:
            model.required_metrics = self.required
        return model

    def event(self, changed: Model) -> dict[str, Any]:
        before, after = self.before or {}, snapshot(changed)
        changed_fields = (k for k in after if after[k] != before.get(k) and k != "revision")
        return {"changed": sorted(camel(k) for k in changed_fields)}


class ArchiveModel(Command["ArchiveModelInput", Model]):
    target = _MODEL
    action, topic = "model.archive", "model.updated"

    async def apply(self, model: Model) -> Model:
        if model.archived_at is not None:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION, "model is already archived", "input", "modelId"
            )
        model.archived_at = utcnow()
        return model

    def event(self, changed: Model) -> dict[str, Any]:
        return {"changed": ["archivedAt"]}


class DeleteModel(Delete["DeleteModelInput", Model]):
    """A model with its versions, their artifacts (and objects), aliases and approvals. Refused
    while a deployment serves it or a version is in PRODUCTION (IN_USE, POLICY_VIOLATION)."""

    target = _MODEL
    action, topic = "model.delete", "model.deleted"

    async def refuse(self, model: Model) -> None:
        s, checks = self.tx.session, Checks()
        served = await s.scalars(
            select(Deployment.name).where(Deployment.model_id == model.id).limit(10)
        )
        for name in served:
            checks.fail(UserErrorCode.IN_USE, f"deployment {name!r} serves this model", "modelId")
        # Locked: a version cannot reach PRODUCTION between this check and the delete.
        versions_of = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if _pg(s):
            versions_of = versions_of.with_for_update()
        versions = (await s.scalars(versions_of)).all()
        for v in versions:
            if v.stage == Stage.PRODUCTION:
                checks.fail(
                    UserErrorCode.POLICY_VIOLATION,
                    f"version {v.version} is in PRODUCTION: move it out first",
                    "modelId",
                )
        checks.done()
        self.versions = [(v.id, snapshot(v)) for v in versions]

    def record(self, changed: Model) -> None:
        super().record(changed)
        for version_id, before in self.versions:  # each version's trail ends with it too
            self.tx.audit(
                "model_version.delete",
                "ModelVersion",
                version_id,
                changed.project_id,
                before=before,
                after=None,
            )

    def objects(self, model: Model) -> str:
        return model_prefix(model.project_id, model.id)


# --- versions -------------------------------------------------------------------------------


def _check_version_input(
    checks: Checks, input: CreateModelVersionInput
) -> tuple[dict[str, float], dict[str, Any]]:
    if len(input.version) > VERSION_MAX:
        checks.fail(UserErrorCode.TOO_LONG, f"version is over {VERSION_MAX} characters", "version")
    elif _parse_semver(input.version) is None:
        checks.fail(
            UserErrorCode.INVALID,
            f"{input.version!r} is not a semantic version (MAJOR.MINOR.PATCH, semver 2.0)",
            "version",
        )
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    metrics: dict[str, float] = {}
    if input.metrics is not None:
        known = len(checks.problems)
        metrics = mapping_of_numbers(input.metrics, checks, "metrics")
        if len(checks.problems) == known:  # NaN is named by its metric, not twice
            checks.json_size(metrics, "metrics")
    meta: dict[str, Any] = {}
    if input.metadata is not None:
        if isinstance(input.metadata, Mapping):
            meta = dict(input.metadata)
            checks.json_size(meta, "metadata")
        else:
            checks.fail(UserErrorCode.INVALID, "metadata must be a JSON object", "metadata")
    checks.text(input.commit_sha, "commitSha", max_len=40, pattern=COMMIT_SHA)
    parents = input.parent_version_ids or []
    if len(set(parents)) > PARENTS_MAX:
        checks.fail(
            UserErrorCode.LIMIT_EXCEEDED,
            f"a version has at most {PARENTS_MAX} parents",
            "parentVersionIds",
        )
    return metrics, meta


async def _parents(
    ctx: Context, s: AsyncSession, checks: Checks, ids: Sequence[str], project_id: uuid.UUID
) -> list[uuid.UUID]:
    """The parent versions' ids, each visible and in ``project_id``; problems go to ``checks``."""
    wanted: dict[uuid.UUID, int] = {}
    for i, gid in enumerate(ids):
        try:
            wanted.setdefault(decode_id(gid, "ModelVersion", "parentVersionIds", str(i)), i)
        except UserErrors as refused:
            checks.problems.extend(refused.problems)
    if not wanted:
        return []
    stmt = select(ModelVersion.id, ModelVersion.project_id).where(ModelVersion.id.in_(wanted))
    found = {version_id: owner for version_id, owner in await s.execute(stmt)}
    visible = ctx.principal.visible_projects()
    for pk, i in wanted.items():
        owner = found.get(pk)
        field = ("parentVersionIds", str(i))
        if owner is None or (visible is not None and owner not in visible):
            checks.fail(UserErrorCode.NOT_FOUND, f"no ModelVersion with id {ids[i]!r}", *field)
        elif owner != project_id:
            checks.fail(
                UserErrorCode.INVALID, "a parent version must be in the same project", *field
            )
    return list(wanted)


async def _alias_row(s: AsyncSession, model_id: uuid.UUID, alias: str) -> ModelAlias | None:
    return await s.scalar(
        select(ModelAlias).where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
    )


def _touch(model: Model) -> None:
    """An alias of ``model`` changed: increase its revision (flushed with the unit of work)."""
    model.updated_at = utcnow()


async def _point_alias(
    tx: UnitOfWork,
    model: Model,
    alias: str,
    version_id: uuid.UUID,
    found: ModelAlias | None,
    reason: str | None = None,
) -> None:
    """Set (or move) ``alias`` to ``version_id``, with its audit entry and event."""
    s = tx.session
    before = None if found is None else snapshot(found)
    previous = None if found is None else found.version_id
    if found is None:
        found = ModelAlias(
            id=uuid.uuid4(),
            project_id=model.project_id,
            model_id=model.id,
            alias=alias,
            version_id=version_id,
        )
        s.add(found)
    else:
        found.version_id = version_id
    _touch(model)
    await s.flush()
    tx.record(
        found,
        "model_alias.set",
        "model_alias.moved",
        before=before,
        reason=reason,
        payload={
            "modelId": _gid("Model", model.id),
            "alias": alias,
            "versionId": _gid("ModelVersion", version_id),
            "previousVersionId": _gid("ModelVersion", previous),
        },
    )


async def _follow_latest(tx: UnitOfWork, model: Model, *, without: uuid.UUID | None = None) -> None:
    """Point ``latest`` at the model's highest version (call after adding a version, or before
    deleting version ``without``; with no version left the alias goes with the last one)."""
    s = tx.session
    rows = await s.execute(
        select(ModelVersion.id, ModelVersion.version)
        .where(ModelVersion.model_id == model.id, ModelVersion.id != without)
        .order_by(ModelVersion.created_at, ModelVersion.id)
    )
    parsed = [(pk, v) for pk, text in rows if (v := _parse_semver(text)) is not None]
    if not parsed:
        return
    current = await _alias_row(s, model.id, LATEST)
    best_pk, best = parsed[0]
    for pk, v in parsed[1:]:
        if v > best or (v == best and current is not None and pk == current.version_id):
            best_pk, best = pk, v
    if current is None or current.version_id != best_pk:
        await _point_alias(tx, model, LATEST, best_pk, current)


class CreateModelVersion(Command["CreateModelVersionInput", Model]):
    # The lock serializes versions of one model on PostgreSQL, so ``latest`` is computed over
    # every committed version (SQLite serializes all units of work anyway).
    target = _MODEL
    creates = True

    def check(self, checks: Checks) -> None:
        self.metrics, self.meta = _check_version_input(checks, self.input)

    async def apply(self, model: Model) -> ModelVersion:
        ctx, s, input = self.ctx, self.tx.session, self.input
        _refuse_if_archived(model, "modelId")
        found = Checks()
        taken = await s.scalar(
            select(ModelVersion.id).where(
                ModelVersion.model_id == model.id, ModelVersion.version == input.version
            )
        )
        if taken is not None:
            found.fail(UserErrorCode.DUPLICATE, f"version {input.version!r} exists", "version")
        run: Job | None = None
        if input.source_run_id is not None:
            try:
                run = await fetch(ctx, s, Job, input.source_run_id, "Job", "sourceRunId")
            except UserErrors as refused:
                found.problems.extend(refused.problems)
            if run is not None and run.project_id != model.project_id:
                found.fail(
                    UserErrorCode.INVALID, "the run must be in the model's project", "sourceRunId"
                )
        parents = await _parents(ctx, s, found, input.parent_version_ids or [], model.project_id)
        found.done()
        version = ModelVersion(
            id=uuid.uuid4(),
            project_id=model.project_id,
            model_id=model.id,
            version=input.version,
            stage=Stage.DRAFT,
            description=input.description or "",
            metrics=self.metrics,
            meta=self.meta,
            commit_sha=None if input.commit_sha is None else input.commit_sha.lower(),
            source_run_id=None if run is None else run.id,
        )
        s.add(version)
        await s.flush()
        s.add_all(
            ModelVersionLineage(parent_id=p, child_id=version.id, project_id=model.project_id)
            for p in parents
        )
        self.tx.audit(
            "model_version.create",
            "ModelVersion",
            version.id,
            model.project_id,
            before=None,
            after={**snapshot(version), "parent_ids": [str(p) for p in parents]},
        )
        self.tx.emit(
            "model_version.created",
            "ModelVersion",
            version.id,
            model.project_id,
            {"modelId": _gid("Model", model.id), "version": version.version},
        )
        await _follow_latest(self.tx, model)
        return version


_VERSION = Target(ModelVersion, "version_id")


class TransitionModelVersion(Command["TransitionModelVersionInput", ModelVersion]):
    target = _VERSION

    def check(self, checks: Checks) -> None:
        checks.text(self.input.reason, "reason", max_len=TEXT_MAX, required=False)

    async def apply(self, version: ModelVersion) -> ModelVersion:
        s, target = self.tx.session, self.input.stage
        current = version.stage
        model = await s.get_one(Model, version.model_id)
        refused = await promotion.problems(s, model, version, target, "input")
        if refused:
            raise UserErrors(refused)
        self.before = {"stage": current.value}
        version.stage = target
        return version

    def record(self, changed: ModelVersion) -> None:
        before = self.before or {}
        self.tx.audit(
            "model_version.transition",
            "ModelVersion",
            changed.id,
            changed.project_id,
            before=before,
            after={"stage": changed.stage.value},
            reason=self.input.reason,
        )
        self.tx.emit(
            "model_version.transitioned",
            "ModelVersion",
            changed.id,
            changed.project_id,
            {
                "modelId": _gid("Model", changed.model_id),
                "version": changed.version,
                "from": before.get("stage"),
                "to": changed.stage.value,
            },
        )


class ApproveModelVersion(Command["ApproveModelVersionInput", ModelVersion]):
    """Record the caller's approval; one per approver and version, never on ARCHIVED ones."""

    target = Target(ModelVersion, "version_id", lock=False)

    def check(self, checks: Checks) -> None:
        checks.text(self.input.comment, "comment", max_len=TEXT_MAX, required=False)

    async def apply(self, version: ModelVersion) -> ModelVersion:
        s, approver = self.tx.session, self.ctx.principal.id
        if version.stage == Stage.ARCHIVED:
            raise UserErrors.one(
                UserErrorCode.POLICY_VIOLATION,
                "an ARCHIVED version cannot be approved",
                "input",
                "versionId",
            )
        repeat = await s.scalar(
            select(ModelVersionApproval.id).where(
                ModelVersionApproval.version_id == version.id,
                ModelVersionApproval.approver == approver,
            )
        )
        if repeat is not None:
            raise UserErrors.one(
                UserErrorCode.DUPLICATE,
                f"{approver!r} already approved this version",
                "input",
                "versionId",
            )
        approval = ModelVersionApproval(
            id=uuid.uuid4(),
            project_id=version.project_id,
            version_id=version.id,
            approver=approver,
            comment=self.input.comment or "",
        )
        s.add(approval)
        await s.flush()
        # Audited on the version, so its audit trail shows who approved it.
        self.tx.audit(
            "model_version.approve",
            "ModelVersion",
            version.id,
            version.project_id,
            before=None,
            after={
                "approval_id": str(approval.id),
                "approver": approval.approver,
                "comment": approval.comment,
            },
        )
        return version


class DeleteModelVersion(Delete["DeleteModelVersionInput", ModelVersion]):
    """A version with its artifacts (and their objects), approvals and lineage links; ``latest``
    moves to the highest version left. Refused in PRODUCTION (POLICY_VIOLATION), while a
    deployment serves it or an alias other than ``latest`` points at it (IN_USE)."""

    # Model, then version, as ``deleteModel`` locks them (no deadlock between the two).
    target = Target(ModelVersion, "version_id", lock=False)
    action, topic = "model_version.delete", "model_version.deleted"

    async def refuse(self, version: ModelVersion) -> None:
        s, checks = self.tx.session, Checks()
        model = await s.get(Model, version.model_id, with_for_update=_pg(s))
        if _pg(s):  # now the version, and as it is under the lock
            again = select(ModelVersion).where(ModelVersion.id == version.id).with_for_update()
            locked = await s.scalar(again.execution_options(populate_existing=True))
            if model is None or locked is None:  # a concurrent delete got there first
                raise UserErrors.one(
                    UserErrorCode.NOT_FOUND,
                    "the version was deleted meanwhile",
                    "input",
                    "versionId",
                )
            check_revision(locked, self.input.expected_revision)
            self.before = snapshot(locked)
        if version.stage == Stage.PRODUCTION:
            checks.fail(
                UserErrorCode.POLICY_VIOLATION,
                "the version is in PRODUCTION: move it out first",
                "versionId",
            )
        served = await s.scalars(
            select(Deployment.name)
            .join(DeploymentTarget, DeploymentTarget.deployment_id == Deployment.id)
            .where(DeploymentTarget.version_id == version.id)
            .limit(10)
        )
        for name in served:
            checks.fail(UserErrorCode.IN_USE, f"deployment {name!r} serves it", "versionId")
        aliases = await s.scalars(
            select(ModelAlias.alias).where(
                ModelAlias.version_id == version.id, ModelAlias.alias != LATEST
            )
        )
        for alias in aliases:
            checks.fail(
                UserErrorCode.IN_USE,
                f"alias {alias!r} points at it: move or remove the alias first",
                "versionId",
            )
        checks.done()
        if model is not None:
            await _follow_latest(self.tx, model, without=version.id)

    def objects(self, version: ModelVersion) -> str:
        return version_prefix(version.project_id, version.model_id, version.id)

    def shows(self, changed: ModelVersion) -> uuid.UUID:
        return changed.model_id


def _pg(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


# --- aliases --------------------------------------------------------------------------------


def _check_protected(ctx: Context, project: Project, alias: str) -> None:
    if alias in project.protected_aliases and not _may_manage_protected(ctx, project.id):
        raise UserErrors.one(
            UserErrorCode.FORBIDDEN,
            f"{alias!r} is a protected alias: only a project ADMIN may change it",
            "input",
            "alias",
        )


class SetModelAlias(Command["SetModelAliasInput", Model]):
    target = _MODEL

    def check(self, checks: Checks) -> None:
        _check_alias(checks, self.input.alias)
        checks.text(self.input.reason, "reason", max_len=TEXT_MAX, required=False)

    async def apply(self, model: Model) -> Model:
        ctx, s, alias = self.ctx, self.tx.session, self.input.alias
        _refuse_if_archived(model, "modelId")
        version = await fetch(
            ctx, s, ModelVersion, self.input.version_id, "ModelVersion", "versionId"
        )
        if version.model_id != model.id:
            raise UserErrors.one(
                UserErrorCode.INVALID,
                "the version belongs to another model",
                "input",
                "versionId",
            )
        _check_protected(ctx, await s.get_one(Project, model.project_id), alias)
        found = await _alias_row(s, model.id, alias)
        if found is not None and found.version_id == version.id:
            s.expunge(model)  # already so: no UPDATE, no revision bump, no audit entry
            return model
        if found is None:
            count = await s.scalar(
                select(func.count()).select_from(ModelAlias).where(ModelAlias.model_id == model.id)
            )
            if (count or 0) >= ALIASES_MAX:
                raise UserErrors.one(
                    UserErrorCode.LIMIT_EXCEEDED,
                    f"a model has at most {ALIASES_MAX} aliases",
                    "input",
                    "alias",
                )
        await _point_alias(self.tx, model, alias, version.id, found, self.input.reason)
        return model


class RemoveModelAlias(Command["RemoveModelAliasInput", Model]):
    target = _MODEL

    def check(self, checks: Checks) -> None:
        _check_alias(checks, self.input.alias)
        checks.text(self.input.reason, "reason", max_len=TEXT_MAX, required=False)

    async def apply(self, model: Model) -> Model:
        s, alias, tx = self.tx.session, self.input.alias, self.tx
        found = await _alias_row(s, model.id, alias)
        if found is None:
            raise UserErrors.one(
                UserErrorCode.NOT_FOUND, f"no alias {alias!r} on this model", "input", "alias"
            )
        _check_protected(self.ctx, await s.get_one(Project, model.project_id), alias)
        before = snapshot(found)
        await s.delete(found)
        _touch(model)
        tx.audit(
            "model_alias.remove",
            "ModelAlias",
            found.id,
            model.project_id,
            before=before,
            after=None,
            reason=self.input.reason,
        )
        tx.emit(
            "model_alias.moved",
            "ModelAlias",
            found.id,
            model.project_id,
            {
                "modelId": _gid("Model", model.id),
                "alias": alias,
                "versionId": None,
                "previousVersionId": _gid("ModelVersion", found.version_id),
            },
        )
        return model
