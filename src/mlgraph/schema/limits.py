"""Request limits, checked while strawberry parses and validates: a refused document runs no
resolver and no SQL, on either read path.

* characters, tokens (counted by graphql-core's parser: ``parse(max_tokens=)``);
* per operation, fragments flattened: depth (graphql-depth-limit's measure: a root field is at
  depth 0; introspection is bounded by graphql-core's ``MaxIntrospectionDepthRule`` instead),
  aliases, directives, root fields;
* ``first``/``last`` within 1..the relation's page cap (``relay.page_size``); those given by
  variables when execution starts, before any resolver or statement;
* introspection (``__schema``, ``__type``) when it is switched off; ``__typename`` stays.

Each refusal is a ``LimitExceeded`` with a code of its own (README "Errors"); a page size out of
range is ``BAD_USER_INPUT``. JSON values (request bodies, ``JSON`` scalars) are bounded by
``scalars.check_json``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.validation import MaxIntrospectionDepthRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionContext

from mlgraph.errors import BadUserInput, ErrorCode, LimitExceeded
from mlgraph.schema.relay import page_cap, page_size
from mlgraph.settings import Settings


@dataclass(frozen=True)
class Limits:
    """What one GraphQL document may ask (``Limits.of(settings)``)."""

    characters: int = 15_000
    tokens: int = 1_000
    depth: int = 10
    aliases: int = 15
    directives: int = 50
    root_fields: int = 20
    json_depth: int = 64
    introspection: bool = True

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            characters=settings.max_document_chars,
            tokens=settings.max_tokens,
            depth=settings.max_query_depth,
            aliases=settings.max_aliases,
            directives=settings.max_directives,
            root_fields=settings.max_root_fields,
            json_depth=settings.max_json_depth,
            introspection=settings.introspection_active,
        )


DEFAULT_LIMITS = Limits()


def refusal(code: ErrorCode, message: str, nodes: Node | list[Node] | None = None) -> GraphQLError:
    """A coded GraphQL error (``CodedErrors`` reads the code off ``original_error``)."""
    return GraphQLError(message, nodes, original_error=LimitExceeded(code, message))


@dataclass
class _Counts:
    """One selection set, fragments flattened: the deepest field below it (0: leaves only),
    its aliases and directives (nested ones too), and its own fields."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0

    def add(self, inner: _Counts, depth: int) -> None:
        self.depth = max(self.depth, depth)
        self.aliases += inner.aliases
        self.directives += inner.directives


@dataclass
class _Measure:
    """Counts selection sets; each fragment once (a spread reuses its counts), so a document
    spreading fragments into fragments costs its size, not the size it expands to."""

    fragments: dict[str, FragmentDefinitionNode]
    done: dict[str, _Counts] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)

    def selections(self, node: SelectionSetNode) -> _Counts:
        counts = _Counts()
        for selection in node.selections:
            counts.directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                counts.fields += 1
                counts.aliases += selection.alias is not None
                if selection.selection_set is not None:
                    inner = self.selections(selection.selection_set)
                    introspection = selection.name.value.startswith("__")
                    counts.add(inner, 0 if introspection else inner.depth + 1)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            counts.add(inner, inner.depth)
            counts.fields += inner.fields
        return counts

    def fragment(self, name: str) -> _Counts:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:  # unknown or cyclic: other rules report it
            return _Counts()
        self.open.add(name)
        counts = self.done[name] = self.selections(definition.selection_set)
        self.open.discard(name)
        return counts


def _document_rule(limits: Limits) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        """Characters, then depth, aliases, directives and root fields of each operation."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for error in _document_errors(context.document, limits):
                self.report_error(error)

    return DocumentLimits


def _document_errors(document: DocumentNode, limits: Limits) -> Iterator[GraphQLError]:
    length = len(document.loc.source.body) if document.loc is not None else 0
    if length > limits.characters:
        yield refusal(
            ErrorCode.DOCUMENT_TOO_LARGE,
            f"The document has {length} characters; the limit is {limits.characters}.",
        )
        return
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(fragments)
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        counts = measure.selections(operation.selection_set)
        counts.directives += len(operation.directives or ())
        name = operation.name.value if operation.name else "anonymous"
        for code, what, found, limit in (
            (ErrorCode.QUERY_TOO_DEEP, "a depth of", counts.depth, limits.depth),
            (ErrorCode.TOO_MANY_ALIASES, "aliases:", counts.aliases, limits.aliases),
            (ErrorCode.TOO_MANY_DIRECTIVES, "directives:", counts.directives, limits.directives),
            (ErrorCode.TOO_MANY_ROOT_FIELDS, "root fields:", counts.fields, limits.root_fields),
        ):
            if found > limit:
                message = f"Operation '{name}' has {what} {found}; the limit is {limit}."
                yield refusal(code, message, operation)


def _coded(rule: type[ASTValidationRule], code: ErrorCode) -> type[ASTValidationRule]:
    """graphql-core's ``rule``, its errors carrying ``code``."""

    class Coded(rule):  # type: ignore[valid-type, misc]
        def report_error(self, error: GraphQLError) -> None:
            super().report_error(refusal(code, error.message, list(error.nodes or ())))

    Coded.__name__ = rule.__name__
    return Coded


