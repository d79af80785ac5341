"""Project mutations: inputs, payloads and fields."""

from __future__ import annotations

import strawberry

from mlgraph.resolvers import projects
from mlgraph.schema.enums import Role
from mlgraph.schema.payloads import REMOVED_OBJECTS_DOC, USER_ERRORS_DOC, UserError, command
from mlgraph.schema.projects import Project

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


@strawberry.input(description="Delete an archived project and everything in it.")
class DeleteProjectInput:
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


@strawberry.type(description="Result of `deleteProject`.")
class DeleteProjectPayload:
    deleted_project_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the deleted project."
    )
    removed_objects: int | None = strawberry.field(default=None, description=REMOVED_OBJECTS_DOC)
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `addProjectMember`: the project with its members.")
class AddProjectMemberPayload(_ProjectPayload):
    pass


@strawberry.type(description="Result of `removeProjectMember`.")
class RemoveProjectMemberPayload(_ProjectPayload):
    pass


@strawberry.type
class ProjectMutations:
    create_project = command(
        projects.CreateProject,
        CreateProjectInput,
        CreateProjectPayload,
        description="Create a project; the caller becomes its ADMIN.",
    )
    update_project = command(
        projects.UpdateProject,
        UpdateProjectInput,
        UpdateProjectPayload,
        description="Change a project's name, description or protected aliases.",
    )
    archive_project = command(
        projects.ArchiveProject,
        ArchiveProjectInput,
        ArchiveProjectPayload,
        description="Archive a project (ADMIN): it then refuses writes (PROJECT_ARCHIVED) "
        "until `unarchiveProject`.",
    )
    unarchive_project = command(
        projects.UnarchiveProject,
        UnarchiveProjectInput,
        UnarchiveProjectPayload,
        description="Unarchive a project (ADMIN): the one write an archived project accepts, "
        "besides taking access away (`removeProjectMember`, `revokeApiKey`).",
    )
    delete_project = command(
        projects.DeleteProject,
        DeleteProjectInput,
        DeleteProjectPayload,
        description="Delete an archived project (ADMIN) with everything in it, objects in the "
        "store included. Its audit entries stay (readable by platform admins) and verify.",
    )
    add_project_member = command(
        projects.AddProjectMember,
        AddProjectMemberInput,
        AddProjectMemberPayload,
        description="Grant a principal a role in a project, or change it.",
    )
    remove_project_member = command(
        projects.RemoveProjectMember,
        RemoveProjectMemberInput,
        RemoveProjectMemberPayload,
        description="Remove a principal's role (a project keeps one ADMIN).",
    )
