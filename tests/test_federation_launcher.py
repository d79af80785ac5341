"""The launcher behind ``mlgraph federation up`` names the part it waits for, and a part that
cannot start is reported by name with the end of its log (here: its port is taken)."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from mlgraph.federated.launcher import StartFailed, federation
from mlgraph.federated.layout import load_layout
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


async def test_a_subgraph_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    layout = load_layout(ROOT)
    first = layout.subgraphs[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")}
    env["MLGRAPH_DATA_DIR"] = str(tmp_path / "data")
    said: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = {s.name: free_port() for s in layout.subgraphs} | {first.name: busy}
        with pytest.raises(StartFailed) as failed:
            async with federation(
                layout,
                tmp_path / "run",
                env=env,
                ports=ports,
                gateway_port=free_port(),
                say=said.append,
            ):
                pytest.fail("the topology started on a taken port")
    assert said[0] == f"waiting for subgraph {first.name} at http://127.0.0.1:{busy}/readyz"
    assert re.match(rf"subgraph {first.name} exited with status \d+:\n", str(failed.value))
    assert "address already in use" in str(failed.value)
    assert (tmp_path / "run" / f"{first.name}.log").is_file()
