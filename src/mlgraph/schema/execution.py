"""The resolver path's executor: graphql-core's, with short cuts where a dashboard spends time.

A dashboard answer is ~1,700 objects and ~10,000 leaf fields. graphql-core executes every field
through its whole machinery (a path, a resolve info, strawberry's resolver wrapper, an
awaitable check, three ``complete_*`` steps) and every object of a list through four nested
calls, and completes each object on its own: 100 models with a ``versions`` connection become
100 coroutines gathered as 100 tasks, all waiting for the same batched load. ``Executor``
keeps graphql-core's semantics and takes these short cuts:

* **Plain leaves.** A field strawberry resolves as a basic attribute (no resolver, no field
  extensions, no arguments) whose type is a scalar or an enum is read with one ``getattr`` and
  coerced by its own type. Anything unusual (a null for a non-null field, a value the type
  cannot coerce, an exception) sends that one field through graphql-core's ``execute_field``.
* **Plain object lists.** A basic field holding a list of objects (``nodes``) or one object
  (``Edge.node``) executes each item's fields directly, once the value is checked to be what
  graphql-core would accept without an error (a list, no null item, ``is_type_of`` true);
  otherwise the field goes through graphql-core's ``complete_value``. Item errors are handled
  at the item's path exactly as graphql-core's list completion does.
* **Relations breadth first.** When an awaited field's value arrives, the executor walks its
  selection down one level at a time: it calls every ``BREADTH_FIRST`` resolver (the relation
  fields of ``schema/relay.py``, which return their value at once when their DataLoader has
  it, or a future) for every object of the level, waits once for the level's batched loads,
  and keeps the values. Execution then uses those values instead of calling the resolvers
  again, and completes the subtree without an await. Each resolver still runs once per object
  and each relation level is still one batched statement. A resolver that raises, or whose
  future fails, is not kept: execution calls it again and reports the error at its own path.
* **Direct relation resolvers.** Relation fields (``relation_field``) resolve through a
  function taking graphql-core's arguments as they are, without strawberry's per-call ``Info``
  and input conversion; the walk also tells a connection what its answer reads
  (``Selection``), so its page loads only those columns.

The differential tests (``tests/test_compiled.py``) hold the resolver path byte-for-byte to
the compiled path, and the rest of the suite holds its errors and null propagation.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    get_argument_values,
    get_named_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

from mlgraph.live.renders import rights
from mlgraph.schema import coercion
from mlgraph.schema.executor_contract import check_executor_base

if TYPE_CHECKING:
    from mlgraph.schema.subscriptions import EventRun

__all__ = [
    "BREADTH_FIRST",
    "SUBSCRIBING",
    "Executor",
    "install_direct_resolvers",
    "relation_field",
    "row_leaf",
    "row_leaf_column",
    "then",
]

T = TypeVar("T")
V = TypeVar("V")

_BREADTH_FIRST_KEY = "mlgraph.breadth_first"
_DIRECT_KEY = "mlgraph.direct"
_SELECTION_KEY = "mlgraph.selection"
_REFERENCE_KEY = "mlgraph.reference"
_ROW_LEAF_KEY = "mlgraph.row_leaf"
#: strawberry field metadata marking a resolver the executor may call ahead, breadth first:
#: a read without side effects that returns its value, or a future of it.
BREADTH_FIRST = {_BREADTH_FIRST_KEY: True}


def relation_field(
    many: Callable[..., list[Any]],
    *,
    selection: bool = False,
    reference: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Metadata of a relation field: ``BREADTH_FIRST``, and ``many`` as its resolver.

    ``many`` takes graphql-core's ``(sources, info, **arguments)`` (GraphQL names, coerced
    values), uses only ``info.context`` and returns one result per source (a value, or a
    future of it). The breadth-first walk calls it once for all the objects of a level, so
    what depends only on the arguments (checking them, finding the loader) is done once per
    level instead of once per object; ``install_direct_resolvers`` makes it, for one source,
    the field's resolver in place of strawberry's wrapper, which would build an ``Info`` and
    convert the arguments into strawberry's input types on every call.

    With ``selection``, the breadth-first walk also passes ``selection=``: a ``Selection`` of
    what the field's answer reads, so the resolver can load only the columns it needs.

    ``reference`` answers the field instead where its target type is served by another
    subgraph (``install_direct_resolvers``' ``foreign``)."""
    return {
        _BREADTH_FIRST_KEY: True,
        _DIRECT_KEY: many,
        _SELECTION_KEY: selection,
        _REFERENCE_KEY: reference,
    }


