"""Single sign-on and token lifetimes for `cairn server --auth`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20

* `users.kind`: "password" (the accounts before), "oidc" (signs in through the identity
  provider, no password) or "service" (API tokens only); `users.subject`, the provider's
  issuer and `sub` of an "oidc" account; `users.group_admin`, the admin flag that the
  provider's groups give (kept apart from `is_admin`, which is granted by hand);
  `users.sessions_after`, when the user last logged out (older sessions are refused).
* `tokens.token_id` (what `cairn users revoke-token` names; existing tokens get the first
  16 hex digits of their hash), `expires_at` and `revoked`.
* `experiment_group_permissions` and `registered_model_group_permissions`: grants that
  came from the provider's groups, rewritten at each login, beside the tables of grants
  made by hand, which a login never touches.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE")
_MODEL_CASCADE: dict[str, Any] = dict(ondelete="CASCADE", onupdate="CASCADE")


def upgrade() -> None:
    options = table_options()
    op.add_column(
        "users", sa.Column("kind", sa.String(16), nullable=False, server_default="password")
    )
    op.add_column("users", sa.Column("subject", sa.String(512), nullable=True))
    op.add_column(
        "users",
        sa.Column("group_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("sessions_after", sa.BigInteger, nullable=True))
    op.create_index("index_users_subject", "users", ["subject"], unique=True)
    op.add_column("tokens", sa.Column("token_id", sa.String(32), nullable=True))
    op.add_column("tokens", sa.Column("expires_at", sa.BigInteger, nullable=True))
    op.add_column("tokens", sa.Column("revoked", sa.BigInteger, nullable=True))
    op.execute("UPDATE tokens SET token_id = SUBSTR(token_hash, 1, 16)")
    op.create_index("index_tokens_token_id", "tokens", ["token_id"], unique=True)
    op.create_table(
        "experiment_group_permissions",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", **_CASCADE),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", **_CASCADE), nullable=False),
        sa.Column("permission", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "user_id", name="experiment_group_permissions_pk"),
        **options,
    )
    op.create_index(
        "index_experiment_group_permissions_user_id", "experiment_group_permissions", ["user_id"]
    )
    op.create_table(
        "registered_model_group_permissions",
        sa.Column(
            "name",
            sa.String(256),
            sa.ForeignKey("registered_models.name", **_MODEL_CASCADE),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", **_CASCADE), nullable=False),
        sa.Column("permission", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("name", "user_id", name="registered_model_group_permissions_pk"),
        **options,
    )
    op.create_index(
        "index_registered_model_group_permissions_user_id",
        "registered_model_group_permissions",
        ["user_id"],
    )


def downgrade() -> None:
    op.drop_table("registered_model_group_permissions")
    op.drop_table("experiment_group_permissions")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("index_tokens_token_id")
        for column in ("revoked", "expires_at", "token_id"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_index("index_users_subject")
        for column in ("sessions_after", "group_admin", "subject", "kind"):
            batch.drop_column(column)
