"""One graph, two topologies: the combined SDL (``graphql/schema.graphql``, a federation-ready
schema) and a supergraph's API schema differ only by federation plumbing. This module is the
one place that says what plumbing is:

* the ``_entities`` and ``_service`` root fields, and the ``_Any``, ``_Entity``, ``_Service`` and
  ``FieldSet`` types;
* the federation directives (``@key``, ``@link``, ``@shareable``, ``@interfaceObject``, ...)
  and everything in the ``link__``, ``join__`` and ``federation__`` namespaces.

:func:`graph_sdl` prints what is left, types and fields sorted, so two SDLs of one graph give
the same text.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    FieldDefinitionNode,
    GraphQLSchema,
    TypeDefinitionNode,
    TypeExtensionNode,
    Visitor,
    build_ast_schema,
    lexicographic_sort_schema,
    parse,
    print_schema,
    visit,
)
from graphql.language.visitor import REMOVE

__all__ = ["graph_schema", "graph_sdl", "is_plumbing"]

PLUMBING_FIELDS = frozenset({"_entities", "_service"})
PLUMBING_TYPES = frozenset({"_Any", "_Entity", "_Service", "FieldSet"})
FEDERATION_DIRECTIVES = frozenset(
    {
        "authenticated",
        "composeDirective",
        "context",
        "cost",
        "extends",
        "external",
        "fromContext",
        "inaccessible",
        "interfaceObject",
        "key",
        "link",
        "listSize",
        "override",
        "policy",
        "provides",
        "requires",
        "requiresScopes",
        "shareable",
        "tag",
    }
)
NAMESPACES = ("link__", "join__", "federation__")


def is_plumbing(name: str, *, directive: bool = False) -> bool:
    """Whether a type (or, with ``directive``, a directive) named ``name`` is plumbing."""
    if name.startswith(NAMESPACES):
        return True
    return name in (FEDERATION_DIRECTIVES if directive else PLUMBING_TYPES)


class _StripPlumbing(Visitor):
    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        return REMOVE if is_plumbing(node.name.value, directive=True) else None

    def enter_directive_definition(self, node: DirectiveDefinitionNode, *_: Any) -> Any:
        return REMOVE if is_plumbing(node.name.value, directive=True) else None

    def enter_field_definition(self, node: FieldDefinitionNode, *_: Any) -> Any:
        return REMOVE if node.name.value in PLUMBING_FIELDS else None

    def enter(self, node: Any, *_: Any) -> Any:
        if isinstance(node, TypeDefinitionNode | TypeExtensionNode):
            return REMOVE if is_plumbing(node.name.value) else None
        return None


def graph_schema(sdl: str) -> GraphQLSchema:
    """The schema of ``sdl`` without federation plumbing."""
    document: DocumentNode = visit(parse(sdl), _StripPlumbing())
    return build_ast_schema(document)


def graph_sdl(sdl: str) -> str:
    """``sdl`` without federation plumbing, printed in a canonical order."""
    return print_schema(lexicographic_sort_schema(graph_schema(sdl)))
