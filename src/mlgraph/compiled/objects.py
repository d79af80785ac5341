"""The object-store fields of a compiled answer, filled in one batched pass after the statement.

The statement answers the tree. Where it reaches an object-store field (``Artifact.object``,
``Artifact.downloadUrl``, ``Job.logsUrl``, ``DriftMetric.report``) it writes a marker instead
of the value: the JSON string ``"\\u0000<slot>:<data>"``, where ``slot`` numbers the field's
selection in the statement (``Slot``) and ``data`` is the object's key, or what the key is made
of. PostgreSQL text cannot hold NUL and jsonb refuses ``\\u0000``, so nothing else the
statement writes can look like a marker.

``fill_objects`` then asks for every marker's value at once with the resolvers' own functions
(``schema.objects``: the request's ``ObjectLoaders``, so each key once, concurrently, bounded)
and writes each value as the resolver path would. Where the resolver path would answer with an
error (the store fails, a report is missing, ``expiresIn`` under 1) it returns None, and the
resolver path answers the whole request, reporting the error in its words.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from graphql import GraphQLField, GraphQLLeafType, get_named_type

from mlgraph.errors import MlgraphError
from mlgraph.schema.objects import download_url, json_report, stored_object
from mlgraph.storage.objects.keys import job_logs_key

if TYPE_CHECKING:
    from mlgraph.context import Context
    from mlgraph.schema.relay import Info

#: A marker as the statement writes it: slot number, then the data, JSON-escaped.
_MARKER = re.compile(r'"\\u0000(\d+):((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Slot:
    """One object-store field as the operation selects it."""

    kind: str  # "stored_object" | "download_url" | "logs_url" | "report"
    expires_in: int = 0
    #: ``stored_object``: its selection, (response key, field; None for ``__typename``).
    selection: tuple[tuple[str, GraphQLField | None], ...] = ()


def marker(slot: int, data_sql: str) -> str:
    """SQL writing the marker of ``slot`` for the text ``data_sql`` (null when it is null)."""
    return f"('\"\\u0000{slot}:' || substr(to_json({data_sql})::text, 2))"


@dataclass(frozen=True)
class _Info:
    """What ``schema.objects`` reads of a resolver's ``Info``: the request's context."""

    context: Context


async def fill_objects(text: str, slots: tuple[Slot, ...], context: Context) -> str | None:
    """``text`` with every marker replaced by its field's JSON, or None when the resolver path
    must answer (it would report an error)."""
    found = list(_MARKER.finditer(text)) if slots else []
    if not found:
        return text
    info = cast("Info", _Info(context))
    try:
        values = await asyncio.gather(
            *(_value(info, slots[int(m[1])], json.loads(f'"{m[2]}"')) for m in found)
        )
    except MlgraphError:
        return None
    out: list[str] = []
    end = 0
    for match, value in zip(found, values, strict=True):
        out += (text[end : match.start()], value)
        end = match.end()
    out.append(text[end:])
    return "".join(out)


async def _value(info: Info, slot: Slot, data: str) -> str:
    if slot.kind == "stored_object":
        return _stored_object(await stored_object(info, data), slot)
    if slot.kind == "download_url":
        project, artifact, key = data.split(":", 2)
        issued = (uuid.UUID(project), uuid.UUID(artifact))
        return _json(await download_url(info, key, slot.expires_in, artifact=issued))
    if slot.kind == "logs_url":
        project_id, job_id = (uuid.UUID(part) for part in data.split(":"))
        key = job_logs_key(project_id, job_id)
        return _json(await download_url(info, key, slot.expires_in, check=True))
    assert slot.kind == "report"
    return _json(await json_report(info, data))


def _stored_object(value: Any, slot: Slot) -> str:
    entries: dict[str, Any] = {}
    for key, field in slot.selection:
        if field is None:
            entries[key] = "StoredObject"
            continue
        leaf = get_named_type(field.type)
        assert isinstance(leaf, GraphQLLeafType)
        python_name = field.extensions["strawberry-definition"].python_name
        raw = getattr(value, python_name)
        entries[key] = None if raw is None else leaf.coerce_output_value(raw)
    return _json(entries)


def _json(value: Any) -> str:
    """As the app writes a response (``GraphQLApp.encode_json``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
