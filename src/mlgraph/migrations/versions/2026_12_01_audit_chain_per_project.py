"""audit chain per project: a head row per chain, entries keep the legacy global chain

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:50:00

* ``audit_head(chain_id, seq, hash)``: the last link of each chain. Appenders lock their
  project's head ``FOR UPDATE`` instead of one global advisory lock.
* ``audit_entry.chain_id`` / ``chain_seq``: the entry's chain and gapless position in it;
  ``seq`` stays the global order (on PostgreSQL from the sequence ``audit_entry_seq``, so it
  may have gaps from now on; it keeps its unique constraint).
* Existing entries are not re-linked: re-hashing history would launder any tampering done
  before the upgrade. They become the frozen *legacy chain* (``chain_id`` = the nil UUID,
  ``chain_seq`` = their old ``seq``), exactly as they were hashed, and its head records their
  last (seq, hash). Every chain created afterwards starts from that hash, so the legacy
  entries stay covered by ``verifyAuditChain``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_CHAIN = "00000000-0000-0000-0000-000000000000"


def _uuid_literal(bind: sa.engine.Connection) -> str:
    """The legacy chain id as the dialect stores a UUID (SQLite: 32 hex digits)."""
    if bind.dialect.name == "postgresql":
        return f"'{LEGACY_CHAIN}'::uuid"
    return "'" + LEGACY_CHAIN.replace("-", "") + "'"


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "audit_head",
        sa.Column("chain_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_head")),
    )
    with op.batch_alter_table("audit_entry") as b:
        b.add_column(sa.Column("chain_id", sa.Uuid(), nullable=True))
        b.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    legacy = _uuid_literal(bind)
    op.execute(f"UPDATE audit_entry SET chain_id = {legacy}, chain_seq = seq")  # noqa: S608
    op.execute(
        f"INSERT INTO audit_head (chain_id, seq, hash) "  # noqa: S608 (constants only)
        f"SELECT {legacy}, seq, hash FROM audit_entry "
        f"WHERE seq = (SELECT max(seq) FROM audit_entry)"
    )
    with op.batch_alter_table("audit_entry") as b:
        b.alter_column("chain_id", existing_type=sa.Uuid(), nullable=False)
        b.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
        b.create_unique_constraint(
            op.f("uq_audit_entry_chain_id_chain_seq"), ["chain_id", "chain_seq"]
        )
    if bind.dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_entry_seq OWNED BY audit_entry.seq")
        op.execute(
            "SELECT setval('audit_entry_seq', coalesce(max(seq), 0) + 1, false) FROM audit_entry"
        )


def downgrade() -> None:
    """Only while every entry is still on the legacy chain (the old global chain)."""
    bind = op.get_bind()
    newer = bind.execute(
        sa.text(f"SELECT count(*) FROM audit_entry WHERE chain_id <> {_uuid_literal(bind)}")  # noqa: S608
    ).scalar()
    if newer:
        raise RuntimeError(
            f"{newer} audit entries are on per-project chains; the global chain cannot hold them"
        )
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE audit_entry_seq")
    with op.batch_alter_table("audit_entry") as b:
        b.drop_constraint(op.f("uq_audit_entry_chain_id_chain_seq"), type_="unique")
        b.drop_column("chain_seq")
        b.drop_column("chain_id")
    op.drop_table("audit_head")
