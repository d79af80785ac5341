"""Walking a connection forwards and backwards: no gaps, no repeats, even under inserts."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from mlgraph.storage import models as m
from tests import factories as f
from tests.conftest import Backend

FORWARD = """query($after: String, $order: ProjectOrder) {
  projects(first: 7, after: $after, orderBy: $order) {
    totalCount edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}"""
BACKWARD = """query($before: String, $order: ProjectOrder) {
  projects(last: 7, before: $before, orderBy: $order) {
    edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage startCursor }
  }
}"""


async def walk_forward(
    db: Backend, order: dict[str, str] | None, between_pages: Any = None
) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        conn = (await db.data(FORWARD, {"after": after, "order": order}))["projects"]
        seen += [e["node"]["slug"] for e in conn["edges"]]
        assert conn["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not conn["pageInfo"]["hasNextPage"]:
            return seen
        after = conn["pageInfo"]["endCursor"]
        if between_pages:
            await between_pages()


async def walk_backward(
    db: Backend, order: dict[str, str] | None, between_pages: Any = None
) -> list[str]:
    seen: list[str] = []
    before = None
    while True:
        conn = (await db.data(BACKWARD, {"before": before, "order": order}))["projects"]
        seen = [e["node"]["slug"] for e in conn["edges"]] + seen
        assert conn["pageInfo"]["hasNextPage"] == (before is not None)
        if not conn["pageInfo"]["hasPreviousPage"]:
            return seen
        before = conn["pageInfo"]["startCursor"]
        if between_pages:
            await between_pages()


async def seed_projects(db: Backend, n: int) -> list[m.Project]:
    rng = random.Random(5)
    # Same names for some rows: ordering must break ties on id.
    projects = [f.project(name=f"Team {rng.randint(0, n // 3):03d}") for _ in range(n)]
    await f.save(db.sessions, *projects)
    return projects


def expected(projects: list[m.Project], key: str, reverse: bool) -> list[str]:
    rows = sorted(projects, key=lambda p: (getattr(p, key), p.id), reverse=reverse)
    return [p.slug for p in rows]


async def test_forward_and_backward_walks_see_every_row_once(db: Backend) -> None:
    projects = await seed_projects(db, 45)
    for order, key, reverse in [
        (None, "name", False),
        ({"field": "NAME", "direction": "DESC"}, "name", True),
        ({"field": "CREATED_AT", "direction": "ASC"}, "created_at", False),
        ({"field": "SLUG", "direction": "DESC"}, "slug", True),
    ]:
        want = expected(projects, key, reverse)
        if db.name == "postgresql" and key in ("name", "slug"):
            # PostgreSQL orders text by its collation; compare as sets plus no repeats.
            got = await walk_forward(db, order)
            assert sorted(got) == sorted(want)
            assert len(got) == len(set(got))
            back = await walk_backward(db, order)
            assert back == got
            continue
        assert await walk_forward(db, order) == want
        assert await walk_backward(db, order) == want


async def test_walks_under_concurrent_inserts_have_no_gaps_or_repeats(db: Backend) -> None:
    originals = {p.slug for p in await seed_projects(db, 40)}
    inserted: list[str] = []

    async def insert_some() -> None:
        batch = [f.project(name=f"Team {random.randint(0, 20):03d}") for _ in range(3)]
        await asyncio.gather(*(f.save(db.sessions, p) for p in batch))
        inserted.extend(p.slug for p in batch)

    for walk in (walk_forward, walk_backward):
        for order in (None, {"field": "CREATED_AT", "direction": "DESC"}):
            seen = await walk(db, order, insert_some)
            assert len(seen) == len(set(seen)), "a row was returned twice"
            assert originals <= set(seen), "a row that existed throughout was skipped"
            assert set(seen) <= originals | set(inserted)


async def test_nested_connection_pages_per_parent(db: Backend) -> None:
    p1, p2 = f.project(), f.project()
    pl1, pl2 = f.pipeline(p1), f.pipeline(p2)
    runs1 = [f.job(pl1) for _ in range(5)]
    runs2 = [f.job(pl2) for _ in range(2)]
    await f.save(db.sessions, p1, p2, pl1, pl2, *runs1, *runs2)
    query = """{ projects(orderBy: {field: CREATED_AT}) { nodes { slug pipelines { nodes {
        runs(first: 3) { totalCount nodes { id } pageInfo { hasNextPage } } } } } } }"""
    nodes = (await db.data(query))["projects"]["nodes"]
    got = {n["slug"]: n["pipelines"]["nodes"][0]["runs"] for n in nodes}
    assert got[p1.slug]["totalCount"] == 5
    assert len(got[p1.slug]["nodes"]) == 3
    assert got[p1.slug]["pageInfo"]["hasNextPage"]
    assert got[p2.slug]["totalCount"] == 2
    assert len(got[p2.slug]["nodes"]) == 2
    assert not got[p2.slug]["pageInfo"]["hasNextPage"]
