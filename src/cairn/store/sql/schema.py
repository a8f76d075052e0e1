"""The tables, as queries see them. Migrations (migrations/versions) create them.

Metric points live in `metrics`, keyed by (run, key, step, timestamp, value, is_nan) so an
exact repeat is stored once and a history reads one index range. `latest_metrics` holds
one row per (run, key): search and ordering read it, never the history.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

Double = Float(precision=53)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", String(2048)),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("creation_time", BigInteger),
    Column("last_update_time", BigInteger),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text),
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("name", String(250)),
    Column("experiment_id", Integer, nullable=False),
    Column("user_id", String(256)),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("deleted_time", BigInteger),
    Column("lifecycle_stage", String(20), nullable=False),
    Column("artifact_uri", String(2048)),
)

metrics = Table(
    "metrics",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("value", Double, primary_key=True),
    Column("is_nan", Boolean, primary_key=True),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Double, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False),
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_uuid", String(36), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("dataset_source_type", String(36), nullable=False),
    Column("dataset_source", Text, nullable=False),
    Column("dataset_schema", Text),
    Column("dataset_profile", Text),
)

inputs = Table(
    "inputs",
    metadata,
    Column("input_uuid", String(36), primary_key=True),
    Column("source_type", String(36), nullable=False),
    Column("source_id", String(36), nullable=False),
    Column("destination_type", String(36), nullable=False),
    Column("destination_id", String(36), nullable=False),
)

input_tags = Table(
    "input_tags",
    metadata,
    Column("input_uuid", String(36), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", String(500), nullable=False),
)

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(500), nullable=False),
    Column("artifact_location", String(2048), nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False),
    Column("model_type", String(500)),
    Column("source_run_id", String(32)),
    Column("status_message", String(1000)),
    Column("creator_id", String(256)),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("timestamp", BigInteger, primary_key=True),
    Column("step", BigInteger, primary_key=True),
    Column("run_uuid", String(32), primary_key=True),
    Column("value", Double, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
)

run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("model_id", String(64), primary_key=True),
    Column("step", BigInteger, nullable=False),
)

# -- the model registry (migration 0004) ----------------------------------------------------
# Children reference registered_models.name with ON UPDATE CASCADE, so a rename is one
# UPDATE of the parent on every database; `last_version` numbers versions (see registry.py).

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text),
    Column("user_id", String(256)),
    Column("last_version", Integer, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text),
    Column("user_id", String(256)),
    Column("current_stage", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("run_id", String(32)),
    Column("run_link", Text),
    Column("status", String(20), nullable=False),
    Column("status_message", String(500)),
    Column("model_id", String(64)),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
)

model_version_events = Table(
    "model_version_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_value", String(255)),
    Column("to_value", String(255)),
    Column("alias", String(255)),
    Column("user_id", String(256)),
    Column("timestamp", BigInteger, nullable=False),
)

# -- users, API tokens and permissions (migrations 0002, 0004 and 0009, cairn.server.auth_store)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False, server_default="password"),
    Column("subject", String(512), unique=True),
    Column("group_admin", Boolean, nullable=False, server_default=false()),
    Column("sessions_after", BigInteger),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_used", BigInteger),
    Column("token_id", String(32), unique=True),
    Column("expires_at", BigInteger),
    Column("revoked", BigInteger),
)

experiment_permissions = Table(
    "experiment_permissions",
    metadata,
    Column("experiment_id", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("permission", String(16), nullable=False),
)

registered_model_permissions = Table(
    "registered_model_permissions",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("permission", String(16), nullable=False),
)

# Grants that came from the identity provider's groups (cairn.server.oidc_accounts).
experiment_group_permissions = Table(
    "experiment_group_permissions",
    metadata,
    Column("experiment_id", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("permission", String(16), nullable=False),
)

registered_model_group_permissions = Table(
    "registered_model_group_permissions",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("permission", String(16), nullable=False),
)

# -- the step-axis rollup of metric histories (migration 0005, cairn.store.sql.rollups) ----

metric_rollups = Table(
    "metric_rollups",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("block", BigInteger, primary_key=True),
    Column("points", Integer, nullable=False),
    Column("non_finite", Integer, nullable=False),
    Column("min", Double),
    Column("max", Double),
    Column("last", Double),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

metric_rollup_state = Table(
    "metric_rollup_state",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("fresh_below", BigInteger, nullable=False),
)

# -- idempotency keys of replayable writes (migration 0006, cairn.store.sql.idempotency) ---

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("created_time", BigInteger, nullable=False),
)

# -- MLflow 3 traces (migration 0007, cairn.store.sql.traces) ------------------------------
# Children cascade from trace_info, trace_info from experiments. Times: ms on the trace,
# ns on spans. A span's `content` is its OTLP JSON; an assessment's `body` MLflow's JSON,
# with what filters read: `kind` (feedback/expectation), `value` (the JSON-encoded value),
# `numeric_value` (the value when a number or bool) and `valid` (false once overridden).

trace_info = Table(
    "trace_info",
    metadata,
    Column("trace_id", String(50), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("request_time", BigInteger, nullable=False),
    Column("execution_duration", BigInteger),
    Column("state", String(32), nullable=False),
    Column("request_preview", Text),
    Column("response_preview", Text),
    Column("client_request_id", String(250)),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    Column("trace_id", String(50), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text),
)

trace_metadata = Table(
    "trace_metadata",
    metadata,
    Column("trace_id", String(50), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text),
)

trace_spans = Table(
    "trace_spans",
    metadata,
    Column("trace_id", String(50), primary_key=True),
    Column("span_id", String(32), primary_key=True),
    Column("parent_span_id", String(32)),
    Column("name", Text),
    Column("span_type", String(500)),
    Column("status", String(32), nullable=False),
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger),
    Column("content", Text, nullable=False),
)

trace_assessments = Table(
    "trace_assessments",
    metadata,
    Column("assessment_id", String(50), primary_key=True),
    Column("trace_id", String(50), nullable=False),
    Column("name", String(250), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", Text),
    Column("numeric_value", Double),
    Column("valid", Boolean, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
)

# -- storage accounting (migration 0008, cairn.store.sql.storage) --------------------------
# One row per run (and per logged model) that holds points or files; both cascade from
# their owner, so purging a run drops its figures. Experiment totals are sums over these.

run_storage = Table(
    "run_storage",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column("metric_points", BigInteger, nullable=False),
    Column("artifact_bytes", BigInteger, nullable=False),
    Column("artifact_files", BigInteger, nullable=False),
)

logged_model_storage = Table(
    "logged_model_storage",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("artifact_bytes", BigInteger, nullable=False),
    Column("artifact_files", BigInteger, nullable=False),
)
