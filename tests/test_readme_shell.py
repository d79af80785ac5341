"""Every shell block of the README runs here or in the test module named beside it, as a user
pastes it: bash in the checkout, with only the settings the README names (a free port, a data
dir of the test's own). Long-running commands get small sizes; a block that cannot run here is
marked so in the README, and its test says why."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import click
import httpx
import pytest

import tests.test_objects
import tests.test_persisted
import tests.test_readme
import tests.test_readme_make
from mlgraph.auth.local_issuer import issue_token
from mlgraph.cli import main as mlgraph_cli
from mlgraph.federated.plumbing import graph_sdl
from mlgraph.settings import Settings
from tests.conftest import ADMIN, free_port
from tests.readme import ROOT, TAKEN, bash, lines_of, shell_block, shell_blocks, started
from tests.s3_server import moto_server
from tests.served import user_env

TOP = shell_block("make run    #")
S3 = shell_block("MLGRAPH_OBJECT_STORE=s3")
COMMANDS = shell_block("mlgraph db upgrade ")
COMPOSE = shell_block("docker-compose config")
SUPERGRAPH = shell_block("make supergraph")
#: The test modules that run the other blocks (the write walkthrough, the upload, the compiled
#: path's curl: tests/test_readme.py; the curl PUT and examples/upload.sh: tests/test_objects.py;
#: make federation, make bench, make bench-writes: tests/test_readme_make.py; the persisted
#: queries' curl: tests/test_persisted.py).
ELSEWHERE = (tests.test_readme, tests.test_objects, tests.test_readme_make, tests.test_persisted)
#: The bin directory of this interpreter: the checkout's .venv/bin in `make test`.
VENV_BIN = Path(sys.executable).parent


def test_every_shell_block_is_run_by_a_test() -> None:
    assert all(module.__name__ for module in ELSEWHERE)  # imported: their blocks are taken
    untaken = [b for b in shell_blocks() if b not in TAKEN]
    assert untaken == [], "README shell blocks no test runs (take them with shell_block)"
    assert len(shell_blocks()) >= 10  # the pattern finds them


# --- make run / make test -----------------------------------------------------------------


async def test_make_run_serves_and_moves_the_demo_on_the_port_it_is_given(tmp_path: Path) -> None:
    """`make run`, with the one setting the README says moves everything (MLGRAPH_PORT; a free
    port here): migrated, seeded, every printed URL on that port, the dashboard and GraphiQL
    served, and the simulator printing its first action against it."""
    [make_run] = [line for line in lines_of(TOP) if line.startswith("make run")]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = user_env(MLGRAPH_DATA_DIR=str(tmp_path), MLGRAPH_PORT=str(port))
    async with started(make_run, env) as output:
        action = re.compile(r"^\d\d:\d\d:\d\d [a-z-]+: ")
        await output.wait_for(lambda line: bool(action.match(line)))
        async with httpx.AsyncClient(base_url=url) as client:
            for path in ("/", "/graphql"):
                page = await client.get(path, headers={"accept": "text/html"})
                assert page.status_code == 200, path
    lines = output.lines
    assert f"dashboard: {url}/" in lines
    assert any(line.startswith(f"GraphiQL:  {url}/graphql  signed in") for line in lines)
    assert f"simulating against {url} (Ctrl-C to stop)" in lines
    assert any(line.startswith("seeded") for line in lines)


def test_make_test_is_what_ci_runs() -> None:
    """`make test` is this suite: run inside it, it would run itself. CI runs it (.ci/run), and
    this holds that to be so."""
    assert "make test" in lines_of(TOP)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == "make test"


# --- S3 ---------------------------------------------------------------------------------------


async def test_the_s3_example_serves_objects_from_the_bucket(tmp_path: Path) -> None:
    """The "To use S3" block against moto's S3 server in MinIO's place (the README's endpoint
    swapped for moto's; the bucket made first, as the README says it must be). The database is
    migrated and seeded with those settings first, so the demo's job logs go to the bucket, and
    the server hands out their URLs from there."""
    port = free_port()
    env = user_env(MLGRAPH_DATA_DIR=str(tmp_path), MLGRAPH_PORT=str(port))
    with moto_server(free_port()) as moto:
        async with httpx.AsyncClient() as client:
            assert (await client.put(f"{moto}/mlgraph")).status_code == 200  # the bucket
        block = S3.replace("http://127.0.0.1:9000", moto)
        exports, _, serve = block.rpartition("\n.venv/bin/mlgraph serve")
        assert serve == "\n"
        prepared = await bash(
            f"{exports}\n.venv/bin/mlgraph db upgrade\n.venv/bin/mlgraph seed --demo", env
        )
        assert prepared.returncode == 0, prepared.stderr
        async with started(block, env) as output:
            await output.wait_for(lambda line: "Uvicorn running on" in line)
            settings = Settings(data_dir=tmp_path)
            admin = issue_token(settings, subject=ADMIN, roles=settings.oidc_admin_roles[:1])
            headers = {"Authorization": f"Bearer {admin}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                ready = await client.get("/readyz")
                assert ready.json()["checks"]["objectStore"] == "ok"
                body = await client.post("/graphql", headers=headers, json={"query": LOGS})
                [project] = body.json()["data"]["projects"]["nodes"]
                runs = project["pipelines"]["nodes"][0]["runs"]["nodes"]
                logs = [r["logsUrl"] for r in runs if r["logsUrl"] is not None]
                assert logs
                assert logs[0].startswith(f"{moto}/mlgraph/projects/")
                assert " started\n" in (await client.get(logs[0])).text


LOGS = """{ projects(first: 1) { nodes { pipelines(first: 1) { nodes {
  runs(first: 5) { nodes { logsUrl } } } } } } }"""


# --- Commands ---------------------------------------------------------------------------------

#: Commands that serve until stopped: their options are checked here; they run for real in the
#: `make run` test (`serve --simulate`), tests/test_demo_simulate.py (`demo simulate` against a
#: server) and the `make federation` test in tests/test_readme_make.py (`federation up`).
UNTIL_STOPPED = {("serve",), ("demo", "simulate"), ("federation", "up")}
#: The block's placeholders, filled in: a small bulk seed, a real file, a real user. `schema`
#: runs with its `--check`: without it, it would rewrite the checkout's SDL files.
FILLED = {
    "mlgraph seed --projects 50": "mlgraph seed --projects 1",
    "mlgraph schema [--check]": "mlgraph schema --check",
    "mlgraph token --user U [--role admin] [--header]": (
        "mlgraph token --user admin@example.com --role admin --header"
    ),
    "mlgraph explain FILE.graphql [--operation N] [--variables JSON]": (
        "mlgraph explain graphql/operations/dashboard.graphql"
    ),
}


def command_path(line: str) -> tuple[click.Command, tuple[str, ...]]:
    """The click command a line of the block names, and its path (``("demo", "simulate")``)."""
    words = line.split()
    assert words[0] == "mlgraph", line
    command: click.Command = mlgraph_cli
    path: list[str] = []
    for word in words[1:]:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return command, tuple(path)


def test_every_command_and_option_the_block_names_exists() -> None:
    for line in lines_of(COMMANDS):
        command, path = command_path(line)
        assert path, line
        assert not isinstance(command, click.Group), f"{line}: names a group, not a command"
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        named = set(re.findall(r"--[a-z-]+", line))
        assert named <= options, f"{line}: no {named - options}"


async def test_the_commands_that_finish_run_in_the_blocks_order(tmp_path: Path) -> None:
    """Each line of the Commands block but those that serve until stopped, in order, on a data
    dir of its own (the embedded default), each printing what it says it does."""
    env = user_env(MLGRAPH_DATA_DIR=str(tmp_path), PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    printed: dict[str, str] = {}
    for line in lines_of(COMMANDS):
        if command_path(line)[1] in UNTIL_STOPPED:
            continue
        command = FILLED.get(line, line)
        done = await bash(command, env)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        printed[command] = done.stdout
    assert "database at revision head" in printed["mlgraph db upgrade"]
    assert printed["mlgraph seed --demo"].startswith("seeded")
    # "skipped if projects exist; --force to add anyway", as the block says
    assert "nothing seeded (use --force)" in printed["mlgraph seed --projects 1"]
    forced = await bash("mlgraph seed --projects 1 --force", env)
    assert forced.stdout.startswith("seeded"), forced.stderr
    assert "up to date" in printed["mlgraph schema --check"]
    assert printed["mlgraph audit verify"].startswith("audit chain ok")
    header = json.loads(printed[FILLED["mlgraph token --user U [--role admin] [--header]"]])
    assert header["Authorization"].startswith("Bearer ")
    explained = printed[FILLED["mlgraph explain FILE.graphql [--operation N] [--variables JSON]"]]
    assert explained.startswith("plan: compiled")
    assert "resolver path (SQLite" in explained  # what this configuration would do instead


# --- docker-compose -----------------------------------------------------------------------------


def docker_compose() -> str:
    """Debian's docker-compose (which `make test` installs), or a failure saying how."""
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("needs docker-compose: `apt-get install docker-compose` (make test does)")
    return found


async def test_the_compose_files_validate_and_the_engine_commands_are_marked() -> None:
    """`docker-compose config` validates the file without a Docker engine; `up` needs one, which
    CI does not have, so those lines say so in the README."""
    docker_compose()
    for line in lines_of(COMPOSE):
        if " up" in line:
            full = next(raw for raw in COMPOSE.splitlines() if raw.startswith(line))
            assert "not run in CI" in full, full
            continue
        assert " config" in line, line
        done = await bash(line, user_env())
        assert done.returncode == 0, f"{line}: {done.stderr}"
    profiles = [line for line in lines_of(COMPOSE) if "config" in line]
    assert any("--profile federation" in line for line in profiles)


# --- Federation: composing ----------------------------------------------------------------------


def layout_copy(root: Path) -> Path:
    """What `make supergraph` and compose.mjs read, copied (node_modules linked), so that the
    block's writes land in the copy, not in the checkout."""
    root.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    (root / "federation").mkdir()
    for name in ("compose.mjs", "subgraphs.json", "package-lock.json"):  # copy2: make's stamps
        shutil.copy2(ROOT / "federation" / name, root / "federation" / name)
    (root / "federation" / "node_modules").symlink_to(ROOT / "federation" / "node_modules")
    shutil.copytree(ROOT / "graphql" / "subgraphs", root / "graphql" / "subgraphs")
    return root


async def test_the_composing_commands_run(tmp_path: Path) -> None:
    root = layout_copy(tmp_path / "checkout")
    env = user_env()
    done = {}
    for line in lines_of(SUPERGRAPH):
        done[line] = ran = await bash(line, env, cwd=root)
        assert ran.returncode == 0, f"{line}: {ran.stderr}"
    supergraph = (ROOT / "graphql" / "supergraph.graphql").read_text()
    assert (root / "graphql" / "supergraph.graphql").read_text() == supergraph
    [other_urls] = [out.stdout for line, out in done.items() if "--url registry=" in line]
    assert '@join__graph(name: "registry", url: "http://10.0.0.5:8000/graphql")' in other_urls
    [api_schema] = [out.stdout for line, out in done.items() if "--api-schema -" in line]
    assert graph_sdl(api_schema) == graph_sdl((ROOT / "graphql" / "schema.graphql").read_text())
