"""The README's examples run: the read tour on the demo data, and the write walkthrough
(whose GraphQL documents are exactly those of examples/write_flow.py) end to end."""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap
from types import ModuleType
from typing import Any

import pytest

from mlgraph.seed import seed_demo
from tests.conftest import Backend
from tests.readme import README, ROOT, bash, shell_block
from tests.served import user_env

READ_PART, _, WRITE_PART = README.partition("## Writing")
WRITE_PART = WRITE_PART.partition("\n## ")[0]  # the Writing section only
BLOCK = re.compile(r"^( *)```graphql\n(.*?)^\1```", flags=re.S | re.M)
READ_EXAMPLES = [m.group(2) for m in BLOCK.finditer(READ_PART)]
WRITE_EXAMPLES = [textwrap.dedent(m.group(2)).strip() for m in BLOCK.finditer(WRITE_PART)]


def load_write_flow() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_flow", ROOT / "examples/write_flow.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 0 if value is None else 1


def test_readme_has_examples() -> None:
    assert len(READ_EXAMPLES) >= 2
    assert len(WRITE_EXAMPLES) >= 8


@pytest.mark.parametrize("index", range(len(READ_EXAMPLES)))
async def test_readme_read_example_runs_on_demo_data(db: Backend, index: int) -> None:
    await seed_demo(db.sessions)
    data = await db.data(READ_EXAMPLES[index])
    assert leaves(data) > 10, data


def test_readme_write_walkthrough_is_the_example_script() -> None:
    documents = [d.strip() for d in load_write_flow().DOCUMENTS]
    assert WRITE_EXAMPLES == documents


WRITE_SH = shell_block("examples/write_flow.py")


async def test_write_walkthrough_runs_end_to_end(db: Backend) -> None:
    """The walkthrough's two shell lines, as pasted against a live server (its URL and data dir
    in the environment, as `make run` would have them): the flow ends rolled back, and printed
    so."""
    await seed_demo(db.sessions)
    env = user_env(MLGRAPH_URL=db.base_url, MLGRAPH_DATA_DIR=str(db.settings.data_dir))
    done = await bash(WRITE_SH, env)
    assert done.returncode == 0, done.stderr
    *_, last = done.stdout.splitlines()
    step, _, printed = last.partition(" ")
    assert step.startswith("Rollback")
    deployment = ast.literal_eval(printed.strip())["deployment"]
    assert deployment["status"] == "ROLLED_BACK"
    assert deployment["targets"] == [{"trafficPercent": 100.0, "version": {"version": "1.0.0"}}]
    kinds = [e["kind"] for e in deployment["events"]["nodes"]]
    assert kinds == ["ROLLED_BACK", "PROMOTED", "TRAFFIC_SHIFTED", "CREATED"]
    assert (await db.data("{ verifyAuditChain { ok } }"))["verifyAuditChain"]["ok"] is True


UPLOAD_SCRIPT_SH = shell_block("gql() {")


def test_readme_shows_the_curl_upload_script() -> None:
    """The upload flow in "Artifacts and object storage" is examples/upload.sh, which
    tests/test_objects.py runs against both stores (as the block before it says to)."""
    script = (ROOT / "examples" / "upload.sh").read_text()
    assert script.split("set -euo pipefail\n", 1)[1] == UPLOAD_SCRIPT_SH


def test_the_tour_is_graphiqls_first_tab() -> None:
    """The README's first query is graphql/operations/tour.graphql, GraphiQL's first tab."""
    tour = (ROOT / "graphql/operations/tour.graphql").read_text()
    assert tour.partition("query Tour ")[2] == READ_EXAMPLES[0]


COMPILED_SH = shell_block("x-mlgraph-plan")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_compiled_path_curl_example_runs(db: Backend) -> None:
    """The "Two read paths" shell example, run by bash against a live server on PostgreSQL:
    the token it makes is accepted, and the answer says the compiled path answered."""
    await seed_demo(db.sessions)
    env = user_env(MLGRAPH_URL=db.base_url, MLGRAPH_DATA_DIR=str(db.settings.data_dir))
    done = await bash(COMPILED_SH, env)
    assert done.returncode == 0, done.stderr
    assert "x-mlgraph-plan: compiled" in done.stdout.lower()
    assert "plan: compiled" in done.stdout  # mlgraph explain's first line


def test_the_configuration_table_is_one_piece() -> None:
    section = README.partition("## Configuration")[2].partition("\n## ")[0]
    rows = [i for i, line in enumerate(section.splitlines()) if line.startswith("|")]
    assert rows == list(range(rows[0], rows[0] + len(rows)))  # no paragraph inside
    assert any("MLGRAPH_LIVE_BROKER" in line for line in section.splitlines())
