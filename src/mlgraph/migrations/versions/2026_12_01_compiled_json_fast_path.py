"""compiled reads: ``mlgraph_json`` without a function call per JSON value

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 12:00:00

PostgreSQL only. ``mlgraph_json(jsonb)`` of ``0004`` walked every document value by value in
plpgsql (a query per object or array), for every JSON field of every row a compiled statement
returns. PostgreSQL's own text of a document differs from the compact JSON the resolver path
writes only in two ways: a space after each ``,`` and ``:`` between values, and numbers with a
fraction (``1.50``, ``0.00001``), which Python writes as floats. So:

* ``mlgraph_json(jsonb)``, an SQL function PostgreSQL inlines into the statement: when no
  number of the document has a fraction (no ``.`` is left once its strings are taken out),
  the document's text with those spaces taken out (one regular expression: each string is
  kept as it is, each separator without its space); otherwise ``mlgraph_json_tree``.
* ``mlgraph_json_tree(jsonb)``: ``0004``'s walk, for documents with fractions; each member
  is written by ``mlgraph_json`` again, so only the parts holding fractions are walked.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A JSON string as PostgreSQL writes it: quotes, anything but a quote or a backslash, escapes.
_STRING = r'"(?:[^"\\]|\\.)*"'

JSON = rf"""
CREATE OR REPLACE FUNCTION mlgraph_json(doc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN strpos(regexp_replace(doc::text, '{_STRING}', '', 'g'), '.') = 0
        THEN regexp_replace(doc::text, '({_STRING}|[,:]) ?', '\1', 'g')
    ELSE mlgraph_json_tree(doc)
END
$$
"""

JSON_0004 = r"""
CREATE OR REPLACE FUNCTION mlgraph_json(doc jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    kind text := jsonb_typeof(doc);
BEGIN
    IF kind = 'object' THEN
        RETURN '{' || coalesce((
            SELECT string_agg(
                to_json(e.key)::text || ':' || mlgraph_json(e.value), ',' ORDER BY e.n)
            FROM jsonb_each(doc) WITH ORDINALITY AS e(key, value, n)), '') || '}';
    ELSIF kind = 'array' THEN
        RETURN '[' || coalesce((
            SELECT string_agg(mlgraph_json(e.value), ',' ORDER BY e.n)
            FROM jsonb_array_elements(doc) WITH ORDINALITY AS e(value, n)), '') || ']';
    ELSIF kind = 'number' AND strpos(doc::text, '.') > 0 THEN
        RETURN mlgraph_float(doc::text::float8);
    END IF;
    RETURN doc::text;
END
$$
"""


#: ``0004``'s walk under its new name; it writes each member with ``mlgraph_json`` again.
TREE = JSON_0004.replace("FUNCTION mlgraph_json(doc", "FUNCTION mlgraph_json_tree(doc", 1)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TREE)
    op.execute(JSON)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(JSON_0004)
    op.execute("DROP FUNCTION mlgraph_json_tree(jsonb)")
