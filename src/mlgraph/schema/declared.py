"""Node types derived from the graph declaration (``mlgraph.storage.graph``).

``entity_type(name, computed)`` builds the entity's strawberry type: its scalar fields come
from the declaration (description, and the GraphQL type of the column), its relation fields from
the declared relations, and ``computed`` adds the hand-written fields (resolvers of their own;
one named like a column replaces that column's field, e.g. ``ModelVersion.stage(asOf:)``).
Every field carries the domain that owns it, which is how ``build_schema(domains)`` cuts a
subgraph out of the one set of types.
"""

from typing import Annotated, Any

import strawberry
from strawberry.types.field import StrawberryField

from mlgraph.schema.columns import column_type, owned_by
from mlgraph.schema.relay import Connection, Node, connection, listing, one, override_column
from mlgraph.storage.graph import ENTITIES, Relation


def lazy(name: str) -> Any:
    """The Node type ``name``, resolved when a schema is built (types refer to each other)."""
    return Annotated[name, strawberry.lazy(f"mlgraph.schema.{ENTITIES[name].domain}")]


def _relation_type(rel: Relation) -> Any:
    target = lazy(rel.target)
    if rel.kind == "connection":
        return Connection[target]  # type: ignore[valid-type]
    if rel.kind == "list":
        return list[target]  # type: ignore[valid-type]
    return target | None


_RELATION_FIELD = {"connection": connection, "list": listing, "one": one}


def entity_type(name: str, computed: type | None = None) -> Any:
    """The Node type of the declared entity ``name``, plus ``computed``'s fields."""
    decl = ENTITIES[name]
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": f"mlgraph.schema.{decl.domain}"}
    for field_name, spec in decl.fields.items():
        annotations[field_name] = spec.type or column_type(decl, decl.columns[field_name])
        namespace[field_name] = strawberry.field(
            description=spec.description, metadata=owned_by(decl.domain)
        )
    for rel in decl.relations.values():
        annotations[rel.name] = _relation_type(rel)
        namespace[rel.name] = _RELATION_FIELD[rel.kind](name, rel.name)
    for attr, value in vars(computed or object).items():
        if isinstance(value, StrawberryField):
            value.metadata = {**(value.metadata or {}), **owned_by(decl.domain)}  # type: ignore[assignment]
            namespace[attr] = value
            if attr in decl.fields:  # a column given arguments (``stage(asOf:)``): its resolver
                del annotations[attr]  # types it, and the row keeps the column's value
                override_column(name, attr)
    namespace["__annotations__"] = annotations
    cls = type(name, (Node,), namespace)
    return strawberry.federation.type(keys=["id"], description=decl.description)(cls)
