"""MLflow 3's LoggedModels: models logged from runs, their tags, params and metrics, and
which run produced which model (run outputs).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE")
_DOUBLE = sa.Float(precision=53)


def _model_fk() -> sa.Column[Any]:
    return sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id", **_CASCADE))


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", **_CASCADE),
            nullable=False,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.String(2048), nullable=False),
        sa.Column("creation_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("last_updated_timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("lifecycle_stage", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("status_message", sa.String(1000)),
        sa.Column("creator_id", sa.String(256)),
        **options,
    )
    op.create_index(
        "index_logged_models_experiment",
        "logged_models",
        ["experiment_id", "creation_timestamp_ms"],
    )
    op.create_index("index_logged_models_source_run", "logged_models", ["source_run_id"])
    for name, key_length in (("logged_model_tags", 250), ("logged_model_params", 255)):
        op.create_table(
            name,
            _model_fk(),
            sa.Column("key", sa.String(key_length)),
            sa.Column("value", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("model_id", "key", name=f"{name}_pk"),
            **options,
        )
    op.create_table(
        "logged_model_metrics",
        _model_fk(),
        sa.Column("key", sa.String(250)),
        sa.Column("timestamp", sa.BigInteger),
        sa.Column("step", sa.BigInteger),
        # '' when the point came from no run, so the key stays NOT NULL on every database.
        sa.Column("run_uuid", sa.String(32)),
        sa.Column("value", _DOUBLE, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(36)),
        sa.PrimaryKeyConstraint(
            "model_id", "key", "timestamp", "step", "run_uuid", name="logged_model_metrics_pk"
        ),
        **options,
    )
    op.create_table(
        "run_outputs",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", **_CASCADE)),
        _model_fk(),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uuid", "model_id", name="run_outputs_pk"),
        **options,
    )
    op.create_index("index_run_outputs_model", "run_outputs", ["model_id"])


def downgrade() -> None:
    for table in (
        "run_outputs",
        "logged_model_metrics",
        "logged_model_params",
        "logged_model_tags",
        "logged_models",
    ):
        op.drop_table(table)
