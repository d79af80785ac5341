"""Composition by Apollo's own library (``federation/compose.mjs``): the checked-in supergraph
is what the subgraph SDLs compose to, its API schema is the combined schema (federation
plumbing aside), and a broken subgraph fails composition with each error named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlgraph.federated.compose import CompositionError, compose, node_binary
from mlgraph.federated.layout import load_layout
from mlgraph.federated.plumbing import graph_sdl

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = load_layout(ROOT)


def test_checked_in_supergraph_is_what_the_subgraphs_compose_to(tmp_path: Path) -> None:
    compose(LAYOUT, out=tmp_path / "supergraph.graphql")
    assert (tmp_path / "supergraph.graphql").read_text() == LAYOUT.supergraph.read_text(), (
        "graphql/supergraph.graphql is stale: run `make supergraph` and commit it"
    )


def test_supergraph_api_schema_is_the_combined_schema(tmp_path: Path) -> None:
    api = tmp_path / "api.graphql"
    compose(LAYOUT, out=tmp_path / "supergraph.graphql", api_schema=api)
    combined = graph_sdl(LAYOUT.combined_sdl.read_text())
    assert graph_sdl(api.read_text()) == combined
    # The comparison sees the graph itself: the root fields, every type and description.
    assert '"""Any object by global ID; null if absent or not visible."""' in combined
    for plumbing in ("_entities", "_service", "_Any", "@key", "@link", "join__"):
        assert plumbing not in combined


def test_plumbing_is_the_only_difference_allowed(tmp_path: Path) -> None:
    api = tmp_path / "api.graphql"
    compose(LAYOUT, out=tmp_path / "supergraph.graphql", api_schema=api)
    changed = api.read_text().replace("type PageInfo {", "type PageInfo {\n  extra: Int", 1)
    assert graph_sdl(changed) != graph_sdl(LAYOUT.combined_sdl.read_text())


def _copy_of_layout(tmp_path: Path, subgraphs: dict[str, str]) -> Path:
    """A repository root with these subgraph SDLs (name -> SDL) and nothing else."""
    (tmp_path / "federation").mkdir()
    (tmp_path / "graphql" / "subgraphs").mkdir(parents=True)
    entries = {name: {"port": 4190 + i} for i, name in enumerate(subgraphs)}
    config = {"gateway": {"port": 4189}, "subgraphs": entries}
    (tmp_path / "federation" / "subgraphs.json").write_text(json.dumps(config))
    shutil.copy(ROOT / "federation" / "compose.mjs", tmp_path / "federation" / "compose.mjs")
    (tmp_path / "federation" / "node_modules").symlink_to(ROOT / "federation" / "node_modules")
    for name, sdl in subgraphs.items():
        (tmp_path / "graphql" / "subgraphs" / f"{name}.graphql").write_text(sdl)
    return tmp_path


LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\n'


def _run_compose(root: Path) -> subprocess.CompletedProcess[str]:
    argv = [node_binary(), str(root / "federation" / "compose.mjs")]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_conflicting_subgraphs_fail_with_each_error(tmp_path: Path) -> None:
    root = _copy_of_layout(
        tmp_path,
        {
            "a": LINK + 'type Query { version: String }\ntype Thing @key(fields: "id") { id: ID! }',
            "b": LINK + "type Query { version: Int }\ntype Other { id: ID! size: Int }",
        },
    )
    done = _run_compose(root)
    assert done.returncode == 1
    assert "composition error [INVALID_FIELD_SHARING]" in done.stderr
    assert '"Query.version"' in done.stderr
    assert not (root / "graphql" / "supergraph.graphql").exists()
    with pytest.raises(CompositionError, match="INVALID_FIELD_SHARING"):
        compose(load_layout(root), out=root / "graphql" / "supergraph.graphql")


def test_a_subgraph_that_does_not_parse_is_named(tmp_path: Path) -> None:
    root = _copy_of_layout(tmp_path, {"a": LINK + "type Query { ok: Int }", "b": "type Query {"})
    done = _run_compose(root)
    assert done.returncode == 1
    assert "graphql/subgraphs/b.graphql (subgraph b): Syntax Error" in done.stderr


def test_an_sdl_file_no_subgraph_lists_is_an_error(tmp_path: Path) -> None:
    root = _copy_of_layout(tmp_path, {"a": LINK + "type Query { ok: Int }"})
    (root / "graphql" / "subgraphs" / "stray.graphql").write_text(LINK + "type Query { no: Int }")
    done = _run_compose(root)
    assert done.returncode == 1
    assert "graphql/subgraphs/stray.graphql is not a subgraph in federation/subgraphs.json" in (
        done.stderr
    )


def test_check_fails_on_a_stale_supergraph(tmp_path: Path) -> None:
    root = _copy_of_layout(tmp_path, {"a": LINK + "type Query { ok: Int }"})
    assert _run_compose(root).returncode == 0
    argv = [node_binary(), str(root / "federation" / "compose.mjs"), "--check"]
    assert subprocess.run(argv, capture_output=True, check=False).returncode == 0
    (root / "graphql" / "subgraphs" / "a.graphql").write_text(
        LINK + "type Query { ok: Int, new: Int }"
    )
    stale = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "graphql/supergraph.graphql is stale" in stale.stderr
