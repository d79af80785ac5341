"""Typed ``<Type>Filter`` inputs, one field per filter declared in ``storage.graph``; every
given field must match (AND)."""

from typing import Any

import strawberry

from mlgraph.schema.columns import column_type
from mlgraph.storage.graph import ENTITIES, EntityDecl, Filter

_BY_MODEL = {d.model: d for d in ENTITIES.values()}


@strawberry.input(
    description=(
        "A named number (a metric) that must exist and lie within every bound given, "
        'e.g. `{name: "auc", gte: 0.9}`.'
    )
)
class NumberRange:
    name: str = strawberry.field(description="The number's name, e.g. `auc`.")
    gte: float | None = strawberry.field(default=None, description="At least this.")
    gt: float | None = strawberry.field(default=None, description="Greater than this.")
    lte: float | None = strawberry.field(default=None, description="At most this.")
    lt: float | None = strawberry.field(default=None, description="Less than this.")


def _filter_type(decl: EntityDecl, spec: Filter) -> Any:
    if spec.op == "number_ranges":
        return list[NumberRange]
    if spec.op == "global_id":
        return strawberry.ID
    if spec.op == "icontains":
        return str
    if spec.op == "exists_in":
        assert spec.via is not None
        return list[column_type(_BY_MODEL[spec.via[0]], spec.column)]  # type: ignore[misc]
    hint = column_type(decl, spec.column)
    return list[hint] if spec.op == "in" else hint  # type: ignore[valid-type]


def _filter_input(decl: EntityDecl) -> Any:
    namespace: dict[str, Any] = {
        f.name: strawberry.field(default=None, description=f.description) for f in decl.filters
    }
    namespace["__annotations__"] = {f.name: _filter_type(decl, f) | None for f in decl.filters}
    namespace["__module__"] = __name__
    cls = type(f"{decl.name}Filter", (), namespace)
    return strawberry.input(cls, description=decl.filter_description)


#: ``<Type>Filter`` input per entity that declares filters.
FILTER_INPUTS: dict[str, Any] = {n: _filter_input(d) for n, d in ENTITIES.items() if d.filters}
