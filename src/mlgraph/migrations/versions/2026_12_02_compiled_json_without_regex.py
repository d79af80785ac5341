"""compiled reads: ``mlgraph_json`` without a regular expression for most documents

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 05:00:00

PostgreSQL only. ``0009``'s ``mlgraph_json`` ran two regular expressions over every document
(one to find a number with a fraction, one to take the spaces out): ~56,000 instructions for a
model's three tags, a tenth of the dashboard statement. ``json_strip_nulls`` writes a ``json``
document with no space between its values and each string escaped as ``to_json`` escapes it,
which is the resolver path's compact text, except that it drops object members whose value is
null. So a document whose text has no ``.`` (no number with a fraction) and no ``null`` is
written by ``json_strip_nulls``; any other goes the way ``0009`` wrote it. A ``.`` or ``null``
inside a string only sends a document the slower way.
"""

import importlib
from collections.abc import Sequence

from alembic import op

#: ``0009``: its ``mlgraph_json`` (the downgrade) and its pattern of a JSON string.
_0009 = importlib.import_module("mlgraph.migrations.versions.2026_12_01_compiled_json_fast_path")

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = rf"""
CREATE OR REPLACE FUNCTION mlgraph_json(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN strpos(doc::text, '.') = 0 AND strpos(doc::text, 'null') = 0
        THEN json_strip_nulls(doc::json)::text
    WHEN strpos(regexp_replace(doc::text, '{_0009._STRING}', '', 'g'), '.') = 0
        THEN regexp_replace(doc::text, '({_0009._STRING}|[,:]) ?', '\1', 'g')
    ELSE mlgraph_json_tree(doc)
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(JSON)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_0009.JSON)
