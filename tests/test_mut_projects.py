"""Project mutations: rules, error paths, audit + outbox in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mlgraph.storage.models import AuditEntry, OutboxEvent
from tests.conftest import ADMIN, Backend
from tests.writes import codes, mutate, written

PROJECT = "project { id slug name description revision: __typename }"


async def create(db: Backend, slug: str = "fraud", **extra: object) -> dict[str, object]:
    payload = await mutate(
        db,
        "createProject",
        {"slug": slug, "name": "Fraud", **extra},
        "project { id slug name members { nodes { principalId role } } }",
    )
    assert payload["userErrors"] == []
    project: dict[str, object] = payload["project"]
    return project


async def test_create_project_writes_row_audit_and_outbox_together(db: Backend) -> None:
    project = await create(db)
    assert project["slug"] == "fraud"
    assert project["members"] == {"nodes": [{"principalId": ADMIN, "role": "ADMIN"}]}
    async with db.sessions() as s:
        entry = (await s.scalars(select(AuditEntry))).one()
        event = (await s.scalars(select(OutboxEvent))).one()
    assert (entry.action, entry.entity_type, entry.actor) == (
        "project.create",
        "Project",
        ADMIN,
    )
    assert entry.changes["before"] is None
    assert entry.changes["after"]["slug"] == "fraud"
    assert entry.request_id
    assert event.topic == "project.created"


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"slug": "Not A Slug", "name": "x"}, ["input", "slug"], "INVALID"),
        ({"slug": "ok", "name": " "}, ["input", "name"], "INVALID"),
        ({"slug": "ok", "name": "x" * 201}, ["input", "name"], "TOO_LONG"),
        (
            {"slug": "ok", "name": "x", "description": "d" * 10_001},
            ["input", "description"],
            "TOO_LONG",
        ),
        ({"slug": "ok", "name": "bell\x07"}, ["input", "name"], "INVALID"),
    ],
)
async def test_invalid_input_writes_nothing(
    db: Backend, input: dict[str, object], field: list[str], code: str
) -> None:
    payload = await mutate(db, "createProject", input, "project { id }")
    assert payload["project"] is None
    assert payload["userErrors"][0]["field"] == field
    assert codes(payload) == [code]
    assert await written(db) == (0, 0)


async def test_duplicate_slug(db: Backend) -> None:
    await create(db)
    before = await written(db)
    payload = await mutate(
        db, "createProject", {"slug": "fraud", "name": "Again"}, "project { id }"
    )
    assert codes(payload) == ["DUPLICATE"]
    assert await written(db) == before


async def test_update_with_stale_revision_is_a_conflict(db: Backend) -> None:
    project = await create(db)
    ok = await mutate(
        db,
        "updateProject",
        {"id": project["id"], "name": "Renamed", "expectedRevision": 1},
        "project { name }",
    )
    assert ok == {"project": {"name": "Renamed"}, "userErrors": []}
    before = await written(db)
    stale = await mutate(
        db,
        "updateProject",
        {"id": project["id"], "name": "Lost", "expectedRevision": 1},
        "project { name }",
    )
    assert codes(stale) == ["CONFLICT"]
    assert await written(db) == before


async def test_idempotency_key_replays_and_refuses_a_different_input(db: Backend) -> None:
    first = await create(db, idempotencyKey="k-1")
    before = await written(db)
    again = await create(db, idempotencyKey="k-1")
    assert again["id"] == first["id"]
    assert await written(db) == before
    other = await mutate(
        db,
        "createProject",
        {"slug": "other", "name": "Other", "idempotencyKey": "k-1"},
        "project { id }",
    )
    assert codes(other) == ["CONFLICT"]
    via_header = await mutate(
        db,
        "createProject",
        {"slug": "hdr", "name": "H"},
        "project { id }",
        headers={"Idempotency-Key": "k-2"},
    )
    replayed = await mutate(
        db,
        "createProject",
        {"slug": "hdr", "name": "H"},
        "project { id }",
        headers={"Idempotency-Key": "k-2"},
    )
    assert replayed["project"]["id"] == via_header["project"]["id"]


async def test_archive_once(db: Backend) -> None:
    project = await create(db)
    done = await mutate(db, "archiveProject", {"id": project["id"]}, "project { archivedAt }")
    assert done["project"]["archivedAt"] is not None
    again = await mutate(db, "archiveProject", {"id": project["id"]}, "project { id }")
    assert codes(again) == ["INVALID_TRANSITION"]


async def test_members_add_change_remove_and_keep_one_admin(db: Backend) -> None:
    project = await create(db)
    pid = project["id"]
    sel = "project { members { nodes { principalId role } } }"
    added = await mutate(
        db, "addProjectMember", {"projectId": pid, "principalId": "bob", "role": "VIEWER"}, sel
    )
    assert {"principalId": "bob", "role": "VIEWER"} in added["project"]["members"]["nodes"]
    changed = await mutate(
        db, "addProjectMember", {"projectId": pid, "principalId": "bob", "role": "EDITOR"}, sel
    )
    assert {"principalId": "bob", "role": "EDITOR"} in changed["project"]["members"]["nodes"]
    last_admin = await mutate(
        db, "removeProjectMember", {"projectId": pid, "principalId": ADMIN}, sel
    )
    assert codes(last_admin) == ["POLICY_VIOLATION"]
    removed = await mutate(db, "removeProjectMember", {"projectId": pid, "principalId": "bob"}, sel)
    assert removed["project"]["members"]["nodes"] == [{"principalId": ADMIN, "role": "ADMIN"}]
    missing = await mutate(db, "removeProjectMember", {"projectId": pid, "principalId": "bob"}, sel)
    assert codes(missing) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "bad_id", ["nope", "UHJvamVjdDo=", "TW9kZWw6MDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAw"]
)
async def test_unknown_ids_are_not_found(db: Backend, bad_id: str) -> None:
    payload = await mutate(db, "updateProject", {"id": bad_id, "name": "x"}, "project { id }")
    assert codes(payload) == ["NOT_FOUND"]
    assert payload["userErrors"][0]["field"] == ["input", "id"]
