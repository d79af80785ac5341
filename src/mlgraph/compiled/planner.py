"""The plan cache: per (document, operation name), whether the compiled path can serve it.

An entry holds the document, or the reason the operation runs on the resolver path: it is not a
query, or some field anywhere in it is not compilable (``fields.FieldMap``). Planning per request
then only coerces variables and builds the SQL text (``builder.Builder``), and not even that when
the same operation came with the same variables from a caller who sees the same (the statement
cache: a dashboard asks the same again and again).

Requests come with the document strawberry parsed and validated (``reads.CompiledReads`` runs
inside strawberry's execution, after every limit and rule); ``mlgraph explain`` and the tests
pass only the text, which is then parsed and checked against graphql-core's rules here.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import get_variable_values
from strawberry.types.arguments import convert_arguments

from mlgraph.auth.principal import Principal
from mlgraph.compiled.builder import Builder, Refused, Request
from mlgraph.compiled.fields import FieldMap, NotCompilable
from mlgraph.compiled.objects import Slot

CACHE_SIZE = 1000
#: Built statements kept (each a few kB of SQL text): the operations a deployment serves.
STATEMENT_CACHE_SIZE = 256
_DIRECTIVES = {"include", "skip"}
#: The argument that asks a field for its value in the past (``schema.history``): the resolver
#: path answers it.
AS_OF = "asOf"


@dataclass(frozen=True)
class Entry:
    """One cached plan: a compilable query, or why it is not."""

    reason: str | None
    document: DocumentNode | None = None
    operation: OperationDefinitionNode | None = None
    fragments: dict[str, FragmentDetails] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    """One SQL statement returning the ``data`` object as JSON text, in parts (one row: its
    columns, joined, are the text), and its parameters."""

    sql: str
    params: tuple[Any, ...]
    #: The object-store fields its markers stand for (``objects.fill_objects``).
    objects: tuple[Slot, ...] = ()


@dataclass(frozen=True)
class Fallback:
    reason: str


class Planner:
    """Plans read operations against one strawberry schema; holds the one plan cache."""

    def __init__(self, schema: Any, cache_size: int = CACHE_SIZE) -> None:
        self.schema = schema
        self.gql = schema._schema
        self.fields = FieldMap(self.gql)
        self._cache: OrderedDict[tuple[str, str | None], Entry] = OrderedDict()
        self._statements: OrderedDict[tuple[Any, ...], Statement | Fallback] = OrderedDict()
        self._size = cache_size

    def entry(
        self, query: str, operation_name: str | None, document: DocumentNode | None = None
    ) -> Entry:
        """The cached plan of ``query`` (``document``: strawberry's parsed, validated copy)."""
        key = (query, operation_name)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        entry = self._plan(query, operation_name, document)
        self._cache[key] = entry
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return entry

    def plan(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
        document: DocumentNode | None = None,
    ) -> Statement | Fallback:
        """The statement for this request, or why the resolver path answers it instead."""
        # Everything the statement is built from: the operation, the variables and what the
        # builder reads of the principal (its visible projects and the viewer fields).
        visible = principal.visible_projects()
        key = (
            query,
            operation_name,
            json.dumps(variables, sort_keys=True),
            visible,
            principal.id,
            principal.display_name,
            principal.platform_admin,
        )
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = self._statement(
                query, operation_name, variables, principal, visible, document
            )
            if len(self._statements) > STATEMENT_CACHE_SIZE:
                self._statements.popitem(last=False)
        else:
            self._statements.move_to_end(key)
        return found

    def _statement(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
        visible: frozenset[Any] | None,
        document: DocumentNode | None,
    ) -> Statement | Fallback:
        entry = self.entry(query, operation_name, document)
        if entry.reason is not None:
            return Fallback(entry.reason)
        assert entry.operation is not None
        coerced = get_variable_values(
            self.gql, entry.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):
            return Fallback("variables do not coerce (the resolver path reports it)")
        request = Request(
            self.gql,
            self.fields,
            entry.operation,
            entry.fragments,
            coerced,
            visible,
            principal,
            self._convert,
            self.schema.serves,
        )
        builder = Builder(request)
        try:
            sql = builder.statement()
        except (Refused, NotCompilable) as refused:
            return Fallback(f"argument refused (the resolver path reports it): {refused}")
        return Statement(sql, tuple(builder.params.values), tuple(builder.slots))

    def _convert(self, field: GraphQLField, raw: dict[str, Any]) -> dict[str, Any]:
        definition = field.extensions["strawberry-definition"]
        return convert_arguments(
            raw,
            definition.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )

    def _plan(self, query: str, operation_name: str | None, document: DocumentNode | None) -> Entry:
        if document is None:
            try:
                document = parse(query)
            except GraphQLError:
                return Entry("the document does not parse (the resolver path reports it)")
            if validate(self.gql, document):
                return Entry("the document is not valid (the resolver path reports it)")
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return Entry("no such operation (the resolver path reports it)")
        if operation.operation is not OperationType.QUERY:
            return Entry(f"{operation.operation.value}s run on the resolver path")
        fragments = {
            d.name.value: FragmentDetails(d)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        query_type = self.gql.query_type
        try:
            self._check(operation.selection_set, query_type, fragments)
        except NotCompilable as why:
            return Entry(str(why))
        return Entry(None, document, operation, fragments)

    def _check(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType,
        fragments: dict[str, FragmentDetails],
    ) -> None:
        """Raise ``NotCompilable`` unless every field under ``selections`` is compilable."""
        for selection in selections.selections:
            for directive in selection.directives or ():
                if directive.name.value not in _DIRECTIVES:
                    raise NotCompilable(f"directive @{directive.name.value}")
            if isinstance(selection, FieldNode):
                self._check_field(selection, parent, fragments)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = parent if condition is None else self.gql.type_map[condition.name.value]
                self._check(selection.selection_set, target, fragments)
            elif isinstance(selection, FragmentSpreadNode):
                definition = fragments[selection.name.value].definition
                target = self.gql.type_map[definition.type_condition.name.value]
                self._check(definition.selection_set, target, fragments)

    def _check_field(
        self, node: FieldNode, parent: GraphQLNamedType, fragments: dict[str, FragmentDetails]
    ) -> None:
        name = node.name.value
        if name.startswith("__") and name != "__typename":
            raise NotCompilable("introspection runs on the resolver path")
        kind = self.fields.kind(parent.name, name)
        if any(argument.name.value == AS_OF for argument in node.arguments or ()):
            raise NotCompilable(f"{parent.name}.{name}(asOf:) is read from the audit log")
        if node.selection_set is None or kind.kind == "typename":
            return
        assert isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
        target = get_named_type(parent.fields[name].type)
        self._check(node.selection_set, target, fragments)
