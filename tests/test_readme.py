"""The README's example queries run against the demo data and find something."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mlgraph.seed import seed_demo
from tests.conftest import Backend

README = Path(__file__).resolve().parent.parent / "README.md"
EXAMPLES = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.S)


def leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 0 if value is None else 1


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
async def test_readme_example_runs_on_demo_data(db: Backend, index: int) -> None:
    await seed_demo(db.sessions)
    data = await db.data(EXAMPLES[index])
    assert leaves(data) > 10, data
