"""Impact and comparison: ``ModelVersion.downstream`` (transitive lineage, bounded depth, one
recursive statement, with the live deployments and open alerts of each derived version through
the declared relations) and ``Model.compareVersions`` (metrics side by side, the best by one);
neither shows anything of a project the caller cannot read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from mlgraph.app import create_app
from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import AlertStatus, DeploymentStatus, Operator, Role, Severity
from tests import factories as f
from tests.conftest import ADMIN, Backend, serve, stop

VIEWER = "impact-viewer@example.com"

DOWNSTREAM = """
query($id: ID!, $depth: Int) {
  node(id: $id) { ... on ModelVersion {
    downstream(maxDepth: $depth) {
      depth
      version {
        version
        model { project { slug } }
        deployments(filter: {status: [ACTIVE]}) {
          nodes { name alerts(filter: {status: [FIRING, ACKNOWLEDGED]}) { nodes { message } } }
        }
      }
    }
  } }
}
"""

COMPARE = """
query($model: ID!, $ids: [ID!]!, $metrics: [String!], $by: String, $lower: Boolean! = false) {
  node(id: $model) { ... on Model {
    compareVersions(ids: $ids, metrics: $metrics, bestBy: $by, lowerIsBetter: $lower) {
      metrics
      versions { version { version } metrics { name value } }
      best { version { version } metrics { name value } }
    }
  } }
}
"""


@dataclass
class Graph:
    """Versions by name, and their global ids."""

    versions: dict[str, m.ModelVersion] = field(default_factory=dict)
    models: dict[str, m.Model] = field(default_factory=dict)

    def id(self, name: str) -> str:
        return encode_global_id("ModelVersion", self.versions[name].id)

    def model_id(self, name: str) -> str:
        return encode_global_id("Model", self.models[name].id)


async def seed(db: Backend) -> Graph:
    """Project A: root -> a1 -> a2 -> a3 -> a4, root -> a5, a1 -> a5 (a diamond: a5 is at
    depth 1), a4 -> a1 (a cycle). Project B: root -> b1 -> a6 (a version of A reached only
    through B's). a1 is deployed (ACTIVE, a FIRING alert) and a2 twice (one RETIRED, one ACTIVE
    whose alert is RESOLVED). The viewer reads project A only."""
    a, b = f.project(slug="impact-a"), f.project(slug="impact-b")
    ma, mb = f.model(a, name="fraud"), f.model(b, name="other")
    g = Graph(models={"fraud": ma, "other": mb})
    rows: list[Any] = [a, b, ma, mb]
    for name, mdl, metrics in (
        ("root", ma, {"auc": 0.9, "loss": 0.3}),
        ("a1", ma, {"auc": 0.95, "loss": 0.2}),
        ("a2", ma, {"auc": 0.95, "loss": 0.25, "f1": 0.7}),
        ("a3", ma, {}),
        ("a4", ma, {"auc": 0.5}),
        ("a5", ma, {"auc": True}),
        ("a6", ma, {}),
        ("b1", mb, {"auc": 0.99}),
    ):
        g.versions[name] = f.version(mdl, version=f"1.0.{len(g.versions)}", metrics=metrics)
        rows.append(g.versions[name])
    d1 = f.deployment(ma, name="d1", status=DeploymentStatus.ACTIVE)
    d2 = f.deployment(ma, name="d2", status=DeploymentStatus.RETIRED)
    d3 = f.deployment(ma, name="d3", status=DeploymentStatus.ACTIVE)
    rows += [d1, d2, d3]
    for d, v in ((d1, "a1"), (d2, "a2"), (d3, "a2")):
        rows.append(
            m.DeploymentTarget(
                project_id=a.id,
                deployment_id=d.id,
                version_id=g.versions[v].id,
                traffic_percent=100.0,
            )
        )
    rule = m.AlertRule(
        id=uuid.uuid4(),
        project_id=a.id,
        name="r",
        metric="psi",
        operator=Operator.GT,
        threshold=0.2,
        severity=Severity.CRITICAL,
    )
    rows.append(rule)
    for d, status, message in (
        (d1, AlertStatus.FIRING, "d1 drifts"),
        (d3, AlertStatus.RESOLVED, "d3 drifted"),
    ):
        rows.append(
            m.Alert(
                project_id=a.id,
                rule_id=rule.id,
                deployment_id=d.id,
                severity=Severity.CRITICAL,
                status=status,
                message=message,
                value=0.4,
                fired_at=f.tick(),
            )
        )
    await f.save(db.sessions, *rows)
    edges = [
        ("root", "a1"),
        ("a1", "a2"),
        ("a2", "a3"),
        ("a3", "a4"),
        ("root", "a5"),
        ("a1", "a5"),
        ("a4", "a1"),
        ("root", "b1"),
        ("b1", "a6"),
    ]
    async with db.sessions() as s, s.begin():
        for parent, child in edges:
            await s.execute(
                insert(m.ModelVersionLineage).values(
                    parent_id=g.versions[parent].id,
                    child_id=g.versions[child].id,
                    project_id=g.versions[child].project_id,
                )
            )
        s.add(m.ProjectMember(project_id=a.id, principal_id=VIEWER, role=Role.VIEWER))
    return g


@pytest.fixture
async def twin(backend: Backend) -> AsyncIterator[httpx.AsyncClient | None]:
    """On PostgreSQL, a twin of the app with compiled reads off: every answer of ``ask`` is
    compared, byte for byte, with the resolver path's."""
    if backend.name != "postgresql":
        yield None
        return
    settings = backend.settings.model_copy(update={"compiled_reads": False})
    server, task, url = await serve(create_app(settings, engine=backend.engine))
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        TWIN.append(client)
        yield client
        TWIN.clear()
    await stop(server, task)


