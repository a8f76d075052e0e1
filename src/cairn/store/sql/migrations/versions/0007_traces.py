"""MLflow 3 traces: a record per trace, its tags and metadata, its spans and assessments.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

Every child table references `trace_info` with ON DELETE CASCADE, and `trace_info` its
experiment, so deleting a trace (or an experiment's row) deletes everything of it. The
index (experiment_id, request_time, trace_id) serves search's default order, newest first,
as one index range per experiment. Adding these tables changes nothing else.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from cairn.store.sql.migrations.table_options import table_options

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CASCADE: dict[str, Any] = dict(ondelete="CASCADE")
# A span's JSON may reach 10 MiB; an assessment's body exceeds TEXT's 64 kB on MySQL easily.
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
_HUGE_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _trace_fk() -> sa.Column[Any]:
    return sa.Column(
        "trace_id", sa.String(50), sa.ForeignKey("trace_info.trace_id", **_CASCADE), nullable=False
    )


def upgrade() -> None:
    options = table_options()
    op.create_table(
        "trace_info",
        sa.Column("trace_id", sa.String(50)),
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.experiment_id", **_CASCADE),
            nullable=False,
        ),
        sa.Column("request_time", sa.BigInteger, nullable=False),
        sa.Column("execution_duration", sa.BigInteger),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("request_preview", sa.Text),
        sa.Column("response_preview", sa.Text),
        sa.Column("client_request_id", sa.String(250)),
        sa.PrimaryKeyConstraint("trace_id", name="trace_info_pk"),
        **options,
    )
    op.create_index(
        "index_trace_info_experiment_time",
        "trace_info",
        ["experiment_id", "request_time", "trace_id"],
    )
    for name in ("trace_tags", "trace_metadata"):
        op.create_table(
            name,
            _trace_fk(),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text),
            sa.PrimaryKeyConstraint("trace_id", "key", name=f"{name}_pk"),
            sqlite_with_rowid=False,
            **options,
        )
    # `run_id = '…'` (metadata mlflow.sourceRun) finds traces by (key, value). PostgreSQL
    # btrees refuse entries over ~2.7 kB, so there it indexes the key alone; MySQL a prefix.
    dialect = op.get_bind().dialect.name
    columns = ["key"] if dialect == "postgresql" else ["key", "value"]
    op.create_index(
        "index_trace_metadata_key_value",
        "trace_metadata",
        columns,
        mysql_length={"key": 250, "value": 64},
    )
    op.create_table(
        "trace_spans",
        _trace_fk(),
        sa.Column("span_id", sa.String(32), nullable=False),
        sa.Column("parent_span_id", sa.String(32)),
        sa.Column("name", sa.Text),
        sa.Column("span_type", sa.String(500)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("start_time_ns", sa.BigInteger, nullable=False),
        sa.Column("end_time_ns", sa.BigInteger),
        sa.Column("content", _HUGE_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="trace_spans_pk"),
        **options,
    )
    op.create_table(
        "trace_assessments",
        sa.Column("assessment_id", sa.String(50)),
        _trace_fk(),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("numeric_value", sa.Float(precision=53)),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("last_update_time", sa.BigInteger, nullable=False),
        sa.Column("body", _LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", name="trace_assessments_pk"),
        **options,
    )
    op.create_index("index_trace_assessments_trace", "trace_assessments", ["trace_id", "name"])


def downgrade() -> None:
    # Indexes go with their tables (MySQL refuses to drop one a foreign key uses).
    for table in ("trace_assessments", "trace_spans", "trace_metadata", "trace_tags", "trace_info"):
        op.drop_table(table)
