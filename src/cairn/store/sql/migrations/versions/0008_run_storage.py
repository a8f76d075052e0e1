"""Storage accounting: metric points and artifact bytes per run, artifact bytes per logged model.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-17

`run_storage` holds, per run, its metric points and its artifacts' bytes and files;
`logged_model_storage` a logged model's bytes and files. Writers keep them current
(cairn.store.sql.storage), so the experiments page and `cairn storage` sum rows instead of
walking files or counting the metrics table. Both cascade from their owner.

An upgraded database gets each run's points counted here, in one GROUP BY over `metrics`
(a scan of its primary key: minutes on a database of a billion points). Files already
stored are not walked: `cairn storage --recount` counts them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from cairn.store.sql.migrations.table_options import table_options

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE")
# Points of runs that no longer exist (metrics has no foreign key) are left out.
_BACKFILL = (
    "INSERT INTO run_storage (run_uuid, metric_points, artifact_bytes, artifact_files) "
    "SELECT m.run_uuid, COUNT(*), 0, 0 FROM metrics m "
    "JOIN runs r ON r.run_uuid = m.run_uuid GROUP BY m.run_uuid"
)


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "run_storage",
        sa.Column("run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", **_CASCADE)),
        sa.Column("metric_points", sa.BigInteger, nullable=False),
        sa.Column("artifact_bytes", sa.BigInteger, nullable=False),
        sa.Column("artifact_files", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_uuid", name="run_storage_pk"),
        sqlite_with_rowid=False,
        **options,
    )
    op.create_table(
        "logged_model_storage",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.model_id", **_CASCADE)),
        sa.Column("artifact_bytes", sa.BigInteger, nullable=False),
        sa.Column("artifact_files", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="logged_model_storage_pk"),
        sqlite_with_rowid=False,
        **options,
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table("logged_model_storage")
    op.drop_table("run_storage")
