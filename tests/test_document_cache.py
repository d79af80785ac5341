"""Parsing and validation are cached across requests: a mutation sent again costs neither."""

from __future__ import annotations

from strawberry.extensions.validation_cache import _get_validate_cache

from mlgraph.compiled.planner import CACHE_SIZE
from tests.conftest import Backend
from tests.writes import mutate


async def test_the_same_document_is_validated_once(db: Backend) -> None:
    validated = _get_validate_cache(CACHE_SIZE)
    for i in range(3):
        await mutate(db, "createProject", {"slug": f"c{i}", "name": "C"}, "project { id }")
    before = validated.cache_info()
    for i in range(3, 6):
        await mutate(db, "createProject", {"slug": f"c{i}", "name": "C"}, "project { id }")
    after = validated.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