def _page_error(value: Any, node: ArgumentNode, cap: int) -> GraphQLError | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None  # null, or not an Int: graphql-core reports that
    try:
        page_size(value, node.name.value, cap)
    except BadUserInput as refused:
        return GraphQLError(refused.message, node, original_error=refused)
    return None


class PageSizes(ValidationRule):
    """``first``/``last`` of every connection within 1..its page cap: the literals here; those
    given by variables are passed to ``variable`` (``_page_variables``)."""

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        field_def = self.context.get_field_def()
        cap = None if field_def is None else page_cap(field_def)
        if cap is None or node.name.value not in ("first", "last"):
            return
        if isinstance(node.value, VariableNode):
            self.variable(node.value.name.value, node, cap)
        elif isinstance(node.value, IntValueNode):
            if error := _page_error(int(node.value.value), node, cap):
                self.report_error(error)

    def variable(self, name: str, node: ArgumentNode, cap: int) -> None:
        pass


_PageVariable = tuple[str, ArgumentNode, int]


@functools.lru_cache(maxsize=1_000)
def _page_variables(
    schema: GraphQLSchema, query: str, operation_name: str | None
) -> tuple[_PageVariable, ...]:
    """The page sizes ``operation_name`` of ``query`` takes from variables (computed once per
    document: the request's own parse is not at hand as a cache key)."""
    document = parse(query)
    operation = get_operation_ast(document, operation_name)
    if operation is None or not operation.variable_definitions:
        return ()
    found: list[_PageVariable] = []

    class Collect(PageSizes):
        def variable(self, name: str, node: ArgumentNode, cap: int) -> None:
            found.append((name, node, cap))

    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    validate(schema, DocumentNode(definitions=(operation, *fragments)), [Collect])
    return tuple(found)


def _variable_page_errors(context: ExecutionContext) -> list[GraphQLError]:
    """Page sizes the request's variables (or their defaults) give, outside 1..the cap."""
    schema, document = context.schema._schema, context.graphql_document
    if context.query is None or document is None:
        return []
    uses = _page_variables(schema, context.query, context.operation_name)
    operation = get_operation_ast(document, context.operation_name)
    if not uses or operation is None:
        return []
    definitions = operation.variable_definitions or ()
    coerced = get_variable_values(schema, definitions, context.variables or {})
    if isinstance(coerced, list):
        return []  # execution reports these
    errors = (_page_error(coerced.coerced.get(name), node, cap) for name, node, cap in uses)
    return [error for error in errors if error is not None]


#: graphql-core's own rules (``specified_rules``) whose errors get a code.
_CODED: dict[type[ASTValidationRule], type[ASTValidationRule]] = {
    MaxIntrospectionDepthRule: _coded(MaxIntrospectionDepthRule, ErrorCode.QUERY_TOO_DEEP)
}


@functools.cache
def _rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The rules of ``limits``, built once: a validation cache keyed by rules can hit."""
    rules: list[type[ASTValidationRule]] = [_document_rule(limits), PageSizes]
    if not limits.introspection:
        rules.append(_coded(NoSchemaIntrospectionCustomRule, ErrorCode.INTROSPECTION_DISABLED))
    return tuple(rules)


def _with_limits(
    base: Iterable[type[ASTValidationRule]], limits: Limits
) -> tuple[type[ASTValidationRule], ...]:
    """``base`` (graphql-core's rules, or strawberry's list of them) coded, and the limits'."""
    return tuple(_CODED.get(rule, rule) for rule in (*base, *_rules(limits)))


def refusals(limits: Limits, schema: GraphQLSchema, query: str) -> list[GraphQLError]:
    """What a request of ``query`` is refused for before it runs (parsing and validation, the
    limits included), for ``mlgraph explain`` to report as the server would."""
    try:
        document = parse(query, max_tokens=limits.tokens)
    except GraphQLError as error:
        return [error]
    return validate(schema, document, _with_limits(specified_rules, limits))


class Limiter(SchemaExtension):
    """The limits as one strawberry extension: the parser's token count, validation rules of
    the document alone (the same objects every request, so a validation cache hits), and at
    the start of execution, before any resolver or statement, page sizes given by variables.
    An extension answering ``on_execute`` itself (the compiled path) must come after it."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.tokens
        context.validation_rules = _with_limits(context.validation_rules, self.limits)
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        tokens = f"more than {self.limits.tokens} tokens. Parsing aborted."
        for error in self.execution_context.pre_execution_errors or ():
            if error.message.endswith(tokens):  # the parser's error, coded in place
                message = f"The document has more than {self.limits.tokens} tokens."
                error.original_error = LimitExceeded(ErrorCode.TOO_MANY_TOKENS, message)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.result is None and (errors := _variable_page_errors(context)):
            context.result = ExecutionResult(data=None, errors=errors)
        yield
