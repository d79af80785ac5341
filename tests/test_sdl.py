"""The checked-in SDL is what the code builds."""

from __future__ import annotations

from pathlib import Path

from mlgraph.schema import build_schema

SDL = Path(__file__).resolve().parent.parent / "graphql" / "schema.graphql"


def test_checked_in_sdl_matches_the_code() -> None:
    assert SDL.read_text() == build_schema().as_str() + "\n", (
        "graphql/schema.graphql is out of date: run `make schema` (or `mlgraph schema`)"
    )
