"""Artifacts: an upload URL first, then verified completion (the object must really be there,
with the declared size and SHA-256, before the artifact is AVAILABLE)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from mlgraph.context import Context
from mlgraph.errors import ObjectStoreError, UserErrorCode, UserErrors
from mlgraph.resolvers.commands import Command, Outcome, Target
from mlgraph.resolvers.common import Checks, fetch
from mlgraph.storage.enums import ArtifactStatus
from mlgraph.storage.models import Artifact, ModelVersion
from mlgraph.storage.objects.keys import artifact_key

if TYPE_CHECKING:  # the inputs are named in the Command["..."] bases (ruff misses those)
    from mlgraph.schema.mutations.artifacts import (  # noqa: F401
        CompleteArtifactUploadInput,
        CreateArtifactUploadInput,
    )

T = TypeVar("T")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


def _check_file_name(checks: Checks, name: str) -> None:
    checks.text(name, "fileName", max_len=255)
    if "/" in name or "\\" in name or name in (".", ".."):
        checks.fail(UserErrorCode.INVALID, "fileName must not contain path separators", "fileName")


class CreateArtifactUpload(Command["CreateArtifactUploadInput", ModelVersion]):
    """A PENDING artifact, and (after the commit) a presigned URL to PUT its bytes to."""

    target = Target(ModelVersion, "version_id", lock=False)
    action, topic, creates = "artifact.create_upload", "artifact.created", True

    def check(self, checks: Checks) -> None:
        input, settings = self.input, self.ctx.settings
        _check_file_name(checks, input.file_name)
        checks.number(input.size_bytes, "sizeBytes", low=1, high=settings.max_artifact_bytes)
        self.sha = (input.sha256 or "").lower()
        if not SHA256.fullmatch(self.sha):
            checks.fail(UserErrorCode.INVALID, "sha256 must be 64 hex characters", "sha256")
        self.content_type = input.content_type or "application/octet-stream"
        checks.text(self.content_type, "contentType", max_len=255, pattern=CONTENT_TYPE)

    async def apply(self, version: ModelVersion) -> Artifact:
        input, artifact_id = self.input, uuid.uuid4()
        self.artifact = Artifact(
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
            sha256=self.sha,
            content_type=self.content_type,
        )
        self.tx.session.add(self.artifact)
        return self.artifact

    def event(self, changed: Artifact) -> dict[str, Any]:
        return {"status": changed.status.value}

    async def committed(self, outcome: Outcome) -> Outcome:
        upload = await self.ctx.objects.presign_put(
            self.artifact.storage_key,
            size=self.artifact.size_bytes,
            sha256=self.sha,
            content_type=self.content_type,
            expires_in=self.ctx.settings.upload_url_ttl_s,
        )
        return Outcome(outcome.entity_id, {"upload": upload})


class CompleteArtifactUpload(Command["CompleteArtifactUploadInput", Artifact]):
    """PENDING -> AVAILABLE once the object is in the store as declared.

    The store is asked before any row lock is taken (a hung store holds no lock, so other
    writes to the artifact go on), each call bounded by ``object_timeout_s``; then the unit of
    work locks the row and checks again that it is still PENDING.
    """

    target = Target(Artifact, "artifact_id")
    action, topic = "artifact.complete_upload", "artifact.available"

    async def prepare(self) -> None:
        ctx = self.ctx
        async with ctx.sessions() as s:
            found = await fetch(ctx, s, Artifact, self.input.artifact_id, "Artifact", "artifactId")
            _check_pending(found)
            key, size, sha = found.storage_key, found.size_bytes, found.sha256
        await _verify_object(ctx, key, size, sha)

    async def apply(self, artifact: Artifact) -> Artifact:
        _check_pending(artifact)  # a concurrent completion may have won
        artifact.status = ArtifactStatus.AVAILABLE
        return artifact

    def event(self, changed: Artifact) -> dict[str, Any]:
        return {"status": changed.status.value}


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
