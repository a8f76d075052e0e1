"""The initial schema: experiments, runs, metrics, params, tags and dataset inputs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

A migration is history: it spells its tables out instead of importing schema.py, so later
schema changes cannot rewrite what this revision did.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from cairn.store.sql.migrations.table_options import table_options

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)
_RUN_FK: dict[str, Any] = dict(ondelete="CASCADE")
# Filled in by upgrade(): MySQL/MariaDB's charset and binary no-pad collation (see
# table_options), nothing elsewhere.
_TABLE: dict[str, Any] = {}
# Values that can exceed TEXT's 65,535 bytes on MySQL once encoded as UTF-8.
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
_HUGE_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _run_child(name: str, *columns: sa.Column[object]) -> None:
    """A table hanging off runs, keyed by (run_uuid, key); SQLite stores it WITHOUT ROWID."""
    op.create_table(
        name,
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", **_RUN_FK)),
        sa.Column("key", sa.String(250)),
        *columns,
        sa.PrimaryKeyConstraint("run_uuid", "key", name=f"{name}_pk"),
        sqlite_with_rowid=False,
        **_TABLE,
    )


def _key_value_index(table: str) -> None:
    """(key, value) drives `params.x = 'a'` searches. PostgreSQL btrees refuse entries over
    ~2.7 kB and values may reach 8,000 chars, so there it indexes the key alone; MySQL
    indexes a prefix of the value."""
    dialect = op.get_bind().dialect.name
    columns = ["key"] if dialect == "postgresql" else ["key", "value"]
    op.create_index(
        f"index_{table}_key_value", table, columns, mysql_length={"key": 250, "value": 200}
    )


def upgrade() -> None:
    _TABLE.update(table_options())
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2048)),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.BigInteger),
        sa.Column("last_update_time", sa.BigInteger),
        sa.UniqueConstraint("name", name="experiments_name_unique"),
        **_TABLE,
    )
    op.create_table(
        "experiment_tags",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        ),
        sa.Column("key", sa.String(250)),
        sa.Column("value", _LONG_TEXT),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="experiment_tags_pk"),
        **_TABLE,
    )
    op.create_table(
        "runs",
        sa.Column("run_uuid", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(250)),
        sa.Column(
            "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
        ),
        sa.Column("user_id", sa.String(256)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("deleted_time", sa.BigInteger),
        sa.Column("lifecycle_stage", sa.String(20), nullable=False),
        sa.Column("artifact_uri", sa.String(2048)),
        sqlite_with_rowid=False,
        **_TABLE,
    )
    op.create_index("index_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    # No foreign key on metrics: it is the hot path, and the store checks the run per batch.
    op.create_table(
        "metrics",
        sa.Column("run_uuid", sa.String(32)),
        sa.Column("key", sa.String(250)),
        sa.Column("step", sa.BigInteger),
        sa.Column("timestamp", sa.BigInteger),
        sa.Column("value", _DOUBLE),
        sa.Column("is_nan", sa.Boolean),
        sa.PrimaryKeyConstraint(
            "run_uuid", "key", "step", "timestamp", "value", "is_nan", name="metrics_pk"
        ),
        sqlite_with_rowid=False,
        **_TABLE,
    )
    _run_child(
        "latest_metrics",
        sa.Column("value", _DOUBLE, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
    )
    op.create_index("index_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    _run_child("params", sa.Column("value", sa.Text, nullable=False))
    _key_value_index("params")
    _run_child("tags", sa.Column("value", sa.Text))
    _key_value_index("tags")
    op.create_table(
        "datasets",
        sa.Column("dataset_uuid", sa.String(36), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("digest", sa.String(36), nullable=False),
        sa.Column("dataset_source_type", sa.String(36), nullable=False),
        sa.Column("dataset_source", _LONG_TEXT, nullable=False),
        sa.Column("dataset_schema", _LONG_TEXT),
        sa.Column("dataset_profile", _HUGE_TEXT),
        sa.UniqueConstraint("experiment_id", "name", "digest", name="datasets_unique"),
        **_TABLE,
    )
    op.create_table(
        "inputs",
        sa.Column("input_uuid", sa.String(36), primary_key=True),
        sa.Column("source_type", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("destination_type", sa.String(36), nullable=False),
        sa.Column("destination_id", sa.String(36), nullable=False),
        sa.UniqueConstraint(
            "source_type", "source_id", "destination_type", "destination_id", name="inputs_unique"
        ),
        **_TABLE,
    )
    op.create_index("index_inputs_destination", "inputs", ["destination_type", "destination_id"])
    op.create_table(
        "input_tags",
        sa.Column("input_uuid", sa.String(36), sa.ForeignKey("inputs.input_uuid", **_RUN_FK)),
        sa.Column("name", sa.String(255)),
        sa.Column("value", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),
        **_TABLE,
    )


def downgrade() -> None:
    for table in (
        "input_tags",
        "inputs",
        "datasets",
        "tags",
        "params",
        "latest_metrics",
        "metrics",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(table)
