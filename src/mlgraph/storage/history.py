"""History as of any time, read from the audit log alone.

Every mutation writes an audit entry with its ``changes`` (``before``/``after`` snapshots) in
the same transaction as the change, so the log says what was true at any time, and who made it
so. Three histories are read from it:

* ``alias``: a model's aliases, from the ``ModelAlias`` entries (``model_alias.set`` and
  ``.remove``; ``after.version_id`` null when removed), keyed by the snapshots' ``model_id``;
* ``stage``: a version's stage, from its entries whose ``stage`` differs before and after
  (``model_version.create`` from nothing, ``model_version.transition``);
* ``traffic``: a deployment's traffic split (``{version global id: percent}``), from its
  entries whose ``traffic`` differs before and after (create, shift, promote, rollback, and
  any later command that records traffic in the deployment's snapshot).

``entries`` reads the candidate entries of many keys in one statement; ``changes`` turns one
key's entries into its changes (oldest first, entries that changed nothing left out); the
``*_at`` functions answer "as of T" from them: the change in force at T, whose entry proves it.
An entry's ``changes.reason`` is the change's why, where the mutation was given one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, String, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mlgraph.storage.models import AuditEntry

Kind = Literal["alias", "stage", "traffic"]
Visible = frozenset[uuid.UUID] | None
_ENTITY: dict[Kind, str] = {"alias": "ModelAlias", "stage": "ModelVersion", "traffic": "Deployment"}
_FIELD: dict[Kind, str] = {"alias": "version_id", "stage": "stage", "traffic": "traffic"}


@dataclass(frozen=True)
class Change:
    """One recorded change: ``entry`` (the audit entry's row) moved ``name`` (the alias; the
    field for stage and traffic) from ``before`` to ``after`` (None: absent, removed)."""

    entry: Row[Any]
    name: str
    before: Any
    after: Any

    @property
    def at(self) -> datetime:
        at: datetime = self.entry.created_at
        return at

    @property
    def reason(self) -> str | None:
        reason = (self.entry.changes or {}).get("reason")
        return reason if isinstance(reason, str) else None


#: The model an alias entry is about, as SQL text per dialect: the same expressions as the
#: index ``ix_audit_entry_alias_model_id`` (migration 0015), with literal paths so the planner
#: matches them.
ALIAS_MODEL_ID = {
    "postgresql": "coalesce(changes #>> '{after,model_id}', changes #>> '{before,model_id}')",
    "sqlite": (
        "coalesce(json_extract(changes, '$.after.model_id'), "
        "json_extract(changes, '$.before.model_id'))"
    ),
}


def _key(kind: Kind, dialect: str) -> Any:
    if kind != "alias":
        return AuditEntry.entity_id
    return literal_column(ALIAS_MODEL_ID[dialect], String)


async def entries(
    db: AsyncConnection, kind: Kind, keys: Sequence[uuid.UUID], visible: Visible
) -> dict[Hashable, list[Row[Any]]]:
    """The candidate audit entries of each key (a model, version or deployment id), in the
    order they were written, read in one statement; only entries of visible projects."""
    key = _key(kind, db.dialect.name)
    wanted: list[Any] = [str(k) for k in keys] if kind == "alias" else list(keys)
    stmt = select(*AuditEntry.__table__.c, key.label("history_key")).where(
        AuditEntry.entity_type == _ENTITY[kind], key.in_(wanted)
    )
    if visible is not None:
        stmt = stmt.where(AuditEntry.project_id.in_(sorted(visible)))
    found: dict[Hashable, list[Row[Any]]] = defaultdict(list)
    for row in await db.execute(stmt.order_by(AuditEntry.seq)):
        found[uuid.UUID(str(row.history_key))].append(row)  # type: ignore[arg-type]
    return found


def _value(snapshot: Any, kind: Kind) -> Any:
    if not isinstance(snapshot, dict):
        return None
    value = snapshot.get(_FIELD[kind])
    return uuid.UUID(value) if kind == "alias" and isinstance(value, str) else value


def changes(kind: Kind, rows: Sequence[Row[Any]]) -> list[Change]:
    """The changes one key's entries record, oldest first; entries that changed nothing (a
    deployment's status only, a version's description) are left out."""
    out = []
    for row in rows:
        before, after = (row.changes or {}).get("before"), (row.changes or {}).get("after")
        old, new = _value(before, kind), _value(after, kind)
        if old == new:
            continue
        name = _FIELD[kind]
        if kind == "alias":
            name = str((after or before or {}).get("alias", ""))
        out.append(Change(row, name, old, new))
    return out


def _until(history: Sequence[Change], at: datetime) -> list[Change]:
    return [c for c in history if c.at <= at]


def aliases_at(history: Sequence[Change], at: datetime) -> list[Change]:
    """The aliases in force at ``at``: the last change of each alias name up to then, where
    it did not remove the alias; by alias name."""
    last: dict[str, Change] = {}
    for change in _until(history, at):
        last[change.name] = change
    return [last[name] for name in sorted(last) if last[name].after is not None]


def last_at(history: Sequence[Change], at: datetime) -> Change | None:
    """The change in force at ``at`` (a stage, a traffic split), or None before the first."""
    done = _until(history, at)
    return done[-1] if done else None
