"""Pipeline edges: dependencies between nodes forming a DAG, locked with the nodes they lead to.

* every edge names two of the pipeline's nodes (NOT_FOUND at ``edges.<i>.from|to``), once
  (INVALID); the edges form no cycle, a self-loop included (CYCLE);
* ``updatePipelineNodes`` keeps the edges when it is given none (they must still name nodes);
* the edges into a locked node cannot be added or removed (LOCKED); the edges out of it can;
* a refusal writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlgraph.ids import encode_global_id as gid
from tests import factories as f
from tests.conftest import Backend
from tests.writes import codes, mutate, written

NODES = [{"id": n, "kind": "step"} for n in ("extract", "train", "evaluate")]
CHAIN = [{"from": "extract", "to": "train"}, {"from": "train", "to": "evaluate"}]
SELECTION = "pipeline { nodes edges revision }"


async def _project(db: Backend) -> str:
    p = f.project()
    await f.save(db.sessions, p)
    return gid("Project", p.id)


async def _pipeline(db: Backend, edges: list[dict[str, str]] = CHAIN) -> dict[str, Any]:
    project = await _project(db)
    input = {"projectId": project, "name": "etl", "nodes": NODES, "edges": edges}
    made = await mutate(db, "createPipeline", input, "pipeline { id edges }")
    assert made["userErrors"] == []
    pipeline: dict[str, Any] = made["pipeline"]
    return pipeline


async def test_edges_are_stored_in_order_and_read_back(db: Backend) -> None:
    pipeline = await _pipeline(db)
    assert pipeline["edges"] == CHAIN
    query = "query($id: ID!) { node(id: $id) { ... on Pipeline { edges } } }"
    assert (await db.data(query, {"id": pipeline["id"]}))["node"]["edges"] == CHAIN


@pytest.mark.parametrize(
    ("edges", "problems"),
    [
        (
            [*CHAIN, {"from": "evaluate", "to": "extract"}],
            [("CYCLE", ["input", "edges"])],
        ),
        ([{"from": "train", "to": "train"}], [("CYCLE", ["input", "edges"])]),
        (
            [{"from": "nope", "to": "train"}, {"from": "train", "to": "gone"}],
            [
                ("NOT_FOUND", ["input", "edges", "0", "from"]),
                ("NOT_FOUND", ["input", "edges", "1", "to"]),
            ],
        ),
        ([CHAIN[0], CHAIN[0]], [("INVALID", ["input", "edges", "1"])]),
        (
            [{"from": "extract", "to": "train"}] * 1001,
            [("LIMIT_EXCEEDED", ["input", "edges"])],
        ),
    ],
    ids=["cycle", "self-loop", "unknown-node", "twice", "too-many"],
)
async def test_edges_that_are_no_dag_are_refused_and_write_nothing(
    db: Backend, edges: list[dict[str, str]], problems: list[tuple[str, list[str]]]
) -> None:
    project = await _project(db)
    before = await written(db)
    input = {"projectId": project, "name": "etl", "nodes": NODES, "edges": edges}
    refused = await mutate(db, "createPipeline", input, "pipeline { id }")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == problems
    assert refused["pipeline"] is None
    assert await written(db) == before


async def test_an_update_keeps_the_edges_unless_it_gives_new_ones(db: Backend) -> None:
    pipeline = await _pipeline(db)
    pid = pipeline["id"]
    kept = await mutate(db, "updatePipelineNodes", {"pipelineId": pid, "nodes": NODES}, SELECTION)
    assert kept["pipeline"]["edges"] == CHAIN
    # dropping a node the kept edges name is refused: say what the edges become
    fewer = NODES[:2]
    refused = await mutate(
        db, "updatePipelineNodes", {"pipelineId": pid, "nodes": fewer}, SELECTION
    )
    assert codes(refused) == ["NOT_FOUND"]
    new = {"pipelineId": pid, "nodes": fewer, "edges": CHAIN[:1]}
    changed = await mutate(db, "updatePipelineNodes", new, SELECTION)
    assert changed["pipeline"]["edges"] == CHAIN[:1]
    cycle = {
        "pipelineId": pid,
        "nodes": fewer,
        "edges": [*CHAIN[:1], {"from": "train", "to": "extract"}],
    }
    assert codes(await mutate(db, "updatePipelineNodes", cycle, SELECTION)) == ["CYCLE"]


async def test_the_edges_into_a_locked_node_are_locked_with_it(db: Backend) -> None:
    pipeline = await _pipeline(db)
    pid = pipeline["id"]
    locked = await mutate(
        db, "lockPipelineNodes", {"pipelineId": pid, "nodeIds": ["train"]}, SELECTION
    )
    assert locked["userErrors"] == []
    before = await written(db)
    for edges in (
        CHAIN[1:],  # removes extract -> train, an input of train
        [CHAIN[0], {"from": "evaluate", "to": "train"}],  # adds an input to train
    ):
        input = {"pipelineId": pid, "nodes": NODES, "edges": edges}
        refused = await mutate(db, "updatePipelineNodes", input, SELECTION)
        assert codes(refused) == ["LOCKED"], edges
    assert await written(db) == before
    # an edge out of the locked node belongs to the node it leads to
    out = {"pipelineId": pid, "nodes": NODES, "edges": CHAIN[:1]}
    done = await mutate(db, "updatePipelineNodes", out, SELECTION)
    assert done["userErrors"] == []
    assert done["pipeline"]["edges"] == CHAIN[:1]
