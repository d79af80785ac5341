"""History as of any time: ``Model.aliasHistory``, ``ModelVersion.stageHistory``,
``Deployment.trafficHistory`` and ``asOf`` on ``Model.aliases``, ``Deployment.targets`` and
``ModelVersion.stage``, all read from the audit log, each answer linked to its audit entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from mlgraph.auth.principal import Principal
from mlgraph.compiled import Fallback, Planner
from mlgraph.loaders import Loaders
from mlgraph.schema import build_schema
from mlgraph.storage.history import ALIAS_MODEL_ID
from tests import factories as f
from tests.conftest import ADMIN, Backend
from tests.test_mut_registry import gid, pk, weights
from tests.writes import mutate

ALICE = "alice@example.com"
NOW = """query($model: ID!, $deployment: ID!) {
  model: node(id: $model) { ... on Model {
    aliases { id alias version { version } auditEntry { actor action } }
    versions(first: 10) { nodes { version stage } }
  } }
  deployment: node(id: $deployment) { ... on Deployment {
    targets { trafficPercent version { version } auditEntry { actor } }
  } }
}"""
AS_OF = """query($model: ID!, $deployment: ID!, $at: DateTime!) {
  model: node(id: $model) { ... on Model {
    aliases(asOf: $at) { id alias version { version } auditEntry { actor action } }
    versions(first: 10) { nodes { version stage(asOf: $at) } }
  } }
  deployment: node(id: $deployment) { ... on Deployment {
    targets(asOf: $at) { trafficPercent version { version } auditEntry { actor } }
  } }
}"""
LAST_ENTRY = """{ auditEntries(first: 1, orderBy: {field: SEQUENCE, direction: DESC}) {
  nodes { createdAt } } }"""


async def last_instant(db: Backend) -> str:
    data = await db.data(LAST_ENTRY)
    at: str = data["auditEntries"]["nodes"][0]["createdAt"]
    return at


async def ok(
    db: Backend, name: str, input: dict[str, Any], selection: str, who: str = ADMIN
) -> Any:
    payload = await mutate(db, name, input, selection, headers=db.headers(who, admin=True))
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def stage(db: Backend, version: str, to: str, who: str = ADMIN, reason: str = "") -> None:
    extra = {"reason": reason} if reason else {}
    await ok(
        db,
        "transitionModelVersion",
        {"versionId": version, "stage": to, **extra},
        "modelVersion { id }",
        who,
    )


async def build_history(db: Backend) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """A model with two versions, aliases moved, stages changed and traffic shifted, by two
    people; after each step, the instant and what the graph said then (without asOf)."""
    project = f.project()
    await f.save(db.sessions, project)
    model = (
        await ok(
            db,
            "registerModel",
            {"projectId": gid(project), "name": "churn", "riskTier": "LOW"},
            "model { id }",
        )
    )["model"]["id"]

    async def version(v: str) -> str:
        made = await ok(
            db, "createModelVersion", {"modelId": model, "version": v}, "modelVersion { id }"
        )
        vid: str = made["modelVersion"]["id"]
        await f.save(db.sessions, weights(pk(vid), project.id))
        return vid

    ids = {"model": model, "v1": await version("1.0.0")}
    seen: list[tuple[str, Any]] = []

    async def snapshot() -> None:
        at = await last_instant(db)
        data = await db.data(NOW, {"model": model, "deployment": ids.get("deployment", model)})
        seen.append((at, data))

    ids["v2"] = await version("1.1.0")
    await snapshot()  # 0: two DRAFT versions, latest -> 1.1.0, no deployment
    await stage(db, ids["v1"], "STAGING")
    await stage(db, ids["v1"], "PRODUCTION", who=ALICE, reason="offline eval passed")
    alias = {"modelId": model, "alias": "production", "versionId": ids["v1"]}
    await ok(db, "setModelAlias", {**alias, "reason": "first release"}, "model { id }", ALICE)
    made = await ok(
        db,
        "createDeployment",
        {
            "modelId": model,
            "name": "churn-prod",
            "environment": "PRODUCTION",
            "strategy": "CANARY",
            "versionId": ids["v1"],
        },
        "deployment { id }",
    )
    ids["deployment"] = made["deployment"]["id"]
    await snapshot()  # 1: 1.0.0 in PRODUCTION, production -> 1.0.0, 100% on 1.0.0
    await stage(db, ids["v2"], "STAGING")
    splits = [{"versionId": ids["v1"], "percent": 90}, {"versionId": ids["v2"], "percent": 10}]
    await ok(
        db,
        "shiftTraffic",
        {"deploymentId": ids["deployment"], "splits": splits},
        "deployment { id }",
        ALICE,
    )
    await ok(db, "setModelAlias", {**alias, "alias": "champion"}, "model { id }")
    await snapshot()  # 2: canary 90/10, champion -> 1.0.0
    await stage(db, ids["v2"], "PRODUCTION")
    await ok(
        db,
        "promoteDeployment",
        {"deploymentId": ids["deployment"], "versionId": ids["v2"]},
        "deployment { id }",
    )
    await ok(db, "setModelAlias", {**alias, "versionId": ids["v2"]}, "model { id }", ALICE)
    await snapshot()  # 3: 1.1.0 takes everything, production -> 1.1.0
    await ok(
        db,
        "removeModelAlias",
        {"modelId": model, "alias": "champion", "reason": "retired"},
        "model { id }",
    )
    await ok(
        db,
        "rollbackDeployment",
        {"deploymentId": ids["deployment"], "toVersionId": ids["v1"], "reason": "latency"},
        "deployment { id }",
    )
    await stage(db, ids["v2"], "STAGING", reason="rolled back")
    await snapshot()  # 4: champion gone, back on 1.0.0, 1.1.0 in STAGING again
    return ids, seen


async def test_as_of_each_instant_is_what_was_true_then(db: Backend) -> None:
    ids, seen = await build_history(db)
    assert len({at for at, _ in seen}) == len(seen)  # every step at its own instant
    for at, then in seen:
        if then["deployment"] is not None and "targets" not in then["deployment"]:
            then = {**then, "deployment": {"targets": []}}  # the model's id stood in
        answer = await db.data(
            AS_OF, {"model": ids["model"], "deployment": ids["deployment"], "at": at}
        )
        assert answer["model"] == then["model"], at
        assert answer["deployment"] == then["deployment"], at
    # Before anything was recorded: no alias, no stage, no traffic.
    early = {"model": ids["model"], "deployment": ids["deployment"], "at": "2000-01-01T00:00:00Z"}
    before = await db.data(AS_OF, early)
    assert before["model"]["aliases"] == []
    assert {v["stage"] for v in before["model"]["versions"]["nodes"]} == {None}
    assert before["deployment"]["targets"] == []


async def test_what_served_production_at_t_and_who_approved_it(db: Backend) -> None:
    ids, seen = await build_history(db)
    at = seen[2][0]  # during the canary
    answer = await db.data(
        """query($d: ID!, $at: DateTime!) { node(id: $d) { ... on Deployment {
          targets(asOf: $at) { trafficPercent version { version stage(asOf: $at)
            stageHistory(first: 5) { nodes { to actor reason at } } }
            auditEntry { actor action changes } } } } }""",
        {"d": ids["deployment"], "at": at},
    )
    targets = answer["node"]["targets"]
    assert [
        (t["trafficPercent"], t["version"]["version"], t["version"]["stage"]) for t in targets
    ] == [
        (90.0, "1.0.0", "PRODUCTION"),
        (10.0, "1.1.0", "STAGING"),
    ]
    shift = targets[0]["auditEntry"]
    assert (shift["actor"], shift["action"]) == (ALICE, "deployment.shift_traffic")
    promoted = [
        n for n in targets[0]["version"]["stageHistory"]["nodes"] if n["to"] == "PRODUCTION"
    ]
    assert [(n["actor"], n["reason"]) for n in promoted] == [(ALICE, "offline eval passed")]


async def test_histories_newest_first_with_who_why_and_proof(db: Backend) -> None:
    ids, _ = await build_history(db)
    data = await db.data(
        """query($m: ID!, $v: ID!, $d: ID!) {
          m: node(id: $m) { ... on Model { aliasHistory(first: 20) { totalCount nodes {
            alias from { version } to { version } actor action reason
            auditEntry { id action } } } } }
          v: node(id: $v) { ... on ModelVersion {
            stageHistory { totalCount nodes { from to actor reason } } } }
          d: node(id: $d) { ... on Deployment { trafficHistory { nodes {
            from { percent version { version } } to { percent version { version } }
            actor action reason } } } }
        }""",
        {"m": ids["model"], "v": ids["v1"], "d": ids["deployment"]},
    )
    aliases = data["m"]["aliasHistory"]
    moves = [
        (
            n["alias"],
            n["from"] and n["from"]["version"],
            n["to"] and n["to"]["version"],
            n["actor"],
            n["reason"],
        )
        for n in aliases["nodes"]
    ]
    assert moves == [
        ("champion", "1.0.0", None, ADMIN, "retired"),
        ("production", "1.0.0", "1.1.0", ALICE, None),
        ("champion", None, "1.0.0", ADMIN, None),
        ("production", None, "1.0.0", ALICE, "first release"),
        ("latest", "1.0.0", "1.1.0", ADMIN, None),
        ("latest", None, "1.0.0", ADMIN, None),
    ]
    assert aliases["totalCount"] == 6
    assert {n["auditEntry"]["action"] for n in aliases["nodes"]} == {
        "model_alias.set",
        "model_alias.remove",
    }
    assert data["v"]["stageHistory"] == {
        "totalCount": 3,
        "nodes": [
            {
                "from": "STAGING",
                "to": "PRODUCTION",
                "actor": ALICE,
                "reason": "offline eval passed",
            },
            {"from": "DRAFT", "to": "STAGING", "actor": ADMIN, "reason": None},
            {"from": None, "to": "DRAFT", "actor": ADMIN, "reason": None},
        ],
    }

    def split(shares: list[dict[str, Any]]) -> list[tuple[float, str]]:
        return [(s["percent"], s["version"]["version"]) for s in shares]

    traffic = [
        (split(n["from"]), split(n["to"]), n["actor"], n["action"], n["reason"])
        for n in data["d"]["trafficHistory"]["nodes"]
    ]
    assert traffic == [
        (
            [(100.0, "1.1.0")],
            [(100.0, "1.0.0")],
            ADMIN,
            "deployment.rollback",
            "latency",
        ),
        (
            [(90.0, "1.0.0"), (10.0, "1.1.0")],
            [(100.0, "1.1.0")],
            ADMIN,
            "deployment.promote",
            "promoted 1.1.0",
        ),
        (
            [(100.0, "1.0.0")],
            [(90.0, "1.0.0"), (10.0, "1.1.0")],
            ALICE,
            "deployment.shift_traffic",
            "traffic shifted",
        ),
        ([], [(100.0, "1.0.0")], ADMIN, "deployment.create", "created serving 1.0.0"),
    ]


async def test_history_pages_with_cursors(db: Backend) -> None:
    ids, _ = await build_history(db)
    query = """query($v: ID!, $after: String, $before: String, $first: Int, $last: Int) {
      node(id: $v) { ... on ModelVersion {
        stageHistory(first: $first, after: $after, last: $last, before: $before) {
          edges { cursor node { to } }
          pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } } } }"""

    async def page(**args: Any) -> dict[str, Any]:
        data = await db.data(query, {"v": ids["v1"], **args})
        result: dict[str, Any] = data["node"]["stageHistory"]
        return result

    one = await page(first=2)
    assert [e["node"]["to"] for e in one["edges"]] == ["PRODUCTION", "STAGING"]
    assert (one["pageInfo"]["hasNextPage"], one["pageInfo"]["hasPreviousPage"]) == (True, False)
    two = await page(first=2, after=one["pageInfo"]["endCursor"])
    assert [e["node"]["to"] for e in two["edges"]] == ["DRAFT"]
    assert (two["pageInfo"]["hasNextPage"], two["pageInfo"]["hasPreviousPage"]) == (False, True)
    back = await page(last=1, before=two["pageInfo"]["startCursor"])
    assert [e["node"]["to"] for e in back["edges"]] == ["STAGING"]
    body = await db.gql(query, {"v": ids["v1"], "first": 101})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_nothing_of_another_project(db: Backend) -> None:
    ids, seen = await build_history(db)
    other = f.project()
    await f.save(db.sessions, other)
    outsider = Principal("eve", "Eve", project_roles={other.id: "VIEWER"})  # type: ignore[dict-item]
    loaders = Loaders(db.sessions, outsider.visible_projects())
    for kind, key in (("alias", "model"), ("stage", "v1"), ("traffic", "deployment")):
        assert await loaders.history(kind).load(pk(ids[key])) == []  # type: ignore[arg-type]
    insider = Loaders(db.sessions, None)
    assert len(await insider.history("stage").load(pk(ids["v1"]))) == 3
    token = {"Authorization": f"Bearer {db.token('eve@example.com')}"}
    assert db.client is not None
    response = await db.client.post(
        "/graphql",
        json={
            "query": AS_OF,
            "variables": {
                "model": ids["model"],
                "deployment": ids["deployment"],
                "at": seen[-1][0],
            },
        },
        headers=token,
    )
    assert response.json()["data"] == {"model": None, "deployment": None}


async def test_histories_of_many_objects_are_one_statement_each(db: Backend) -> None:
    _, seen = await build_history(db)
    query = """query($at: DateTime!) { models(first: 10) { nodes {
      aliases(asOf: $at) { alias auditEntry { actor } }
      aliasHistory(first: 3) { nodes { to { version } } }
      versions(first: 10) { nodes { stage(asOf: $at) stageHistory(first: 2) { nodes { to } } } }
      deployments(first: 5) { nodes { targets(asOf: $at) { trafficPercent auditEntry { actor } }
        trafficHistory(first: 2) { nodes { actor } } } } } } }"""

    async def statements() -> int:
        db.sql.start()
        await db.data(query, {"at": seen[2][0]})
        return db.sql.stop()

    one = await statements()
    await build_history(db)  # a second model, with versions and a deployment
    await build_history(db)
    assert await statements() == one  # one statement per history kind, not per object


def test_as_of_runs_on_the_resolver_path_and_the_rest_still_compiles() -> None:
    planner = Planner(build_schema())
    admin = Principal(id="t", display_name="t", platform_admin=True)
    plain = """{ models(first: 2) { nodes { aliases { alias } versions { nodes { stage } }
      deployments { nodes { targets { trafficPercent } } } } } }"""
    assert not isinstance(planner.plan(plain, None, None, admin), Fallback)
    timed = '{ models { nodes { versions { nodes { stage(asOf: "2026-01-01T00:00:00Z") } } } } }'
    assert planner.plan(timed, None, None, admin) == Fallback(
        "ModelVersion.stage(asOf:) is read from the audit log"
    )


async def test_alias_history_is_looked_up_by_its_index(db: Backend) -> None:
    ids, _ = await build_history(db)
    loaders = Loaders(db.sessions, None)
    assert len(await loaders.history("alias").load(pk(ids["model"]))) == 6
    key = ALIAS_MODEL_ID[db.name]
    explain = "EXPLAIN" if db.name == "postgresql" else "EXPLAIN QUERY PLAN"
    async with db.engine.connect() as conn:
        if db.name == "postgresql":
            # a tiny table: let the plan show whether the index can serve the lookup at all
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = await conn.execute(
            text(f"{explain} SELECT id FROM audit_entry WHERE {key} IN (:m)"),  # noqa: S608
            {"m": str(pk(ids["model"]))},
        )
        assert "ix_audit_entry_alias_model_id" in " ".join(str(r) for r in plan)