class Direct:
    """A relation field's resolver: its ``many`` for one source."""

    __slots__ = ("many",)

    def __init__(self, many: Callable[..., list[Any]]) -> None:
        self.many = many

    def __call__(self, source: Any, info: Any, **arguments: Any) -> Any:
        return self.many([source], info, **arguments)[0]


def row_leaf(column: str) -> dict[str, Any]:
    """Metadata of a leaf field with arguments (``ModelVersion.stage(asOf:)``) that, given
    none, answers its object's ``row.<column>``: executed as a plain leaf, and read like one."""
    return {_ROW_LEAF_KEY: column}


def row_leaf_column(field_def: GraphQLField) -> str | None:
    """The column a ``row_leaf`` field answers without arguments; None for other fields."""
    column = _metadata(field_def).get(_ROW_LEAF_KEY)
    return column if isinstance(column, str) else None


#: What a field's answer reads, per object type below it (up to the next relation field):
#: the python names of the type's selected fields, or None when one of them is computed by a
#: resolver of its own (which may read anything of its object).
Selection = dict[str, frozenset[str] | None]


def install_direct_resolvers(
    schema: GraphQLSchema, foreign: Callable[[str], bool] = lambda _: False
) -> None:
    """Make each ``relation_field``'s ``many`` (as a ``Direct``) the field's resolver, or its
    ``reference`` resolver where ``foreign(target type name)``."""
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType):
            continue
        for field in named.fields.values():
            metadata = _metadata(field)
            many, reference = metadata.get(_DIRECT_KEY), metadata.get(_REFERENCE_KEY)
            if reference is not None and foreign(get_named_type(field.type).name):
                field.resolve = reference
            elif many is not None:
                field.resolve = Direct(many)


def then(future: asyncio.Future[T], fn: Callable[[T], V]) -> V | asyncio.Future[V]:
    """``fn`` of the future's result: at once if it is already there, else as a future.

    A callback instead of a coroutine: a relation whose batch has loaded costs no task.
    """
    if future.done() and not future.cancelled() and future.exception() is None:
        return fn(future.result())
    out: asyncio.Future[V] = future.get_loop().create_future()

    def settle(done: asyncio.Future[T]) -> None:
        if out.done():
            return
        if done.cancelled():
            out.cancel()
        elif (error := done.exception()) is not None:
            out.set_exception(error)
        else:
            try:
                out.set_result(fn(done.result()))
            except Exception as raised:
                out.set_exception(raised)

    future.add_done_callback(settle)
    return out


# --- plans: how each selected field of a type is executed -----------------------------------


class Leaf:
    """A plain scalar or enum attribute (``row.<column>`` for a ``row_leaf`` field). A value
    of type ``exact`` is its own output (a ``str`` for String and ID, a ``bool`` for
    Boolean), so it is taken as it is."""

    __slots__ = ("coerce", "exact", "get", "non_null", "python_name")

    def __init__(
        self,
        python_name: str,
        coerce: Callable[[Any], Any],
        non_null: bool,
        exact: type | None = None,
    ) -> None:
        self.python_name, self.coerce, self.non_null = python_name, coerce, non_null
        self.exact = exact
        self.get = operator.attrgetter(python_name)


class Objects:
    """A plain attribute holding one object, or a list of non-null objects, of one type."""

    __slots__ = ("item", "item_type", "python_name", "return_type")

    def __init__(
        self,
        python_name: str,
        return_type: GraphQLOutputType,
        item_type: GraphQLObjectType,
        item: GraphQLNonNull[GraphQLObjectType] | None,
    ) -> None:
        self.python_name, self.return_type, self.item_type = python_name, return_type, item_type
        self.item = item  # the list's item type; None for a single object


