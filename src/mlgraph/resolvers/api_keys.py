"""API keys: created by a project ADMIN (the secret is returned once), revoked the same way."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlgraph.auth import api_keys
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.resolvers.commands import Command, Target
from mlgraph.resolvers.common import Checks
from mlgraph.storage.enums import Role
from mlgraph.storage.models import ApiKey, Project
from mlgraph.storage.types import utcnow

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.api_keys import (  # noqa: F401
        CreateApiKeyInput,
        RevokeApiKeyInput,
    )

MAX_DAYS = 3650


class CreateApiKey(Command["CreateApiKeyInput", Project]):
    """A key scoped to a project; its secret is in the payload this once."""

    target = Target(Project, "project_id", role=Role.ADMIN, lock=False)
    action, topic = "api_key.create", "api_key.created"

    def check(self, checks: Checks) -> None:
        checks.text(self.input.name, "name")
        checks.number(self.input.expires_in_days, "expiresInDays", low=1, high=MAX_DAYS)

    async def apply(self, project: Project) -> ApiKey:
        input, new = self.input, api_keys.generate()
        days = input.expires_in_days
        key = ApiKey(
            id=uuid.uuid4(),
            project_id=project.id,
            name=input.name,
            prefix=new.prefix,
            secret_hash=new.secret_hash,
            role=input.role,
            created_by=self.ctx.principal.id,
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )
        self.tx.session.add(key)
        self.fields["secret"] = new.plaintext
        return key

    def event(self, changed: ApiKey) -> dict[str, Any]:
        return {"prefix": changed.prefix, "role": changed.role.value}


class RevokeApiKey(Command["RevokeApiKeyInput", ApiKey]):
    # Taking access away needs no unarchive.
    target = Target(ApiKey, "api_key_id", role=Role.ADMIN, archived_ok=True)
    action, topic = "api_key.revoke", "api_key.revoked"

    async def apply(self, key: ApiKey) -> ApiKey:
        if key.revoked_at is not None:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION, "key is already revoked", "input", "apiKeyId"
            )
        self.before = {"revoked_at": None}
        key.revoked_at = utcnow()
        return key

    def event(self, changed: ApiKey) -> dict[str, Any]:
        return {"prefix": changed.prefix}
