"""Helpers for mutation tests: run a mutation, count what it wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mlgraph.storage.models import AuditEntry, OutboxEvent
from tests.conftest import Backend


async def mutate(
    db: Backend,
    name: str,
    input: dict[str, Any],
    selection: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``name(input: $input) { <selection> userErrors { field message code } }``."""
    query = (
        f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
        f"{{ {selection} userErrors {{ field message code }} }} }}"
    )
    assert db.client is not None
    response = await db.client.post(
        "/graphql", json={"query": query, "variables": {"input": input}}, headers=headers or {}
    )
    body = response.json()
    assert "errors" not in body, body["errors"]
    payload: dict[str, Any] = body["data"][name]
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def written(db: Backend) -> tuple[int, int]:
    """(audit entries, outbox events) so far: a refused mutation adds neither."""
    async with db.sessions() as s:
        audits = await s.scalar(select(func.count()).select_from(AuditEntry))
        events = await s.scalar(select(func.count()).select_from(OutboxEvent))
    return audits or 0, events or 0
