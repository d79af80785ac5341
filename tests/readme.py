"""The README's shell blocks, for the tests that run them. A test takes its block with
``shell_block(phrase)`` (the one block holding that phrase); tests/test_readme_shell.py checks
that every block was taken, so a block added to the README without a test fails the suite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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


def lines_of(block: str) -> list[str]:
    """The block's commands, comments and blank lines left out."""
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


@dataclass
class Output:
    """What a started script has printed so far (stdout and stderr, line by line)."""

    lines: list[str] = field(default_factory=list)
    ended: bool = False
    grew: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, done: Callable[[str], bool], within_s: float = 180) -> None:
        """Until a line for which ``done`` holds has been printed."""
        async with asyncio.timeout(within_s):
            while not any(done(line) for line in self.lines):
                assert not self.ended, "ended before the line awaited"
                self.grew.clear()
                await self.grew.wait()


@asynccontextmanager
async def started(script: str, env: dict[str, str]) -> AsyncIterator[Output]:
    """``script`` in bash, in a process group of its own (make and all it starts); the group
    gets SIGTERM afterwards. Its output is read all along, so it never blocks on a full pipe."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output = Output()

    async def drain(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            output.lines.append(line.decode().rstrip("\n"))
            output.grew.set()
        output.ended = True
        output.grew.set()

    assert process.stdout is not None
    reader = asyncio.create_task(drain(process.stdout))
    try:
        yield output
    except BaseException:
        print("\n".join(output.lines[-60:]))  # shown with the failure
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # as Ctrl-C reaches everything it started
        await asyncio.wait_for(process.wait(), 30)
        await _ended(process.pid)
        await asyncio.wait_for(reader, 10)


async def _ended(group: int, within_s: float = 15) -> None:
    """Until no process of ``group`` is left; what is still there after ``within_s`` (a gateway
    worker that outlived its master, say) gets SIGKILL."""
    for _ in range(int(within_s * 10)):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
