"""Artifact uploads: a signed upload URL, then verified completion."""

from __future__ import annotations

from datetime import datetime

import strawberry

from mlgraph.resolvers import artifacts
from mlgraph.schema.enums import ArtifactKind
from mlgraph.schema.payloads import USER_ERRORS_DOC, UserError, command
from mlgraph.schema.registry import Artifact
from mlgraph.schema.scalars import BigInt
from mlgraph.storage.objects import PresignedUpload


@strawberry.input(description="Declare a file to upload to a model version.")
class CreateArtifactUploadInput:
    version_id: strawberry.ID = strawberry.field(description="The model version.")
    kind: ArtifactKind = strawberry.field(description="What the file holds.")
    file_name: str = strawberry.field(description="File name, without any path.")
    size_bytes: BigInt = strawberry.field(description="Exact size in bytes.")
    sha256: str = strawberry.field(description="SHA-256 of the bytes, 64 hex characters.")
    content_type: str | None = strawberry.field(
        default=None, description="MIME type (default application/octet-stream)."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retries with the same key and input return the first result."
    )


@strawberry.input(description="Check an upload and make the artifact AVAILABLE.")
class CompleteArtifactUploadInput:
    artifact_id: strawberry.ID = strawberry.field(description="The artifact.")


@strawberry.type(description="A request header to send with an upload.")
class HttpHeader:
    name: str = strawberry.field(description="Header name.")
    value: str = strawberry.field(description="Header value.")


@strawberry.type(description="Where and how to upload the bytes of an artifact.")
class ArtifactUpload:
    url: str = strawberry.field(description="Signed URL; valid once, until `expiresAt`.")
    method: str = strawberry.field(description="HTTP method to use (PUT).")
    headers: list[HttpHeader] = strawberry.field(description="Headers to send as given.")
    expires_at: datetime = strawberry.field(description="When the URL stops working.")


def _upload(presigned: PresignedUpload | None) -> ArtifactUpload | None:
    if presigned is None:
        return None
    headers = [HttpHeader(name=k, value=v) for k, v in presigned.headers.items()]
    return ArtifactUpload(
        url=presigned.url, method=presigned.method, headers=headers, expires_at=presigned.expires_at
    )


@strawberry.type(description="Result of `createArtifactUpload`.")
class CreateArtifactUploadPayload:
    artifact: Artifact | None = strawberry.field(description="The PENDING artifact.")
    upload: ArtifactUpload | None = strawberry.field(
        default=None,
        description="Where to PUT the bytes (null when an idempotent retry replayed the result).",
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type(description="Result of `completeArtifactUpload`.")
class CompleteArtifactUploadPayload:
    artifact: Artifact | None = strawberry.field(description="The AVAILABLE artifact.")
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS_DOC)


@strawberry.type
class ArtifactMutations:
    create_artifact_upload = command(
        artifacts.CreateArtifactUpload,
        CreateArtifactUploadInput,
        CreateArtifactUploadPayload,
        description="Declare an artifact and get a signed URL to upload it to.",
        fields=lambda made: {"upload": _upload(made.get("upload"))},
    )
    complete_artifact_upload = command(
        artifacts.CompleteArtifactUpload,
        CompleteArtifactUploadInput,
        CompleteArtifactUploadPayload,
        description="Verify the uploaded object (exists, size, SHA-256) and mark it AVAILABLE.",
    )
