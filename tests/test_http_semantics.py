"""GraphQL over HTTP: media types and their status codes, 406, GET for queries only (405 with
``Allow``), and CSRF: a request a browser could send cross-site without a preflight never runs.
On PostgreSQL the reads are compiled, so both read paths answer in the negotiated type."""

from __future__ import annotations

import json

import pytest

from mlgraph.ids import encode_global_id
from tests import factories as f
from tests.conftest import Backend

GRAPHQL_RESPONSE = "application/graphql-response+json"
READ = "{ projects(first: 1) { nodes { slug archivedAt } } }"


async def one_project(db: Backend) -> str:
    project = f.project(slug="http-semantics")
    await f.save(db.sessions, project)
    return encode_global_id("Project", project.id)


async def archived(db: Backend) -> bool:
    body = await db.data(READ)
    return body["projects"]["nodes"][0]["archivedAt"] is not None


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_the_answer_comes_in_the_negotiated_media_type(
    db: Backend, accept: str | None, media: str
) -> None:
    await one_project(db)
    assert db.client is not None
    headers = {} if accept is None else {"accept": accept}
    ok = await db.client.post("/graphql", json={"query": READ}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].split(";")[0] == media
    assert ok.json()["data"]["projects"]["nodes"][0]["slug"] == "http-semantics"
    expected_plan = "compiled" if db.name == "postgresql" else "resolver"
    assert ok.headers["x-mlgraph-plan"] == expected_plan


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ("{ projects { ", None),  # does not parse
        ("{ projectz { totalCount } }", None),  # does not validate
        ("query($n: Int!) { projects(first: $n) { totalCount } }", {"n": "ten"}),  # variables
    ],
    ids=["parse", "validation", "variables"],
)
async def test_request_errors_are_400_in_the_graphql_response_type_and_200_in_json(
    db: Backend, document: str, variables: dict[str, object] | None
) -> None:
    assert db.client is not None
    body = {"query": document, "variables": variables}
    strict = await db.client.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})
    assert strict.status_code == 400
    assert strict.headers["content-type"].split(";")[0] == GRAPHQL_RESPONSE
    assert strict.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = await db.client.post("/graphql", json=body, headers={"accept": "application/json"})
    assert legacy.status_code == 200

    def messages(body: dict[str, list[dict[str, str]]]) -> list[str]:
        return [e["message"] for e in body["errors"]]

    assert messages(legacy.json()) == messages(strict.json())


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0"])
async def test_an_unsupported_accept_is_406(db: Backend, accept: str) -> None:
    assert db.client is not None
    response = await db.client.post("/graphql", json={"query": READ}, headers={"accept": accept})
    assert response.status_code == 406
    assert GRAPHQL_RESPONSE in response.text


async def test_get_runs_queries_and_refuses_mutations_with_405(db: Backend) -> None:
    project_id = await one_project(db)
    assert db.client is not None
    read = await db.client.get("/graphql", params={"query": READ})
    assert read.status_code == 200
    assert read.json()["data"]["projects"]["nodes"][0]["slug"] == "http-semantics"
    mutation = (
        f'mutation {{ archiveProject(input: {{id: "{project_id}"}}) {{ userErrors {{ code }} }} }}'
    )
    write = await db.client.get("/graphql", params={"query": mutation})
    assert write.status_code == 405
    assert write.headers["allow"] == "POST"
    assert not await archived(db)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_simple_cross_site_request_never_runs(db: Backend, content_type: str) -> None:
    """What a cross-site form or ``fetch`` without preflight can send is refused before it runs,
    even when it somehow carries a credential."""
    project_id = await one_project(db)
    assert db.client is not None
    mutation = (
        f'mutation {{ archiveProject(input: {{id: "{project_id}"}}) {{ userErrors {{ code }} }} }}'
    )
    response = await db.client.post(
        "/graphql",
        content=json.dumps({"query": mutation}),
        headers={"content-type": content_type},
    )
    assert response.status_code == 400
    assert not await archived(db)
