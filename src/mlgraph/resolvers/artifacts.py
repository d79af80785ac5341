"""Artifacts: an upload URL first, then verified completion (the object must really be there,
with the declared size and SHA-256, before the artifact is AVAILABLE)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from mlgraph.context import Context
from mlgraph.errors import ObjectStoreError, UserErrorCode, UserErrors
from mlgraph.resolvers.common import Checks, fetch, remember, replay, snapshot
from mlgraph.storage.enums import ArtifactStatus
from mlgraph.storage.models import Artifact, ModelVersion
from mlgraph.storage.objects import PresignedUpload
from mlgraph.storage.objects.keys import artifact_key

T = TypeVar("T")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


@dataclass(frozen=True)
class UploadTicket:
    artifact_id: uuid.UUID
    upload: PresignedUpload | None


def _check_file_name(checks: Checks, name: str) -> None:
    checks.text(name, "fileName", max_len=255)
    if "/" in name or "\\" in name or name in (".", ".."):
        checks.fail(UserErrorCode.INVALID, "fileName must not contain path separators", "fileName")


async def create_artifact_upload(ctx: Context, input: Any) -> UploadTicket:
    checks = Checks()
    _check_file_name(checks, input.file_name)
    checks.number(input.size_bytes, "sizeBytes", low=1, high=ctx.settings.max_artifact_bytes)
    sha = (input.sha256 or "").lower()
    if not SHA256.fullmatch(sha):
        checks.fail(UserErrorCode.INVALID, "sha256 must be 64 hex characters", "sha256")
    content_type = input.content_type or "application/octet-stream"
    checks.text(content_type, "contentType", max_len=255, pattern=CONTENT_TYPE)
    checks.done()
    async with ctx.uow() as tx:
        s = tx.session
        if done := await replay(ctx, s, "createArtifactUpload", input.idempotency_key, input):
            return UploadTicket(done, None)
        version = await fetch(ctx, s, ModelVersion, input.version_id, "ModelVersion", "versionId")
        artifact_id = uuid.uuid4()
        artifact = Artifact(
            id=artifact_id,
            project_id=version.project_id,
            version_id=version.id,
            kind=input.kind,
            status=ArtifactStatus.PENDING,
            file_name=input.file_name,
            storage_key=artifact_key(
                version.project_id, version.model_id, version.id, artifact_id, input.file_name
            ),
            size_bytes=int(input.size_bytes),
            sha256=sha,
            content_type=content_type,
        )
        s.add(artifact)
        await s.flush()
        tx.record(
            artifact,
            "artifact.create_upload",
            "artifact.created",
            before=None,
            payload={"status": artifact.status.value},
        )
        remember(
            ctx, s, "createArtifactUpload", input.idempotency_key, input, "Artifact", artifact.id
        )
    upload = await ctx.objects.presign_put(
        artifact.storage_key,
        size=artifact.size_bytes,
        sha256=sha,
        content_type=content_type,
        expires_in=ctx.settings.upload_url_ttl_s,
    )
    return UploadTicket(artifact.id, upload)


async def complete_artifact_upload(ctx: Context, input: Any) -> uuid.UUID:
    """PENDING -> AVAILABLE once the object is in the store as declared.

    The store is asked before any row lock is taken (a hung store holds no lock, so other
    writes to the artifact go on), each call bounded by ``object_timeout_s``; then the unit of
    work locks the row and checks again that it is still PENDING.
    """
    async with ctx.sessions() as s:
        found = await fetch(ctx, s, Artifact, input.artifact_id, "Artifact", "artifactId")
        _check_pending(found)
        key, size, sha = found.storage_key, found.size_bytes, found.sha256
    await _verify_object(ctx, key, size, sha)
    async with ctx.uow() as tx:
        artifact = await fetch(
            ctx, tx.session, Artifact, input.artifact_id, "Artifact", "artifactId", lock=True
        )
        _check_pending(artifact)  # a concurrent completion may have won
        before = snapshot(artifact)
        artifact.status = ArtifactStatus.AVAILABLE
        await tx.session.flush()
        tx.record(
            artifact,
            "artifact.complete_upload",
            "artifact.available",
            before=before,
            payload={"status": artifact.status.value},
        )
        return artifact.id


def _check_pending(artifact: Artifact) -> None:
    if artifact.status is not ArtifactStatus.PENDING:
        raise UserErrors.one(
            UserErrorCode.INVALID_TRANSITION,
            f"artifact is {artifact.status.value}, not PENDING",
            "input",
            "artifactId",
        )


async def _verify_object(ctx: Context, key: str, size: int, sha: str) -> None:
    """The object exists with the declared size and SHA-256 (outside any transaction)."""
    timeout_s = ctx.settings.object_timeout_s
    info = await _bounded(ctx.objects.head(key), timeout_s)
    if info is None:
        raise UserErrors.one(
            UserErrorCode.NOT_FOUND, "nothing was uploaded yet", "input", "artifactId"
        )
    if info.size != size:
        raise UserErrors.one(
            UserErrorCode.INVALID,
            f"uploaded {info.size} bytes, declared {size}",
            "input",
            "artifactId",
        )
    # The store's own checksum when it kept one; else the bytes, streamed (no overall bound:
    # a large object takes its time; each read is bounded by the store client's timeouts).
    digest = info.sha256 or await ctx.objects.sha256(key)
    if digest != sha:
        raise UserErrors.one(
            UserErrorCode.INVALID, "uploaded bytes have another SHA-256", "input", "artifactId"
        )


async def _bounded(call: Awaitable[T], timeout_s: float) -> T:
    try:
        return await asyncio.wait_for(call, timeout_s)
    except TimeoutError:
        raise ObjectStoreError(f"the object store took over {timeout_s:g} s") from None
