"""The idempotency keys of writes already applied, so a replayed batch is a no-op.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

`idempotency_keys` holds one row per keyed write (cairn.store.sql.idempotency says what a
stored key is) with the time it was stored, in ms; the index on that time lets old keys be
purged without reading the table. Adding it to an existing database changes nothing else.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(100)),
        sa.Column("created_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", name="idempotency_keys_pk"),
        sqlite_with_rowid=False,
        **table_options(),
    )
    op.create_index("idempotency_keys_created_time", "idempotency_keys", ["created_time"])


def downgrade() -> None:
    op.drop_index("idempotency_keys_created_time", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
