"""Fields backed by the object store: ``Artifact.object``/``downloadUrl``, ``Job.logsUrl`` and
``DriftMetric.report``. Each reads through the request's ``ObjectLoaders`` (deduplicated,
concurrent, bounded) and fails alone, with an ``OBJECT_*`` code, when the store does."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import strawberry
from strawberry.federation.schema_directives import Cost

from mlgraph.errors import BadUserInput, ObjectMissing
from mlgraph.schema.relay import Info
from mlgraph.schema.scalars import BigInt
from mlgraph.storage.objects import ObjectInfo
from mlgraph.storage.reads import IssuedDownload
from mlgraph.storage.types import utcnow

EXPIRES_IN_DOC = "Seconds the URL stays valid: at least 1, capped by the server (default 3600)."
DEFAULT_EXPIRES_IN = 900
#: ``@cost`` of a field that calls the object store once per object: one request in the
#: cost estimate (``schema.cost``), as one more page fetch would be.
OBJECT_STORE_CALL = Cost(weight=1)


@strawberry.type(description="An object as the store reports it now.")
class StoredObject:
    exists: bool = strawberry.field(description="False when nothing is stored under the key.")
    size: BigInt | None = strawberry.field(description="Size in bytes.")
    etag: str | None = strawberry.field(description="The store's entity tag (quoted).")
    content_type: str | None = strawberry.field(description="MIME type the store keeps.")
    last_modified: datetime | None = strawberry.field(description="When it was written.")

    @classmethod
    def of(cls, info: ObjectInfo | None) -> StoredObject:
        if info is None:
            return cls(exists=False, size=None, etag=None, content_type=None, last_modified=None)
        return cls(
            exists=True,
            size=info.size,  # type: ignore[arg-type]
            etag=info.etag or None,
            content_type=info.content_type,
            last_modified=info.last_modified,
        )


async def stored_object(info: Info, key: str) -> StoredObject | None:
    return StoredObject.of(await info.context.stored.head.load(key))


async def download_url(
    info: Info,
    key: str,
    expires_in: int,
    *,
    check: bool = False,
    artifact: tuple[uuid.UUID, uuid.UUID] | None = None,
) -> str | None:
    """A presigned GET URL for ``key``; with ``check``, None when the object does not exist.
    ``artifact`` (its project id and id): the URL is an artifact's, kept for the read audit
    (``schema.readaudit``), on either read path."""
    if expires_in < 1:
        raise BadUserInput("expiresIn must be at least 1 second", field="expiresIn")
    if check and await info.context.stored.head.load(key) is None:
        return None
    ttl = min(expires_in, info.context.settings.download_url_ttl_max_s)
    url = await info.context.objects.presign_get(key, expires_in=ttl)
    if artifact is not None:
        expires = utcnow() + timedelta(seconds=ttl)
        info.context.downloads.append(IssuedDownload(*artifact, expires_at=expires))
    return url


async def json_report(info: Info, key: str) -> Any:
    report = await info.context.stored.json.load(key)
    if report is None:
        raise ObjectMissing("the report is not in the object store")
    return report
