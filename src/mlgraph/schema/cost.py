"""The static cost of an operation, its limit, and its rate-limit charge.

GitHub's formulas, on the document strawberry parsed and validated:

* **nodes**: each list field returns at most its page size (``first``/``last``, else its
  default page) per parent, so its nodes are the page sizes multiplied down the tree. Refused
  over ``max_query_nodes`` (500,000) with ``COST_LIMIT_EXCEEDED``.
* **requests**: one fetch per list per parent; **points** = requests / 100, at least 1. The
  principal's rate limit is charged that many points (``mlgraph.ratelimit``); over it,
  ``RATE_LIMITED``. When the shared buckets cannot be reached (the database is down), the
  operation answers ``UNAVAILABLE`` rather than run unmetered.

Every selection counts, duplicates and fragments included (a spread counts once per use).
The page sizes come from the fields' ``@listSize`` directives (Federation 2.9 demand control),
which the field factories derive from the graph declaration, so a router reading the SDL works
from the same numbers. Both refusals happen before execution: no resolver runs, no SQL.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.schema.schema_converter import GraphQLCoreConverter

from mlgraph.context import Context
from mlgraph.errors import CostLimitExceeded, MlgraphError, RateLimited, Unavailable
from mlgraph.ratelimit import Estimate
from mlgraph.schema.errors import UNAVAILABLE_ERRORS, UNAVAILABLE_MESSAGE
from mlgraph.storage.graph import Relation

log = logging.getLogger("mlgraph.ratelimit")

SLICING = ("first", "last")
SIZED = ("edges", "nodes")


def connection_size(rel: Relation) -> ListSize:
    """``@listSize`` of a connection: ``first``/``last``, else the declared default page."""
    return ListSize(
        assumed_size=rel.default_page,
        slicing_arguments=list(SLICING),
        sized_fields=list(SIZED),
        require_one_slicing_argument=False,
    )


def list_size(size: int) -> ListSize:
    """``@listSize`` of a bounded list (a ``list`` relation returns at most its page cap)."""
    return ListSize(
        assumed_size=size,
        slicing_arguments=[],
        sized_fields=[],
        require_one_slicing_argument=False,
    )


@dataclass(frozen=True)
class FieldCost:
    assumed: int | None = None
    slicing: tuple[str, ...] = ()
    sized: tuple[str, ...] = ()
    weight: int = 0

    @property
    def is_list(self) -> bool:
        return self.assumed is not None or bool(self.slicing)


class _PerSchema:
    """What this module keeps per schema: its field costs, and recent estimates."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.costs = _field_costs(schema)
        self.estimates: dict[tuple[Any, ...], Estimate] = {}


_SCHEMAS: weakref.WeakKeyDictionary[GraphQLSchema, _PerSchema] = weakref.WeakKeyDictionary()


def _of_schema(schema: GraphQLSchema) -> _PerSchema:
    kept = _SCHEMAS.get(schema)
    if kept is None:
        kept = _SCHEMAS[schema] = _PerSchema(schema)
    return kept


def _field_costs(schema: GraphQLSchema) -> Mapping[tuple[str, str], FieldCost]:
    """``(type, field) -> FieldCost`` for every field carrying ``@listSize`` or ``@cost``."""
    costs: dict[tuple[str, str], FieldCost] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            cost = _of(getattr(definition, "directives", ()))
            if cost is not None:
                costs[type_.name, name] = cost
    return costs


def _of(directives: Iterable[object]) -> FieldCost | None:
    size = next((d for d in directives if isinstance(d, ListSize)), None)
    weight = next((d.weight for d in directives if isinstance(d, Cost)), 0)
    if size is None and not weight:
        return None
    if size is None:
        return FieldCost(weight=weight)
    return FieldCost(
        assumed=size.assumed_size,
        slicing=tuple(size.slicing_arguments or ()),
        sized=tuple(size.sized_fields or ()),
        weight=weight,
    )


