"""The README's shell blocks, for the tests that run them. A test takes its block with
``shell_block(phrase)`` (the one block holding that phrase); tests/test_readme_shell.py checks
that every block was taken, so a block added to the README without a test fails the suite."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SH = re.compile(r"^( *)```sh\n(.*?)^\1```", flags=re.S | re.M)
#: The blocks taken so far (by the test modules imported).
TAKEN: set[str] = set()


def shell_blocks() -> list[str]:
    """Every ```sh block of the README, dedented, in order."""
    return [textwrap.dedent(m.group(2)) for m in SH.finditer(README)]


def shell_block(phrase: str) -> str:
    """The one shell block that holds ``phrase``; noted as taken."""
    found = [b for b in shell_blocks() if phrase in b]
    assert len(found) == 1, f"{len(found)} README shell blocks hold {phrase!r}"
    TAKEN.add(found[0])
    return found[0]


def user_env(**settings: str) -> dict[str, str]:
    """A user's shell: this environment without the developer's MLGRAPH_ settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGRAPH_")}
    return env | settings


async def bash(
    script: str, env: dict[str, str], *, cwd: Path = ROOT, limit_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as a user pastes it (bash, errexit and pipefail on), in the checkout."""
    return await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=limit_s,
        check=False,
    )
