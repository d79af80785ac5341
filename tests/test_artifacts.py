"""Artifact uploads on the embedded local store: signed URL, real HTTP upload, verified
completion; nothing becomes AVAILABLE that is not really there."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from mlgraph.ids import encode_global_id
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

BYTES = b"model weights " * 1000
SHA = hashlib.sha256(BYTES).hexdigest()
SELECT = "artifact { id status fileName sizeBytes } upload { url method headers { name value } }"


async def version_id(db: Backend) -> str:
    p = f.project()
    m = f.model(p)
    v = f.version(m)
    await f.save(db.sessions, p, m, v)
    return encode_global_id("ModelVersion", v.id)


async def start(db: Backend, **overrides: Any) -> dict[str, Any]:
    input = {
        "versionId": await version_id(db),
        "kind": "WEIGHTS",
        "fileName": "model v1%.bin",
        "sizeBytes": len(BYTES),
        "sha256": SHA,
        **overrides,
    }
    return await mutate(db, "createArtifactUpload", input, SELECT)


async def put(upload: dict[str, Any], body: bytes) -> httpx.Response:
    headers = {h["name"]: h["value"] for h in upload["headers"]}
    headers.pop("Content-Length", None)
    async with httpx.AsyncClient() as client:
        return await client.request(upload["method"], upload["url"], content=body, headers=headers)


async def complete(db: Backend, artifact_id: str) -> dict[str, Any]:
    return await mutate(
        db, "completeArtifactUpload", {"artifactId": artifact_id}, "artifact { status }"
    )


async def test_upload_then_complete_makes_it_available(db: Backend) -> None:
    created = await start(db)
    assert created["userErrors"] == []
    assert created["artifact"]["status"] == "PENDING"
    assert created["artifact"]["sizeBytes"] == len(BYTES)
    response = await put(created["upload"], BYTES)
    assert response.status_code == 201, response.text
    done = await complete(db, created["artifact"]["id"])
    assert done == {"artifact": {"status": "AVAILABLE"}, "userErrors": []}
    assert codes(await complete(db, created["artifact"]["id"])) == ["INVALID_TRANSITION"]


async def test_completing_before_the_upload_is_refused_and_stays_pending(db: Backend) -> None:
    created = await start(db)
    before = await written(db)
    assert codes(await complete(db, created["artifact"]["id"])) == ["NOT_FOUND"]
    assert await written(db) == before
    status = await db.data(
        "query($id: ID!) { node(id: $id) { ... on Artifact { status } } }",
        {"id": created["artifact"]["id"]},
    )
    assert status["node"]["status"] == "PENDING"


async def test_different_bytes_are_refused_at_upload_and_at_completion(db: Backend) -> None:
    created = await start(db)
    wrong = BYTES[:-1] + b"!"
    assert (await put(created["upload"], wrong)).status_code == 400
    assert (await put(created["upload"], BYTES[:-5])).status_code == 400
    assert (await put(created["upload"], BYTES + b"x")).status_code == 400
    # bytes that reached the store some other way, unchecked: completion still refuses them
    key = created["upload"]["url"].split("/objects/", 1)[1].split("?")[0]
    path = db.settings.artifact_dir / unquote(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wrong)
    assert codes(await complete(db, created["artifact"]["id"])) == ["INVALID"]


async def test_upload_urls_are_signed_single_use_and_expire(db: Backend) -> None:
    created = await start(db)
    upload = created["upload"]
    parts = urlsplit(upload["url"])
    params = dict(parse_qsl(parts.query))
    for change in (
        {"expires": str(int(params["expires"]) + 3600)},
        {"size": "1"},
        {"signature": "0" * 64},
        {"expires": "1"},
    ):
        forged = {
            **upload,
            "url": urlunsplit(parts._replace(query=urlencode({**params, **change}))),
        }
        assert (await put(forged, BYTES)).status_code == 403
    assert (await put(upload, BYTES)).status_code == 201
    assert (await put(upload, BYTES)).status_code == 409  # replayed


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"sha256": "abc"}, ["input", "sha256"], "INVALID"),
        ({"sha256": "g" * 64}, ["input", "sha256"], "INVALID"),
        ({"fileName": "../etc/passwd"}, ["input", "fileName"], "INVALID"),
        ({"fileName": "a\\b"}, ["input", "fileName"], "INVALID"),
        ({"fileName": "bell\x07.bin"}, ["input", "fileName"], "INVALID"),
        ({"fileName": ""}, ["input", "fileName"], "INVALID"),
        ({"sizeBytes": 6 * 2**30}, ["input", "sizeBytes"], "INVALID"),
        ({"sizeBytes": 0}, ["input", "sizeBytes"], "INVALID"),
        ({"contentType": "not a type"}, ["input", "contentType"], "INVALID"),
    ],
)
async def test_bad_declarations_write_nothing(
    db: Backend, overrides: dict[str, Any], field: list[str], code: str
) -> None:
    await version_id(db)
    before = await written(db)
    refused = await start(db, **overrides)
    assert refused["artifact"] is None
    assert refused["upload"] is None
    assert refused["userErrors"][0]["field"] == field
    assert codes(refused) == [code]
    assert await written(db) == before
