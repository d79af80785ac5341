"""API keys: created by a project ADMIN (the secret is returned once), revoked the same way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlgraph.auth import api_keys
from mlgraph.context import Context
from mlgraph.errors import UserErrorCode, UserErrors
from mlgraph.resolvers.common import Checks, fetch
from mlgraph.storage.enums import Role
from mlgraph.storage.models import ApiKey, Project
from mlgraph.storage.types import utcnow

MAX_DAYS = 3650


@dataclass(frozen=True)
class CreatedKey:
    key_id: uuid.UUID
    secret: str


async def create_api_key(ctx: Context, input: Any) -> CreatedKey:
    checks = Checks()
    checks.text(input.name, "name")
    checks.number(input.expires_in_days, "expiresInDays", low=1, high=MAX_DAYS)
    checks.done()
    async with ctx.uow() as tx:
        project = await fetch(
            ctx, tx.session, Project, input.project_id, "Project", "projectId", role=Role.ADMIN
        )
        new = api_keys.generate()
        expires = (
            utcnow() + timedelta(days=input.expires_in_days) if input.expires_in_days else None
        )
        key = ApiKey(
            id=uuid.uuid4(),
            project_id=project.id,
            name=input.name,
            prefix=new.prefix,
            secret_hash=new.secret_hash,
            role=input.role,
            created_by=ctx.principal.id,
            expires_at=expires,
        )
        tx.session.add(key)
        await tx.session.flush()
        tx.record(
            key,
            "api_key.create",
            "api_key.created",
            before=None,
            payload={"prefix": key.prefix, "role": key.role.value},
        )
        return CreatedKey(key.id, new.plaintext)


async def revoke_api_key(ctx: Context, input: Any) -> uuid.UUID:
    async with ctx.uow() as tx:
        key = await fetch(
            ctx,
            tx.session,
            ApiKey,
            input.api_key_id,
            "ApiKey",
            "apiKeyId",
            lock=True,
            role=Role.ADMIN,
            archived_ok=True,  # taking access away needs no unarchive
        )
        if key.revoked_at is not None:
            raise UserErrors.one(
                UserErrorCode.INVALID_TRANSITION, "key is already revoked", "input", "apiKeyId"
            )
        before = {"revoked_at": None}
        key.revoked_at = utcnow()
        await tx.session.flush()
        tx.record(
            key,
            "api_key.revoke",
            "api_key.revoked",
            before=before,
            payload={"prefix": key.prefix},
        )
        return key.id
