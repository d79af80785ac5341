"""Mutation payloads: the changed entity plus ``userErrors``, and the one way to serve a command.

    @strawberry.type
    class ProjectMutations:
        create_project = command(
            projects.CreateProject, CreateProjectInput, CreateProjectPayload,
            description="Create a project; the caller becomes its ADMIN.",
        )

``mutate`` (which ``command`` fields run) turns ``UserErrors`` (and lost races: unique
violations, stale revisions) into ``userErrors`` after the transaction has rolled back, clears
the request's loaders so later fields read the committed state, and loads the changed entity
through the same loader as ``node(id:)`` when the answer selects it.

An integrity error is a lost race only for a constraint named in ``RACES``: a natural key
(DUPLICATE: the name, slug or version is taken), a key two writers can both claim (CONFLICT),
or a foreign key to a row a concurrent delete removed (the retry then answers NOT_FOUND). Any
other integrity error (another foreign key, CHECK, NOT NULL, an unknown unique key) is a bug:
logged with the request id and the constraint, and answered INTERNAL with nothing of it in the
response; the unit of work has rolled everything back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionNode
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from mlgraph.errors import Forbidden, Internal, Problem, UserErrorCode, UserErrors
from mlgraph.resolvers.commands import Command, Outcome
from mlgraph.resolvers.common import camel
from mlgraph.schema.relay import Info, node_class
from mlgraph.storage.integrity import violation

strawberry.enum(UserErrorCode, description="Why a mutation refused its input.")

log = logging.getLogger("mlgraph.mutations")

#: Constraints a concurrent writer can win, and what the loser is told: unique keys, and the
#: foreign keys to rows a concurrent delete can remove (a model, a version) after the loser
#: read them (on PostgreSQL; SQLite runs one unit of work at a time).
RACES: dict[str, UserErrorCode] = {
    "uq_project_slug": UserErrorCode.DUPLICATE,
    "uq_pipeline_project_id_name": UserErrorCode.DUPLICATE,
    "uq_model_project_id_name": UserErrorCode.DUPLICATE,
    "uq_model_version_model_id_version": UserErrorCode.DUPLICATE,
    "uq_deployment_project_id_name": UserErrorCode.DUPLICATE,
    "uq_project_member_project_id_principal_id": UserErrorCode.DUPLICATE,
    "uq_model_version_approval_version_id_approver": UserErrorCode.DUPLICATE,
    "uq_model_alias_model_id_alias": UserErrorCode.CONFLICT,
    "uq_deployment_target_deployment_id_version_id": UserErrorCode.CONFLICT,
    "uq_audit_entry_seq": UserErrorCode.CONFLICT,
    **dict.fromkeys(
        (
            "fk_deployment_model_id_model",
            "fk_artifact_version_id_model_version",
            "fk_deployment_target_version_id_model_version",
            "fk_model_alias_version_id_model_version",
            "fk_model_version_approval_version_id_model_version",
            "fk_model_version_lineage_parent_id_model_version",
        ),
        UserErrorCode.NOT_FOUND,
    ),
}
_MESSAGES = {
    UserErrorCode.DUPLICATE: "a concurrent change created it first; read and retry",
    UserErrorCode.CONFLICT: "a concurrent change got there first; read and retry",
    UserErrorCode.NOT_FOUND: "a concurrent change deleted what this refers to",
}


def _lost_race(error: IntegrityError | StaleDataError, request_id: str) -> UserErrorCode:
    """The code for a lost race; raises ``Internal`` (after logging) for anything else."""
    if isinstance(error, StaleDataError):
        return UserErrorCode.CONFLICT
    broken = violation(error)
    raced = broken.kind in ("unique", "foreign_key")
    code = RACES.get(broken.constraint or "") if raced else None
    if code is None:
        log.error(
            "request %s: %s constraint %s violated",
            request_id,
            broken.kind,
            broken.constraint,
            exc_info=error,
        )
        raise Internal("Internal error; quote the request id when reporting it.") from None
    return code


@strawberry.federation.type(
    shareable=True, description="An expected failure of a mutation: which input and why."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. `["input", "version"]`.'
    )
    message: str = strawberry.field(description="What is wrong, for people.")
    code: UserErrorCode = strawberry.field(description="What is wrong, for programs.")

    @classmethod
    def of(cls, problem: Problem) -> UserError:
        return cls(field=list(problem.field) or None, message=problem.message, code=problem.code)


P = TypeVar("P")
I = TypeVar("I")  # noqa: E741 - the input, as in resolvers.commands
T = TypeVar("T")

#: The one argument of every mutation: ``input: InputArg[CreateProjectInput]``.
InputArg = Annotated[T, strawberry.argument(description="What to change; see the input type.")]


def command(
    command: type[Command[I, Any]],
    input: type[I],
    payload: type[P],
    *,
    description: str,
    fields: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> P:
    """The mutation field running ``command`` on ``input``, answering ``payload``.

    The payload's first field shows the entity whose id the command's ``Outcome`` holds;
    ``fields`` turns the outcome's other fields into payload values (default: as they are).
    """
    shown, entity_type = _shown(payload)

    async def resolve(info: Info, input: I) -> P:
        async def action() -> Outcome:
            outcome = await command(info.context, input).run()
            extra = outcome.fields if fields is None else fields(outcome.fields)
            return Outcome(outcome.entity_id, extra)

        return await mutate(info, payload, shown, entity_type, action)

    resolve.__annotations__ = {"info": Info, "input": InputArg[input], "return": payload}  # type: ignore[misc, valid-type]
    return strawberry.mutation(resolver=resolve, description=description)


def _shown(payload: type) -> tuple[str, str | None]:
    """The payload's first field, and the Node type it shows (None for a deleted id)."""
    first = payload.__strawberry_definition__.fields[0]  # type: ignore[attr-defined]
    shown = getattr(first.type, "of_type", first.type)
    definition = getattr(shown, "__strawberry_definition__", None)
    return first.python_name, None if definition is None else definition.name


