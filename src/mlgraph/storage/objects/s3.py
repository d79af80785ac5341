"""S3 (AWS, MinIO, Ceph, any S3-compatible endpoint) through aiobotocore: one long-lived client
per process, its connection pool sized by configuration, every call bounded by timeouts and
made inside a span (``S3.<Operation>``, with bucket and key; presigning is local, no call)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from opentelemetry.trace import SpanKind

from mlgraph.errors import ObjectStoreDenied, ObjectStoreError, ObjectTooLarge
from mlgraph.settings import Settings
from mlgraph.storage.objects import ObjectInfo, PresignedUpload
from mlgraph.telemetry.tracing import set_error, span

CHUNK = 1 << 20
_MISSING = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class _Missing(Exception):
    pass


@contextmanager
def _call(operation: str, bucket: str, key: str) -> Iterator[None]:
    """One S3 call's span; botocore/aiohttp failures as ``ObjectStoreError``s (the span's
    error), a missing object as ``_Missing`` (an answer, not an error)."""
    attributes = {
        "rpc.system": "aws-api",
        "rpc.service": "S3",
        "rpc.method": operation,
        "aws.s3.bucket": bucket,
        "aws.s3.key": key,
    }
    with span(f"S3.{operation}", attributes, kind=SpanKind.CLIENT, record_errors=False) as current:
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            current.set_attribute("aws.s3.error_code", code)
            if code in _MISSING:
                raise _Missing(key) from None
            set_error(current, code)
            if code in _DENIED:
                raise ObjectStoreDenied("the object store denied access") from None
            raise ObjectStoreError(f"the object store answered {code or 'an error'}") from None
        except (BotoCoreError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            set_error(current, type(exc).__name__)
            raise ObjectStoreError("the object store is unreachable or timed out") from None


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[S3ObjectStore]:
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.s3_path_style else "auto"},
            max_pool_connections=settings.s3_max_pool_connections,
            connect_timeout=settings.object_timeout_s,
            read_timeout=settings.object_timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        credentials = (
            {
                "aws_access_key_id": settings.s3_access_key_id,
                "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
            }
            if settings.s3_access_key_id
            else {}
        )
        async with get_session().create_client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            config=config,
            **credentials,
        ) as client:
            yield cls(client, settings.s3_bucket)

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            with _call("HeadObject", self.bucket, key):
                r = await self.client.head_object(
                    Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
                )
        except _Missing:
            return None
        return ObjectInfo(
            key,
            int(r["ContentLength"]),
            r["LastModified"].astimezone(UTC),
            etag=r.get("ETag", ""),
            content_type=r.get("ContentType"),
            sha256=_full_object_sha256(r),
        )

    async def sha256(self, key: str) -> str | None:
        """The checksum S3 verified on upload when it kept one; else the bytes, streamed."""
        info = await self.head(key)
        if info is None:
            return None
        if info.sha256:
            return info.sha256
        h = hashlib.sha256()
        try:
            with _call("GetObject", self.bucket, key):
                r = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with r["Body"] as body:
                    while chunk := await body.read(CHUNK):
                        h.update(chunk)
        except _Missing:
            return None
        return h.hexdigest()

    async def read(self, key: str, *, max_bytes: int) -> bytes | None:
        try:
            with _call("GetObject", self.bucket, key):
                r = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with r["Body"] as body:
                    if int(r["ContentLength"]) > max_bytes:
                        raise ObjectTooLarge(f"object is over {max_bytes} bytes")
                    data: bytes = await body.read()
                    return data
        except _Missing:
            return None

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        with _call("PutObject", self.bucket, key):
            await self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )

    async def presign_put(
        self, key: str, *, size: int, sha256: str, content_type: str, expires_in: int
    ) -> PresignedUpload:
        """Size, content type and SHA-256 are signed headers, so S3 takes only those bytes;
        ``If-None-Match: *`` makes the URL single-use (S3 refuses to overwrite)."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        url = await self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentLength": size,
                "ContentType": content_type,
                "ChecksumSHA256": checksum,
                "IfNoneMatch": "*",
            },
            ExpiresIn=expires_in,
        )
        return PresignedUpload(
            url=url,
            method="PUT",
            headers={
                "Content-Type": content_type,
                "Content-Length": str(size),
                "x-amz-checksum-sha256": checksum,
                "If-None-Match": "*",
            },
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        )

    async def presign_get(self, key: str, *, expires_in: int) -> str:
        url: str = await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    async def delete_prefix(self, prefix: str) -> int:
        """One listing page (up to 1,000 keys) and one ``DeleteObjects`` per page (one span,
        ``S3.DeletePrefix``, for them all)."""
        removed = 0
        with _call("DeletePrefix", self.bucket, prefix):
            pages = self.client.get_paginator("list_objects_v2")
            async for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    await self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    removed += len(keys)
        return removed

    async def check(self) -> None:
        try:
            with _call("HeadBucket", self.bucket, ""):
                await self.client.head_bucket(Bucket=self.bucket)
        except _Missing:
            raise ObjectStoreError(f"bucket {self.bucket} does not exist") from None


def _full_object_sha256(head: dict[str, Any]) -> str | None:
    """S3's SHA-256 of the whole object (not a multipart composite ``…-N``), hex."""
    value = head.get("ChecksumSHA256")
    if not value or "-" in value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
