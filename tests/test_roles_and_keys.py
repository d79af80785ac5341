"""Roles on writes, API keys end to end, and requests without (valid) credentials."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from mlgraph.app import create_app
from mlgraph.auth import api_keys
from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from mlgraph.storage.types import utcnow
from tests import factories as f
from tests.conftest import Backend, serve, stop

BOB = "bob@example.com"


def _secret_part(key: str) -> str:
    """The secret after the key's prefix (it may hold ``_`` itself: the part after the last
    ``_`` was once the single letter "I", found in the log's "INFO")."""
    parts = api_keys.split(key)
    assert parts is not None
    return parts[1]


async def post(
    db: Backend, query: str, headers: dict[str, str], variables: dict[str, Any] | None = None
) -> httpx.Response:
    """POST with exactly these credentials (not the shared admin client's)."""
    async with httpx.AsyncClient(base_url=db.base_url) as client:
        body = {"query": query, "variables": variables}
        return await client.post("/graphql", json=body, headers=headers)


async def project_with(db: Backend, role: Role | None) -> tuple[m.Project, m.Pipeline]:
    p = f.project()
    pl = f.pipeline(p)
    rows: list[Any] = [p, pl]
    if role is not None:
        rows.append(m.ProjectMember(project_id=p.id, principal_id=BOB, role=role))
    await f.save(db.sessions, *rows)
    return p, pl


START_RUN = """mutation($id: ID!) { startPipelineRun(input: {pipelineId: $id}) {
  job { status } userErrors { code } } }"""
ADD_MEMBER = """mutation($id: ID!) { addProjectMember(input: {projectId: $id,
  principalId: "carol", role: VIEWER}) { project { id } userErrors { code } } }"""
CREATE_KEY = """mutation($id: ID!, $role: Role!) { createApiKey(input: {projectId: $id,
  name: "runner", role: $role}) { secret apiKey { id prefix role } userErrors { code } } }"""


@pytest.mark.parametrize(
    ("role", "can_run", "can_admin"),
    [(Role.VIEWER, False, False), (Role.EDITOR, True, False), (Role.ADMIN, True, True)],
)
async def test_project_roles_gate_writes(
    db: Backend, role: Role, can_run: bool, can_admin: bool
) -> None:
    p, pl = await project_with(db, role)
    bob = db.headers(BOB)
    run = (await post(db, START_RUN, bob, {"id": encode_global_id("Pipeline", pl.id)})).json()
    admin = (await post(db, ADD_MEMBER, bob, {"id": encode_global_id("Project", p.id)})).json()
    assert ("errors" not in run) == can_run
    assert ("errors" not in admin) == can_admin
    for body, allowed in ((run, can_run), (admin, can_admin)):
        if not allowed:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    read = (await post(db, "{ projects { totalCount } }", bob)).json()
    assert read["data"]["projects"]["totalCount"] == 1


