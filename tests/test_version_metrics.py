"""Searching and ordering model versions by a metric: ``filter: {metrics: [{name, gte...}]}``
and ``orderBy: {field: METRIC, metric: "auc"}``, on both read paths with the same bytes, with
ties broken on id, versions without the metric last, cursors that page through the whole
order, and nothing of a project the caller cannot see."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mlgraph.app import create_app
from mlgraph.storage import models as m
from mlgraph.storage.enums import Role
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop, truncate

VIEWER = "metrics-viewer@example.com"

VERSIONS = """
query($model: ID!, $first: Int, $after: String, $last: Int, $before: String,
      $order: ModelVersionOrder, $filter: ModelVersionFilter) {
  node(id: $model) { ... on Model {
    versions(first: $first, after: $after, last: $last, before: $before,
             orderBy: $order, filter: $filter) {
      totalCount
      edges { cursor node { version metrics } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    } } }
}
"""

SEARCH = """
query($first: Int, $after: String, $order: ModelVersionOrder, $filter: ModelVersionFilter) {
  modelVersions(first: $first, after: $after, orderBy: $order, filter: $filter) {
    totalCount
    edges { cursor node { version model { project { slug } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

#: auc of each version of project A's model (None: no auc; "x": not a number). Two ties.
AUC: dict[str, Any] = {
    "1.0.0": 0.81,
    "1.1.0": 0.93,
    "1.2.0": 0.93,
    "1.3.0": None,
    "1.4.0": 0.97,
    "1.5.0": "x",
    "1.6.0": 0.9,
    "1.7.0": 1,
}


class Paths:
    """One request asked of both read paths (PostgreSQL), or of the one (SQLite)."""

    def __init__(self, db: Backend, twin: httpx.AsyncClient | None) -> None:
        self.db, self.twin = db, twin

    async def ask(
        self, query: str, variables: dict[str, Any], principal: str = ADMIN
    ) -> dict[str, Any]:
        headers = self.db.headers(principal, admin=principal == ADMIN)
        body = {"query": query, "variables": variables}
        assert self.db.client is not None
        first = await self.db.client.post("/graphql", json=body, headers=headers)
        if self.twin is not None:
            second = await self.twin.post("/graphql", json=body, headers=headers)
            assert second.headers["x-mlgraph-plan"] == "resolver"
            assert first.headers["x-mlgraph-plan"] == "compiled", first.text
            assert first.content == second.content, f"{first.text}\n{second.text}"
        answer: dict[str, Any] = json.loads(first.content)
        return answer


@pytest.fixture(scope="module")
async def seeded(backend: Backend) -> AsyncIterator[tuple[Paths, dict[str, str]]]:
    await truncate(backend)
    a, b = f.project(slug="metrics-a"), f.project(slug="metrics-b")
    ma, mb = f.model(a), f.model(b)
    rows: list[Any] = [a, b, ma, mb]
    ids = {"model": _gid("Model", ma.id), "other": _gid("Model", mb.id)}
    for version, auc in AUC.items():
        metrics = {"loss": 0.1} if auc is None else {"auc": auc, "loss": 0.2}
        rows.append(f.version(ma, version=version, metrics=metrics))
    rows.append(f.version(mb, version="9.0.0", metrics={"auc": 0.99}))
    await f.save(backend.sessions, *rows)
    async with backend.sessions() as s, s.begin():
        s.add(m.ProjectMember(project_id=a.id, principal_id=VIEWER, role=Role.VIEWER))
    if backend.name != "postgresql":
        yield Paths(backend, None), ids
        return
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    async with httpx.AsyncClient(base_url=url, timeout=30) as twin:
        yield Paths(backend, twin), ids
    await stop(server, task)


def _gid(type_name: str, pk: uuid.UUID) -> str:
    from mlgraph.ids import encode_global_id

    return encode_global_id(type_name, pk)


def _versions(answer: dict[str, Any]) -> list[str]:
    conn = answer["data"]["node"]["versions"]
    return [e["node"]["version"] for e in conn["edges"]]


async def test_metric_range_filter_keeps_versions_reporting_the_metric_within_bounds(
    seeded: tuple[Paths, dict[str, str]],
) -> None:
    paths, ids = seeded
    order = {"field": "VERSION", "direction": "ASC"}
    cases: list[tuple[list[dict[str, Any]], list[str]]] = [
        ([{"name": "auc", "gte": 0.9}], ["1.1.0", "1.2.0", "1.4.0", "1.6.0", "1.7.0"]),
        ([{"name": "auc", "gt": 0.9, "lt": 0.97}], ["1.1.0", "1.2.0"]),
        ([{"name": "auc", "lte": 0.9}], ["1.0.0", "1.6.0"]),
        ([{"name": "auc"}], ["1.0.0", "1.1.0", "1.2.0", "1.4.0", "1.6.0", "1.7.0"]),
        ([{"name": "auc", "gte": 0.9}, {"name": "loss", "lt": 0.15}], []),
        ([{"name": "loss", "lt": 0.15}], ["1.3.0"]),
        ([{"name": "f1", "gte": 0}], []),
    ]
    for ranges, expected in cases:
        variables = {"model": ids["model"], "order": order, "filter": {"metrics": ranges}}
        answer = await paths.ask(VERSIONS, variables)
        assert _versions(answer) == expected, ranges
        assert answer["data"]["node"]["versions"]["totalCount"] == len(expected)


async def test_order_by_metric_breaks_ties_on_id_puts_missing_last_and_pages_with_cursors(
    seeded: tuple[Paths, dict[str, str]],
) -> None:
    paths, ids = seeded
    numbered = sorted(
        (v for v, a in AUC.items() if isinstance(a, int | float)), key=AUC.__getitem__
    )
    missing = [v for v, a in AUC.items() if not isinstance(a, int | float)]
    for direction in ("ASC", "DESC"):
        order = {"field": "METRIC", "metric": "auc", "direction": direction}
        whole = await paths.ask(VERSIONS, {"model": ids["model"], "order": order, "first": 100})
        got = _versions(whole)
        ranked = numbered if direction == "ASC" else numbered[::-1]
        assert [AUC[v] for v in got[: len(ranked)]] == [AUC[v] for v in ranked]
        assert sorted(got[len(ranked) :]) == sorted(missing)  # without an auc: last
        # the ties (1.1.0 and 1.2.0 at 0.93) in id order, the same way as the direction
        edges = whole["data"]["node"]["versions"]["edges"]
        assert len(edges) == len(AUC)

        # forward two at a time, then backward two at a time: the same order, every row once
        forward: list[str] = []
        after = None
        while True:
            variables = {"model": ids["model"], "order": order, "first": 2, "after": after}
            conn = (await paths.ask(VERSIONS, variables))["data"]["node"]["versions"]
            forward += [e["node"]["version"] for e in conn["edges"]]
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        assert forward == got
        backward: list[str] = []
        before = None
        while True:
            variables = {"model": ids["model"], "order": order, "last": 3, "before": before}
            conn = (await paths.ask(VERSIONS, variables))["data"]["node"]["versions"]
            backward = [e["node"]["version"] for e in conn["edges"]] + backward
            if not conn["pageInfo"]["hasPreviousPage"]:
                break
            before = conn["pageInfo"]["startCursor"]
        assert backward == got


async def test_ties_on_the_metric_are_ordered_by_id(
    seeded: tuple[Paths, dict[str, str]], backend: Backend
) -> None:
    paths, ids = seeded
    async with backend.sessions() as s:
        tied = sorted(
            (r.id, r.version)
            for r in (await s.execute(m.ModelVersion.__table__.select())).all()
            if r.version in ("1.1.0", "1.2.0")
        )
    expected = [v for _, v in tied]
    for direction, want in (("ASC", expected), ("DESC", expected[::-1])):
        order = {"field": "METRIC", "metric": "auc", "direction": direction}
        variables = {
            "model": ids["model"],
            "order": order,
            "filter": {"metrics": [{"name": "auc", "gte": 0.93, "lte": 0.93}]},
        }
        assert _versions(await paths.ask(VERSIONS, variables)) == want


async def test_search_across_projects_sees_only_the_callers_projects(
    seeded: tuple[Paths, dict[str, str]],
) -> None:
    paths, _ = seeded
    variables = {
        "first": 3,
        "order": {"field": "METRIC", "metric": "auc", "direction": "DESC"},
        "filter": {"metrics": [{"name": "auc", "gte": 0.95}]},
    }
    admin = (await paths.ask(SEARCH, variables))["data"]["modelVersions"]
    assert [e["node"]["version"] for e in admin["edges"]] == ["1.7.0", "9.0.0", "1.4.0"]
    assert admin["totalCount"] == 3
    mine = {**variables, "first": 1}
    viewer = (await paths.ask(SEARCH, mine, VIEWER))["data"]["modelVersions"]
    assert [e["node"]["version"] for e in viewer["edges"]] == ["1.7.0"]
    assert viewer["edges"][0]["node"]["model"]["project"]["slug"] == "metrics-a"
    assert viewer["totalCount"] == 2
    after = viewer["pageInfo"]["endCursor"]
    rest = (await paths.ask(SEARCH, {**mine, "after": after}, VIEWER))["data"]
    assert [e["node"]["version"] for e in rest["modelVersions"]["edges"]] == ["1.4.0"]
    assert rest["modelVersions"]["pageInfo"]["hasNextPage"] is False
    nobody = (await paths.ask(SEARCH, variables, "stranger@example.com"))["data"]
    assert nobody["modelVersions"] == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_bad_metric_arguments_are_coded_errors(seeded: tuple[Paths, dict[str, str]]) -> None:
    paths, ids = seeded
    db = paths.db
    cases: list[tuple[dict[str, Any], str]] = [
        ({"order": {"field": "METRIC", "direction": "ASC"}}, "orderBy.metric"),
        ({"order": {"field": "VERSION", "metric": "auc"}}, "orderBy.metric"),
        ({"filter": {"metrics": [{"name": ""}]}}, "filter.metrics.name"),
    ]
    for extra, field in cases:
        body = await db.gql(VERSIONS, {"model": ids["model"], **extra})
        assert body["data"] == {"node": None} or body["data"] is None
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert error["extensions"]["field"] == field
    # a cursor made under another order (by auc) is refused under this one (by loss)
    auc = {"field": "METRIC", "metric": "auc", "direction": "ASC"}
    page = await db.data(VERSIONS, {"model": ids["model"], "order": auc, "first": 1})
    cursor = page["node"]["versions"]["pageInfo"]["endCursor"]
    loss = {**auc, "metric": "loss"}
    body = await db.gql(VERSIONS, {"model": ids["model"], "order": loss, "after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == "after"
