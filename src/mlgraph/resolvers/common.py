"""What every mutation resolver shares: input checks, lookups by global ID, revisions,
audit snapshots and idempotency keys.

Resolvers raise ``UserErrors`` for every expected failure; the unit of work then rolls back,
so nothing is written and no audit entry appears.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from mlgraph.context import Context
from mlgraph.errors import BadUserInput, Forbidden, Problem, UserErrorCode, UserErrors
from mlgraph.ids import decode_global_id
from mlgraph.storage.db import Base
from mlgraph.storage.enums import Role
from mlgraph.storage.models import IdempotencyKey, Project
from mlgraph.storage.types import utcnow
from mlgraph.storage.uow import plain_json, snapshot

__all__ = ["snapshot"]

M = TypeVar("M", bound=Base)
IDEMPOTENCY_TTL = timedelta(hours=24)
NAME_MAX, TEXT_MAX, KEY_MAX = 200, 10_000, 200
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: The control characters a text refuses: below U+0020 but for newline and tab.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")


def camel(name: str) -> str:
    """``model_id`` -> ``modelId``: a Python input name as the client spells it."""
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class Checks:
    """Collects every problem with an input, then raises them together."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, code: UserErrorCode, message: str, *field: str) -> None:
        self.problems.append(Problem(code, message, ("input", *field)))

    def text(
        self,
        value: str | None,
        *field: str,
        max_len: int = NAME_MAX,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        if value is None:
            return
        name = ".".join(field)
        if required and not value.strip():
            self.fail(UserErrorCode.INVALID, f"{name} must not be blank", *field)
        elif len(value) > max_len:
            self.fail(UserErrorCode.TOO_LONG, f"{name} is over {max_len} characters", *field)
        elif _CONTROL.search(value):
            self.fail(UserErrorCode.INVALID, f"{name} contains control characters", *field)
        elif pattern is not None and not pattern.fullmatch(value):
            self.fail(UserErrorCode.INVALID, f"{name} must match {pattern.pattern}", *field)

    def number(
        self, value: float | None, *field: str, low: float | None = None, high: float | None = None
    ) -> None:
        if value is None:
            return
        name = ".".join(field)
        if not math.isfinite(value):
            _not_finite(f"{name} must be a finite number", *field)
        elif low is not None and value < low:
            self.fail(UserErrorCode.INVALID, f"{name} must be at least {low}", *field)
        elif high is not None and value > high:
            self.fail(UserErrorCode.INVALID, f"{name} must be at most {high}", *field)

    def json_size(self, value: Any, *field: str, max_bytes: int = 64_000) -> None:
        if value is None:
            return
        try:
            size = len(json.dumps(value, allow_nan=False))
        except ValueError:
            _not_finite("JSON must not contain NaN or Infinity", *field)
        if size > max_bytes:
            self.fail(UserErrorCode.TOO_LONG, f"JSON over {max_bytes} bytes", *field)

    def done(self) -> None:
        if self.problems:
            raise UserErrors(self.problems)


def _not_finite(message: str, *field: str) -> None:
    """NaN and ±Infinity have no JSON form: BAD_USER_INPUT at once, like a Float variable."""
    raise BadUserInput(message, field=".".join(("input", *field)))


def decode_id(value: str, type_name: str, *field: str) -> uuid.UUID:
    """The uuid inside a global ID of ``type_name``; anything else is NOT_FOUND on ``field``."""
    try:
        found_type, pk = decode_global_id(value)
    except BadUserInput:
        raise UserErrors.one(
            UserErrorCode.NOT_FOUND, f"no {type_name} with id {value!r}", "input", *field
        ) from None
    if found_type != type_name:
        raise UserErrors.one(
            UserErrorCode.NOT_FOUND, f"{value!r} is not a {type_name} id", "input", *field
        )
    return pk


async def fetch(
    ctx: Context,
    session: AsyncSession,
    model: type[M],
    global_id: str,
    type_name: str,
    *field: str,
    lock: bool = False,
    role: Role = Role.EDITOR,
    archived_ok: bool = False,
) -> M:
    """The row behind ``global_id`` if it exists and the caller may see it, else NOT_FOUND;
    and the caller must hold ``role`` in its project (EDITOR by default), else FORBIDDEN;
    and its project must not be archived (PROJECT_ARCHIVED) unless ``archived_ok``.

    This is the write side of the one policy; the read side is the loaders' visibility filter.
    """
    pk = decode_id(global_id, type_name, *field)
    postgresql = session.get_bind().dialect.name == "postgresql"
    project = type_name == "Project"
    stmt = _fetch_statement(model, lock and postgresql, not archived_ok and postgresql, project)
    found = (await session.execute(stmt, {"pk": pk})).first()
    row = None if found is None else found[0]
    visible = ctx.principal.visible_projects()
    project_id = getattr(row, "project_id", None) if not project else pk
    if row is None or (visible is not None and project_id not in visible):
        raise UserErrors.one(
            UserErrorCode.NOT_FOUND, f"no {type_name} with id {global_id!r}", "input", *field
        )
    if not ctx.principal.can(project_id, role):
        raise Forbidden(f"this needs the {role.value} role in the {type_name}'s project")
    if not archived_ok:
        archived = row.archived_at if project else found[1]
        if archived is not None:
            raise _archived(*field)
    return row  # type: ignore[no-any-return]


@functools.cache
def _fetch_statement(
    model: type[Base], lock: bool, share_project: bool, project: bool
) -> Select[Any]:
    """One statement for ``fetch``: the row by ``:pk``, with its project's archive mark (a
    project is its own). ``lock``: the row ``FOR UPDATE``; ``share_project``: the project
    ``FOR SHARE`` (an archive waits for the writes that saw the project open, and no write
    lands after it). Built once per shape: statement construction is most of SQLAlchemy's
    cost for a one-row read."""
    table: Any = model.__table__
    if project:
        stmt: Select[Any] = select(model).where(table.c.id == bindparam("pk"))
        if lock:
            return stmt.with_for_update()
        return stmt.with_for_update(read=True) if share_project else stmt
    projects: Any = Project.__table__
    stmt = (
        select(model, projects.c.archived_at)
        .join_from(model, projects, projects.c.id == table.c.project_id)
        .where(table.c.id == bindparam("pk"))
    )
    if lock:
        stmt = stmt.with_for_update(of=table)
        return stmt.suffix_with("FOR SHARE OF project") if share_project else stmt
    return stmt.with_for_update(of=projects, read=True) if share_project else stmt


def _archived(*field: str) -> UserErrors:
    return UserErrors.one(
        UserErrorCode.PROJECT_ARCHIVED,
        "the project is archived: unarchive it to change anything in it",
        "input",
        *field,
    )


async def refuse_archived(
    session: AsyncSession, project_id: Any, locked: Any = None, *field: str
) -> None:
    """PROJECT_ARCHIVED when the project is archived. The project row is read ``FOR SHARE``
    (unless the caller holds it ``FOR UPDATE``: ``locked``), so an archive waits for the writes
    that saw the project open, and no write lands after it."""
    if locked is not None:
        archived = locked.archived_at
    else:
        stmt = select(Project.archived_at).where(Project.id == project_id)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(read=True)
        archived = await session.scalar(stmt)
    if archived is not None:
        raise _archived(*field)


def check_revision(row: Any, expected: int | None) -> None:
    """Optimistic concurrency: a stale ``expectedRevision`` is CONFLICT, not a lost update.
    (A concurrent writer that read the same revision fails at flush: ``version_id_col``.)"""
    if expected is not None and expected != row.revision:
        raise UserErrors.one(
            UserErrorCode.CONFLICT,
            f"revision is {row.revision}, not {expected}: it changed since you read it",
            "input",
            "expectedRevision",
        )


def fingerprint(value: Any) -> str:
    """A stable digest of a mutation input (dataclasses, enums, datetimes allowed)."""
    data = asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, default=plain_json, separators=(",", ":")).encode()
    ).hexdigest()


