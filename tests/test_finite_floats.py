"""No float column holds NaN or ±Infinity: they have no JSON form on either read path.

The API refuses them at input (BAD_USER_INPUT, see the mutation tests); the database refuses
them too (CHECK constraints of migration 0005), for writers that bypass the API.
"""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from tests import factories as f
from tests.conftest import Backend

MIGRATION = importlib.import_module(
    "mlgraph.migrations.versions.2026_12_01_finite_floats_exact_json_text"
)


async def test_every_float_column_has_its_check(db: Backend) -> None:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(
            lambda sync: {
                (table, check["name"])
                for table, _ in MIGRATION.FLOAT_COLUMNS
                for check in inspect(sync).get_check_constraints(table)
            }
        )
    for table, column in MIGRATION.FLOAT_COLUMNS:
        assert (table, f"ck_{table}_{column}_finite") in found


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
async def test_a_non_finite_float_is_refused_by_the_database(db: Backend, value: float) -> None:
    p = f.project()
    pl = f.pipeline(p)
    await f.save(db.sessions, p, pl)
    with pytest.raises(IntegrityError):
        await f.save(db.sessions, f.job(pl, progress=value))
    await f.save(db.sessions, f.job(pl, progress=1.7976931348623157e308))  # the largest is fine
