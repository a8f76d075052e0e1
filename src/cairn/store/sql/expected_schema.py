"""The indexes, unique constraints and foreign keys the migrations create, as data.

schema.py describes tables and columns (what queries read); this module describes what
keeps them fast and consistent, so `cairn doctor` can tell a database that lost an index
(a restore that skipped them, a hand-run DROP, a copy between servers) from a healthy one.
Where a migration creates something differently per dialect, so does this list.
tests/maintenance/test_doctor_schema.py migrates fresh databases on SQLite, PostgreSQL and
MariaDB and checks that every entry here is found, so the list cannot drift from the
migrations.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExpectedIndex:
    name: str
    table: str
    columns: tuple[str, ...]
    # MySQL indexes a prefix of a TEXT column: characters per column, as the migration says.
    mysql_length: dict[str, int] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ExpectedUnique:
    name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ExpectedForeignKey:
    table: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    ondelete: str | None = None
    onupdate: str | None = None
    name: str | None = None  # most are unnamed, and so named by each database its own way

    def describe(self) -> str:
        rules = "".join(
            f" ON {verb} {rule}"
            for verb, rule in (("DELETE", self.ondelete), ("UPDATE", self.onupdate))
            if rule
        )
        return (
            f"{self.table}({', '.join(self.columns)}) -> "
            f"{self.referred_table}({', '.join(self.referred_columns)}){rules}"
        )


def _key_value_columns(dialect: str) -> tuple[str, ...]:
    """PostgreSQL btrees refuse entries over ~2.7 kB, so there a (key, value) index covers
    the key alone (0001 and 0007 say why)."""
    return ("key",) if dialect == "postgresql" else ("key", "value")


def indexes(dialect: str) -> tuple[ExpectedIndex, ...]:
    """Every index the migrations create on `dialect` (sqlite, postgresql or mysql)."""
    key_value = _key_value_columns(dialect)
    return (
        # 0001
        ExpectedIndex("index_runs_experiment_start", "runs", ("experiment_id", "start_time")),
        ExpectedIndex("index_latest_metrics_key_value", "latest_metrics", ("key", "value")),
        ExpectedIndex("index_params_key_value", "params", key_value, {"key": 250, "value": 200}),
        ExpectedIndex("index_tags_key_value", "tags", key_value, {"key": 250, "value": 200}),
        ExpectedIndex("index_inputs_destination", "inputs", ("destination_type", "destination_id")),
        # 0002
        ExpectedIndex("index_tokens_user_id", "tokens", ("user_id",)),
        ExpectedIndex(
            "index_experiment_permissions_user_id", "experiment_permissions", ("user_id",)
        ),
        # 0003
        ExpectedIndex(
            "index_logged_models_experiment",
            "logged_models",
            ("experiment_id", "creation_timestamp_ms"),
        ),
        ExpectedIndex("index_logged_models_source_run", "logged_models", ("source_run_id",)),
        ExpectedIndex("index_run_outputs_model", "run_outputs", ("model_id",)),
        # 0004
        ExpectedIndex(
            "index_registered_models_last_updated", "registered_models", ("last_updated_time",)
        ),
        ExpectedIndex("index_model_versions_run_id", "model_versions", ("run_id",)),
        ExpectedIndex(
            "index_registered_model_permissions_user_id",
            "registered_model_permissions",
            ("user_id",),
        ),
        ExpectedIndex(
            "index_model_version_events_version", "model_version_events", ("name", "version")
        ),
        # 0006
        ExpectedIndex("idempotency_keys_created_time", "idempotency_keys", ("created_time",)),
        # 0007
        ExpectedIndex(
            "index_trace_info_experiment_time",
            "trace_info",
            ("experiment_id", "request_time", "trace_id"),
        ),
        ExpectedIndex(
            "index_trace_metadata_key_value",
            "trace_metadata",
            key_value,
            {"key": 250, "value": 64},
        ),
        ExpectedIndex("index_trace_assessments_trace", "trace_assessments", ("trace_id", "name")),
        # 0009
        ExpectedIndex(
            "index_experiment_group_permissions_user_id",
            "experiment_group_permissions",
            ("user_id",),
        ),
        ExpectedIndex(
            "index_registered_model_group_permissions_user_id",
            "registered_model_group_permissions",
            ("user_id",),
        ),
    )


UNIQUE_CONSTRAINTS: tuple[ExpectedUnique, ...] = (
    ExpectedUnique("experiments_name_unique", "experiments", ("name",)),
    ExpectedUnique("datasets_unique", "datasets", ("experiment_id", "name", "digest")),
    ExpectedUnique(
        "inputs_unique",
        "inputs",
        ("source_type", "source_id", "destination_type", "destination_id"),
    ),
    ExpectedUnique("users_username_unique", "users", ("username",)),
    # 0009: unique indexes
    ExpectedUnique("index_users_subject", "users", ("subject",)),
    ExpectedUnique("index_tokens_token_id", "tokens", ("token_id",)),
)


def _cascade(table: str, column: str, referred: str, referred_column: str) -> ExpectedForeignKey:
    return ExpectedForeignKey(table, (column,), referred, (referred_column,), "CASCADE")


def _to_registered_model(table: str) -> ExpectedForeignKey:
    """0004: renaming or deleting a registered model reaches every child in one statement."""
    return ExpectedForeignKey(
        table, ("name",), "registered_models", ("name",), "CASCADE", "CASCADE"
    )


def _to_model_version(table: str) -> ExpectedForeignKey:
    return ExpectedForeignKey(
        table,
        ("name", "version"),
        "model_versions",
        ("name", "version"),
        "CASCADE",
        "CASCADE",
        name=f"{table}_version_fk",
    )


FOREIGN_KEYS: tuple[ExpectedForeignKey, ...] = (
    # 0001: run children cascade from runs; runs reference experiments WITHOUT cascade.
    _cascade("experiment_tags", "experiment_id", "experiments", "experiment_id"),
    ExpectedForeignKey("runs", ("experiment_id",), "experiments", ("experiment_id",)),
    _cascade("latest_metrics", "run_uuid", "runs", "run_uuid"),
    _cascade("params", "run_uuid", "runs", "run_uuid"),
    _cascade("tags", "run_uuid", "runs", "run_uuid"),
    _cascade("datasets", "experiment_id", "experiments", "experiment_id"),
    _cascade("input_tags", "input_uuid", "inputs", "input_uuid"),
    # 0002
    _cascade("tokens", "user_id", "users", "id"),
    _cascade("experiment_permissions", "experiment_id", "experiments", "experiment_id"),
    _cascade("experiment_permissions", "user_id", "users", "id"),
    # 0003
    _cascade("logged_models", "experiment_id", "experiments", "experiment_id"),
    _cascade("logged_model_tags", "model_id", "logged_models", "model_id"),
    _cascade("logged_model_params", "model_id", "logged_models", "model_id"),
    _cascade("logged_model_metrics", "model_id", "logged_models", "model_id"),
    _cascade("run_outputs", "run_uuid", "runs", "run_uuid"),
    _cascade("run_outputs", "model_id", "logged_models", "model_id"),
    # 0004
    _to_registered_model("registered_model_tags"),
    _to_registered_model("model_versions"),
    _to_model_version("registered_model_aliases"),
    _to_model_version("model_version_tags"),
    _to_registered_model("model_version_events"),
    _to_registered_model("registered_model_permissions"),
    _cascade("registered_model_permissions", "user_id", "users", "id"),
    # 0005
    _cascade("metric_rollups", "run_uuid", "runs", "run_uuid"),
    _cascade("metric_rollup_state", "run_uuid", "runs", "run_uuid"),
    # 0007
    _cascade("trace_info", "experiment_id", "experiments", "experiment_id"),
    _cascade("trace_tags", "trace_id", "trace_info", "trace_id"),
    _cascade("trace_metadata", "trace_id", "trace_info", "trace_id"),
    _cascade("trace_spans", "trace_id", "trace_info", "trace_id"),
    _cascade("trace_assessments", "trace_id", "trace_info", "trace_id"),
    # 0008
    _cascade("run_storage", "run_uuid", "runs", "run_uuid"),
    _cascade("logged_model_storage", "model_id", "logged_models", "model_id"),
    # 0009
    _cascade("experiment_group_permissions", "experiment_id", "experiments", "experiment_id"),
    _cascade("experiment_group_permissions", "user_id", "users", "id"),
    _to_registered_model("registered_model_group_permissions"),
    _cascade("registered_model_group_permissions", "user_id", "users", "id"),
)
