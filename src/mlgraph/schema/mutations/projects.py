"""Project mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry

from mlgraph.resolvers import projects
from mlgraph.schema.enums import Role
from mlgraph.schema.payloads import USER_ERRORS_DOC, InputArg, UserError, mutate
from mlgraph.schema.projects import Project
from mlgraph.schema.relay import Info

_REVISION = "Fail with CONFLICT unless the current revision is this one."
_IDEMPOTENCY = "Retries with the same key and input return the first result (24 h)."


@strawberry.input(description="A new project.")
class CreateProjectInput:
    slug: str = strawberry.field(description="Unique, lowercase letters, digits and dashes.")
    name: str = strawberry.field(description="Display name.")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    protected_aliases: list[str] | None = strawberry.field(
        default=None, description="Aliases only a project ADMIN may move (default: production)."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Changes to a project; omitted fields stay as they are.")
class UpdateProjectInput:
    id: strawberry.ID = strawberry.field(description="The project.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)
    name: str | None = strawberry.field(default=None, description="New display name.")
    description: str | None = strawberry.field(default=None, description="New description.")
    protected_aliases: list[str] | None = strawberry.field(
        default=None, description="New list of protected aliases."
    )


@strawberry.input(description="Archive a project (it stays readable).")
class ArchiveProjectInput:
    id: strawberry.ID = strawberry.field(description="The project.")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Reopen an archived project for writes.")
class UnarchiveProjectInput:
    id: strawberry.ID = strawberry.field(description="The project (archived).")
    expected_revision: int | None = strawberry.field(default=None, description=_REVISION)


@strawberry.input(description="Grant a principal a role in a project (or change it).")
class AddProjectMemberInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    principal_id: str = strawberry.field(description="Subject of the user or API key.")
    role: Role = strawberry.field(description="The role to grant.")
    display_name: str | None = strawberry.field(default=None, description="Human-readable name.")


@strawberry.input(description="Take a principal's role in a project away.")
class RemoveProjectMemberInput:
    project_id: strawberry.ID = strawberry.field(description="The project.")
    principal_id: str = strawberry.field(description="The member to remove.")


@strawberry.type
class _ProjectPayload:
    project: Project | None = strawberry.field(description="The project after the change.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `createProject`.")
class CreateProjectPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `updateProject`.")
class UpdateProjectPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `archiveProject`.")
class ArchiveProjectPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `unarchiveProject`.")
class UnarchiveProjectPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `addProjectMember`: the project with its members.")
class AddProjectMemberPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `removeProjectMember`.")
class RemoveProjectMemberPayload(_ProjectPayload):
    pass


@strawberry.type
class ProjectMutations:
    @strawberry.mutation(description="Create a project; the caller becomes its ADMIN.")
    async def create_project(
        self, info: Info, input: InputArg[CreateProjectInput]
    ) -> CreateProjectPayload:
        return await mutate(
            info,
            CreateProjectPayload,
            "project",
            "Project",
            lambda: projects.create_project(info.context, input),
        )

    @strawberry.mutation(description="Change a project's name, description or protected aliases.")
    async def update_project(
        self, info: Info, input: InputArg[UpdateProjectInput]
    ) -> UpdateProjectPayload:
        return await mutate(
            info,
            UpdateProjectPayload,
            "project",
            "Project",
            lambda: projects.update_project(info.context, input),
        )

    @strawberry.mutation(
        description="Archive a project (ADMIN): it then refuses writes (PROJECT_ARCHIVED) "
        "until `unarchiveProject`."
    )
    async def archive_project(
        self, info: Info, input: InputArg[ArchiveProjectInput]
    ) -> ArchiveProjectPayload:
        return await mutate(
            info,
            ArchiveProjectPayload,
            "project",
            "Project",
            lambda: projects.archive_project(info.context, input),
        )

    @strawberry.mutation(
        description="Unarchive a project (ADMIN): the one write an archived project accepts, "
        "besides taking access away (`removeProjectMember`, `revokeApiKey`)."
    )
    async def unarchive_project(
        self, info: Info, input: InputArg[UnarchiveProjectInput]
    ) -> UnarchiveProjectPayload:
        return await mutate(
            info,
            UnarchiveProjectPayload,
            "project",
            "Project",
            lambda: projects.unarchive_project(info.context, input),
        )

    @strawberry.mutation(description="Grant a principal a role in a project, or change it.")
    async def add_project_member(
        self, info: Info, input: InputArg[AddProjectMemberInput]
    ) -> AddProjectMemberPayload:
        return await mutate(
            info,
            AddProjectMemberPayload,
            "project",
            "Project",
            lambda: projects.add_project_member(info.context, input),
        )

    @strawberry.mutation(description="Remove a principal's role (a project keeps one ADMIN).")
    async def remove_project_member(
        self, info: Info, input: InputArg[RemoveProjectMemberInput]
    ) -> RemoveProjectMemberPayload:
        return await mutate(
            info,
            RemoveProjectMemberPayload,
            "project",
            "Project",
            lambda: projects.remove_project_member(info.context, input),
        )
