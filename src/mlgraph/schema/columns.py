"""What the schema reads off the graph declaration: the GraphQL type of a column, and which
domain owns a field.

The GraphQL type of a column comes from its SQLAlchemy ``Mapped[...]`` annotation: ``dict``
and lists of anything but strings are ``JSON``, ``int`` on a ``BigInteger`` column is
``BigInt``, ``X | None`` is nullable.
"""

import functools
import typing
from types import NoneType, UnionType
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy import inspect as sa_inspect
from strawberry.scalars import JSON
from strawberry.types.field import StrawberryField

from mlgraph.schema import enums as _enums  # noqa: F401 (registers the GraphQL enums)
from mlgraph.schema.scalars import BigInt
from mlgraph.storage.graph import DomainName, EntityDecl

DOMAIN_KEY = "mlgraph.domain"


def owned_by(domain: DomainName) -> dict[str, Any]:
    """Field metadata: the domain whose subgraph serves the field."""
    return {DOMAIN_KEY: domain}


def field_domain(field: StrawberryField) -> DomainName | None:
    """The domain owning ``field``; None for fields of shared types (kept everywhere)."""
    metadata: dict[str, Any] = dict(field.metadata or {})
    return metadata.get(DOMAIN_KEY)


@functools.cache
def _hints(model: type) -> dict[str, Any]:
    return typing.get_type_hints(model)


def column_type(decl: EntityDecl, column: str) -> Any:
    """The python type of ``decl``'s ``column`` as GraphQL sees it."""
    col = decl.table.c[column]
    key = sa_inspect(decl.model).get_property_by_column(col).key
    (hint,) = typing.get_args(_hints(decl.model)[key])
    optional = isinstance(hint, UnionType) and NoneType in typing.get_args(hint)
    if optional:
        (hint,) = [a for a in typing.get_args(hint) if a is not NoneType]
    origin = typing.get_origin(hint)
    if hint is dict or origin is dict or (origin is list and typing.get_args(hint) != (str,)):
        hint = JSON
    elif hint is int and isinstance(col.type, BigInteger):
        hint = BigInt
    return hint | None if optional else hint
