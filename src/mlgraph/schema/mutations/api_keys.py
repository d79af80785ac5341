"""API key mutations (project ADMIN only)."""

from __future__ import annotations

import strawberry

from mlgraph.resolvers import api_keys
from mlgraph.schema.enums import Role
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command
from mlgraph.schema.projects import ApiKey


@strawberry.input(description="A new API key for a runner or monitor.")
class CreateApiKeyInput:
    project_id: strawberry.ID = strawberry.field(description="The project it is scoped to.")
    name: str = strawberry.field(description="What it is for, e.g. `airflow-runner`.")
    role: Role = strawberry.field(description="The role it acts with (VIEWER, EDITOR, ADMIN).")
    expires_in_days: int | None = strawberry.field(
        default=None, description="Days until it stops working (default: never)."
    )


@strawberry.input(description="Revoke an API key; it stops working at once.")
class RevokeApiKeyInput:
    api_key_id: strawberry.ID = strawberry.field(description="The key.")


@strawberry.type(description="Result of `createApiKey`.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The key, without its secret.")
    secret: str | None = strawberry.field(
        default=None,
        description="The whole key (`mlg_...`). Shown this once; only its hash is stored.",
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `revokeApiKey`.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(description="The revoked key.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type
class ApiKeyMutations:
    create_api_key = command(
        api_keys.CreateApiKey,
        CreateApiKeyInput,
        CreateApiKeyPayload,
        description="Create an API key; its secret is returned once.",
    )
    revoke_api_key = command(
        api_keys.RevokeApiKey,
        RevokeApiKeyInput,
        RevokeApiKeyPayload,
        description="Revoke an API key.",
    )
