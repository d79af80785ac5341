"""The README's blocks that start a topology or a benchmark: `make federation` (every subgraph
and the gateway), `make bench` at its smallest, and `make bench-writes` as dry runs. Apart from
tests/test_readme_shell.py so that the two run side by side under xdist."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from mlgraph.federated.layout import load_layout
from tests.conftest import PG_URL, drop_pg_database, free_port, require_postgres
from tests.readme import ROOT, bash, lines_of, shell_block, started
from tests.served import user_env

FEDERATION = shell_block("make federation")
BENCH = shell_block("make bench\n")
BENCH_WRITES = shell_block("make bench-writes\n")


# --- Federation: the topology -------------------------------------------------------------------


async def test_make_federation_serves_the_demo_through_the_gateway(tmp_path: Path) -> None:
    """`make federation` on the embedded default, with free ports (FEDERATION_ARGS, as the README
    says, instead of 4100-4107): it prints the header to paste, then every subgraph and the
    gateway, whose GraphiQL URL answers the demo's projects with that header."""
    [line] = lines_of(FEDERATION)
    assert line == "make federation"
    ports = " ".join(f"--port {s.name}={free_port()}" for s in load_layout(ROOT).subgraphs)
    gateway = free_port()
    args = f'FEDERATION_ARGS="--gateway-port {gateway} {ports}"'
    async with started(f"{line} {args}", user_env(MLGRAPH_DATA_DIR=str(tmp_path))) as output:
        url = f"http://127.0.0.1:{gateway}/graphql"
        gateway_up = f"gateway (GraphiQL): {url}"
        await output.wait_for(lambda printed: printed.startswith(gateway_up))
        [header] = [json.loads(p) for p in output.lines if p.startswith('{"Authorization"')]
        async with httpx.AsyncClient(headers=header, timeout=30) as client:
            body = (await client.post(url, json={"query": "{ projects { totalCount } }"})).json()
    assert body == {"data": {"projects": {"totalCount": 6}}}


# --- Benchmarks ---------------------------------------------------------------------------------

#: The smallest real `make bench`: one project, both read paths of mlgraph, 1 s of load each.
#: PostGraphile is left out (its first run downloads PostGraphile and Node 22 with npm) and so is
#: the federated peer (the `make federation` test starts that topology).
SMALL_BENCH = "--projects 1 --seconds 1 --warmup 1 --connections 2 --peers resolver-2w compiled"


def with_help(line: str) -> str:
    """A `make bench...` line as a dry run: the same target and arguments plus `--help`, so the
    bench script parses them (a wrong option or peer fails) and stops before measuring."""
    if "BENCH_ARGS=" in line:
        return re.sub(r'BENCH_ARGS="([^"]*)"', r'BENCH_ARGS="\1 --help"', line)
    return f"{line} BENCH_ARGS=--help"


async def test_make_bench_runs_small_and_its_other_lines_parse() -> None:
    """`make bench` for real at the smallest size, on a database of its own, comparing the rows
    of both read paths and printing their figures; its other lines as dry runs (`--help`)."""
    await require_postgres()
    database = f"mlgraph_test_bench_{uuid.uuid4().hex[:8]}"
    env = user_env()
    try:
        [first, *others] = lines_of(BENCH)
        assert first == "make bench"
        small = await bash(
            f'{first} BENCH_ARGS="--database {database} {SMALL_BENCH}"', env, limit_s=300
        )
        assert small.returncode == 0, small.stdout[-3000:] + small.stderr[-3000:]
    finally:
        await drop_pg_database(
            make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
        )
    out = small.stdout
    assert "same rows on every peer" in out
    for peer, plan in (("resolver-2w", "resolver"), ("compiled", "compiled")):  # req/s printed
        assert re.search(rf"^\| {peer} \| {plan} \| \d+ \| [\d.]+ \|", out, flags=re.M), out
    for line in others:
        command = with_help(line) if line.startswith("make ") else line
        done = await bash(command, env)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert "usage: compare.py" in done.stdout


async def test_make_bench_writes_lines_parse() -> None:
    """Dry runs only (`--help`): a real run initialises pgbench's TPC-B tables at scale 10 (a
    million rows; not settable) and seeds ten projects, more than this suite's budget allows."""
    for line in lines_of(BENCH_WRITES):
        done = await bash(with_help(line), user_env())
        assert done.returncode == 0, f"{line}: {done.stderr}"
        assert "usage: writes.py" in done.stdout