TWIN: list[httpx.AsyncClient] = []


async def ask(db: Backend, query: str, variables: dict[str, Any], who: str = ADMIN) -> Any:
    assert db.client is not None
    headers = db.headers(who, admin=who == ADMIN)
    body = {"query": query, "variables": variables}
    response = await db.client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    for twin in TWIN:
        resolver = await twin.post("/graphql", json=body, headers=headers)
        assert resolver.headers["x-mlgraph-plan"] == "resolver"
        assert response.content == resolver.content, f"{response.text}\n{resolver.text}"
    return response.json()


def _names(g: Graph, items: list[dict[str, Any]]) -> list[tuple[int, str]]:
    by_version = {v.version: n for n, v in g.versions.items()}
    return [(i["depth"], by_version[i["version"]["version"]]) for i in items]


async def test_downstream_walks_lineage_to_the_depth_asked_nearest_first(
    db: Backend, twin: httpx.AsyncClient | None
) -> None:
    g = await seed(db)
    body = await ask(db, DOWNSTREAM, {"id": g.id("root"), "depth": 10})
    items = body["data"]["node"]["downstream"]
    got = _names(g, items)
    # each version once at its nearest depth; the cycle a4 -> a1 adds nothing; newest first
    # within a depth (the versions were created in name order)
    assert got == [(1, "b1"), (1, "a5"), (1, "a1"), (2, "a6"), (2, "a2"), (3, "a3"), (4, "a4")]
    by_name = dict(zip([n for _, n in got], items, strict=True))
    live = by_name["a1"]["version"]["deployments"]["nodes"]
    assert live == [{"name": "d1", "alerts": {"nodes": [{"message": "d1 drifts"}]}}]
    live = by_name["a2"]["version"]["deployments"]["nodes"]
    assert live == [{"name": "d3", "alerts": {"nodes": []}}]  # d2 retired, d3's alert resolved

    shallow = await ask(db, DOWNSTREAM, {"id": g.id("root"), "depth": 1})
    assert _names(g, shallow["data"]["node"]["downstream"]) == [(1, "b1"), (1, "a5"), (1, "a1")]
    leaf = await ask(db, DOWNSTREAM, {"id": g.id("a5")})
    assert leaf["data"]["node"]["downstream"] == []


async def test_downstream_does_not_cross_into_projects_the_caller_cannot_read(
    db: Backend, twin: httpx.AsyncClient | None
) -> None:
    g = await seed(db)
    body = await ask(db, DOWNSTREAM, {"id": g.id("root"), "depth": 10}, VIEWER)
    got = _names(g, body["data"]["node"]["downstream"])
    # b1 (project B) is not shown, nor a6, which only b1 leads to
    assert got == [(1, "a5"), (1, "a1"), (2, "a2"), (3, "a3"), (4, "a4")]
    assert {
        i["version"]["model"]["project"]["slug"] for i in body["data"]["node"]["downstream"]
    } == {"impact-a"}
    other = await ask(db, DOWNSTREAM, {"id": g.id("b1")}, VIEWER)
    assert other["data"]["node"] is None
    stranger = await ask(db, DOWNSTREAM, {"id": g.id("root")}, "stranger@example.com")
    assert stranger["data"]["node"] is None


