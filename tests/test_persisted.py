"""Persisted queries: an APQ round trip (POST and cacheable GET, both read paths), and trusted
documents: the manifest's documents run by hash or text, anything else is refused before it
costs a statement, with the admin bypass when configured."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import select

from mlgraph.app import create_app
from mlgraph.app.persisted import MANIFEST, sha256
from mlgraph.cli import main
from mlgraph.ids import encode_global_id
from mlgraph.seed import seed_demo
from mlgraph.storage import models as m
from tests.conftest import ADMIN, OPERATIONS, Backend, serve, stop
from tests.live import JOB_UPDATED, TRANSPORT_WS, instance, subscribed, ws_client
from tests.readme import bash, shell_block
from tests.served import user_env

READ = "{ projects(first: 2) { totalCount nodes { slug } } }"


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(document)}}


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_apq_round_trip_over_post_and_get(db: Backend) -> None:
    await seed_demo(db.sessions, projects=2)
    assert db.client is not None
    plan = "compiled" if db.name == "postgresql" else "resolver"
    # the hash alone: not known yet
    unknown = await db.client.post("/graphql", json={"extensions": persisted(READ)})
    assert code(unknown.json()) == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    # the client sends the text once, with its hash
    first = await db.client.post("/graphql", json={"query": READ, "extensions": persisted(READ)})
    assert first.json()["data"]["projects"]["totalCount"] == 2
    # from then on the hash is enough, also in a short GET URL
    by_hash = await db.client.post("/graphql", json={"extensions": persisted(READ)})
    get = await db.client.get(
        "/graphql", params={"extensions": json.dumps(persisted(READ), separators=(",", ":"))}
    )
    for response in (by_hash, get):
        assert response.status_code == 200, response.text
        assert response.content == first.content
        assert response.headers["x-mlgraph-plan"] == plan
    # a hash that is not the text's is refused
    wrong = await db.client.post(
        "/graphql", json={"query": READ + " ", "extensions": persisted(READ)}
    )
    assert code(wrong.json()) == "BAD_USER_INPUT"


@asynccontextmanager
async def trusted(db: Backend, *, bypass: bool) -> AsyncIterator[str]:
    settings = db.settings.model_copy(
        update={"trusted_documents": MANIFEST, "trusted_documents_admin_bypass": bypass}
    )
    server, task, url = await serve(create_app(settings, engine=db.engine))
    try:
        yield url
    finally:
        await stop(server, task)


@pytest.mark.parametrize("bypass", [False, True], ids=["strict", "admin-bypass"])
async def test_trusted_documents_only(db: Backend, bypass: bool) -> None:
    await seed_demo(db.sessions, projects=1)
    dashboard = (OPERATIONS / "dashboard.graphql").read_text()
    admin = db.headers("admin@example.com", admin=True)
    viewer = db.headers("viewer@example.com")
    async with trusted(db, bypass=bypass) as url, httpx.AsyncClient(base_url=url) as client:
        by_hash = await client.post(
            "/graphql", json={"extensions": persisted(dashboard)}, headers=admin
        )
        by_text = await client.post("/graphql", json={"query": dashboard}, headers=admin)
        assert by_hash.status_code == 200
        assert "errors" not in by_hash.json()
        plan = "compiled" if db.name == "postgresql" else "resolver"
        assert by_hash.headers["x-mlgraph-plan"] == plan
        assert by_hash.content == by_text.content
        # any other document is refused before it runs, for everyone without the bypass
        db.sql.start()
        other = await client.post("/graphql", json={"query": READ}, headers=viewer)
        db.sql.stop()
        assert [s for s in db.sql.statements if "FROM project_member" not in s] == []
        assert code(other.json()) == "PERSISTED_QUERY_NOT_IN_LIST"
        # and APQ cannot register new documents in this mode
        apq = await client.post(
            "/graphql", json={"query": READ, "extensions": persisted(READ)}, headers=viewer
        )
        assert code(apq.json()) == "PERSISTED_QUERY_NOT_IN_LIST"
        as_admin = await client.post("/graphql", json={"query": READ}, headers=admin)
        if bypass:
            assert as_admin.json()["data"]["projects"]["totalCount"] == 1
        else:
            assert code(as_admin.json()) == "PERSISTED_QUERY_NOT_IN_LIST"


def test_the_checked_in_manifest_is_current() -> None:
    result = CliRunner().invoke(main, ["documents", "--check"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(MANIFEST.read_text())
    assert len(manifest) == len(list(OPERATIONS.rglob("*.graphql")))


APQ_SH = shell_block("persistedQuery")


async def test_the_readme_apq_example_runs(db: Backend) -> None:
    """The README's APQ shell example, run by bash against a live server: the hash alone,
    over GET, answers what the text did."""
    await seed_demo(db.sessions, projects=2)
    env = user_env(MLGRAPH_URL=db.base_url, MLGRAPH_DATA_DIR=str(db.settings.data_dir))
    done = await bash(APQ_SH, env)
    assert done.returncode == 0, done.stderr
    decoder, out, answers = json.JSONDecoder(), done.stdout.strip(), []
    while out:
        answer, end = decoder.raw_decode(out)
        answers.append(answer)
        out = out[end:].lstrip()
    first, second = answers
    assert first == second
    assert len(first["data"]["projects"]["nodes"]) == 2


async def test_trusted_documents_hold_on_websockets(db: Backend) -> None:
    """A subscription outside the manifest is refused over graphql-transport-ws too; the
    manifest's own live documents subscribe (gql sends them as graphql-core prints them)."""
    await seed_demo(db.sessions, projects=1)
    async with instance(db, trusted_documents=MANIFEST) as inst:
        async with db.sessions() as s:
            project = await s.scalar(select(m.Project.id).limit(1))
        assert project is not None
        variables = {"p": encode_global_id("Project", project)}
        live = OPERATIONS / "live" / "job_updates.graphql"
        async with ws_client(inst, TRANSPORT_WS, token=db.token(ADMIN, admin=True)) as session:
            with pytest.raises(TransportQueryError) as refused:
                async for _ in session.subscribe(
                    GraphQLRequest(JOB_UPDATED, variable_values=variables)
                ):
                    pass
            assert refused.value.errors is not None
            assert refused.value.errors[0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
            trusted_live = session.subscribe(
                GraphQLRequest(live.read_text(), variable_values={"projectId": variables["p"]})
            )
            opened = asyncio.ensure_future(anext(trusted_live))
            await subscribed(inst)
            opened.cancel()
