"""finite floats (CHECK constraints) and JSON text the two read paths agree on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:40:00

* Every float column refuses NaN and ±Infinity (``ck_<table>_<column>_finite``): they have no
  JSON form, so neither read path could answer them. The same expression works on SQLite and
  PostgreSQL (NaN compares above every number in PostgreSQL; SQLite stores NaN as NULL).
  Rows already holding one stop the upgrade with their table and column named.
* PostgreSQL only, replacing two functions of ``0004``:

  - ``mlgraph_float(float8)``: PostgreSQL writes an exponent from 1e15, Python's ``repr`` from
    1e16, so a fractional value in [1e15, 1e16) is rewritten from PostgreSQL's digits. And
    PostgreSQL's shortest digits never end exactly halfway to the next double (its Ryū does not
    accept the bounds), where Python's may when the mantissa is even (``float()`` rounds such a
    tie to it): from 1e16 up, ``mlgraph_float_shortest`` tries the shorter candidates.
  - ``mlgraph_json_ascii(text)``: ``json.dumps`` escapes DEL (0x7f) as ``\\u007f``; the cursor
    text does too now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column) of every float column.
FLOAT_COLUMNS = (
    ("deployment_target", "traffic_percent"),
    ("drift_metric", "score"),
    ("drift_metric", "threshold"),
    ("alert_rule", "threshold"),
    ("alert", "value"),
    ("job", "progress"),
)
#: The largest finite double: ``x BETWEEN -MAX AND MAX`` is false for NaN and ±Infinity.
FINITE = "{column} BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"

FLOAT = r"""
CREATE OR REPLACE FUNCTION mlgraph_float(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN x = trunc(x) AND abs(x) < 1e16 THEN
        CASE WHEN x::text = '-0' THEN '-0.0' ELSE x::bigint::text || '.0' END
    WHEN abs(x) >= 1e15 AND abs(x) < 1e16 THEN
        CASE WHEN x < 0 THEN '-' ELSE '' END
        || left(replace(split_part(ltrim(x::text, '-'), 'e', 1), '.', ''), 16) || '.'
        || substr(replace(split_part(ltrim(x::text, '-'), 'e', 1), '.', ''), 17)
    WHEN abs(x) >= 1e16 AND abs(x) < 1e40 THEN mlgraph_float_shortest(x)
    ELSE x::text
END
$$
"""

#: Above 2**54 every double is an even integer and a bound between two doubles is an integer, so
#: it can have fewer digits than the value; beyond 1e40 no bound has 17 digits or fewer (a
#: bound is 2**e * m with m odd and under 2**54, and trailing zeros need powers of 5 in m).
SHORTEST = r"""
CREATE OR REPLACE FUNCTION mlgraph_float_shortest(x float8) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    pg text := x::text;
    digits text := replace(split_part(ltrim(pg, '-'), 'e', 1), '.', '');
    exp int := split_part(pg, 'e', 2)::int;
    sign text := CASE WHEN x < 0 THEN '-' ELSE '' END;
    lo numeric;
    c numeric;
    found text;
BEGIN
    FOR k IN 1 .. length(digits) - 1 LOOP
        lo := left(digits, k)::numeric;
        FOREACH c IN ARRAY ARRAY[lo, lo + 1] LOOP
            IF (sign || c::text || 'e' || (exp - k + 1)::text)::float8 = x THEN
                found := rtrim(c::text, '0');
                IF length(c::text) > k THEN  -- 99..9 + 1: one more power of ten
                    exp := exp + 1;
                END IF;
                RETURN sign || left(found, 1)
                    || CASE WHEN length(found) > 1 THEN '.' || substr(found, 2) ELSE '' END
                    || 'e+' || lpad(exp::text, 2, '0');
            END IF;
        END LOOP;
    END LOOP;
    RETURN pg;
END
$$
"""

FLOAT_0004 = r"""
CREATE OR REPLACE FUNCTION mlgraph_float(x float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN x = trunc(x) AND abs(x) < 1e16 THEN
        CASE WHEN x::text = '-0' THEN '-0.0' ELSE x::bigint::text || '.0' END
    ELSE x::text
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
    IF octet_length(src) = char_length(src) AND strpos(src, chr(127)) = 0 THEN
        RETURN src;
    END IF;
    FOREACH ch IN ARRAY regexp_split_to_array(src, '') LOOP
        cp := ascii(ch);
        IF cp < 127 THEN
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


def _refuse_non_finite(table: str, column: str) -> None:
    bad = op.get_bind().scalar(
        sa.text(f"SELECT count(*) FROM {table} WHERE NOT ({FINITE.format(column=column)})")  # noqa: S608 (names from FLOAT_COLUMNS)
    )
    if bad:
        raise RuntimeError(f"{table}.{column} holds {bad} NaN or infinite values; fix them first")


def upgrade() -> None:
    for table, column in FLOAT_COLUMNS:
        _refuse_non_finite(table, column)
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(
                op.f(f"ck_{table}_{column}_finite"), FINITE.format(column=column)
            )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(SHORTEST)
        op.execute(FLOAT)
        op.execute(JSON_ASCII)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FLOAT_0004)
        op.execute("DROP FUNCTION IF EXISTS mlgraph_float_shortest(float8)")
        op.execute(
            JSON_ASCII.replace("cp < 127", "cp < 128").replace(" AND strpos(src, chr(127)) = 0", "")
        )
    for table, column in reversed(FLOAT_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{column}_finite"), type_="check")