async def test_downstream_of_many_versions_is_a_fixed_number_of_statements(
    db: Backend, twin: httpx.AsyncClient | None
) -> None:
    """On the resolver path, one recursive statement for every version's walk, one page
    statement for the derived versions' live deployments and one for their open alerts, plus
    the model and its page of versions: the same for one version as for all of them. On the
    compiled path (PostgreSQL) the whole answer is one statement."""
    g = await seed(db)
    query = """
    query($model: ID!, $first: Int!) { node(id: $model) { ... on Model {
      versions(first: $first, orderBy: {field: CREATED_AT, direction: ASC}) {
        nodes { version downstream(maxDepth: 10) { depth version {
        deployments(filter: {status: [ACTIVE]}) { nodes { name
          alerts(filter: {status: [FIRING, ACKNOWLEDGED]}) { nodes { message } } } } } } } }
    } } }
    """
    assert db.client is not None
    clients = {"default": db.client, **({"resolver": twin} if twin else {})}
    counts: dict[str, dict[int, int]] = {name: {} for name in clients}
    headers = db.headers(ADMIN, admin=True)
    for name, client in clients.items():
        for first in (1, 7):
            variables = {"model": g.model_id("fraud"), "first": first}
            db.sql.start()
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            counts[name][first] = db.sql.stop()
            body = response.json()
            assert "errors" not in body, body
            assert len(body["data"]["node"]["versions"]["nodes"]) == first
    # resolver path: model, versions page, downstream, deployments page, alerts page
    compiled = db.name == "postgresql"
    assert counts["default"] == ({1: 1, 7: 1} if compiled else {1: 5, 7: 5})
    if twin is not None:
        assert counts["resolver"] == {1: 5, 7: 5}


@pytest.mark.parametrize("depth", [0, 11])
async def test_downstream_depth_outside_its_bounds_is_bad_user_input(
    db: Backend, depth: int
) -> None:
    g = await seed(db)
    body = await ask(db, DOWNSTREAM, {"id": g.id("root"), "depth": depth})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "maxDepth"


async def test_compare_versions_side_by_side_with_the_best_by_a_metric(db: Backend) -> None:
    g = await seed(db)
    ids = [g.id("root"), g.id("a1"), g.id("a2"), g.id("a5"), g.id("a1")]  # a1 twice: once
    body = await ask(db, COMPARE, {"model": g.model_id("fraud"), "ids": ids, "by": "auc"})
    cmp = body["data"]["node"]["compareVersions"]
    assert cmp["metrics"] == ["auc", "f1", "loss"]  # every metric reported, sorted
    table = {r["version"]["version"]: [x["value"] for x in r["metrics"]] for r in cmp["versions"]}
    v = {n: x.version for n, x in g.versions.items()}
    assert list(table) == [v["root"], v["a1"], v["a2"], v["a5"]]
    assert table[v["root"]] == [0.9, None, 0.3]
    assert table[v["a2"]] == [0.95, 0.7, 0.25]
    assert table[v["a5"]] == [None, None, None]  # true is not a number
    # a1 and a2 tie on auc 0.95: the smaller id wins
    winner = min((g.versions["a1"].id, "a1"), (g.versions["a2"].id, "a2"))[1]
    assert cmp["best"]["version"]["version"] == v[winner]

    lowest = await ask(
        db,
        COMPARE,
        {
            "model": g.model_id("fraud"),
            "ids": ids,
            "metrics": ["loss"],
            "by": "loss",
            "lower": True,
        },
    )
    cmp = lowest["data"]["node"]["compareVersions"]
    assert cmp["metrics"] == ["loss"]
    assert cmp["best"] == {
        "version": {"version": v["a1"]},
        "metrics": [{"name": "loss", "value": 0.2}],
    }
    nobody = await ask(db, COMPARE, {"model": g.model_id("fraud"), "ids": ids, "by": "f2"})
    assert nobody["data"]["node"]["compareVersions"]["best"] is None


async def test_compare_versions_refuses_versions_of_other_models_and_projects(
    db: Backend,
) -> None:
    g = await seed(db)
    model = g.model_id("fraud")
    cases = [
        ([g.id("a1"), g.id("b1")], "ids.1", "NOT_FOUND"),  # another project's model
        ([encode_global_id("ModelVersion", uuid.uuid4())], "ids.0", "NOT_FOUND"),
        ([g.model_id("fraud")], "ids.0", "BAD_USER_INPUT"),  # not a version id
        ([], "ids", "BAD_USER_INPUT"),
    ]
    for ids, where, code in cases:
        for who in (ADMIN, VIEWER):
            body = await ask(db, COMPARE, {"model": model, "ids": ids}, who)
            error = body["errors"][0]
            assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, where)
    # the viewer cannot tell B's version from one that does not exist; B's model is null
    body = await ask(db, COMPARE, {"model": g.model_id("other"), "ids": [g.id("b1")]}, VIEWER)
    assert body["data"]["node"] is None
