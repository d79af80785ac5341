"""Object storage, the same suite on the local store and on a real S3 HTTP endpoint (moto's
server mode behind a recording proxy, see ``tests/s3_server.py``): presigned uploads with a plain
HTTP client, verified completion, ``Artifact.object``/``downloadUrl``, ``Job.logsUrl``,
``DriftMetric.report``, batched concurrent HEADs, and failures that stay in their own field."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update

from mlgraph.app import create_app
from mlgraph.ids import decode_global_id, encode_global_id
from mlgraph.settings import Settings
from mlgraph.storage import models as m
from mlgraph.storage.enums import ArtifactKind, ArtifactStatus, DriftKind
from mlgraph.storage.objects.keys import job_logs_key
from mlgraph.storage.objects.local import LocalObjectStore
from mlgraph.storage.objects.s3 import S3ObjectStore
from tests import factories as f
from tests.conftest import ADMIN, Backend, free_port, serve, stop, truncate
from tests.readme import bash, shell_block
from tests.s3_server import BUCKET, RecordingProxy, moto_server
from tests.served import user_env
from tests.writes import codes, mutate, written

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

BYTES = b"weights " * 4096
SHA = hashlib.sha256(BYTES).hexdigest()
UPLOAD = "artifact { id status } upload { url method headers { name value } }"


@dataclass
class Store:
    """One app (on one store) and a way to put objects behind the app's back."""

    kind: str
    db: Backend
    put: Callable[[str, bytes, str], Awaitable[None]]
    delete: Callable[[str], Awaitable[None]]
    exists: Callable[[str], Awaitable[bool]]
    proxy: RecordingProxy | None = None


@pytest.fixture(scope="session")
async def s3(backend: Backend) -> AsyncIterator[tuple[Backend, RecordingProxy, Any]]:
    """moto on a loopback port, the recording proxy before it, an app using that S3, and an S3
    client of the test's own (straight to moto) to put objects behind the app's back."""
    with moto_server(free_port()) as moto:
        proxy = RecordingProxy(moto)
        proxy_server, proxy_task, proxy_url = await serve(proxy.app())
        port = free_port()
        settings = s3_settings(backend.settings, port, proxy_url)
        server, task, base_url = await serve(create_app(settings, engine=backend.engine), port)
        headers = backend.headers(ADMIN, admin=True)
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client,
            S3ObjectStore.open(s3_settings(settings, port, moto)) as direct,
        ):
            await direct.client.create_bucket(Bucket=BUCKET)
            db = replace(backend, settings=settings, base_url=base_url, client=client)
            yield db, proxy, direct.client
        await stop(server, task)
        await stop(proxy_server, proxy_task)
        if proxy.client is not None:
            await proxy.client.aclose()


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, backend: Backend, s3: tuple[Backend, RecordingProxy, Any]
) -> Store:
    await truncate(backend)
    if request.param == "local":

        async def put_file(key: str, body: bytes, _content_type: str) -> None:
            path = backend.settings.artifact_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)

        async def delete_file(key: str) -> None:
            (backend.settings.artifact_dir / key).unlink()

        async def file_exists(key: str) -> bool:
            return (backend.settings.artifact_dir / key).is_file()

        return Store("local", backend, put_file, delete_file, file_exists)
    return s3_store(s3)


@pytest.fixture
async def on_s3(backend: Backend, s3: tuple[Backend, RecordingProxy, Any]) -> Store:
    """The S3 case alone: its request log and faults come from the endpoint's proxy."""
    await truncate(backend)
    return s3_store(s3)


def s3_store(s3: tuple[Backend, RecordingProxy, Any]) -> Store:
    db, proxy, client = s3
    proxy.reset()

    async def put_object(key: str, body: bytes, content_type: str) -> None:
        await client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)

    async def delete_object(key: str) -> None:
        await client.delete_object(Bucket=BUCKET, Key=key)

    async def object_exists(key: str) -> bool:
        return await S3ObjectStore(client, BUCKET).head(key) is not None

    return Store("s3", db, put_object, delete_object, object_exists, proxy)


