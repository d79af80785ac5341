"""``Command``: the one way a mutation runs. A mutation module states only its rule.

    class UpdateModel(Command["UpdateModelInput", Model]):
        target = Target(Model, "model_id")
        action, topic = "model.update", "model.updated"

        def check(self, checks: Checks) -> None:
            checks.text(self.input.description, "description", required=False)

        async def apply(self, model: Model) -> Model:
            model.description = self.input.description
            return model

``run()`` owns the ceremony, in this order:

1. ``check``: the input's own rules, every problem at once (no database);
2. ``prepare``: work before the transaction (a remote call such as an S3 HEAD never runs under
   a row lock);
3. one unit of work: for a create (``creates``) the idempotent replay by ``idempotencyKey``;
   the ``target`` row, fetched by its input field (NOT_FOUND when unknown or invisible),
   checked for the role (FORBIDDEN) and for an archived project (PROJECT_ARCHIVED), locked
   ``FOR UPDATE``, at the input's ``expectedRevision`` (CONFLICT); its snapshot;
4. ``apply``: the rule. It raises ``UserErrors`` for expected failures (everything rolls back)
   and returns the row it changed or created;
5. ``record``: the audit entry (before/after snapshots) and the outbox event (``action``,
   ``topic``, ``event``), and for a create the idempotency record;
6. ``committed``: work after the commit (a presigned URL, removing objects from the store).

``Delete`` is the command for deletes: the rule states only what must be removed first
(``refuse``) and where the row's objects are (``objects``).

The result is an ``Outcome``: the id the payload shows (``shows``) and more payload fields
(``fields``). ``schema.payloads.command`` turns a command into a GraphQL field: it maps lost
races and integrity errors, refreshes the request's loaders and builds the payload.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from mlgraph.context import Context
from mlgraph.errors import ObjectStoreError
from mlgraph.ids import encode_global_id
from mlgraph.resolvers.common import Checks, camel, check_revision, fetch, remember, replay
from mlgraph.storage.db import Base
from mlgraph.storage.enums import Role
from mlgraph.storage.graph import entity_for_table
from mlgraph.storage.uow import UnitOfWork, snapshot

log = logging.getLogger("mlgraph.mutations")

I = TypeVar("I")  # noqa: E741 - the input, as in strawberry's own generics
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome:
    """What a mutation made (``entity_id``) and more fields for its payload."""

    entity_id: uuid.UUID | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target(Generic[R]):
    """The row a command works on, named by the input field ``field`` (``"model_id"``)."""

    model: type[R]
    field: str
    role: Role = Role.EDITOR
    #: ``FOR UPDATE`` on PostgreSQL: commands that change the row; a create reads its parent.
    lock: bool = True
    #: Allowed in an archived project (``unarchiveProject``, taking access away).
    archived_ok: bool = False

    @property
    def type_name(self) -> str:
        return entity_for_table(self.model.__tablename__).name  # type: ignore[attr-defined]

    async def fetch(self, ctx: Context, tx: UnitOfWork, input: object) -> R:
        return await fetch(
            ctx,
            tx.session,
            self.model,  # type: ignore[type-var]
            getattr(input, self.field),
            self.type_name,
            camel(self.field),
            lock=self.lock,
            role=self.role,
            archived_ok=self.archived_ok,
        )


class Command(Generic[I, R]):
    """A mutation's rule; see the module docstring for what ``run`` does around it."""

    #: The row ``apply`` receives (None: the command has none, e.g. ``createProject``).
    target: ClassVar[Target[Any] | None] = None
    #: Audit action and outbox topic of the default ``record`` ("" for no event).
    action: ClassVar[str] = ""
    topic: ClassVar[str] = ""
    #: A create: replayed by idempotency key. The operation name is the class name, camelCase.
    creates: ClassVar[bool] = False

    tx: UnitOfWork
    #: The snapshot the audit entry starts from: the target's, unless the rule sets another.
    before: dict[str, Any] | None

    def __init__(self, ctx: Context, input: I) -> None:
        self.ctx = ctx
        self.input = input
        #: More payload fields (a secret, an upload URL), set by the rule.
        self.fields: dict[str, Any] = {}

    @classmethod
    def operation(cls) -> str:
        return cls.__name__[0].lower() + cls.__name__[1:]

    def check(self, checks: Checks) -> None:
        """The input's own rules; add every problem to ``checks``."""

    async def prepare(self) -> None:
        """Work before the transaction: remote calls that must not hold a lock."""

    async def apply(self, row: R) -> Any:
        """The rule: change ``row`` (the target) and return the row changed or created."""
        raise NotImplementedError

    def event(self, changed: Any) -> dict[str, Any]:
        """The outbox event's payload."""
        return {}

    def record(self, changed: Any) -> None:
        """The audit entry and outbox event of the change (``action``, ``topic``), from
        ``before`` (the target's snapshot, or what the rule set) to ``changed`` now."""
        if self.action:
            self.tx.record(
                changed, self.action, self.topic, before=self.before, payload=self.event(changed)
            )

    def shows(self, changed: Any) -> uuid.UUID | None:
        """The id of the entity the payload shows."""
        return changed.id  # type: ignore[no-any-return]

    async def replayed(self, entity_id: uuid.UUID) -> Outcome:
        """The answer to an idempotent retry of a create."""
        return Outcome(entity_id)

    async def committed(self, outcome: Outcome) -> Outcome:
        """Work after the commit; returns the outcome to answer."""
        return outcome

    async def run(self) -> Outcome:
        checks = Checks()
        self.check(checks)
        checks.done()
        await self.prepare()
        ctx, input = self.ctx, self.input
        key = getattr(input, "idempotency_key", None)
        async with ctx.uow() as tx:
            self.tx = tx
            if self.creates and (
                done := await replay(ctx, tx.session, self.operation(), key, input)
            ):
                return await self.replayed(done)
            row: Any = None
            if self.target is not None:
                row = await self.target.fetch(ctx, tx, input)
                check_revision(row, getattr(input, "expected_revision", None))
            held = None if self.creates or not isinstance(row, Base) else snapshot(row)
            self.before = held
            changed = await self.apply(row)
            if changed is not row and self.before is held:
                self.before = None  # the rule made another row, and said nothing of before
            await tx.session.flush()
            self.record(changed)
            outcome = Outcome(self.shows(changed), self.fields)
            if self.creates and outcome.entity_id is not None:
                type_name = entity_for_table(changed.__tablename__).name
                remember(ctx, tx.session, self.operation(), key, input, type_name, changed.id)
        return await self.committed(outcome)


