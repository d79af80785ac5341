"""The vocabulary of the graph declaration. Nothing here runs per request: it is data.

* ``EntityDecl``: one GraphQL object type backed by one table, in one domain. ``fields`` maps
  each scalar GraphQL field (python name) to its ``Field``: description and column (its
  GraphQL type is derived from the column's mapped type by the schema layer). ``orders`` maps
  each ``<Type>OrderField`` enum member to a column; ``filters`` lists the typed filter fields of
  ``<Type>Filter``. An order may also be a ``NumberKey``: one number of a JSON object column,
  chosen by name in the order input (``orderBy: {field: METRIC, metric: "auc"}``).
* ``Relation``: a field that leads from a parent object to target rows. ``parent_key`` is the
  parent's attribute, ``child_key`` the target's column holding the same value (or ``through``
  a link table). ``kind`` is ``one`` (a single object), ``list`` (a short bounded list) or
  ``connection`` (a Relay connection with cursors, ``totalCount``, page cap). Its description
  says what the items are; the schema adds the order.
* Ownership: a to-many relation (``list``, ``connection``) belongs to the domain of its target
  (the target's rows hold the key: ``Project.models`` is registry's); a to-one relation belongs
  to the domain of its parent (the parent's row holds the key, so a subgraph answers it with a
  key-only reference of the target, without loading it).
* Root connections (``Query.projects`` ...) are relations of the pseudo-entity ``Query`` with no
  parent key.
* Every table has ``project_id`` (``id`` for projects): the authorization policy filters on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Table

from mlgraph.domains import DomainName
from mlgraph.storage.db import Base

RelationKind = Literal["one", "list", "connection"]
FilterOp = Literal[
    "in", "eq", "icontains", "contains_all", "gte", "lt", "exists_in", "global_id", "number_ranges"
]


@dataclass(frozen=True)
class Order:
    """One ordering: a column and a direction. The id column always breaks ties, same way.
    With ``key``, the column holds a JSON object and the order is by its number under
    ``key`` (a ``NumberKey`` order); rows without that number come last, either direction."""

    column: str
    descending: bool = False
    key: str | None = None

    @property
    def name(self) -> str:
        """What a cursor made under this order names (``ids.encode_cursor``)."""
        return self.column if self.key is None else f"{self.column}.{self.key}"


@dataclass(frozen=True)
class NumberKey:
    """An order field sorting by one number of the JSON object ``column`` (name -> number);
    the order input gains the string field ``argument`` naming which."""

    column: str
    argument: str
    description: str


@dataclass(frozen=True)
class Field:
    """A scalar field: its description and column (default: the field's own name). ``type``
    overrides the GraphQL type the schema derives from the column (rarely needed)."""

    description: str
    column: str | None = None
    type: Any = None


@dataclass(frozen=True)
class Filter:
    """A typed filter field. ``column`` is on the target table unless ``via`` names a child
    table (``exists_in``: some child row ``via.child_key = target.id`` has ``column`` in the
    values). ``number_ranges``: ``column`` is a JSON object of numbers and the value a list of
    ``NumberRange`` (name and bounds), every one of which must hold."""

    name: str
    column: str
    op: FilterOp
    description: str
    via: tuple[type[Base], str] | None = None


@dataclass(frozen=True)
class Through:
    """A link table for many-to-many relations: ``parent_col`` holds the parent key,
    ``target_col`` the target id."""

    model: type[Base]
    parent_col: str
    target_col: str


@dataclass(frozen=True)
class Relation:
    name: str
    target: str
    kind: RelationKind
    child_key: str | None = None
    parent_key: str = "id"
    through: Through | None = None
    order: Order = Order("created_at")
    default_page: int = 20
    page_cap: int = 100
    filterable: bool = True
    description: str = ""


@dataclass(frozen=True)
class EntityDecl:
    name: str
    model: type[Base]
    domain: DomainName
    description: str
    fields: Mapping[str, Field]
    orders: Mapping[str, str | NumberKey] = field(default_factory=dict)
    filters: tuple[Filter, ...] = ()
    filter_description: str = ""
    relations: Mapping[str, Relation] = field(default_factory=dict)
    project_column: str = "project_id"
    unique_keys: tuple[str, ...] = ()
    #: Columns an audit snapshot records beside the fields (write-only settings).
    audit_extra: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @property
    def columns(self) -> dict[str, str]:
        """Each scalar field's column."""
        return {name: f.column or name for name, f in self.fields.items()}

    @property
    def audited(self) -> tuple[str, ...]:
        """The fields an audit snapshot records: every scalar field but the time stamps."""
        return tuple(n for n in self.fields if n not in ("created_at", "updated_at"))


def fields(**declared: str | Field) -> dict[str, Field]:
    """``name="description"`` or ``name=Field(...)``, in declaration order."""
    return {n: f if isinstance(f, Field) else Field(f) for n, f in declared.items()}


def rels(*relations: Relation) -> dict[str, Relation]:
    return {r.name: r for r in relations}


def one(name: str, target: str, parent_key: str, description: str) -> Relation:
    return Relation(
        name, target, "one", child_key="id", parent_key=parent_key, description=description
    )


def many(
    name: str, target: str, child_key: str | None, description: str, **options: Any
) -> Relation:
    """A connection to ``target`` rows whose ``child_key`` holds the parent's id."""
    return Relation(name, target, "connection", child_key, description=description, **options)


STAMPS = {"created_at": "When created.", "updated_at": "When last changed."}
REVISION = Field("Increases on every change; pass it as `expectedRevision` to update.")
TIME_ORDERS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}
NEWEST = Order("created_at", descending=True)
