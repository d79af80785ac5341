"""Object-store fields and ``Model.version(alias:)`` on the compiled path: the statement answers
the tree, the store's fields are filled in one pass afterwards, and the answer is the resolver
path's (presigned URLs compared without their signing time, and fetched).

Both paths run on the same PostgreSQL database and the same local object store: the demo data,
its drift reports and job logs (``seed_demo_objects``), and the files of the available artifacts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from mlgraph.app import create_app
from mlgraph.seed import seed_demo, seed_demo_objects
from mlgraph.storage import models as m
from mlgraph.storage.enums import ArtifactStatus, Role
from mlgraph.storage.objects import open_store
from tests.compiled_support import NOBODY, PRINCIPALS, VIEWER, Pair
from tests.conftest import ADMIN, Backend, SqlCounter, serve, stop, truncate
from tests.test_compiled import MEMBERSHIPS

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
WEIGHTS = b"weights of the compiled-path test"
#: The parts of a presigned URL that depend on when it was signed.
SIGNED = re.compile(rb"expires=\d+&signature=[0-9a-f]+")

QUERY = """query($alias: String!, $ttl: Int!) {
  projects(first: 3) { nodes { slug
    pipelines(first: 2) { nodes { runs(first: 3) { nodes { status logsUrl(expiresIn: $ttl) } } } }
    models(first: 3) { nodes { name
      version(alias: $alias) { version stage
        artifacts { nodes { fileName status downloadUrl
          object { __typename exists size etag contentType lastModified } } } }
      champion: version(alias: "champion") { version }
      deployments(first: 2) { nodes { driftMetrics(first: 3) { nodes { feature report } } } }
    } } } }
}"""


@pytest.fixture(scope="module")
async def pair(backend: Backend) -> AsyncIterator[Pair]:
    await truncate(backend)
    await seed_demo(backend.sessions, projects=3)
    async with open_store(backend.settings) as store:
        await seed_demo_objects(backend.sessions, store)
        async with backend.sessions() as s, s.begin():
            available = (
                await s.scalars(
                    select(m.Artifact.storage_key).where(
                        m.Artifact.status == ArtifactStatus.AVAILABLE
                    )
                )
            ).all()
            project = await s.scalar(select(m.Project).order_by(m.Project.slug).limit(1))
            assert project is not None
            s.add(m.ProjectMember(project_id=project.id, principal_id=VIEWER, role=Role.VIEWER))
        for key in available:  # the pending ones have no file yet
            await store.put(key, WEIGHTS, "application/octet-stream")
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    headers = {
        "admin": backend.headers(ADMIN, admin=True),
        "viewer": backend.headers(VIEWER),
        "nobody": backend.headers(NOBODY),
    }
    async with (
        httpx.AsyncClient(base_url=backend.base_url, timeout=60) as compiled,
        httpx.AsyncClient(base_url=url, timeout=60) as resolver,
    ):
        yield Pair(compiled, resolver, headers=headers)
    await stop(server, task)


async def ask(
    pair: Pair, variables: dict[str, Any], principal: str, sql: SqlCounter | None = None
) -> tuple[str, bytes, bytes]:
    """Both paths' plan header and bodies, presigned URLs without their signing time; ``sql``
    counts the compiled path's statements."""
    body = {"query": QUERY, "variables": variables}
    headers = {**pair.headers[principal], "x-request-id": uuid.uuid4().hex}  # in errors
    if sql is not None:
        sql.start()
    compiled = await pair.compiled.post("/graphql", json=body, headers=headers)
    if sql is not None:
        sql.stop()
    resolver = await pair.resolver.post("/graphql", json=body, headers=headers)
    assert compiled.status_code == resolver.status_code == 200
    plain = [SIGNED.sub(b"expires=E&signature=S", r.content) for r in (compiled, resolver)]
    return compiled.headers["x-mlgraph-plan"], plain[0], plain[1]


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_object_store_fields_answer_as_the_resolver_path(
    backend: Backend, pair: Pair, principal: str
) -> None:
    variables = {"alias": "latest", "ttl": 60}
    plan, compiled, resolver = await ask(pair, variables, principal, backend.sql)
    statements = [s for s in backend.sql.statements if not s.startswith(MEMBERSHIPS)]
    # the read audit records the issued download URLs, all of them in one INSERT
    audit = [s for s in statements if s.startswith("INSERT INTO artifact_download")]
    reads = [s for s in statements if s not in audit]
    assert plan == "compiled"
    assert compiled == resolver
    assert len(reads) == 1  # the store's fields cost no statement
    assert len(audit) == (0 if principal == "nobody" else 1)
    if principal == "nobody":
        assert b'"nodes":[]' in compiled
        return
    text = compiled.decode()
    assert '"report":{"feature"' in text  # the JSON report, read from the store
    # a started job's log exists, a queued job has none
    runs = re.findall(r'"status":"([A-Z]+)","logsUrl":(null|"http)', text)
    assert any(url != "null" for _, url in runs)
    assert all((status == "QUEUED") == (url == "null") for status, url in runs), runs
    assert '"exists":true,"size":' in text  # an available artifact's file
    assert '"downloadUrl":null,"object":{"__typename":"StoredObject","exists":false' in text
    assert '"version":{"version"' in text


async def test_a_compiled_download_url_downloads_the_file(pair: Pair) -> None:
    answer = await pair.compiled.post(
        "/graphql",
        json={"query": QUERY, "variables": {"alias": "latest", "ttl": 60}},
        headers=pair.headers["admin"],
    )
    assert answer.headers["x-mlgraph-plan"] == "compiled"
    urls = re.findall(r'"downloadUrl":"([^"]+)"', answer.text)
    assert urls
    fetched = [await pair.compiled.get(u) for u in urls]
    assert WEIGHTS in [f.content for f in fetched if f.status_code == 200]


async def test_an_unknown_alias_is_null(pair: Pair) -> None:
    plan, compiled, resolver = await ask(pair, {"alias": "no-such-alias", "ttl": 60}, "admin")
    assert plan == "compiled"
    assert compiled == resolver
    assert b'"version":null' in compiled


async def test_errors_of_the_store_fields_are_answered_by_the_resolver_path(
    backend: Backend, pair: Pair
) -> None:
    # expiresIn under 1: BAD_USER_INPUT on the logs field
    plan, compiled, resolver = await ask(pair, {"alias": "latest", "ttl": 0}, "admin")
    assert (plan, compiled) == ("resolver", resolver)
    assert b"BAD_USER_INPUT" in compiled
    # reports the store does not have: OBJECT_NOT_FOUND on those fields, the rest answered
    await move_reports(backend, ".gone")
    try:
        plan, compiled, resolver = await ask(pair, {"alias": "latest", "ttl": 60}, "admin")
    finally:
        await move_reports(backend, "")
    assert (plan, compiled) == ("resolver", resolver)
    assert b"OBJECT_NOT_FOUND" in compiled


async def move_reports(db: Backend, suffix: str) -> None:
    """Point every drift metric's report key ``suffix`` away from its object (or back)."""
    key = m.DriftMetric.report_key
    moved = key + suffix if suffix else func.replace(key, ".gone", "")
    async with db.sessions() as s, s.begin():
        await s.execute(update(m.DriftMetric).where(key.is_not(None)).values(report_key=moved))
