"""The step-axis rollup of metric histories, read by the UI's downsampled charts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

`metric_rollups` holds, per (run, key) and block of 64 steps, the block's point count,
non-finite count, min, max and last finite point; `metric_rollup_state` the step below
which a history's blocks are current. Both are derived data: dropping them loses nothing,
and cairn.store.sql.rollups rebuilds them on the next chart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "metric_rollups",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE")),
        sa.Column("key", sa.String(250)),
        sa.Column("block", sa.BigInteger),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("non_finite", sa.Integer, nullable=False),
        sa.Column("min", _DOUBLE),
        sa.Column("max", _DOUBLE),
        sa.Column("last", _DOUBLE),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uuid", "key", "block", name="metric_rollups_pk"),
        sqlite_with_rowid=False,
        **options,
    )
    op.create_table(
        "metric_rollup_state",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE")),
        sa.Column("key", sa.String(250)),
        sa.Column("fresh_below", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uuid", "key", name="metric_rollup_state_pk"),
        sqlite_with_rowid=False,
        **options,
    )


def downgrade() -> None:
    op.drop_table("metric_rollup_state")
    op.drop_table("metric_rollups")