class _Walk:
    """Sums nodes and requests over an operation's selections."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.costs = _of_schema(schema).costs
        self.nodes = self.requests = 0

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        times: int,
        sized: tuple[tuple[str, ...], int] = ((), 0),
    ) -> None:
        """``selection_set`` on ``parent``, reached ``times`` times; fields named in
        ``sized[0]`` (a connection's ``edges``/``nodes``) are reached ``sized[1]`` times."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                many = selection.name.value in sized[0]
                self.field(selection, parent, sized[1] if many else times)
                continue
            fragment: FragmentDefinitionNode | InlineFragmentNode
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
            else:
                assert isinstance(selection, InlineFragmentNode)
                fragment = selection
            condition = fragment.type_condition
            on = parent if condition is None else self.schema.get_type(condition.name.value)
            assert on is not None  # the document is validated
            self.selections(fragment.selection_set, on, times, sized)

    def field(self, node: FieldNode, parent: GraphQLNamedType, times: int) -> None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return  # a union's __typename
        definition = parent.fields.get(node.name.value)
        if definition is None:  # __typename, introspection
            return
        cost = self.costs.get((parent.name, node.name.value), FieldCost())
        self.requests += times * cost.weight
        inner = times
        if cost.is_list:
            size = self.size(node, cost)
            self.nodes += times * size
            self.requests += times
            inner = times * size
        if node.selection_set is None:
            return
        target = get_named_type(definition.type)
        if cost.sized:
            self.selections(node.selection_set, target, times, (cost.sized, inner))
        else:
            self.selections(node.selection_set, target, inner)

    def size(self, node: FieldNode, cost: FieldCost) -> int:
        given = [
            value_from_ast_untyped(a.value, self.variables)
            for a in node.arguments or ()
            if a.name.value in cost.slicing
        ]
        sizes = [max(0, v) for v in given if isinstance(v, int)]
        return max(sizes) if sizes else cost.assumed or 0


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Estimate:
    """The cost of ``document``'s operation (a validated document) with ``variables``."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return Estimate(0, 0)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, {**_defaults(operation), **(variables or {})})
    root = schema.get_root_type(operation.operation)
    assert root is not None
    walk.selections(operation.selection_set, root, 1)
    return Estimate(walk.nodes, walk.requests)


def _defaults(operation: OperationDefinitionNode) -> dict[str, Any]:
    return {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }


class CostGuard(SchemaExtension):
    """Estimates each query and mutation before it runs, refuses it over the node limit or
    the principal's rate limit, and reports the estimate in ``extensions.cost``. What the
    response needs (the estimate, the charge) is kept on the request's ``Context``."""

    async def on_execute(self) -> AsyncIterator[None]:
        run = self.execution_context
        context = run.context
        if (
            isinstance(context, Context)
            and run.graphql_document is not None
            and run.operation_type.value in ("query", "mutation")
            and run.result is None
        ):
            refusal = await _check(context, run.schema._schema, run)
            if refusal is not None:
                error = GraphQLError(refusal.message, original_error=refusal)
                run.result = ExecutionResult(data=None, errors=[error])
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, Context) or context.cost is None:
            return {}
        return {"cost": cost_extension(context)}


#: Recent estimates kept per schema: a repeated operation (a dashboard) costs a lookup, not a
#: walk (measured: 170 us for the dashboard, a tenth of the compiled path's CPU per request).
ESTIMATES_KEPT = 1000


def _estimate(schema: GraphQLSchema, run: Any) -> Estimate:
    """``estimate``, remembered by query text, operation and the variables' scalar values
    (the only values a page size can take)."""
    variables: dict[str, Any] = run.variables or {}
    if run.query is None:
        return estimate(schema, run.graphql_document, run.operation_name, variables)
    scalars = tuple((k, v) for k, v in variables.items() if v is None or isinstance(v, int))
    key = (run.query, run.operation_name, scalars)
    kept = _of_schema(schema).estimates
    cost = kept.get(key)
    if cost is None:
        cost = estimate(schema, run.graphql_document, run.operation_name, variables)
        if len(kept) >= ESTIMATES_KEPT:
            del kept[next(iter(kept))]  # the oldest
        kept[key] = cost
    return cost


async def _check(context: Context, schema: GraphQLSchema, run: Any) -> MlgraphError | None:
    cost = context.cost = _estimate(schema, run)
    limit = context.settings.max_query_nodes
    if cost.nodes > limit:
        return CostLimitExceeded(
            f"the operation may return {cost.nodes:,} nodes, over the limit of {limit:,}; "
            "ask for smaller pages (first/last) or fewer nested connections",
            details={"nodeCount": cost.nodes, "maximumNodeCount": limit},
        )
    if context.limiter is None:
        return None
    try:
        rate = context.rate = await context.limiter.charge(context.principal.id, cost.points)
    except UNAVAILABLE_ERRORS as down:  # the shared buckets are in the database, down too
        log.warning("rate limit unavailable: %r", down)
        return Unavailable(UNAVAILABLE_MESSAGE)
    if rate.retry_after is None:
        return None
    return RateLimited(
        f"the operation costs {cost.points} points and {rate.remaining} of {rate.limit} "
        "are left; retry after the time in retryAfter (seconds)",
        details={"retryAfter": int(rate.headers()["retry-after"])},
    )


def cost_extension(context: Context) -> dict[str, Any]:
    """``extensions.cost``: this operation's estimate. It depends on the document and its
    variables only, so both read paths answer the same bytes; what is left of the budget is in
    the ``x-ratelimit-*`` headers and ``Query.rateLimit``."""
    assert context.cost is not None
    return {
        "requestedQueryCost": context.cost.points,
        "nodeCount": context.cost.nodes,
        "maximumNodeCount": context.settings.max_query_nodes,
    }


__all__ = ["CostGuard", "connection_size", "estimate", "list_size"]
