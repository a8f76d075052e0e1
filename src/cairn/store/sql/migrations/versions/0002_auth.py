"""Authentication and authorisation for `cairn server --auth`: users, API tokens and
per-experiment permissions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE")


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("username", name="users_username_unique"),
        **options,
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", **_CASCADE), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("last_used", sa.BigInteger, nullable=True),
        **options,
    )
    op.create_index("index_tokens_user_id", "tokens", ["user_id"])
    op.create_table(
        "experiment_permissions",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", **_CASCADE),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", **_CASCADE), nullable=False),
        sa.Column("permission", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "user_id", name="experiment_permissions_pk"),
        **options,
    )
    op.create_index("index_experiment_permissions_user_id", "experiment_permissions", ["user_id"])


def downgrade() -> None:
    for table in ("experiment_permissions", "tokens", "users"):
        op.drop_table(table)
