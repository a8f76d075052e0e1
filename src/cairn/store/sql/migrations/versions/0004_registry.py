"""The model registry: registered models, their versions, tags and aliases, the history of
every version's moves, and per-model permissions for `cairn server --auth`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Every child names its model through a foreign key with ON UPDATE CASCADE, so renaming a
model is one UPDATE of `registered_models` on SQLite, PostgreSQL and MySQL/MariaDB alike
(the contract suite checks it on all three), and ON DELETE CASCADE, so deleting one is one
DELETE. Versions are numbered from `registered_models.last_version`, a counter that is
never lowered, so a deleted version's number is never handed out again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from cairn.store.sql.migrations.table_options import table_options

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE", onupdate="CASCADE")
# Tag values (≤ 100,000 characters) and descriptions can pass TEXT's 65,535 bytes on MySQL.
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _model_name() -> sa.Column[Any]:
    return sa.Column(
        "name", sa.String(256), sa.ForeignKey("registered_models.name", **_CASCADE), nullable=False
    )


def _version_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        name=f"{table}_version_fk",
        **_CASCADE,
    )


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", _LONG_TEXT),
        sa.Column("user_id", sa.String(256)),
        sa.Column("last_version", sa.Integer, nullable=False),
        **options,
    )
    op.create_index(
        "index_registered_models_last_updated", "registered_models", ["last_updated_time"]
    )
    op.create_table(
        "registered_model_tags",
        _model_name(),
        sa.Column("key", sa.String(250)),
        sa.Column("value", _LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("name", "key", name="registered_model_tags_pk"),
        **options,
    )
    _create_versions(options)
    op.create_table(
        "registered_model_aliases",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", "alias", name="registered_model_aliases_pk"),
        _version_fk("registered_model_aliases"),
        **options,
    )
    _create_events(options)
    op.create_table(
        "registered_model_permissions",
        _model_name(),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("permission", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("name", "user_id", name="registered_model_permissions_pk"),
        **options,
    )
    op.create_index(
        "index_registered_model_permissions_user_id", "registered_model_permissions", ["user_id"]
    )


def _create_versions(options: dict[str, Any]) -> None:
    op.create_table(
        "model_versions",
        _model_name(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", _LONG_TEXT),
        sa.Column("user_id", sa.String(256)),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.String(500)),
        sa.Column("model_id", sa.String(64)),
        sa.PrimaryKeyConstraint("name", "version", name="model_versions_pk"),
        **options,
    )
    op.create_index("index_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", _LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key", name="model_version_tags_pk"),
        _version_fk("model_version_tags"),
        **options,
    )


def _create_events(options: dict[str, Any]) -> None:
    # No foreign key to model_versions: a deleted version's history stays readable.
    op.create_table(
        "model_version_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_name(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_value", sa.String(255)),
        sa.Column("to_value", sa.String(255)),
        sa.Column("alias", sa.String(255)),
        sa.Column("user_id", sa.String(256)),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        **options,
    )
    op.create_index(
        "index_model_version_events_version", "model_version_events", ["name", "version"]
    )


def downgrade() -> None:
    for table in (
        "registered_model_permissions",
        "model_version_events",
        "registered_model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
