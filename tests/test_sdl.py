"""The checked-in SDL is what the code builds."""

from __future__ import annotations

from pathlib import Path

from mlgraph.schema import build_schema

SDL = Path(__file__).resolve().parent.parent / "graphql" / "schema.graphql"


def test_checked_in_sdl_matches_the_code() -> None:
    assert SDL.read_text() == build_schema().as_str() + "\n", (
        "graphql/schema.graphql is out of date: run `make schema` (or `mlgraph schema`)"
    )


def test_every_type_field_and_argument_is_documented() -> None:
    schema = build_schema()._schema
    missing = []
    builtin = {"String", "Int", "Float", "Boolean", "ID"}
    for name, gql_type in schema.type_map.items():
        if name.startswith(("_", "link__")) or name in builtin:
            continue  # GraphQL's and Apollo Federation's own types
        if not gql_type.description:
            missing.append(name)
        for field_name, field in getattr(gql_type, "fields", {}).items():
            if field_name.startswith("_"):
                continue
            if not field.description:
                missing.append(f"{name}.{field_name}")
            for arg_name, arg in getattr(field, "args", {}).items():
                if not arg.description:
                    missing.append(f"{name}.{field_name}({arg_name})")
    assert not missing, missing
