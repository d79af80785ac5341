"""Reading the graph on the demo data: every entity by node(id), relations, filters, orders."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from mlgraph.ids import encode_global_id
from mlgraph.storage import models as m
from mlgraph.storage.enums import RiskTier, Stage
from mlgraph.storage.graph import ENTITIES
from tests import factories as f
from tests.conftest import Backend


@pytest.fixture
async def demo(db: Backend) -> Backend:
    await f.demo(db)
    await f.api_keys_for_all_projects(db.sessions)
    return db


async def rows(db: Backend, model: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        return list((await s.scalars(select(model).where(*where))).all())


async def test_dashboard_query_answers_the_whole_screen(
    demo: Backend, dashboard_query: str
) -> None:
    data = (await demo.data(dashboard_query))["projects"]
    projects = await rows(demo, m.Project)
    assert data["totalCount"] == len(projects)
    assert [p["name"] for p in data["nodes"]] == sorted(p.name for p in projects)[:20]
    for project in data["nodes"]:
        assert 0 < len(project["pipelines"]["nodes"]) <= 5
        for pipeline in project["pipelines"]["nodes"]:
            assert len(pipeline["runs"]["nodes"]) <= 3
        for model in project["models"]["nodes"]:
            assert 0 < len(model["versions"]["nodes"]) <= 3
    drift = [
        metric
        for p in data["nodes"]
        for mdl in p["models"]["nodes"]
        for v in mdl["versions"]["nodes"]
        for d in v["deployments"]["nodes"]
        for metric in d["driftMetrics"]["nodes"]
    ]
    assert drift
    assert any(m["detected"] for m in drift)


async def test_latest_runs_are_newest_first(demo: Backend) -> None:
    query = """{ projects(first: 1) { nodes { pipelines(first: 5) { nodes {
        runs(first: 3) { nodes { createdAt } } } } } } }"""
    pipelines = (await demo.data(query))["projects"]["nodes"][0]["pipelines"]["nodes"]
    for pipeline in pipelines:
        times = [r["createdAt"] for r in pipeline["runs"]["nodes"]]
        assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("type_name", sorted(ENTITIES))
async def test_node_resolves_every_entity_type(demo: Backend, type_name: str) -> None:
    [row, *_] = await rows(demo, ENTITIES[type_name].model)
    gid = encode_global_id(type_name, row.id)
    data = await demo.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": gid})
    assert data["node"] == {"__typename": type_name, "id": gid}


async def test_nodes_keeps_order_and_nulls_missing(demo: Backend) -> None:
    [model, *_] = await rows(demo, m.Model)
    [project, *_] = await rows(demo, m.Project)
    missing = encode_global_id("Model", project.id)  # a real uuid, but not of a model
    ids = [encode_global_id("Project", project.id), missing, encode_global_id("Model", model.id)]
    data = await demo.data(
        """query($ids: [ID!]!) { nodes(ids: $ids) { __typename
            ... on Project { slug } ... on Model { name } } }""",
        {"ids": ids},
    )
    assert data["nodes"] == [
        {"__typename": "Project", "slug": project.slug},
        None,
        {"__typename": "Model", "name": model.name},
    ]


async def test_ids_are_opaque_base64(demo: Backend) -> None:
    data = await demo.data("{ projects(first: 1) { nodes { id } } }")
    raw = base64.b64decode(data["projects"]["nodes"][0]["id"]).decode()
    assert raw.startswith("Project:")


async def test_federation_entities_resolve_through_loaders(demo: Backend) -> None:
    [model, *_] = await rows(demo, m.Model)
    data = await demo.data(
        """query($r: [_Any!]!) { _entities(representations: $r) { ... on Model { name } } }""",
        {"r": [{"__typename": "Model", "id": encode_global_id("Model", model.id)}]},
    )
    assert data["_entities"] == [{"name": model.name}]


async def test_model_search_filters(demo: Backend) -> None:
    models = await rows(demo, m.Model)
    versions = await rows(demo, m.ModelVersion)
    query = """query($f: ModelFilter) { models(first: 100, filter: $f) {
        totalCount nodes { name tags riskTier } } }"""

    async def names(f: dict[str, Any]) -> set[str]:
        conn = (await demo.data(query, {"f": f}))["models"]
        assert conn["totalCount"] == len(conn["nodes"])
        return {n["name"] for n in conn["nodes"]}

    sample = models[0]
    needle = sample.name[1:4].upper()
    assert await names({"nameContains": needle}) == {
        x.name for x in models if needle.lower() in x.name.lower()
    }
    tag = sample.tags[0]
    assert await names({"tags": [tag]}) == {x.name for x in models if tag in x.tags}
    both = sample.tags[:2]
    assert await names({"tags": both}) == {x.name for x in models if set(both) <= set(x.tags)}
    assert await names({"riskTier": ["HIGH"]}) == {
        x.name for x in models if x.risk_tier is RiskTier.HIGH
    }
    in_prod = {v.model_id for v in versions if v.stage is Stage.PRODUCTION}
    assert await names({"stage": ["PRODUCTION"]}) == {x.name for x in models if x.id in in_prod}
    assert await names({"nameContains": "%"}) == {x.name for x in models if "%" in x.name}


async def test_deployment_and_alert_filters(demo: Backend) -> None:
    deployments = await rows(demo, m.Deployment)
    alerts = await rows(demo, m.Alert)
    data = await demo.data(
        """{ deployments(first: 100, filter: {environment: [PRODUCTION], status: [ACTIVE]}) {
              totalCount nodes { environment status } }
            alerts(first: 100, filter: {severity: [CRITICAL], status: [FIRING, ACKNOWLEDGED]}) {
              totalCount nodes { severity status } } }"""
    )
    assert data["deployments"]["totalCount"] == sum(
        1 for d in deployments if d.environment == "PRODUCTION" and d.status == "ACTIVE"
    )
    assert all(
        n == {"environment": "PRODUCTION", "status": "ACTIVE"} for n in data["deployments"]["nodes"]
    )
    assert data["alerts"]["totalCount"] == sum(
        1 for a in alerts if a.severity == "CRITICAL" and a.status in ("FIRING", "ACKNOWLEDGED")
    )


async def test_audit_entry_filters_and_entity(demo: Backend) -> None:
    entries = sorted(await rows(demo, m.AuditEntry), key=lambda e: e.seq)
    target = next(e for e in entries if e.entity_type == "ModelVersion")
    gid = encode_global_id("ModelVersion", target.entity_id)
    query = """query($f: AuditEntryFilter) { auditEntries(first: 100, filter: $f) {
        totalCount nodes { seq actor action entity { __typename id } } } }"""
    by_entity = (await demo.data(query, {"f": {"entityId": gid}}))["auditEntries"]
    assert by_entity["totalCount"] == sum(1 for e in entries if e.entity_id == target.entity_id)
    assert all(n["entity"] == {"__typename": "ModelVersion", "id": gid} for n in by_entity["nodes"])
    by_actor = await demo.data(query, {"f": {"actor": target.actor, "action": target.action}})
    assert by_actor["auditEntries"]["totalCount"] == sum(
        1 for e in entries if e.actor == target.actor and e.action == target.action
    )
    middle = entries[len(entries) // 2].created_at
    window = {
        "createdAfter": middle.isoformat(),
        "createdBefore": entries[-1].created_at.isoformat(),
    }
    in_window = (await demo.data(query, {"f": window}))["auditEntries"]
    assert in_window["totalCount"] == sum(
        1 for e in entries if middle <= e.created_at < entries[-1].created_at
    )
    seqs = [n["seq"] for n in in_window["nodes"]]
    assert seqs == sorted(seqs, reverse=True)


async def test_lineage_parents_and_children_agree(demo: Backend) -> None:
    edges = await rows(demo, m.ModelVersionLineage)
    edge = edges[0]
    query = """query($id: ID!) { node(id: $id) { ... on ModelVersion {
        parents { nodes { id } } children { nodes { id } } } } }"""
    child = await demo.data(query, {"id": encode_global_id("ModelVersion", edge.child_id)})
    parent = await demo.data(query, {"id": encode_global_id("ModelVersion", edge.parent_id)})
    assert encode_global_id("ModelVersion", edge.parent_id) in [
        n["id"] for n in child["node"]["parents"]["nodes"]
    ]
    assert encode_global_id("ModelVersion", edge.child_id) in [
        n["id"] for n in parent["node"]["children"]["nodes"]
    ]


async def test_traffic_split_and_to_one_relations(demo: Backend) -> None:
    data = await demo.data(
        """{ deployments(first: 100, filter: {strategy: [CANARY]}) { nodes {
              model { name } project { slug }
              targets { trafficPercent version { model { name } } } } } }"""
    )
    canaries = data["deployments"]["nodes"]
    assert canaries
    for d in canaries:
        assert sum(t["trafficPercent"] for t in d["targets"]) <= 100
        assert {t["version"]["model"]["name"] for t in d["targets"]} <= {d["model"]["name"]}
    assert any(len(d["targets"]) > 1 for d in canaries)


async def test_project_by_slug_and_viewer(demo: Backend) -> None:
    [project, *_] = await rows(demo, m.Project)
    data = await demo.data(
        """query($s: String!) { project(slug: $s) { name members { totalCount } }
                               missing: project(slug: "no-such-project") { name }
                               viewer { principalId isPlatformAdmin } }""",
        {"s": project.slug},
    )
    assert data["project"]["name"] == project.name
    assert data["project"]["members"]["totalCount"] > 0
    assert data["missing"] is None
    assert data["viewer"]["isPlatformAdmin"] is True