#: One entry per response key: its field details and its short cut, if it has one.
FieldPlan = list[tuple[str, FieldDetailsList, Leaf | Objects | None]]


def _enum_coercion(enum_type: GraphQLEnumType) -> Callable[[Any], Any]:
    """strawberry's enum output coercion as one dict lookup (it loops over the values): by
    the member's identity (members are singletons; ``Enum.__hash__`` is a Python call)."""
    coerce = enum_type.coerce_output_value
    if not isinstance(enum_type, CustomGraphQLEnumType):
        return coerce
    wrapped = enum_type.wrapped_cls
    by_value = {value.value: name for name, value in enum_type.values.items()}
    members: list[Any] = list(wrapped)
    names = {id(member): by_value[member.value] for member in members}

    def coerce_member(value: Any) -> Any:
        if type(value) is wrapped:
            return names[id(value)]
        return coerce(value)

    return coerce_member


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _float(value: Any) -> Any:
    """graphql-core's Float output, at once for a finite ``float`` (inf - inf is nan)."""
    if type(value) is float and value - value == 0.0:
        return value
    return GraphQLFloat.serialize(value)


def _int(value: Any) -> Any:
    """graphql-core's Int output, at once for an ``int`` in 32 bits."""
    if type(value) is int and _INT_MIN <= value <= _INT_MAX:
        return value
    return GraphQLInt.serialize(value)


#: graphql-core's own scalars: the type whose values are their own output, or a quicker
#: coercion giving the same output.
_EXACT: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}
_QUICK: dict[GraphQLLeafType, Callable[[Any], Any]] = {GraphQLFloat: _float, GraphQLInt: _int}


def _shortcut(
    parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
) -> Leaf | Objects | None:
    node = field_details_list[0].node
    field_def = parent_type.fields.get(node.name.value)
    if field_def is None or node.arguments:
        return None
    column = _metadata(field_def).get(_ROW_LEAF_KEY)
    if column is None and field_def.args:
        return None
    if column is None and not getattr(field_def.resolve, "_is_default", False):
        return None  # not strawberry's basic field
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    python_name = getattr(definition, "python_name", None)
    if python_name is None:
        return None
    if column is not None:
        python_name = f"row.{column}"
    return_type = field_def.type
    non_null = isinstance(return_type, GraphQLNonNull)
    inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if isinstance(inner, GraphQLEnumType):
        return Leaf(python_name, _enum_coercion(inner), non_null)
    if isinstance(inner, GraphQLLeafType):
        coerce = _QUICK.get(inner, inner.coerce_output_value)
        return Leaf(python_name, coerce, non_null, _EXACT.get(inner))
    if isinstance(inner, GraphQLObjectType):
        return Objects(python_name, return_type, inner, None)
    if isinstance(inner, GraphQLList):
        item = inner.of_type
        if isinstance(item, GraphQLNonNull) and isinstance(item.of_type, GraphQLObjectType):
            return Objects(python_name, return_type, item.of_type, item)
    return None


def _coerce_leaf(value: Any, leaf: Leaf) -> Any:
    """The coerced value, or ``Undefined`` when graphql-core must handle the field itself
    (``value`` is ``Undefined`` when reading it failed)."""
    if value is None:
        return Undefined if leaf.non_null else None
    if value is Undefined or isinstance(value, Exception):
        return Undefined
    try:
        coerced = leaf.coerce(value)
    except Exception:
        return Undefined
    return Undefined if coerced is None else coerced


check_executor_base(StrawberryGraphQLCoreExecutionContext)

#: The executor of the subscription whose root field is being resolved (set in that
#: operation's task): the subscription's stream renders its events with it
#: (``mlgraph.schema.subscriptions``, direct delivery).
SUBSCRIBING: ContextVar[Executor | None] = ContextVar("mlgraph_subscribing", default=None)