async def replay(
    ctx: Context, session: AsyncSession, operation: str, key: str | None, input: object
) -> uuid.UUID | None:
    """The entity a previous call with this idempotency key created, or None to go ahead.

    The same key with a different input is CONFLICT; keys expire after 24 hours.
    """
    key = key or ctx.idempotency_key
    if not key:
        return None
    if len(key) > KEY_MAX:
        raise UserErrors.one(
            UserErrorCode.TOO_LONG, "idempotency key is too long", "input", "idempotencyKey"
        )
    found = await session.get(IdempotencyKey, (ctx.principal.id, key))
    if found is not None and found.created_at < utcnow() - IDEMPOTENCY_TTL:
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.principal_id == ctx.principal.id, IdempotencyKey.key == key
            )
        )
        found = None
    if found is None:
        return None
    if found.operation != operation or found.fingerprint != fingerprint(input):
        raise UserErrors.one(
            UserErrorCode.CONFLICT,
            "this idempotency key was used with a different input",
            "input",
            "idempotencyKey",
        )
    return found.entity_id


def remember(
    ctx: Context,
    session: AsyncSession,
    operation: str,
    key: str | None,
    input: object,
    entity_type: str,
    entity_id: uuid.UUID,
) -> None:
    """Record the result under the idempotency key (same transaction as the create)."""
    key = key or ctx.idempotency_key
    if key:
        session.add(
            IdempotencyKey(
                principal_id=ctx.principal.id,
                key=key,
                operation=operation,
                fingerprint=fingerprint(input),
                entity_type=entity_type,
                entity_id=entity_id,
            )
        )


def mapping_of_numbers(value: Any, checks: Checks, *field: str) -> dict[str, float]:
    """A JSON object of finite numbers (e.g. metrics), or a problem on ``field``."""
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        checks.fail(UserErrorCode.INVALID, "must be an object of name -> number", *field)
        return {}
    for k, v in value.items():
        checks.text(k, *field, k, max_len=100)
        checks.number(float(v), *field, k)
    return {k: float(v) for k, v in value.items()}
