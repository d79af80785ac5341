"""Projects and members: create, update, archive, unarchive; add and remove members."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.resolvers.commands import Command, Delete, Target
from mlgraph.resolvers.common import SLUG, TEXT_MAX, Checks, snapshot
from mlgraph.storage.enums import Role
from mlgraph.storage.models import Project, ProjectMember
from mlgraph.storage.objects.keys import project_prefix
from mlgraph.storage.types import utcnow

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.projects import (  # noqa: F401
        AddProjectMemberInput,
        ArchiveProjectInput,
        CreateProjectInput,
        DeleteProjectInput,
        RemoveProjectMemberInput,
        UnarchiveProjectInput,
        UpdateProjectInput,
    )

ALIAS_MAX = 64
_PROJECT = Target(Project, "id", role=Role.ADMIN)


def _check_aliases(checks: Checks, aliases: list[str] | None) -> None:
    for i, alias in enumerate(aliases or []):
        checks.text(alias, "protectedAliases", str(i), max_len=ALIAS_MAX)


class CreateProject(Command["CreateProjectInput", None]):
    action, topic, creates = "project.create", "project.created", True

    def check(self, checks: Checks) -> None:
        checks.text(self.input.slug, "slug", max_len=64, pattern=SLUG)
        checks.text(self.input.name, "name")
        checks.text(self.input.description, "description", max_len=TEXT_MAX, required=False)
        _check_aliases(checks, self.input.protected_aliases)

    async def apply(self, row: None) -> Project:
        s, input = self.tx.session, self.input
        if await s.scalar(select(Project.id).where(Project.slug == input.slug)):
            raise UserErrors.one(
                UserErrorCode.DUPLICATE, f"slug {input.slug!r} is taken", "input", "slug"
            )
        project = Project(
            id=uuid.uuid4(),
            slug=input.slug,
            name=input.name,
            description=input.description or "",
            protected_aliases=list(input.protected_aliases or ["production"]),
        )
        s.add(project)
        s.add(
            ProjectMember(
                project_id=project.id,
                principal_id=self.ctx.principal.id,
                display_name=self.ctx.principal.display_name,
                role=Role.ADMIN,
            )
        )
        return project

    def event(self, changed: Project) -> dict[str, Any]:
        return {"slug": changed.slug}


class UpdateProject(Command["UpdateProjectInput", Project]):
    target = _PROJECT
    action, topic = "project.update", "project.updated"

    def check(self, checks: Checks) -> None:
        checks.text(self.input.name, "name")
        checks.text(self.input.description, "description", max_len=TEXT_MAX, required=False)
        _check_aliases(checks, self.input.protected_aliases)

    async def apply(self, project: Project) -> Project:
        input = self.input
        if input.name is not None:
            project.name = input.name
        if input.description is not None:
            project.description = input.description
        if input.protected_aliases is not None:
            project.protected_aliases = list(input.protected_aliases)
        return project


class ArchiveProject(Command["ArchiveProjectInput | UnarchiveProjectInput", Project]):
    target = Target(Project, "id", role=Role.ADMIN, archived_ok=True)
    action, topic = "project.archive", "project.archived"
    archive = True

    async def apply(self, project: Project) -> Project:
        if (project.archived_at is not None) == self.archive:
            state = "archived" if self.archive else "not archived"
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION, f"project is already {state}", "input", "id"
            )
        project.archived_at = utcnow() if self.archive else None
        return project


class UnarchiveProject(ArchiveProject):
    """The one write an archived project accepts."""

    action, topic = "project.unarchive", "project.unarchived"
    archive = False


class DeleteProject(Delete["DeleteProjectInput", Project]):
    """An archived project and everything in it: pipelines and runs, models, versions and
    their artifacts (and objects), deployments with their metrics and alerts, alert rules, API
    keys, webhooks, members. Its audit chain stays, verifiable, readable by platform admins."""

    target = Target(Project, "id", role=Role.ADMIN, archived_ok=True)
    action, topic = "project.delete", "project.deleted"

    async def refuse(self, project: Project) -> None:
        if project.archived_at is None:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION,
                "only an archived project can be deleted: archive it first",
                "input",
                "id",
            )

    def objects(self, project: Project) -> str:
        return project_prefix(project.id)


class AddProjectMember(Command["AddProjectMemberInput", Project]):
    """Grant ``role``; granting to an existing member changes their role."""

    target = Target(Project, "project_id", role=Role.ADMIN, lock=False)
    action, topic = "project.member.add", "project.member.changed"

    def check(self, checks: Checks) -> None:
        checks.text(self.input.principal_id, "principalId")
        checks.text(self.input.display_name, "displayName", required=False)

    async def apply(self, project: Project) -> ProjectMember:
        input = self.input
        member = await _member(self, project)
        self.before = None if member is None else snapshot(member)
        if member is None:
            member = ProjectMember(
                project_id=project.id,
                principal_id=input.principal_id,
                display_name=input.display_name or input.principal_id,
                role=input.role,
            )
            self.tx.session.add(member)
        else:
            member.role = input.role
        return member

    def event(self, changed: ProjectMember) -> dict[str, Any]:
        return {"principalId": changed.principal_id, "role": changed.role.value}

    def shows(self, changed: ProjectMember) -> uuid.UUID:
        return changed.project_id


class RemoveProjectMember(Command["RemoveProjectMemberInput", Project]):
    """Also in an archived project: taking access away needs no unarchive."""

    target = Target(Project, "project_id", role=Role.ADMIN, lock=False, archived_ok=True)

    async def apply(self, project: Project) -> ProjectMember:
        s = self.tx.session
        member = await _member(self, project)
        if member is None:
            raise UserErrors.one(
                UserErrorCode.NOT_FOUND,
                f"{self.input.principal_id!r} is not a member",
                "input",
                "principalId",
            )
        admins = await s.scalar(
            select(ProjectMember.id)
            .where(
                ProjectMember.project_id == project.id,
                ProjectMember.role == Role.ADMIN,
                ProjectMember.id != member.id,
            )
            .limit(1)
        )
        if member.role == Role.ADMIN and admins is None:
            raise UserErrors.one(
                UserErrorCode.POLICY_VIOLATION,
                "a project keeps at least one ADMIN",
                "input",
                "principalId",
            )
        self.before = snapshot(member)
        await s.delete(member)
        return member

    def record(self, changed: ProjectMember) -> None:
        tx = self.tx
        tx.audit(
            "project.member.remove",
            "ProjectMember",
            changed.id,
            changed.project_id,
            before=self.before,
            after=None,
        )
        tx.emit(
            "project.member.changed",
            "ProjectMember",
            changed.id,
            changed.project_id,
            {"principalId": changed.principal_id, "role": None},
        )

    def shows(self, changed: ProjectMember) -> uuid.UUID:
        return changed.project_id


async def _member(command: Command[Any, Project], project: Project) -> ProjectMember | None:
    return await command.tx.session.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id,
            ProjectMember.principal_id == command.input.principal_id,
        )
    )
