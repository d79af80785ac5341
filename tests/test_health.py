"""Health, readiness and a database that is down: clear answers, no hang, no 500."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import httpx

from mlgraph.app import create_app
from mlgraph.auth.local_issuer import issue_token
from mlgraph.migrations import upgrade
from mlgraph.settings import Settings
from tests.conftest import (
    Backend,
    create_pg_database,
    drop_pg_database,
    free_port,
    require_postgres,
    serve,
    stop,
)


async def test_ready_when_database_and_object_store_answer(db: Backend) -> None:
    assert db.client is not None
    assert (await db.client.get("/healthz")).json() == {"status": "ok"}
    ready = await db.client.get("/readyz")
    assert ready.status_code == 200
    # The compiled read path runs on PostgreSQL only: only there are its SQL functions checked.
    compiled = {"compiledReads": "ok"} if db.name == "postgresql" else {}
    assert ready.json()["checks"] == {"database": "ok", "objectStore": "ok", **compiled}


async def test_not_ready_while_the_compiled_paths_functions_are_missing_or_old(
    tmp_path: Path,
) -> None:
    await require_postgres()
    url = await create_pg_database()
    try:
        for revision, ready in (("0003", False), ("0004", False), ("head", True)):
            # 0003: no functions yet; 0004: the functions before the float and DEL fixes.
            await asyncio.to_thread(upgrade, url, revision)
            settings = Settings(database_url=url, data_dir=tmp_path, gc_freeze=False)
            server, task, base = await serve(create_app(settings))
            try:
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    response = await client.get("/readyz")
            finally:
                await stop(server, task)
            assert response.status_code == (200 if ready else 503), revision
            checks = response.json()["checks"]
            assert checks == {
                "database": "ok",
                "objectStore": "ok",
                "compiledReads": "ok" if ready else "unavailable",
            }, revision
            off = settings.model_copy(update={"compiled_reads": False})
            server, task, base = await serve(create_app(off))
            try:
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    assert (await client.get("/readyz")).status_code == 200, revision
            finally:
                await stop(server, task)
    finally:
        await drop_pg_database(url)


async def test_database_down_is_reported_not_hung(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = Settings(
        database_url=url, data_dir=tmp_path, db_connect_timeout_s=2, gc_freeze=False
    )
    server, task, base = await serve(create_app(settings))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            ready = await asyncio.wait_for(client.get("/readyz"), 20)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "unavailable"
            assert ready.json()["checks"]["objectStore"] == "ok"

            token = issue_token(settings, subject="admin", roles=settings.oidc_admin_roles)
            response = await asyncio.wait_for(
                client.post(
                    "/graphql",
                    json={"query": "{ projects { totalCount } }"},
                    headers={"Authorization": f"Bearer {token}"},
                ),
                20,
            )
            # an outage, told apart from a bug: UNAVAILABLE, 503 and when to try again
            assert response.status_code == 503
            assert response.headers["retry-after"].isdigit()
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "UNAVAILABLE"
            assert "unavailable" in error["message"]
            assert error["extensions"]["requestId"] == response.headers["x-request-id"]
            assert "asyncpg" not in response.text
            assert "Traceback" not in response.text
    finally:
        await stop(server, task)


async def test_server_tunes_the_garbage_collector(tmp_path: Path) -> None:
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    settings = Settings(data_dir=tmp_path, gc_threshold=(50_000, 20, 30), gc_freeze=True)
    server, task, _ = await serve(create_app(settings))
    try:
        assert gc.get_threshold() == (50_000, 20, 30)
        assert gc.get_freeze_count() > 0
    finally:
        await stop(server, task)
        gc.unfreeze()
        gc.set_threshold(*before_threshold)
    assert before_frozen == 0