async def mutate(
    info: Info,
    payload: Callable[..., P],
    field: str,
    entity_type: str | None,
    action: Callable[[], Awaitable[Outcome]],
) -> P:
    """Run ``action`` (one unit of work); return ``payload(field=entity, user_errors=...)``,
    plus the outcome's other payload fields (e.g. an upload URL; those fields keep their
    defaults when the mutation is refused).

    A lost race (unique key of ``RACES`` taken, revision moved on) is retried once, so the
    second run can answer precisely (DUPLICATE, or the idempotent replay); if it loses again,
    the constraint's code. Other integrity errors are INTERNAL at once (``_lost_race``).
    """
    if not info.context.principal.authenticated:
        raise Forbidden("anonymous callers may only read")
    problems: list[Problem] = []
    outcome = Outcome(None)
    for attempt in (1, 2):
        try:
            outcome = await action()
            break
        except UserErrors as refused:
            problems = refused.problems
            break
        except (IntegrityError, StaleDataError) as race:
            code = _lost_race(race, info.context.request_id)
            if attempt == 2:
                problems = [Problem(code, _MESSAGES[code])]
    info.context.loaders.clear_all()
    if problems:
        errors = [UserError.of(p) for p in problems]
        return payload(**{field: None, "user_errors": errors})
    entity: Any = None
    if outcome.entity_id is not None and entity_type is not None and selects(info, field):
        row = await info.context.loaders.by_key(entity_type).load(outcome.entity_id)
        entity = None if row is None else node_class(entity_type).from_row(row)
    return payload(**{field: entity, "user_errors": [], **outcome.fields})


def selects(info: Info, python_name: str) -> bool:
    """Whether the operation selects the payload field ``python_name`` (through fragments
    too; a field under ``@skip``/``@include`` counts as selected): the changed entity is read
    only for an answer that shows it."""
    name = camel(python_name)
    fragments = info._raw_info.fragments

    def within(selections: Iterable[SelectionNode]) -> bool:
        for node in selections:
            if isinstance(node, FieldNode):
                if node.name.value == name:
                    return True
            elif isinstance(node, InlineFragmentNode):
                if within(node.selection_set.selections):
                    return True
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments.get(node.name.value)
                if fragment is None or within(fragment.selection_set.selections):
                    return True
        return False

    return any(
        node.selection_set is not None and within(node.selection_set.selections)
        for node in info._raw_info.field_nodes
    )


REMOVED_OBJECTS_DOC = (
    "How many objects left the object store (after the commit); null when the store failed "
    "(the rows stay deleted; the leftovers are logged)."
)
USER_ERRORS_DOC = "Expected failures; empty when the mutation took effect."