class Executor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor with the short cuts described in this module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by the identity of a grouped field set, which graphql-core memoizes per
        # (type, selection) for the whole execution; the set is kept alive with its plan.
        self._field_plans: dict[int, tuple[GroupedFieldSet, FieldPlan]] = {}
        # (id(source), id(field details)) -> (source, value) of resolvers called ahead.
        self._ahead: dict[tuple[int, int], tuple[Any, Any]] = {}
        self._selections: dict[int, tuple[FieldDetailsList, Selection]] = {}
        #: Set on a subscription event's executor (``build_per_event_executor``).
        self._event_run: EventRun | None = None
        #: The coerced variables as a key (``render_key``), once computed.
        self._variables_key: str | None = None

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """graphql-core's, with a variable's big list of plain input objects coerced by its
        item type's plan (``schema.coercion``); graphql-core coerces everything else, and all
        of it when an item would not coerce, or when it refuses the rest."""

        def build(variables: dict[str, Any] | None) -> Any:
            return super(Executor, cls).build(
                schema,
                document,
                root_value,
                context_value,
                variables,
                operation_name,
                *args,
                **kwargs,
            )

        split = coercion.split(schema, _operation(document, operation_name), raw_variable_values)
        if split is None:
            return build(raw_variable_values)
        lighter, coerced = split
        built = build(lighter)
        if isinstance(built, list):  # refused: with graphql-core's errors for all of it
            return build(raw_variable_values)
        assert raw_variable_values is not None
        built.variable_values = coercion.patch(built.variable_values, raw_variable_values, coerced)
        return built

    def build_per_event_executor(self, payload: Any) -> Executor:
        """A subscription event runs as its payload says (``LiveUpdate``'s ``event_run``):
        with its own principal, loaders and object-store cache, and its result shared with
        the subscribers of the same selection and rights (``execute_operation``)."""
        executor = cast("Executor", super().build_per_event_executor(payload))
        executor._event_run = getattr(payload, "event_run", None)
        executor._ahead = {}
        return executor

    def build_resolve_info(
        self,
        field_def: GraphQLField,
        field_nodes: list[Any],
        parent_type: GraphQLObjectType,
        path: Path,
    ) -> GraphQLResolveInfo[Any]:
        """graphql-core's; for a subscription's root field (its source stream), ``SUBSCRIBING``
        names this executor."""
        if (
            path.prev is None
            and self._event_run is None
            and self.operation.operation is OperationType.SUBSCRIPTION
        ):
            SUBSCRIBING.set(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    def render_key(self, position: int, rights: Hashable) -> Hashable:
        """What the result of the event at ``position`` depends on: the event, the selection
        and its variables, and the subscriber's ``rights`` (``mlgraph.live.renders``)."""
        return (position, self.selection_key(rights))

    def selection_key(self, rights: Hashable) -> Hashable:
        """What an event's result depends on besides the event: the selection, its variables
        and the subscriber's ``rights`` (the hub's fan-out group)."""
        if self._variables_key is None:
            self._variables_key = repr(sorted(self.variable_values.coerced.items()))
        return (id(self.operation), self._variables_key, rights)

    async def render(self, payload: Any) -> ExecutionResult:
        """A subscription event's result (``payload``, a ``LiveUpdate``, as the root value), as
        graphql-core's stream would produce it (shared like it: ``execute_operation``)."""
        result = self.build_per_event_executor(payload).execute_operation(False)
        return cast("ExecutionResult", await result if self.is_awaitable(result) else result)

    def execute_operation(self, serially: bool | None = None) -> Any:
        run = self._event_run
        if run is None:
            return self._then_release(super().execute_operation(serially))
        key = self.render_key(run.position, rights(run.principal))
        execute = super().execute_operation

        async def compute() -> Any:
            self.context_value = run.context()
            result = execute(serially)
            return await result if self.is_awaitable(result) else result

        return run.renders.result(key, self.operation, compute)

    def _then_release(self, result: Any) -> Any:
        """``result``; once it is there, the executor lets go of the request's objects.

        graphql-core's executor holds bound methods of itself (``async_helpers``), a
        reference cycle that only the garbage collector frees, and through
        ``context_value`` it would keep every row and object the request's loaders read
        until then (measured on the dashboard: a gen-0 collection of ~90,000 objects every
        ten requests, ~150 ms of CPU each). Work still running after the result (errors
        settled in the background, incremental delivery) keeps everything as it is."""
        if not self.is_awaitable(result):
            self._release()
            return result

        async def released() -> Any:
            try:
                return await result
            finally:
                self._release()

        return released()

    def _release(self) -> None:
        if self.background_futures or self.pending_incremental_futures:
            return
        self.context_value = None
        self.root_value = None
        self._ahead.clear()
        self._field_plans.clear()
        self._selections.clear()

    def _field_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> FieldPlan:
        cached = self._field_plans.get(id(grouped_field_set))
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        manager = self.middleware_manager
        shortcuts = manager is None or not manager.middlewares  # strawberry passes an empty one
        plan: FieldPlan = [
            (key, details, _shortcut(parent_type, details) if shortcuts else None)
            for key, details in grouped_field_set.items()
        ]
        self._field_plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, details, shortcut in self._field_plan(
                parent_type, grouped_field_set
            ):
                if type(shortcut) is Leaf:  # inline: ~10,000 of them in a dashboard answer
                    try:
                        value = shortcut.get(source_value)
                    except Exception:
                        value = Undefined
                    if type(value) is not shortcut.exact:
                        value = _coerce_leaf(value, shortcut)
                    if value is not Undefined:
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, parent_type.name)
                if isinstance(shortcut, Objects):
                    result = self._execute_objects(
                        parent_type, source_value, details, field_path, shortcut, position_context
                    )
                else:
                    result = self.execute_field(
                        parent_type, source_value, details, field_path, position_context
                    )
                if result is not Undefined:
                    results[response_name] = result
                    if self.is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gather_fields(results, awaitable_fields)

    async def _gather_fields(
        self, results: dict[str, Any], awaitable_fields: list[str]
    ) -> dict[str, Any]:
        # graphql-core's own execute_fields does exactly this with its awaitable fields.
        if len(awaitable_fields) == 1:
            results[awaitable_fields[0]] = await results[awaitable_fields[0]]
            return results
        awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
        results.update(zip(awaitable_fields, awaited, strict=True))
        return results

    # --- plain objects ------------------------------------------------------------------

    def _execute_objects(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        details: FieldDetailsList,
        path: Path,
        objects: Objects,
        position_context: Any,
    ) -> Any:
        """``execute_field`` of a plain object(s) attribute, without the per-item layers."""
        return_type = objects.return_type
        try:
            value = getattr(source, objects.python_name)
            return self._complete_objects(
                parent_type, details, path, value, objects, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, details, path)
            return None

    def _complete_objects(
        self,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        path: Path,
        value: Any,
        objects: Objects,
        position_context: Any,
    ) -> Any:
        item_type = objects.item_type
        is_type_of = item_type.is_type_of
        items = [value] if objects.item is None else value
        info: GraphQLResolveInfo[Any] | None = None
        ordinary = not isinstance(items, list)
        if not ordinary and is_type_of is not None:
            field_def = parent_type.fields[details[0].node.name.value]
            info = self.build_resolve_info(field_def, to_nodes(details), parent_type, path)
            ordinary = not all(
                item is not None and is_type_of(item, info) is True for item in items
            )
        elif not ordinary:
            ordinary = any(item is None for item in items)
        if ordinary:  # graphql-core's completion, with its errors
            if info is None:
                field_def = parent_type.fields[details[0].node.name.value]
                info = self.build_resolve_info(field_def, to_nodes(details), parent_type, path)
            return self.complete_value(
                objects.return_type, details, info, path, value, position_context
            )
        grouped = self.collect_subfields(item_type, details)[0]
        item_wrapper = objects.item
        if item_wrapper is None:
            return self.execute_fields(item_type, value, path, grouped, position_context)
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        for index, item in enumerate(items):
            item_path = path.add_key(index, None)
            try:
                result = self.execute_fields(item_type, item, item_path, grouped, position_context)
            except Exception as raw_error:
                self.handle_field_error(raw_error, item_wrapper, details, item_path)
                result = None
            if self.is_awaitable(result):
                result = self._await_item(result, item_wrapper, details, item_path)
                awaitable_indices.append(index)
            completed.append(result)
        if not awaitable_indices:
            return completed
        return self._gather_items(completed, awaitable_indices)

    async def _await_item(
        self,
        result: Awaitable[Any],
        item_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await result
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, details, path)
            return None

    async def _gather_items(self, completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
        # graphql-core's complete_iterable_value does exactly this with its awaitable items.
        if len(awaitable_indices) == 1:
            completed[awaitable_indices[0]] = await completed[awaitable_indices[0]]
            return completed
        awaited = await gather_with_cancel(*(completed[i] for i in awaitable_indices))
        for index, result in zip(awaitable_indices, awaited, strict=True):
            completed[index] = result
        return completed

    # --- relations breadth first --------------------------------------------------------

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if self._ahead:
            entry = self._ahead.pop((id(source), id(field_details_list)), None)
            if entry is not None and entry[0] is source:
                return self._complete_ahead(
                    parent_type, field_details_list, path, entry[1], position_context
                )
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _complete_ahead(
        self,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's ``execute_field`` after the resolver call, with the value kept."""
        field_def = parent_type.fields[field_details_list[0].node.name.value]
        return_type = field_def.type
        info = self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, path)
        try:
            completed = self.complete_value(
                return_type, field_details_list, info, path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:
                self.handle_field_error(raw_error, return_type, field_details_list, path)
                return None

        return await_completed()

    async def complete_awaitable_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        try:
            resolved = await self.with_abort_signal(result)
            await self._resolve_ahead(return_type, field_details_list, resolved)
            completed = self.complete_value(
                return_type, field_details_list, info, path, resolved, position_context
            )
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            completed = None
        return completed

    async def _resolve_ahead(
        self, field_type: GraphQLOutputType, field_details_list: FieldDetailsList, value: Any
    ) -> None:
        """Call the ``BREADTH_FIRST`` resolvers below ``value``, one level at a time."""
        level: Level = {}
        _queue(level, field_type, field_details_list, value)
        while level:
            pending: list[tuple[Any, FieldDetailsList, GraphQLOutputType, asyncio.Future[Any]]] = []
            work = list(level.values())
            level = {}
            for object_type, details, sources in work:  # grows with plain object fields
                grouped = self.collect_subfields(object_type, details)[0]
                for response_name, sub_details, shortcut in self._field_plan(object_type, grouped):
                    if isinstance(shortcut, Objects):
                        items = [getattr(s, shortcut.python_name, None) for s in sources]
                        _queue_objects(work, shortcut.item_type, sub_details, items)
                        continue
                    node = sub_details[0].node
                    field_def = object_type.fields.get(node.name.value)
                    if field_def is None:
                        continue
                    metadata = _metadata(field_def)
                    if not metadata.get(_BREADTH_FIRST_KEY):
                        continue
                    args = self._arguments(field_def, sub_details)
                    if args is None:
                        continue  # execution reports the error, at its path
                    if metadata.get(_SELECTION_KEY):
                        args = {**args, "selection": self._selection(field_def.type, sub_details)}
                    path = Path(None, response_name, object_type.name)
                    info = self.build_resolve_info(
                        field_def, to_nodes(sub_details), object_type, path
                    )
                    for source, result in zip(
                        sources, _call(field_def, sources, info, args), strict=True
                    ):
                        if self.is_awaitable(result):
                            future = asyncio.ensure_future(result)
                            pending.append((source, sub_details, field_def.type, future))
                        elif result is not Undefined:
                            self._keep(source, sub_details, field_def.type, result, level)
            for source, sub_details, sub_type, awaited in pending:
                try:
                    value = await awaited
                except Exception:  # noqa: S112 (execution calls it again and reports it)
                    continue
                self._keep(source, sub_details, sub_type, value, level)

    def _selection(self, field_type: GraphQLOutputType, details: FieldDetailsList) -> Selection:
        """What the answer of a field of ``field_type`` selected by ``details`` reads."""
        cached = self._selections.get(id(details))
        if cached is not None and cached[0] is details:
            return cached[1]
        selection: Selection = {}
        named = get_named_type(field_type)
        todo = [(named, details)] if isinstance(named, GraphQLObjectType) else []
        while todo:
            object_type, object_details = todo.pop()
            grouped = self.collect_subfields(object_type, object_details)[0]
            names: set[str] | None = set()
            for sub_details in grouped.values():
                field_def = object_type.fields.get(sub_details[0].node.name.value)
                if field_def is None:  # __typename
                    continue
                definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
                metadata = _metadata(field_def)
                relation = metadata.get(_DIRECT_KEY) is not None
                plain = getattr(field_def.resolve, "_is_default", False) or (
                    metadata.get(_ROW_LEAF_KEY) is not None and not sub_details[0].node.arguments
                )
                if not relation and not plain:
                    names = None  # a resolver of its own: it may read anything
                elif names is not None:
                    names.add(definition.python_name)
                inner = get_named_type(field_def.type)
                if not relation and isinstance(inner, GraphQLObjectType):
                    todo.append((inner, sub_details))
            before = selection.get(object_type.name, frozenset())
            selection[object_type.name] = (
                None if names is None or before is None else before | names
            )
        self._selections[id(details)] = (details, selection)
        return selection

    def _arguments(
        self, field_def: GraphQLField, details: FieldDetailsList
    ) -> dict[str, Any] | None:
        """The field's coerced arguments, as ``execute_field`` computes them; None if invalid."""
        node = details[0].node
        if not field_def.args and not node.arguments:
            return {}
        try:
            return get_argument_values(
                field_def,
                node,
                self.variable_values,
                details[0].fragment_variable_values,
                self.hide_suggestions,
            )
        except GraphQLError:
            return None

    def _keep(
        self,
        source: Any,
        details: FieldDetailsList,
        field_type: GraphQLOutputType,
        value: Any,
        level: Level,
    ) -> None:
        self._ahead[id(source), id(details)] = (source, value)
        _queue(level, field_type, details, value)


#: The objects of one level of the breadth-first walk, by (type name, id(field details)).
Level = dict[tuple[str, int], tuple[GraphQLObjectType, FieldDetailsList, list[Any]]]


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation ``build`` will run (None where it will refuse the document)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


def _metadata(field_def: GraphQLField) -> Mapping[str, Any]:
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return getattr(definition, "metadata", None) or {}


def _call(
    field_def: GraphQLField,
    sources: list[Any],
    info: GraphQLResolveInfo[Any],
    args: dict[str, Any],
) -> list[Any]:
    """The resolver's result for each source (one call for all of them where it is a
    ``Direct``), ``Undefined`` where it raised (execution will call it again, and report)."""
    resolve = field_def.resolve
    if isinstance(resolve, Direct):
        try:
            return resolve.many(sources, info, **args)
        except Exception:
            return [Undefined] * len(sources)
    results = []
    for source in sources:
        try:
            results.append(resolve(source, info, **args))  # type: ignore[misc]
        except Exception:
            results.append(Undefined)
    return results


def _objects(value: Any) -> Iterator[Any]:
    """The non-null objects in a value of an object or (nested) list type."""
    if isinstance(value, list | tuple):
        for item in value:
            yield from _objects(item)
    elif value is not None and not isinstance(value, Exception):
        yield value


def _queue(
    level: Level, field_type: GraphQLOutputType, details: FieldDetailsList, value: Any
) -> None:
    """Queue ``value``'s objects for the next level, grouped by (type, selection)."""
    named = get_named_type(field_type)
    if not isinstance(named, GraphQLObjectType):
        return  # abstract types are completed the ordinary way
    objects = list(_objects(value))
    if not objects:
        return
    entry = level.get((named.name, id(details)))
    if entry is None:
        level[named.name, id(details)] = (named, details, objects)
    else:
        entry[2].extend(objects)


def _queue_objects(
    work: list[tuple[GraphQLObjectType, FieldDetailsList, list[Any]]],
    object_type: GraphQLObjectType,
    details: FieldDetailsList,
    values: list[Any],
) -> None:
    objects = list(_objects(values))
    if objects:
        work.append((object_type, details, objects))
