"""compiled reads: SQL functions that write JSON exactly as the resolver path does

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00

PostgreSQL only (the compiled read path runs on PostgreSQL only):

* ``mlgraph_float(float8)``: Python's ``repr(float)`` (``1.0``, ``0.25``, ``1e-05``).
* ``mlgraph_json(jsonb)``: compact JSON text as ``json.dumps(json.loads(doc), separators=(",",
  ":"), ensure_ascii=False)`` writes it (key order kept, numbers with a fraction as floats).
* ``mlgraph_json_ascii(text)``: a JSON string as ``json.dumps(text)`` writes it (non-ASCII as
  ``\\uXXXX``), for cursors.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLOAT = r"""
CREATE OR REPLACE FUNCTION mlgraph_float(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN x = trunc(x) AND abs(x) < 1e16 THEN
        CASE WHEN x::text = '-0' THEN '-0.0' ELSE x::bigint::text || '.0' END
    ELSE x::text
END
$$
"""

JSON = r"""
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

JSON_ASCII = r"""
CREATE OR REPLACE FUNCTION mlgraph_json_ascii(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    src text := to_json(value)::text;
    out text := '';
    ch text;
    cp int;
BEGIN
    IF octet_length(src) = char_length(src) THEN
        RETURN src;
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(src, '') LOOP
        cp := ascii(ch);
        IF cp < 128 THEN
            out := out || ch;
        ELSIF cp < 65536 THEN
            out := out || '\u' || lpad(to_hex(cp), 4, '0');
        ELSE
            cp := cp - 65536;
            out := out || '\u' || to_hex(55296 + (cp >> 10)) || '\u' || to_hex(56320 + (cp & 1023));
        END IF;
    END LOOP;
    RETURN out;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (FLOAT, JSON, JSON_ASCII):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS mlgraph_json_ascii(text)")
    op.execute("DROP FUNCTION IF EXISTS mlgraph_json(jsonb)")
    op.execute("DROP FUNCTION IF EXISTS mlgraph_float(float8)")
