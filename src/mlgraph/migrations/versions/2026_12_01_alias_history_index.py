"""Alias history: an index on the model an alias audit entry is about.

``Model.aliasHistory`` and ``Model.aliases(asOf:)`` read the ``ModelAlias`` audit entries of
some models; the model is in the entries' ``changes`` (``after.model_id``, or ``before.model_id``
for a removal), so the lookup is by that expression; ``storage.history.ALIAS_MODEL_ID`` queries
with the same text (tests/test_history.py checks PostgreSQL's plan uses the index).

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_audit_entry_alias_model_id"
ALIAS_MODEL_ID = {
    "postgresql": "coalesce(changes #>> '{after,model_id}', changes #>> '{before,model_id}')",
    "sqlite": (
        "coalesce(json_extract(changes, '$.after.model_id'), "
        "json_extract(changes, '$.before.model_id'))"
    ),
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(f"CREATE INDEX {INDEX} ON audit_entry (({ALIAS_MODEL_ID[dialect]}))")


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_entry")
