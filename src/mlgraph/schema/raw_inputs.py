"""Big list inputs built straight from graphql-core's coerced values.

By the time strawberry converts a mutation's arguments, graphql-core has coerced and checked
every value against the schema (types, required fields, unknown fields, scalars, enums), and
refused the request if anything was wrong. Strawberry then walks the value once more to build
its input objects (``strawberry.types.arguments.convert_argument``), resolving each field's type
and GraphQL name again for every item: for ``recordDriftMetrics`` with 1,000 metrics, that walk
was most of the mutation's CPU.

``raw_input(cls)`` gives an input type strawberry's ``from_input`` hook, with a plan made once
per type: which GraphQL name fills which attribute, and which values need converting at all.
Scalars and enums arrive as graphql-core made them (strawberry would hand them on unchanged);
lists of them are copied (graphql-core may share a default between requests); a nested
``raw_input`` type, or a list of one, is built by its own plan; anything else (a ``GlobalID``,
``Maybe``, an input type without the hook) goes through strawberry's own conversion. The
objects are the ones strawberry would build (``tests/test_raw_inputs.py`` compares them), so
the domain rules check them the same way and refuse with the same codes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from strawberry.relay import GlobalID
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.lazy_type import LazyType
from strawberry.types.scalar import ScalarDefinition, ScalarWrapper

T = TypeVar("T")
#: Converts one field's value (never null): (value, context, GraphQL name) -> Python value.
Convert = Callable[[Any, InputContext, str], Any]


def raw_input(cls: type[T]) -> type[T]:
    """Build ``cls`` (a ``strawberry.input``) from its coerced value by a plan made once."""
    definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    definition.from_input = _Builder(definition)
    return cls


class _Builder:
    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        self._plan: tuple[tuple[str, str, Convert | None], ...] | None = None
        self._implicit: dict[str, None] = {}
        #: Every field is a leaf or a list of leaves: the context (its path) goes unused.
        self.plain = False

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        plan = self._plan if self._plan is not None else self._make_plan(context)
        kwargs: dict[str, Any] = dict(self._implicit)
        for name, attribute, convert in plan:
            if name in value:
                item = value[name]
                kwargs[attribute] = (
                    item if convert is None or item is None else convert(item, context, name)
                )
        return cls(**kwargs)

    def _make_plan(self, context: InputContext) -> tuple[tuple[str, str, Convert | None], ...]:
        """(GraphQL name, attribute, converter or None) per field; fields without a default
        are None unless given (as strawberry does: graphql-core has checked required ones)."""
        definition, names = self.definition, context.config.name_converter
        self._implicit = {
            f.python_name: None
            for f in definition.fields
            if f.default_value is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        self._plan = tuple(
            (
                names.from_field(f),
                f.python_name,
                _converter(f.resolve_type(type_definition=definition)),
            )
            for f in definition.fields
        )
        self.plain = all(convert in (None, _copy_list) for _, _, convert in self._plan)
        return self._plan

    def ready(self, context: InputContext) -> _Builder:
        if self._plan is None:
            self._make_plan(context)
        return self


def _converter(type_: StrawberryType | type) -> Convert | None:
    type_ = _unwrap(type_)
    if isinstance(type_, StrawberryList):
        item = _unwrap(type_.of_type)
        item_builder = _builder_of(item)
        if item_builder is not None:
            return _list_of(item_builder, item)
        if _is_leaf(item):
            return _copy_list
    elif _is_leaf(type_):
        return None
    else:
        builder = _builder_of(type_)
        if builder is not None:
            return _one_of(builder, type_)
    return _fallback(type_)


def _unwrap(type_: Any) -> Any:
    """The type inside ``X | None`` (not ``Maybe``, whose nulls strawberry treats itself)."""
    while isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    return type_.resolve_type() if isinstance(type_, LazyType) else type_


def _list_of(builder: _Builder, cls: Any) -> Convert:
    def convert(value: Any, context: InputContext, name: str) -> Any:
        if builder.ready(context).plain:  # no item needs its own path: one context for all
            return [None if x is None else builder(cls, x, context) for x in value]
        return [
            None if x is None else builder(cls, x, _at(context, name, n))
            for n, x in enumerate(value)
        ]

    return convert


def _one_of(builder: _Builder, cls: Any) -> Convert:
    return lambda value, context, name: builder(cls, value, _at(context, name))


def _copy_list(value: Any, context: InputContext, name: str) -> Any:
    return list(value)


def _fallback(type_: Any) -> Convert:
    return lambda value, context, name: context.convert(value, type_, name)


def _builder_of(type_: object) -> _Builder | None:
    if not has_object_definition(type_):
        return None
    hook = type_.__strawberry_definition__.from_input
    return hook if isinstance(hook, _Builder) else None


def _is_leaf(type_: object) -> bool:
    """A scalar or an enum: strawberry hands graphql-core's value on unchanged (a GlobalID it
    decodes, so that one is not)."""
    if isinstance(type_, StrawberryEnumDefinition | ScalarDefinition | ScalarWrapper):
        return True
    if type_ is GlobalID or isinstance(type_, StrawberryType | LazyType):
        return False
    return not has_object_definition(type_)


def _at(context: InputContext, *keys: str | int) -> InputContext:
    return dataclasses.replace(context, path=(*context.path, *keys))