def s3_settings(settings: Settings, port: int, endpoint: str) -> Settings:
    return settings.model_copy(
        update={
            "port": port,
            "object_store": "s3",
            "s3_endpoint_url": endpoint,
            "s3_bucket": BUCKET,
            "s3_path_style": True,
            "s3_access_key_id": "test",
            "s3_secret_access_key": SecretStr("test"),
            "object_timeout_s": 1.0,
        }
    )


async def new_version(db: Backend) -> m.ModelVersion:
    p = f.project()
    md = f.model(p)
    v = f.version(md)
    await f.save(db.sessions, p, md, v)
    return v


async def start_upload(db: Backend, version: m.ModelVersion, **overrides: Any) -> dict[str, Any]:
    input = {
        "versionId": encode_global_id("ModelVersion", version.id),
        "kind": "WEIGHTS",
        "fileName": "weights v1 (final)%.bin",
        "sizeBytes": len(BYTES),
        "sha256": SHA,
        "contentType": "application/x-test",
        **overrides,
    }
    created = await mutate(db, "createArtifactUpload", input, UPLOAD)
    assert created["userErrors"] == []
    return created


async def http_put(upload: dict[str, Any], body: bytes) -> httpx.Response:
    """What a client does with the upload: PUT the bytes with exactly the headers given."""
    headers = {h["name"]: h["value"] for h in upload["headers"]}
    headers.pop("Content-Length")  # httpx sets it from the body, as curl does
    async with httpx.AsyncClient() as client:
        return await client.request(upload["method"], upload["url"], content=body, headers=headers)


async def complete(db: Backend, artifact_id: str) -> dict[str, Any]:
    return await mutate(
        db, "completeArtifactUpload", {"artifactId": artifact_id}, "artifact { status }"
    )


ARTIFACT = """query($id: ID!, $ttl: Int!) { node(id: $id) { ... on Artifact {
  status object { exists size etag contentType lastModified } downloadUrl(expiresIn: $ttl) } } }"""


async def artifact(db: Backend, artifact_id: str, ttl: int = 600) -> dict[str, Any]:
    result: dict[str, Any] = (await db.data(ARTIFACT, {"id": artifact_id, "ttl": ttl}))["node"]
    return result


