"""bench/compare.py's own parts (the benchmark itself runs with `make bench`, not here): the
statement-counting proxy counts what a driver executes on real PostgreSQL, and the same-rows
check reads both servers' answer shapes and names the first difference."""

from __future__ import annotations

import base64
import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, create_pg_database, drop_pg_database, require_postgres

ROOT = Path(__file__).resolve().parent.parent


def load_compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


compare = load_compare()


async def test_proxy_counts_every_execution_and_tells_data_from_transaction_control() -> None:
    await require_postgres()
    url = make_url(PG_URL)
    counter = compare.StatementCounter(url.host or "127.0.0.1", url.port or 5432)
    port = await counter.start()
    try:
        # ssl="prefer" (asyncpg's default) sends an SSLRequest first: the proxy declines it.
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user=url.username, database=url.database, ssl="prefer"
        )
        try:
            counter.reset()
            async with conn.transaction():  # BEGIN ... COMMIT, simple queries
                statement = await conn.prepare("SELECT $1::int + 1")  # Parse, not executed
                assert await statement.fetchval(1) == 2
                assert await statement.fetchval(2) == 3  # one Parse, a second Execute
                assert await conn.fetchval("WITH x AS (SELECT 7 AS v) SELECT v FROM x") == 7
                await conn.execute("SET LOCAL statement_timeout = 5000")
        finally:
            await conn.close()
    finally:
        await counter.stop()
    assert (counter.data, counter.other) == (3, 3), counter.samples
    assert counter.samples["SELECT $1::int + 1"] == 2


def gid(type_name: str, n: int) -> str:
    return base64.b64encode(f"{type_name}:{uuid(n)}".encode()).decode()


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def mlgraph_answer() -> dict[str, Any]:
    run = {
        "id": gid("Job", 3),
        "kind": "TRAINING",
        "status": "SUCCEEDED",
        "progress": 1.0,
        "startedAt": "2026-01-02T03:04:05.000006Z",
        "finishedAt": None,
    }
    model = {
        "id": gid("Model", 4),
        "name": "m",
        "riskTier": "LOW",
        "tags": ["a", "b"],
        "versions": {"nodes": []},
    }
    project = {
        "id": gid("Project", 1),
        "slug": "p",
        "name": "P",
        "pipelines": {"nodes": [{"id": gid("Pipeline", 2), "name": "x", "runs": {"nodes": [run]}}]},
        "models": {"nodes": [model]},
    }
    page = {"hasNextPage": False, "endCursor": "bWxncmFwaA"}
    return {"data": {"projects": {"totalCount": 1, "pageInfo": page, "nodes": [project]}}}


def postgraphile_answer() -> dict[str, Any]:
    run = {
        "rowId": uuid(3),
        "kind": "TRAINING",
        "status": "SUCCEEDED",
        "progress": 1,
        "startedAt": "2026-01-02T03:04:05.000006+00:00",
        "finishedAt": None,
    }
    model = {
        "rowId": uuid(4),
        "name": "m",
        "riskTier": "LOW",
        "tags": ["a", "b"],
        "modelVersionsByModelId": {"nodes": []},
    }
    project = {
        "rowId": uuid(1),
        "slug": "p",
        "name": "P",
        "pipelinesByProjectId": {
            "nodes": [{"rowId": uuid(2), "name": "x", "jobsByPipelineId": {"nodes": [run]}}]
        },
        "modelsByProjectId": {"nodes": [model]},
    }
    page = {"hasNextPage": False, "endCursor": "cG9zdGdyYXBoaWxl"}
    return {"data": {"allProjects": {"totalCount": 1, "pageInfo": page, "nodes": [project]}}}


def test_same_rows_from_both_shapes_despite_spelling() -> None:
    ours = compare.normalize(mlgraph_answer(), postgraphile=False)
    theirs = compare.normalize(postgraphile_answer(), postgraphile=True)
    assert ours == theirs
    assert compare.first_difference(ours, theirs) is None
    assert compare.count_objects(ours) == 4


def test_first_difference_names_the_row_and_field() -> None:
    ours = compare.normalize(mlgraph_answer(), postgraphile=False)
    answer = postgraphile_answer()
    project = answer["data"]["allProjects"]["nodes"][0]
    project["pipelinesByProjectId"]["nodes"][0]["jobsByPipelineId"]["nodes"][0]["status"] = "FAILED"
    found = compare.first_difference(ours, compare.normalize(answer, postgraphile=True))
    assert found == "data.projects[0].pipelines[0].runs[0].status: 'SUCCEEDED' != 'FAILED'"

    answer = postgraphile_answer()
    answer["data"]["allProjects"]["nodes"][0]["modelsByProjectId"]["nodes"] = []
    found = compare.first_difference(ours, compare.normalize(answer, postgraphile=True))
    assert found == "data.projects[0].models: 1 items != 0 items"

    answer = copy.deepcopy(mlgraph_answer())
    answer["data"]["projects"]["nodes"][0]["id"] = gid("Project", 9)
    found = compare.first_difference(ours, compare.normalize(answer, postgraphile=False))
    assert found == f"data.projects[0].id: '{uuid(1)}' != '{uuid(9)}'"


def test_an_answer_with_errors_is_refused() -> None:
    with pytest.raises(ValueError, match="errors"):
        compare.normalize({"errors": [{"message": "boom"}], "data": None}, postgraphile=False)


async def test_backend_cpu_counts_a_backend_opened_and_closed_during_the_load() -> None:
    """A pool's overflow connection lives only inside the measured load: its backend's CPU
    (and its session) must count, though it is gone before and after."""
    await require_postgres()
    url = make_url(await create_pg_database())
    try:
        async with compare.BackendCpu(url.database) as cpu:
            conn = await asyncpg.connect(
                host=url.host, port=url.port, user=url.username, database=url.database
            )
            try:
                await conn.fetchval("SELECT sum(x) FROM generate_series(1, 4000000) AS x")
            finally:
                await conn.close()
        assert cpu.seconds >= 0.1
        assert cpu.sessions >= 1
    finally:
        await drop_pg_database(url.render_as_string(hide_password=False))