async def test_api_key_lifecycle(db: Backend) -> None:
    p, pl = await project_with(db, Role.ADMIN)
    other, _ = await project_with(db, None)
    pid = encode_global_id("Project", p.id)
    created = (await post(db, CREATE_KEY, db.headers(BOB), {"id": pid, "role": "EDITOR"})).json()
    payload = created["data"]["createApiKey"]
    secret = payload["secret"]
    assert secret.startswith("mlg_")
    assert payload["apiKey"]["prefix"] in secret
    async with db.sessions() as s:
        row = (await s.scalars(select(m.ApiKey))).one()
    assert _secret_part(secret) not in (row.secret_hash, row.prefix)

    for headers in ({"X-Api-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        seen = (await post(db, "{ projects { nodes { slug } } }", headers)).json()
        assert seen["data"]["projects"]["nodes"] == [{"slug": p.slug}]
    run = (
        await post(
            db, START_RUN, {"X-Api-Key": secret}, {"id": encode_global_id("Pipeline", pl.id)}
        )
    ).json()
    assert run["data"]["startPipelineRun"]["job"]["status"] == "QUEUED"
    async with db.sessions() as s:
        used = await s.scalar(select(m.ApiKey.last_used_at))
    assert used is not None
    elsewhere = (
        await post(
            db, ADD_MEMBER, {"X-Api-Key": secret}, {"id": encode_global_id("Project", other.id)}
        )
    ).json()
    assert elsewhere["data"]["addProjectMember"]["userErrors"] == [{"code": "NOT_FOUND"}]

    revoke = """mutation($id: ID!) { revokeApiKey(input: {apiKeyId: $id}) {
        apiKey { revokedAt } userErrors { code } } }"""
    done = (await post(db, revoke, db.headers(BOB), {"id": payload["apiKey"]["id"]})).json()
    assert done["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    refused = await post(db, "{ projects { totalCount } }", {"X-Api-Key": secret})
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_wrong_and_malformed_keys_are_refused(
    db: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    p, _ = await project_with(db, Role.ADMIN)
    created = (
        await post(
            db,
            CREATE_KEY,
            db.headers(BOB),
            {"id": encode_global_id("Project", p.id), "role": "VIEWER"},
        )
    ).json()
    secret = created["data"]["createApiKey"]["secret"]
    caplog.set_level(logging.WARNING, logger="mlgraph.auth")
    for bad in (secret[:-2] + "xx", "mlg_nonsense", "mlg_abcdefghij_" + "y" * 40):
        response = await post(db, "{ projects { totalCount } }", {"X-Api-Key": bad})
        assert response.status_code == 401
    async with db.sessions() as s, s.begin():
        await s.execute(update(m.ApiKey).values(expires_at=utcnow()))
    assert (await post(db, "{ projects { totalCount } }", {"X-Api-Key": secret})).status_code == 401
    assert "authentication failed" in caplog.text
    assert _secret_part(secret) not in caplog.text


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Bearer a.b", "Bearer mlg_x", "Basic x"])
async def test_bad_credentials_are_unauthenticated(db: Backend, header: str) -> None:
    response = await post(db, "{ projects { totalCount } }", {"Authorization": header})
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_anonymous_reads_only_when_configured(db: Backend) -> None:
    await project_with(db, None)
    for anonymous_read in (False, True):
        settings = db.settings.model_copy(update={"anonymous_read": anonymous_read})
        server, task, base = await serve(create_app(settings, engine=db.engine))
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                read = await client.post("/graphql", json={"query": "{ projects { totalCount } }"})
                write = await client.post(
                    "/graphql",
                    json={
                        "query": 'mutation { createProject(input: {slug: "anon", name: "A"}) '
                        "{ project { id } } }"
                    },
                )
                page = await client.get("/graphql", headers={"accept": "text/html"})
        finally:
            await stop(server, task)
        assert page.status_code == 200  # GraphiQL itself needs no credentials
        if anonymous_read:
            assert read.json()["data"]["projects"]["totalCount"] == 1
            assert write.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        else:
            assert read.status_code == write.status_code == 401


async def test_oidc_tokens_end_to_end_with_key_rotation(db: Backend) -> None:
    """The app configured with a real (local) OIDC issuer: tokens work, rotation too."""
    from tests.oidc_server import OidcServer

    p, _ = await project_with(db, Role.VIEWER)
    idp = await OidcServer().start()
    settings = db.settings.model_copy(update={"oidc_issuer": idp.issuer, "local_issuer": False})
    server, task, base = await serve(create_app(settings, engine=db.engine))

    def token(**extra: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": idp.issuer,
            "aud": settings.oidc_audience,
            "sub": BOB,
            "iat": now,
            "exp": now + 300,
            **extra,
        }
        return idp.sign(claims)

    async def ask(bearer: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base) as client:
            return await client.post(
                "/graphql",
                json={"query": "{ projects { nodes { slug } } viewer { isPlatformAdmin } }"},
                headers={"Authorization": f"Bearer {bearer}"},
            )

    try:
        viewer = (await ask(token())).json()["data"]
        assert viewer == {
            "projects": {"nodes": [{"slug": p.slug}]},
            "viewer": {"isPlatformAdmin": False},
        }
        admin = (await ask(token(roles=settings.oidc_admin_roles))).json()["data"]
        assert admin["viewer"]["isPlatformAdmin"] is True
        old = token()
        idp.rotate(keep_old=False)
        assert (await ask(token())).status_code == 200  # new kid: one refetch, then accepted
        assert (await ask(old)).status_code == 401  # the old key is gone from the JWKS
        expired = token(exp=int(time.time()) - 3600)
        assert (await ask(expired)).json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        local = db.token(BOB, admin=True)  # local issuer switched off
        assert (await ask(local)).status_code == 401
    finally:
        await stop(server, task)
        await idp.stop()
