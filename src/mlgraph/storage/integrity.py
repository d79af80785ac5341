"""Which constraint an ``IntegrityError`` broke, on PostgreSQL and on SQLite.

PostgreSQL (asyncpg) names the constraint and the SQLSTATE. SQLite names a CHECK constraint,
and for a UNIQUE one the columns (``UNIQUE constraint failed: model.project_id, model.name``),
which are mapped back to the constraint's name through the metadata; it names no foreign key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError

from mlgraph.storage import models
from mlgraph.storage.db import Base

_ = models  # registers every table in Base.metadata

Kind = Literal["unique", "foreign_key", "check", "not_null", "other"]

_SQLSTATES: dict[str, Kind] = {
    "23505": "unique",
    "23503": "foreign_key",
    "23514": "check",
    "23502": "not_null",
}
_SQLITE = re.compile(r"(UNIQUE|FOREIGN KEY|CHECK|NOT NULL) constraint failed(?:: (.*))?")
_SQLITE_KINDS: dict[str, Kind] = {
    "UNIQUE": "unique",
    "FOREIGN KEY": "foreign_key",
    "CHECK": "check",
    "NOT NULL": "not_null",
}


@dataclass(frozen=True)
class Violation:
    kind: Kind
    constraint: str | None


def violation(error: IntegrityError) -> Violation:
    """The broken constraint's kind and name (None when the database does not say)."""
    cause = error.orig.__cause__ if error.orig is not None else None
    sqlstate = getattr(cause, "sqlstate", None) or getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        name = getattr(cause, "constraint_name", None)
        return Violation(_SQLSTATES.get(sqlstate, "other"), name if isinstance(name, str) else None)
    found = _SQLITE.search(str(error.orig))
    if found is None:
        return Violation("other", None)
    kind = _SQLITE_KINDS[found.group(1)]
    detail = found.group(2)
    if kind == "unique" and detail:
        return Violation(kind, _unique_by_columns(detail))
    return Violation(kind, detail if kind == "check" else None)


def _unique_by_columns(detail: str) -> str | None:
    """``"model.project_id, model.name"`` -> ``"uq_model_project_id_name"``."""
    pairs = [part.strip().partition(".") for part in detail.split(",")]
    tables = {table for table, _, _ in pairs}
    if len(tables) != 1:
        return None
    table = Base.metadata.tables.get(tables.pop())
    if table is None:
        return None
    columns = [column for _, _, column in pairs]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.columns.keys() == columns:
            return str(constraint.name)
    return None