async def test_presigned_upload_with_a_plain_http_client_then_verified_completion(
    store: Store,
) -> None:
    db = store.db
    created = await start_upload(db, await new_version(db))
    artifact_id = created["artifact"]["id"]
    pending = await artifact(db, artifact_id)
    assert pending["status"] == "PENDING"
    assert pending["object"]["exists"] is False
    assert pending["downloadUrl"] is None

    upload = created["upload"]
    response = await http_put(upload, BYTES)
    assert response.status_code in (200, 201), response.text
    assert (await complete(db, artifact_id)) == {
        "artifact": {"status": "AVAILABLE"},
        "userErrors": [],
    }

    done = await artifact(db, artifact_id)
    assert done["status"] == "AVAILABLE"
    stored = done["object"]
    assert stored["exists"] is True
    assert stored["size"] == len(BYTES)
    assert stored["contentType"] == "application/x-test"
    assert stored["etag"] == f'"{hashlib.md5(BYTES, usedforsecurity=False).hexdigest()}"'
    modified = datetime.strptime(stored["lastModified"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(modified.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    async with httpx.AsyncClient() as client:
        downloaded = await client.get(done["downloadUrl"])
    assert downloaded.status_code == 200
    assert downloaded.content == BYTES

    replayed = await http_put(upload, BYTES)  # URLs are single-use on both stores
    assert replayed.status_code in (409, 412), replayed.text


async def test_keys_are_laid_out_by_ids_with_the_file_name_escaped(store: Store) -> None:
    db = store.db
    version = await new_version(db)
    created = await start_upload(db, version, fileName="..%2F..%2Fescape.bin")
    path = urlsplit(created["upload"]["url"]).path
    _, artifact_pk = decode_global_id(created["artifact"]["id"])
    expected = (
        f"projects/{version.project_id}/models/{version.model_id}/versions/{version.id}/"
        f"{artifact_pk}/..%252F..%252Fescape.bin"
    )
    assert path.endswith(quote(expected))


async def test_other_bytes_than_declared_never_become_available(store: Store) -> None:
    db = store.db
    created = await start_upload(db, await new_version(db))
    artifact_id = created["artifact"]["id"]
    wrong = BYTES[:-1] + b"!"
    response = await http_put(created["upload"], wrong)
    if response.status_code < 300:
        # The store took the bytes without checking them (moto does not verify the signed
        # checksum; AWS S3 answers 400 BadDigest): completion must catch it.
        assert codes(await complete(db, artifact_id)) == ["INVALID"]
    else:
        assert response.status_code in (400, 403)
        assert codes(await complete(db, artifact_id)) == ["NOT_FOUND"]
    assert (await artifact(db, artifact_id))["status"] == "PENDING"


async def test_download_urls_are_capped_and_checked(store: Store) -> None:
    db = store.db
    created = await start_upload(db, await new_version(db))
    artifact_id = created["artifact"]["id"]
    await http_put(created["upload"], BYTES)
    await complete(db, artifact_id)
    url = (await artifact(db, artifact_id, ttl=10**7))["downloadUrl"]
    params = parse_qs(urlsplit(url).query)
    cap = db.settings.download_url_ttl_max_s
    if store.kind == "s3":
        assert params["X-Amz-Expires"] == [str(cap)]
    else:
        assert int(params["expires"][0]) <= time.time() + cap + 1
    body = await db.gql(ARTIFACT, {"id": artifact_id, "ttl": 0})
    assert body["data"]["node"]["downloadUrl"] is None
    assert body["data"]["node"]["object"]["exists"] is True  # the rest of the query answered
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["node", "downloadUrl"]


async def test_job_logs_url_appears_once_the_runner_wrote_the_log(store: Store) -> None:
    db = store.db
    p = f.project()
    pl = f.pipeline(p)
    job = f.job(pl)
    await f.save(db.sessions, p, pl, job)
    query = "query($id: ID!) { node(id: $id) { ... on Job { logsUrl } } }"
    variables = {"id": encode_global_id("Job", job.id)}
    assert (await db.data(query, variables))["node"]["logsUrl"] is None
    await store.put(job_logs_key(p.id, job.id), b"epoch 1 loss 0.3\n", "text/plain")
    url = (await db.data(query, variables))["node"]["logsUrl"]
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"epoch 1 loss 0.3\n"


async def test_drift_reports_come_from_the_store_and_fail_alone(store: Store) -> None:
    db = store.db
    p = f.project()
    md = f.model(p)
    dep = f.deployment(md)
    now = datetime.now(UTC)
    metrics = []
    for i, stored in enumerate(["present", "missing", "not-json", None]):
        key = None if stored is None else f"projects/{p.id}/drift-reports/{dep.id}/{stored}.json"
        metrics.append(
            m.DriftMetric(
                id=uuid.uuid4(),
                project_id=p.id,
                deployment_id=dep.id,
                kind=DriftKind.DATA,
                metric="psi",
                feature=f"f{i}",
                score=0.1,
                threshold=0.2,
                detected=False,
                window_start=now - timedelta(hours=1, minutes=i),
                window_end=now - timedelta(minutes=i),
                report_key=key,
                created_at=now - timedelta(seconds=i),
            )
        )
    await f.save(db.sessions, p, md, dep, *metrics)
    report = {"feature": "f0", "bins": [0.1, 0.2], "psi": 0.1}
    await store.put(metrics[0].report_key or "", json.dumps(report).encode(), "application/json")
    await store.put(metrics[2].report_key or "", b"{not json", "application/json")
    query = """query($id: ID!) { node(id: $id) { ... on Deployment {
      driftMetrics(first: 10) { nodes { feature report } } } } }"""
    body = await db.gql(query, {"id": encode_global_id("Deployment", dep.id)})
    nodes = body["data"]["node"]["driftMetrics"]["nodes"]
    assert [n["feature"] for n in nodes] == ["f0", "f1", "f2", "f3"]
    assert [n["report"] for n in nodes] == [report, None, None, None]
    by_index = {e["path"][3]: e["extensions"]["code"] for e in body["errors"]}
    assert by_index == {1: "OBJECT_NOT_FOUND", 2: "OBJECT_INVALID"}


async def many_artifacts(store: Store, n: int) -> tuple[m.ModelVersion, list[m.Artifact]]:
    version = await new_version(store.db)
    rows = [
        m.Artifact(
            id=uuid.uuid4(),
            project_id=version.project_id,
            version_id=version.id,
            kind=ArtifactKind.METRICS,
            status=ArtifactStatus.AVAILABLE,
            file_name=f"part-{i:03}.json",
            storage_key=f"projects/{version.project_id}/bulk/part-{i:03}.json",
            size_bytes=i + 1,
            sha256="0" * 64,
            content_type="application/json",
            created_at=datetime.now(UTC) + timedelta(milliseconds=i),
        )
        for i in range(n)
    ]
    await f.save(store.db.sessions, *rows)
    for row in rows:
        await store.put(row.storage_key, b"x" * row.size_bytes, "application/json")
    return version, rows


# The same artifacts twice (two aliases of one connection, and `object` twice per node): every
# key must still be asked for once.
HUNDRED = """query($id: ID!) { node(id: $id) { ... on ModelVersion {
  a: artifacts(first: 100) { nodes { fileName object { exists size } } }
  b: artifacts(first: 100) { nodes { again: object { etag } } } } } }"""


async def test_a_hundred_objects_cost_a_hundred_concurrent_heads_each_key_once(
    on_s3: Store,
) -> None:
    store = on_s3
    assert store.proxy is not None
    version, rows = await many_artifacts(store, 100)
    store.proxy.reset()
    store.proxy.delay = 0.1
    data = await store.db.data(HUNDRED, {"id": encode_global_id("ModelVersion", version.id)})
    nodes = data["node"]["a"]["nodes"]
    assert [n["object"] for n in nodes] == [{"exists": True, "size": r.size_bytes} for r in rows]
    heads = [c for c in store.proxy.calls if c.method == "HEAD"]
    assert sorted(c.key for c in heads) == sorted(r.storage_key for r in rows)
    # Overlap: at the busiest moment, as many HEADs were in flight as the bound allows.
    events = sorted([(c.start, 1) for c in heads] + [(c.end, -1) for c in heads])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak == store.db.settings.object_concurrency == 16


async def test_one_missing_object_leaves_the_other_99(store: Store) -> None:
    version, rows = await many_artifacts(store, 100)
    missing = rows[42]
    await store.delete(missing.storage_key)
    data = await store.db.data(HUNDRED, {"id": encode_global_id("ModelVersion", version.id)})
    exists = [n["object"]["exists"] for n in data["node"]["a"]["nodes"]]
    assert exists == [i != 42 for i in range(100)]


async def test_denied_and_timed_out_objects_fail_only_their_own_field(on_s3: Store) -> None:
    store = on_s3
    assert store.proxy is not None
    version, rows = await many_artifacts(store, 100)
    store.proxy.reset()
    store.proxy.faults = {rows[7].storage_key: "deny", rows[8].storage_key: "hang"}
    store.proxy.hang_s = 3 * store.db.settings.object_timeout_s
    body = await store.db.gql(HUNDRED, {"id": encode_global_id("ModelVersion", version.id)})
    nodes = body["data"]["node"]["a"]["nodes"]
    assert [n["fileName"] for n in nodes] == [r.file_name for r in rows]
    assert [n["object"] is not None for n in nodes] == [i not in (7, 8) for i in range(100)]
    failed = {(e["path"][1], e["path"][3]): e["extensions"]["code"] for e in body["errors"]}
    assert failed == {
        ("a", 7): "OBJECT_STORE_DENIED",
        ("a", 8): "OBJECT_STORE_UNAVAILABLE",
        ("b", 7): "OBJECT_STORE_DENIED",
        ("b", 8): "OBJECT_STORE_UNAVAILABLE",
    }
    assert all("Traceback" not in e["message"] for e in body["errors"])


async def test_an_unreachable_store_fails_its_fields_and_readiness(backend: Backend) -> None:
    await truncate(backend)
    port, dead = free_port(), free_port()
    settings = s3_settings(backend.settings, port, f"http://127.0.0.1:{dead}")
    store = Store("s3", backend, _nothing, _nothing, _nothing_there)
    version, rows = await many_artifacts(store, 3)
    server, task, base_url = await serve(create_app(settings, engine=backend.engine), port)
    try:
        headers = backend.headers(ADMIN, admin=True)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {
                "database": "ok",
                "objectStore": "unavailable",
                "compiledReads": "ok",
            }
            query = {
                "query": HUNDRED,
                "variables": {"id": encode_global_id("ModelVersion", version.id)},
            }
            body = (await client.post("/graphql", json=query)).json()
    finally:
        await stop(server, task)
    assert [n["fileName"] for n in body["data"]["node"]["a"]["nodes"]] == [
        r.file_name for r in rows
    ]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"OBJECT_STORE_UNAVAILABLE"}
    assert len(body["errors"]) == 6


async def _nothing(*_: Any) -> None:
    """Puts nothing: this store is unreachable."""


async def _nothing_there(_key: str) -> bool:
    return False


async def test_readiness_includes_the_store(store: Store) -> None:
    assert store.db.client is not None
    ready = await store.db.client.get("/readyz")
    assert ready.status_code == 200
    checks = {"database": "ok", "objectStore": "ok", "compiledReads": "ok"}
    assert ready.json()["checks"] == checks


async def test_expired_local_upload_urls_are_refused(backend: Backend) -> None:
    await truncate(backend)
    settings = backend.settings
    local = LocalObjectStore(
        settings.artifact_dir, base_url=backend.base_url, secret=settings.signing_key()
    )
    upload = await local.presign_put(
        f"projects/{uuid.uuid4()}/x.bin",
        size=len(BYTES),
        sha256=SHA,
        content_type="application/octet-stream",
        expires_in=-1,
    )
    async with httpx.AsyncClient() as client:
        response = await client.put(upload.url, content=BYTES, headers=upload.headers)
    assert response.status_code == 403
    assert response.json() == {"error": "URL expired"}


UPLOAD_SH = shell_block("examples/upload.sh <ModelVersion id>")
CURL_PUT = shell_block("curl -fsS -X PUT")


async def test_the_curl_upload_script_works_on_this_store(store: Store, tmp_path: Path) -> None:
    """examples/upload.sh, which the README shows, run as the README's block runs it (bash,
    curl, jq; the token from `mlgraph token`), with a real version id and file."""
    db = store.db
    version = await new_version(db)
    weights = tmp_path / "model weights.bin"
    weights.write_bytes(BYTES)
    version_id = encode_global_id("ModelVersion", version.id)
    block = UPLOAD_SH.replace("<ModelVersion id>", version_id)
    block = block.replace(" model.bin ", f" {shlex.quote(str(weights))} ")
    env = user_env(MLGRAPH_URL=db.base_url, MLGRAPH_DATA_DIR=str(db.settings.data_dir))
    done = await bash(block, env, limit_s=60)
    assert done.returncode == 0, done.stderr
    artifact = json.loads(done.stdout)["data"]["completeArtifactUpload"]["artifact"]
    assert artifact["status"] == "AVAILABLE"
    assert artifact["object"]["size"] == len(BYTES)
    async with httpx.AsyncClient() as client:
        assert (await client.get(artifact["downloadUrl"])).content == BYTES


async def test_the_walkthroughs_curl_put_uploads_to_this_store(
    store: Store, tmp_path: Path
) -> None:
    """Step 3 of the README's walkthrough: its curl line, with the upload's URL and headers
    filled in as the text around it says, puts the bytes; completion finds them."""
    db = store.db
    (tmp_path / "model.bin").write_bytes(BYTES)
    created = await start_upload(db, await new_version(db))
    upload = created["upload"]
    headers = [f"{h['name']}: {h['value']}" for h in upload["headers"]]
    filled = " ".join(f"-H {shlex.quote(h)}" for h in headers if not h.startswith("Content-Len"))
    command = CURL_PUT.replace("-H '<name>: <value>'", filled)
    command = command.replace("'<upload.url>'", shlex.quote(upload["url"]))
    done = await bash(command, user_env(), cwd=tmp_path, limit_s=30)
    assert done.returncode == 0, done.stderr
    assert (await complete(db, created["artifact"]["id"]))["artifact"] == {"status": "AVAILABLE"}


async def test_a_monitor_names_its_report_and_the_metric_reads_it(store: Store) -> None:
    db = store.db
    p = f.project()
    md = f.model(p)
    dep = f.deployment(md)
    await f.save(db.sessions, p, md, dep)
    now = datetime.now(UTC)
    metric = {
        "kind": "DATA",
        "metric": "psi",
        "feature": "amount",
        "score": 0.31,
        "threshold": 0.2,
        "windowStart": (now - timedelta(hours=1)).isoformat(),
        "windowEnd": now.isoformat(),
    }
    dep_id = encode_global_id("Deployment", dep.id)
    for bad in ("../other-project/x.json", "a//b", "/abs.json", "sp ace.json", "a/./b"):
        refused = await mutate(
            db,
            "recordDriftMetrics",
            {"deploymentId": dep_id, "metrics": [{**metric, "reportName": bad}]},
            "count",
        )
        assert refused["userErrors"][0]["field"] == ["input", "metrics", "0", "reportName"], bad
    recorded = await mutate(
        db,
        "recordDriftMetrics",
        {"deploymentId": dep_id, "metrics": [{**metric, "reportName": "2026/11/amount.json"}]},
        "count",
    )
    assert recorded == {"count": 1, "userErrors": []}
    report = {"feature": "amount", "psi": 0.31, "bins": [[0, 10, 0.4], [10, 100, 0.6]]}
    key = f"projects/{p.id}/deployments/{dep.id}/reports/2026/11/amount.json"
    await store.put(key, json.dumps(report).encode(), "application/json")
    query = """query($id: ID!) { node(id: $id) { ... on Deployment {
      driftMetrics(first: 1) { nodes { report } } } } }"""
    data = await db.data(query, {"id": dep_id})
    assert data["node"]["driftMetrics"]["nodes"] == [{"report": report}]


DELETE_VERSION = "deletedModelVersionId removedObjects"


async def _uploaded(db: Backend, version: m.ModelVersion) -> tuple[str, str]:
    """An AVAILABLE artifact of ``version``: its id and storage key."""
    created = await start_upload(db, version, fileName="weights.bin")
    assert (await http_put(created["upload"], BYTES)).status_code in (200, 201)
    artifact_id = created["artifact"]["id"]
    assert (await complete(db, artifact_id))["userErrors"] == []
    async with db.sessions() as s:
        key = await s.scalar(
            select(m.Artifact.storage_key).where(m.Artifact.id == decode_global_id(artifact_id)[1])
        )
    assert key is not None
    return artifact_id, key


async def test_deleting_a_version_removes_its_objects_after_the_commit(store: Store) -> None:
    db = store.db
    gone = await new_version(db)
    kept = f.version(_same_model(gone))
    await f.save(db.sessions, kept)
    _, key = await _uploaded(db, gone)
    extra = key.rsplit("/", 2)[0] + "/notes/readme.txt"  # a runner's own file beside it
    await store.put(extra, b"notes", "text/plain")
    kept_artifact, kept_key = await _uploaded(db, kept)
    deleted = await mutate(
        db,
        "deleteModelVersion",
        {"versionId": encode_global_id("ModelVersion", gone.id)},
        DELETE_VERSION,
    )
    assert deleted["userErrors"] == []
    assert deleted["removedObjects"] == 2
    assert not await store.exists(key)
    assert not await store.exists(extra)
    assert await store.exists(kept_key)
    assert (await artifact(db, kept_artifact))["object"]["exists"] is True


def _same_model(version: m.ModelVersion) -> m.Model:
    """The version's model, as a row to hang another version on (only its keys are used)."""
    return m.Model(id=version.model_id, project_id=version.project_id)


async def test_an_unreachable_store_after_the_commit_leaves_the_rows_deleted(
    backend: Backend,
) -> None:
    """The store is called after the commit: when it fails, the delete stands and the payload
    says nothing was removed (null), and the mutation still answers."""
    await truncate(backend)
    port, dead = free_port(), free_port()
    settings = s3_settings(backend.settings, port, f"http://127.0.0.1:{dead}")
    version = await new_version(backend)
    server, task, base_url = await serve(create_app(settings, engine=backend.engine), port)
    try:
        headers = backend.headers(ADMIN, admin=True)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            db = replace(backend, settings=settings, base_url=base_url, client=client)
            input = {"versionId": encode_global_id("ModelVersion", version.id)}
            deleted = await mutate(db, "deleteModelVersion", input, DELETE_VERSION)
    finally:
        await stop(server, task)
    assert deleted == {
        "deletedModelVersionId": input["versionId"],
        "removedObjects": None,
        "userErrors": [],
    }
    async with backend.sessions() as s:
        assert await s.get(m.ModelVersion, version.id) is None


async def test_a_frozen_store_fails_completion_in_time_and_locks_nothing(on_s3: Store) -> None:
    """The HEAD runs before the row lock: with the store hung, ``completeArtifactUpload``
    answers OBJECT_STORE_UNAVAILABLE within the object timeout + 1 s, and a write to the same
    artifact row meanwhile takes its lock at once."""
    db, proxy = on_s3.db, on_s3.proxy
    assert proxy is not None
    assert db.client is not None
    created = await start_upload(db, await new_version(db), fileName="weights.bin")
    _, pk = decode_global_id(created["artifact"]["id"])
    async with db.sessions() as s:
        row = await s.get(m.Artifact, pk)
        assert row is not None
    timeout_s = db.settings.object_timeout_s
    proxy.faults = {row.storage_key: "hang"}
    proxy.hang_s = 3 * timeout_s + 2
    before = await written(db)

    async def write_the_same_row() -> float:
        await asyncio.sleep(timeout_s / 3)  # while the completion waits for the store
        async with db.engine.connect() as conn:
            await conn.execute(text("SET lock_timeout = '500ms'"))
            started = time.monotonic()
            await conn.execute(
                update(m.Artifact)
                .where(m.Artifact.id == pk)
                .values(updated_at=m.Artifact.updated_at)
            )
            await conn.commit()
            return time.monotonic() - started

    query = """mutation($id: ID!) { completeArtifactUpload(input: {artifactId: $id}) {
      artifact { status } userErrors { code } } }"""
    started = time.monotonic()
    response, locked_for = await asyncio.gather(
        db.client.post(
            "/graphql", json={"query": query, "variables": {"id": created["artifact"]["id"]}}
        ),
        write_the_same_row(),
    )
    elapsed = time.monotonic() - started
    assert elapsed < timeout_s + 1, elapsed
    assert locked_for < 0.5, locked_for
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "OBJECT_STORE_UNAVAILABLE"
    assert "Traceback" not in response.text
    assert await written(db) == before
    async with db.sessions() as s:
        assert await s.scalar(select(m.Artifact.status).where(m.Artifact.id == pk)) == (
            ArtifactStatus.PENDING
        )
