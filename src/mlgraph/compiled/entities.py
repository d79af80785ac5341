"""Federation's ``_entities`` in one statement: the representations a router sends, as two
array parameters (type names and ids) unnested in their order, each served type LEFT JOINed
once with the visibility policy in its join condition, each foreign type a key-only reference
made from the representation's id.

The statement's text depends on the selection and on which types the representations name,
never on how many there are: a router's batch of 3 or 300 is one prepared statement.

Like ``schema.Schema.entities_resolver``: an entity that is absent, not visible, or whose id
names another type than its ``__typename`` is null. A representation the resolver path answers
with an error (not an object, no string ``__typename`` or ``id``, an unknown type, an id that
does not decode) is ``Refused``, so the resolver path answers the whole request in its words.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType
from graphql.execution.collect_fields import FieldDetails

from mlgraph.compiled.sqltext import concat, ident, lit
from mlgraph.errors import MlgraphError
from mlgraph.ids import decode_global_id
from mlgraph.storage.graph import ENTITIES

if TYPE_CHECKING:
    from mlgraph.compiled.builder import Builder


class Malformed(Exception):
    """A representation the resolver path answers with a coded error."""


def representation_key(representation: Any, index: int) -> tuple[str | None, uuid.UUID]:
    """``(type name, pk)`` of a well-formed representation; the type is None when the id
    names another type (the entity is null). Raises ``Malformed`` otherwise."""
    if not isinstance(representation, dict):
        raise Malformed(f"representation {index} is not an object")
    type_name, global_id = representation.get("__typename"), representation.get("id")
    if not isinstance(type_name, str) or not isinstance(global_id, str):
        raise Malformed(f"representation {index} needs `__typename` and `id`")
    if type_name not in ENTITIES:
        raise Malformed(f"representation {index}: {type_name!r} is not an entity")
    try:
        decoded, pk = decode_global_id(global_id)
    except MlgraphError as error:
        raise Malformed(f"representation {index}: {error.message}") from None
    return (type_name if decoded == type_name else None), pk


def entities(builder: Builder, representations: list[Any], details: list[FieldDetails]) -> str:
    """The ``_entities`` list as JSON text, aligned with ``representations``."""
    keys = [representation_key(r, i) for i, r in enumerate(representations)]
    if not keys:
        return lit("[]")
    b = builder
    r = b.alias()
    type_names = b.params.add([t for t, _ in keys], "text[]")
    ids = b.params.add([pk for _, pk in keys], "uuid[]")
    source = f"unnest({type_names}, {ids}) WITH ORDINALITY AS {r}(mlg_type, id, mlg_n)"
    joins: list[str] = []
    cases: list[str] = []
    for name in sorted({t for t, _ in keys if t is not None}):
        gql = b.r.schema.type_map[name]
        assert isinstance(gql, GraphQLObjectType)
        if not b.r.serves(name):
            cases.append(f"WHEN {lit(name)} THEN {b.node_object(r, gql, details)}")
            continue
        decl = ENTITIES[name]
        a = b.alias()
        on = [f"{a}.id = {r}.id", f"{r}.mlg_type = {lit(name)}", *b.visibility(decl, a)]
        joins.append(f" LEFT JOIN {ident(decl.table.name)} AS {a} ON {' AND '.join(on)}")
        found = b.node_object(a, gql, details)
        cases.append(
            f"WHEN {lit(name)} THEN (CASE WHEN {a}.id IS NULL THEN 'null' ELSE {found} END)"
        )
    item = f"CASE {r}.mlg_type {' '.join(cases)} ELSE 'null' END" if cases else "'null'"
    agg = f"string_agg({item}, ',' ORDER BY {r}.mlg_n)"
    items = concat([lit("["), f"coalesce({agg}, '')", lit("]")])
    return f"(SELECT {items} FROM {source}{''.join(joins)})"