class Delete(Command[I, R]):
    """Delete the target row (its rows below go with it: foreign keys cascade).

    ``refuse`` states what must be removed first. The audit entry keeps the row's last snapshot
    as ``before`` with ``after`` null: that is the tombstone (``AuditEntry.entity`` answers null
    once the row is gone). The outbox event is ``<type>.deleted``. After the commit, the objects
    under ``objects(row)`` leave the store; the payload's ``removed_objects`` counts them (null
    when the store failed: logged with the request id, the rows stay deleted).
    """

    async def refuse(self, row: R) -> None:
        """Raise ``UserErrors`` while something must be removed first."""

    def objects(self, row: R) -> str | None:
        """The object-store prefix holding the row's objects, if any."""
        return None

    async def apply(self, row: R) -> R:
        await self.refuse(row)
        self.prefix = self.objects(row)
        await self.tx.session.delete(row)
        return row

    def event(self, changed: Any) -> dict[str, Any]:
        type_name = entity_for_table(changed.__tablename__).name
        return {f"{type_name[0].lower()}{type_name[1:]}Id": encode_global_id(type_name, changed.id)}

    def record(self, changed: Any) -> None:
        type_name = entity_for_table(changed.__tablename__).name
        project = changed.id if type_name == "Project" else changed.project_id
        tx = self.tx
        tx.audit(self.action, type_name, changed.id, project, before=self.before, after=None)
        # A project's outbox rows go with it (foreign key), so its own event has no project.
        owner = None if type_name == "Project" else project
        tx.emit(self.topic, type_name, changed.id, owner, self.event(changed))
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()
        self.fields[f"deleted_{snake}_id"] = encode_global_id(type_name, changed.id)

    def shows(self, changed: Any) -> uuid.UUID | None:
        return None

    async def committed(self, outcome: Outcome) -> Outcome:
        if self.prefix is None:
            return outcome
        try:
            removed: int | None = await self.ctx.objects.delete_prefix(self.prefix)
        except ObjectStoreError:
            log.exception(
                "request %s: objects under %s were left in the store",
                self.ctx.request_id,
                self.prefix,
            )
            removed = None
        return Outcome(outcome.entity_id, {**outcome.fields, "removed_objects": removed})
