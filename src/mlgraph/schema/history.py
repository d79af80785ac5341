"""History as of any time (``storage.history``): ``Model.aliasHistory``,
``ModelVersion.stageHistory``, ``Deployment.trafficHistory``, and the ``asOf`` answers of
``Model.aliases``, ``Deployment.targets`` and ``ModelVersion.stage``.

Every answer comes from the audit log and links the audit entry that proves it
(``auditEntry``). The history connections list changes newest first; their cursors are the
entries' sequence numbers. As-of aliases and targets are rebuilt from the entries: an alias
keeps its row's id; a target has the id of the row serving that version now, or, where none
does, a stable id (``uuid5`` of deployment and version) that resolves to nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.federation.schema_directives import ListSize

from mlgraph.ids import decode_cursor, decode_global_id, encode_cursor
from mlgraph.schema.audit import AuditEntry
from mlgraph.schema.cost import SIZED, SLICING
from mlgraph.schema.declared import lazy
from mlgraph.schema.enums import Stage
from mlgraph.schema.relay import (
    PAGE_ANNOTATIONS,
    Connection,
    Info,
    Node,
    node_class,
    page_sizes,
)
from mlgraph.storage.graph import relation
from mlgraph.storage.history import Change, Kind, aliases_at, last_at

if TYPE_CHECKING:
    from mlgraph.schema.registry import ModelVersion as Version
else:
    Version = lazy("ModelVersion")

T = TypeVar("T")
PAGE_CAP, DEFAULT_PAGE = 100, 20
AS_OF_DOC = (
    "As of this time (with a timezone), from the audit log: what was true then. Answered on "
    "the resolver path."
)
AS_OF = Annotated[datetime | None, strawberry.argument(description=AS_OF_DOC)]
HISTORY_SIZE = ListSize(
    assumed_size=DEFAULT_PAGE,
    slicing_arguments=list(SLICING),
    sized_fields=list(SIZED),
    require_one_slicing_argument=False,
)


async def _version(info: Info, pk: uuid.UUID | None) -> Node | None:
    if pk is None:
        return None
    row = await info.context.loaders.by_key("ModelVersion").load(pk)
    return None if row is None else node_class("ModelVersion").from_row(row)


@strawberry.type(description="Who, when and why of a change.")
class _Recorded:
    """Who, when and why of a change, and the audit entry that records it."""

    change: strawberry.Private[Change]

    @strawberry.field(description="When the change committed (its audit entry's time).")
    def at(self) -> datetime:
        return self.change.at

    @strawberry.field(description="Who made the change.")
    def actor(self) -> str:
        return str(self.change.entry.actor)

    @strawberry.field(description="What was done, e.g. `model_alias.set`.")
    def action(self) -> str:
        return str(self.change.entry.action)

    @strawberry.field(description="Why, where the change was given a reason; else null.")
    def reason(self) -> str | None:
        return self.change.reason

    @strawberry.field(description="The audit entry that records the change.")
    def audit_entry(self) -> AuditEntry:
        return AuditEntry.from_row(self.change.entry)


@strawberry.type(description="One move of a model's alias: set, moved or removed.")
class AliasChange(_Recorded):
    @strawberry.field(description="The alias.")
    def alias(self) -> str:
        return self.change.name

    @strawberry.field(name="from", description="The version it pointed at before; null if unset.")
    async def from_version(self, info: Info) -> Version | None:
        return await _version(info, self.change.before)

    @strawberry.field(description="The version it points at after; null when removed.")
    async def to(self, info: Info) -> Version | None:
        return await _version(info, self.change.after)


@strawberry.type(description="One change of a version's lifecycle stage.")
class StageChange(_Recorded):
    @strawberry.field(name="from", description="The stage before; null when registered.")
    def from_stage(self) -> Stage | None:
        before = self.change.before
        return None if before is None else Stage(before)

    @strawberry.field(description="The stage after.")
    def to(self) -> Stage:
        return Stage(self.change.after)


@strawberry.type(description="One version's share of a deployment's traffic.")
class TrafficShare:
    version_pk: strawberry.Private[uuid.UUID]
    percent: float = strawberry.field(description="Share of traffic, 0..100.")

    @strawberry.field(description="The version; null if it was deleted since.")
    async def version(self, info: Info) -> Version | None:
        return await _version(info, self.version_pk)


def _shares(split: Any) -> list[TrafficShare]:
    items = split.items() if isinstance(split, dict) else ()
    shares = [TrafficShare(version_pk=decode_global_id(g)[1], percent=p) for g, p in items]
    return sorted(shares, key=lambda s: (-s.percent, str(s.version_pk)))


@strawberry.type(description="One change of a deployment's traffic split.")
class TrafficChange(_Recorded):
    @strawberry.field(name="from", description="The split before, largest share first.")
    def from_split(self) -> list[TrafficShare]:
        return _shares(self.change.before)

    @strawberry.field(description="The split after, largest share first.")
    def to(self) -> list[TrafficShare]:
        return _shares(self.change.after)


# --- connections over one key's changes -----------------------------------------------------


@dataclass(frozen=True)
class _Page:
    first: int | None
    after: str | None
    last: int | None
    before: str | None


def _seq(cursor: str | None, name: str) -> int | None:
    return None if cursor is None else int(decode_cursor(cursor, "seq", False, field=name)[0])


def _cursor(change: Change) -> str:
    return encode_cursor("seq", change.entry.seq, change.entry.id)


def page(changes: Sequence[Change], args: _Page, wrap: type[T]) -> Connection[T]:
    """A Relay page of ``changes`` (oldest first as loaded), newest first."""
    first, last = page_sizes(args.first, args.last, PAGE_CAP)
    after, before = _seq(args.after, "after"), _seq(args.before, "before")
    items = [
        c
        for c in reversed(changes)
        if (after is None or c.entry.seq < after) and (before is None or c.entry.seq > before)
    ]
    if last is not None:
        rows, has_previous, has_next = items[-last:], len(items) > last, before is not None
    else:
        size = first or DEFAULT_PAGE
        rows, has_next, has_previous = items[:size], len(items) > size, after is not None
    return Connection(
        nodes=[wrap(change=c) for c in rows],  # type: ignore[call-arg]
        count=lambda: len(changes),
        rows=rows,  # type: ignore[arg-type]
        cursor=_cursor,  # type: ignore[arg-type]
        has_next=has_next,
        has_previous=has_previous,
    )


def history_field(kind: Kind, key: str, wrap: type[T], description: str) -> Any:
    """A connection field over the ``kind`` history of the object's ``key`` column."""

    async def resolve(
        root: Any,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        changes = await info.context.loaders.history(kind).load(getattr(root.row, key))
        return page(changes, _Page(first, after, last, before), wrap)

    resolve.__annotations__ = {
        "root": Any,
        "info": Info,
        **PAGE_ANNOTATIONS,
        "return": Connection[wrap],  # type: ignore[valid-type]
    }
    return strawberry.field(
        resolver=resolve,
        description=f"{description}, newest first; from the audit log.",
        directives=[HISTORY_SIZE],
    )


# --- as of ------------------------------------------------------------------------------------


async def aliases_as_of(root: Any, info: Info, at: datetime) -> list[Node]:
    """``Model.aliases(asOf:)``: the aliases in force at ``at``, by name."""
    history = await info.context.loaders.history("alias").load(root.row.id)
    born: dict[Any, datetime] = {}
    for change in history:
        born.setdefault(change.entry.entity_id, change.at)
    cls = node_class("ModelAlias")
    return [
        cls.from_row(
            SimpleNamespace(  # type: ignore[arg-type]
                id=c.entry.entity_id,
                alias=c.name,
                model_id=root.row.id,
                version_id=c.after,
                project_id=root.row.project_id,
                created_at=born[c.entry.entity_id],
                updated_at=c.at,
                proof=c.entry,
            )
        )
        for c in aliases_at(history, at)
    ]


def _since(history: Sequence[Change], upto: Change, version_gid: str) -> tuple[datetime, datetime]:
    """When ``version_gid`` started receiving traffic without a break up to ``upto``, and
    when its share last changed."""
    done = history[: history.index(upto) + 1]
    created = updated = upto.at
    share = (upto.after or {}).get(version_gid)
    for change in reversed(done):
        split = change.after or {}
        if version_gid not in split:
            break
        created = change.at
        if split[version_gid] == share:
            updated = change.at
        else:
            share = None  # older shares differ: the last change of it is already found
    return created, updated


async def targets_as_of(root: Any, info: Info, at: datetime) -> list[Node]:
    """``Deployment.targets(asOf:)``: the traffic split in force at ``at``."""
    deployment = root.row
    history = await info.context.loaders.history("traffic").load(deployment.id)
    upto = last_at(history, at)
    if upto is None:
        return []
    now = await info.context.loaders.list(_TARGETS).load(deployment.id)
    current = {r.version_id: r.id for r in now}
    rows = []
    for gid, percent in (upto.after or {}).items():
        version_pk = decode_global_id(gid)[1]
        created, updated = _since(history, upto, gid)
        pk = current.get(version_pk) or uuid.uuid5(deployment.id, gid)
        rows.append(
            SimpleNamespace(
                id=pk,
                traffic_percent=percent,
                deployment_id=deployment.id,
                version_id=version_pk,
                project_id=deployment.project_id,
                created_at=created,
                updated_at=updated,
                proof=upto.entry,
            )
        )
    rows.sort(key=lambda r: (r.traffic_percent, r.id), reverse=True)
    cls = node_class("DeploymentTarget")
    return [cls.from_row(r) for r in rows]  # type: ignore[arg-type]


async def stage_as_of(info: Info, version_pk: uuid.UUID, at: datetime) -> Stage | None:
    """``ModelVersion.stage(asOf:)``: the stage at ``at``; null before its first record."""
    history = await info.context.loaders.history("stage").load(version_pk)
    change = last_at(history, at)
    return None if change is None else Stage(change.after)


async def proof_of_alias(info: Info, row: Any) -> Node | None:
    """The entry that set an alias (as of its time, or now) to its version."""
    proof = getattr(row, "proof", None)
    if proof is None:
        history = await info.context.loaders.history("alias").load(row.model_id)
        mine = [c for c in history if c.name == row.alias and c.after == row.version_id]
        proof = mine[-1].entry if mine else None
    return None if proof is None else AuditEntry.from_row(proof)


async def proof_of_target(info: Info, row: Any) -> Node | None:
    """The entry that recorded the deployment's split this target is part of."""
    proof = getattr(row, "proof", None)
    if proof is None:
        history = await info.context.loaders.history("traffic").load(row.deployment_id)
        proof = history[-1].entry if history else None
    return None if proof is None else AuditEntry.from_row(proof)


_TARGETS = relation("Deployment", "targets")
