"""Projects and members: create, update, archive; add and remove members."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.resolvers.common import (
    SLUG,
    TEXT_MAX,
    Checks,
    check_revision,
    fetch,
    remember,
    replay,
    snapshot,
)
from mlgraph.storage.enums import Role
from mlgraph.storage.models import Project, ProjectMember
from mlgraph.storage.types import utcnow

ALIAS_MAX = 64


def _check_aliases(checks: Checks, aliases: list[str] | None) -> None:
    for i, alias in enumerate(aliases or []):
        checks.text(alias, "protectedAliases", str(i), max_len=ALIAS_MAX)


async def create_project(ctx: Context, input: Any) -> uuid.UUID:
    checks = Checks()
    checks.text(input.slug, "slug", max_len=64, pattern=SLUG)
    checks.text(input.name, "name")
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    _check_aliases(checks, input.protected_aliases)
    checks.done()
    async with ctx.uow() as tx:
        s = tx.session
        if done := await replay(ctx, s, "createProject", input.idempotency_key, input):
            return done
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
                principal_id=ctx.principal.id,
                display_name=ctx.principal.display_name,
                role=Role.ADMIN,
            )
        )
        await s.flush()
        tx.record(
            project,
            "project.create",
            "project.created",
            before=None,
            payload={"slug": project.slug},
        )
        remember(ctx, s, "createProject", input.idempotency_key, input, "Project", project.id)
        return project.id


async def update_project(ctx: Context, input: Any) -> uuid.UUID:
    checks = Checks()
    checks.text(input.name, "name")
    checks.text(input.description, "description", max_len=TEXT_MAX, required=False)
    _check_aliases(checks, input.protected_aliases)
    checks.done()
    async with ctx.uow() as tx:
        project = await fetch(
            ctx, tx.session, Project, input.id, "Project", "id", lock=True, role=Role.ADMIN
        )
        check_revision(project, input.expected_revision)
        before = snapshot(project)
        if input.name is not None:
            project.name = input.name
        if input.description is not None:
            project.description = input.description
        if input.protected_aliases is not None:
            project.protected_aliases = list(input.protected_aliases)
        await tx.session.flush()
        tx.record(project, "project.update", "project.updated", before=before, payload={})
        return project.id


async def archive_project(ctx: Context, input: Any) -> uuid.UUID:
    return await _set_archived(ctx, input, archive=True)


async def unarchive_project(ctx: Context, input: Any) -> uuid.UUID:
    """The one write an archived project accepts."""
    return await _set_archived(ctx, input, archive=False)


async def _set_archived(ctx: Context, input: Any, *, archive: bool) -> uuid.UUID:
    async with ctx.uow() as tx:
        project = await fetch(
            ctx,
            tx.session,
            Project,
            input.id,
            "Project",
            "id",
            lock=True,
            role=Role.ADMIN,
            archived_ok=True,
        )
        check_revision(project, input.expected_revision)
        if (project.archived_at is not None) == archive:
            state = "archived" if archive else "not archived"
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION, f"project is already {state}", "input", "id"
            )
        before = snapshot(project)
        project.archived_at = utcnow() if archive else None
        await tx.session.flush()
        verb = "archive" if archive else "unarchive"
        tx.record(project, f"project.{verb}", f"project.{verb}d", before=before, payload={})
        return project.id


async def add_project_member(ctx: Context, input: Any) -> uuid.UUID:
    """Grant ``role``; granting to an existing member changes their role."""
    checks = Checks()
    checks.text(input.principal_id, "principalId")
    checks.text(input.display_name, "displayName", required=False)
    checks.done()
    async with ctx.uow() as tx:
        s = tx.session
        project = await fetch(
            ctx, s, Project, input.project_id, "Project", "projectId", role=Role.ADMIN
        )
        member = await s.scalar(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id,
                ProjectMember.principal_id == input.principal_id,
            )
        )
        before = None if member is None else snapshot(member)
        if member is None:
            member = ProjectMember(
                project_id=project.id,
                principal_id=input.principal_id,
                display_name=input.display_name or input.principal_id,
                role=input.role,
            )
            s.add(member)
        else:
            member.role = input.role
        await s.flush()
        tx.record(
            member,
            "project.member.add",
            "project.member.changed",
            before=before,
            payload={"principalId": member.principal_id, "role": member.role.value},
        )
        return project.id


async def remove_project_member(ctx: Context, input: Any) -> uuid.UUID:
    """Also in an archived project: taking access away needs no unarchive."""
    async with ctx.uow() as tx:
        s = tx.session
        project = await fetch(
            ctx,
            s,
            Project,
            input.project_id,
            "Project",
            "projectId",
            role=Role.ADMIN,
            archived_ok=True,
        )
        member = await s.scalar(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id,
                ProjectMember.principal_id == input.principal_id,
            )
        )
        if member is None:
            raise UserErrors.one(
                UserErrorCode.NOT_FOUND,
                f"{input.principal_id!r} is not a member",
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
        before = snapshot(member)
        await s.delete(member)
        await s.flush()
        tx.audit(
            "project.member.remove",
            "ProjectMember",
            member.id,
            project.id,
            before=before,
            after=None,
        )
        tx.emit(
            "project.member.changed",
            "ProjectMember",
            member.id,
            project.id,
            {"principalId": member.principal_id, "role": None},
        )
        return project.id
