"""MLflow 3's LoggedModels in SQL: a model's row, tags, params, linked metrics, and the runs
that output it. SqlTrackingStore inherits this; it is apart because it is its own concept."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from cairn.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    PagedList,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import page_token as tokens
from cairn.store import run_names, search
from cairn.store import validation as check
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT
from cairn.store.ids import LOGGED_MODEL_ID, new_logged_model_id
from cairn.store.sql import dialects, query
from cairn.store.sql.schema import (
    experiments,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    run_outputs,
    runs,
)
from cairn.store.sql.transactions import SqlTransactions

_MAX_NAME_LENGTH = 500
_MAX_MODEL_TYPE_LENGTH = 500
_MAX_PARAM_KEY_LENGTH = 255
_LIMIT = 50_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _model_id(value: object) -> str:
    """Ids are `m-` and 32 hex digits; anything else can name no model."""
    if not isinstance(value, str) or not LOGGED_MODEL_ID.fullmatch(value):
        raise ResourceDoesNotExistError(f"Logged model with ID '{value}' not found.")
    return value


def _short_text(what: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    check.no_nul(what, value)
    if len(value) > limit:
        raise InvalidParameterValueError(
            f"{what} has {len(value)} characters; the limit is {limit}."
        )
    return value


def _tag_rows(model_id: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "model_id": model_id,
            "key": check.validate_key("Tag", key),
            "value": check.text_value("Tag", key, value, check.MAX_TAG_VALUE_LENGTH, True),
        }
        for key, value in tags.items()
    ]


def _param_rows(model_id: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for key, value in params.items():
        if len(key) > _MAX_PARAM_KEY_LENGTH:
            raise InvalidParameterValueError(
                f"Param key has {len(key)} characters; the limit is {_MAX_PARAM_KEY_LENGTH}."
            )
        text = check.text_value("Param", key, value, check.MAX_PARAM_VALUE_LENGTH, True)
        rows.append({"model_id": model_id, "key": check.validate_key("Param", key), "value": text})
    return rows


def _metric_row(model_id: str, metric: LoggedModelMetric) -> dict[str, Any]:
    key = check.validate_key("Metric", metric.key)
    value, is_nan = check.stored_metric_value(check.metric_value(key, metric.value))
    return {
        "model_id": model_id,
        "key": key,
        "timestamp": check.integer("timestamp", metric.timestamp),
        "step": check.integer("step", metric.step),
        "run_uuid": check.run_id(metric.run_id) if metric.run_id else "",
        "value": value,
        "is_nan": is_nan,
        "dataset_name": _short_text("dataset_name", metric.dataset_name, 500),
        "dataset_digest": _short_text("dataset_digest", metric.dataset_digest, 36),
    }


class SqlLoggedModels(SqlTransactions):
    """The logged-model half of the TrackingStore contract (see store/base.py)."""

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
        creator_id: str | None = None,
    ) -> LoggedModel:
        number = int(check.experiment_id(experiment_id))
        model_id = new_logged_model_id()
        name = _short_text("Model name", name or run_names.generate(), _MAX_NAME_LENGTH)
        if source_run_id is not None:
            check.run_id(source_run_id)
        tag_rows = _tag_rows(model_id, tags or {})
        param_rows = _param_rows(model_id, params or {})
        now = _now_ms()
        row = {
            "model_id": model_id,
            "experiment_id": number,
            "name": name,
            "creation_timestamp_ms": now,
            "last_updated_timestamp_ms": now,
            "status": LoggedModelStatus.PENDING.value,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "model_type": _short_text("model_type", model_type, _MAX_MODEL_TYPE_LENGTH),
            "source_run_id": source_run_id or None,
            "status_message": None,
            "creator_id": check.user_id(creator_id) if creator_id else None,
        }

        def work(conn: Connection) -> None:
            found = conn.execute(
                select(experiments.c.artifact_location, experiments.c.lifecycle_stage).where(
                    experiments.c.experiment_id == number
                )
            ).first()
            if found is None:
                raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
            if found[1] != LifecycleStage.ACTIVE:
                raise InvalidParameterValueError(
                    f"Experiment {experiment_id} must be active to log models."
                )
            if (
                source_run_id
                and not conn.execute(
                    select(runs.c.run_uuid).where(runs.c.run_uuid == source_run_id)
                ).first()
            ):
                raise ResourceDoesNotExistError(f"Run '{source_run_id}' not found.")
            location = f"{found[0]}/models/{model_id}/artifacts"
            conn.execute(logged_models.insert().values(**row, artifact_location=location))
            if tag_rows:
                conn.execute(logged_model_tags.insert(), tag_rows)
            if param_rows:
                conn.execute(logged_model_params.insert(), param_rows)

        self._retrying(work)
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        _model_id(model_id)
        with self._read() as conn:
            found = _load_models(conn, [model_id], allow_deleted)
        if not found:
            raise ResourceDoesNotExistError(f"Logged model with ID '{model_id}' not found.")
        return found[0]

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        try:
            final = LoggedModelStatus.parse(status)
        except ValueError:
            raise InvalidParameterValueError(f"Invalid logged model status {status!r}.") from None
        if final is LoggedModelStatus.PENDING:
            raise InvalidParameterValueError(
                "A logged model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED."
            )

        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            self._touch(conn, model_id, status=final.value)

        self._retrying(work)
        return self.get_logged_model(model_id)

    def delete_logged_model(self, model_id: str) -> None:
        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            self._touch(conn, model_id, lifecycle_stage=LifecycleStage.DELETED)

        self._retrying(work)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        rows = _tag_rows(model_id, tags)

        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            if rows:
                dialects.upsert(conn, logged_model_tags, rows, ("model_id", "key"))
                self._touch(conn, model_id)

        self._retrying(work)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            deleted = conn.execute(
                delete(logged_model_tags).where(
                    logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key
                )
            )
            if deleted.rowcount == 0:
                raise ResourceDoesNotExistError(f"No tag {key!r} on logged model '{model_id}'.")
            self._touch(conn, model_id)

        self._retrying(work)

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        rows = _param_rows(model_id, params)

        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            dialects.insert_ignore(conn, logged_model_params, rows)
            stored = dict(
                conn.execute(
                    select(logged_model_params.c.key, logged_model_params.c.value).where(
                        logged_model_params.c.model_id == model_id
                    )
                ).all()
            )
            changed = [r["key"] for r in rows if stored.get(r["key"]) != r["value"]]
            if changed:
                raise InvalidParameterValueError(
                    f"Changing param values is not allowed: {', '.join(changed)} of logged "
                    f"model '{model_id}' already have other values."
                )

        if rows:
            self._retrying(work)

    def log_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        rows = [_metric_row(model_id, m) for m in metrics]

        def work(conn: Connection) -> None:
            self._check_active_model(conn, model_id)
            dialects.upsert(
                conn,
                logged_model_metrics,
                rows,
                ("model_id", "key", "timestamp", "step", "run_uuid"),
            )

        if rows:
            self._retrying(work)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        limit = tokens.max_results(max_results, _LIMIT)
        offset = tokens.decode(page_token)
        numbers = [int(check.experiment_id(e)) for e in experiment_ids]
        filters = search.parse_filter(search.LOGGED_MODEL_GRAMMAR, filter_string)
        order = search.parse_order_by(search.LOGGED_MODEL_GRAMMAR, order_by)
        if not numbers:
            return PagedList([], None)
        stmt = query.logged_model_search(numbers, filters, order)
        with self._search_read() as conn:
            ids = list(conn.execute(stmt.limit(limit + 1).offset(offset)).scalars())
            found = _load_models(conn, ids[:limit], allow_deleted=False)
        return PagedList(found, tokens.next_token(offset, limit, len(ids)))

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        check.run_id(run_id)
        rows = [
            {
                "run_uuid": run_id,
                "model_id": _model_id(m.model_id),
                "step": check.integer("step", m.step),
            }
            for m in models
        ]

        def work(conn: Connection) -> None:
            stage = conn.execute(
                select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)
            ).scalar()
            if stage is None:
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            if stage != LifecycleStage.ACTIVE:
                raise InvalidParameterValueError(f"The run {run_id} must be in the 'active' state.")
            for row in rows:
                self._check_active_model(conn, str(row["model_id"]))
            dialects.upsert(conn, run_outputs, rows, ("run_uuid", "model_id"))

        if rows:
            self._retrying(work)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _check_active_model(conn: Connection, model_id: str) -> None:
        _model_id(model_id)
        stage = conn.execute(
            select(logged_models.c.lifecycle_stage).where(logged_models.c.model_id == model_id)
        ).scalar()
        if stage != LifecycleStage.ACTIVE:
            raise ResourceDoesNotExistError(f"Logged model with ID '{model_id}' not found.")

    @staticmethod
    def _touch(conn: Connection, model_id: str, **values: Any) -> None:
        """Set the model's last-update time now, with any other column `values` given."""
        conn.execute(
            update(logged_models)
            .where(logged_models.c.model_id == model_id)
            .values(**values, last_updated_timestamp_ms=_now_ms())
        )


def _load_models(
    conn: Connection, model_ids: Sequence[str], allow_deleted: bool
) -> list[LoggedModel]:
    """Models in the order of `model_ids`, each with its tags, params and metrics."""
    if not model_ids:
        return []
    ids = list(model_ids)
    m = logged_models.c
    stmt = select(logged_models).where(m.model_id.in_(ids))
    if not allow_deleted:
        stmt = stmt.where(m.lifecycle_stage == LifecycleStage.ACTIVE)
    rows = {row.model_id: row for row in conn.execute(stmt)}
    tags = _children(conn, logged_model_tags, ids)
    params = _children(conn, logged_model_params, ids)
    metrics: dict[str, list[LoggedModelMetric]] = {}
    for r in conn.execute(
        select(logged_model_metrics)
        .where(logged_model_metrics.c.model_id.in_(ids))
        .order_by(logged_model_metrics.c.key, logged_model_metrics.c.timestamp)
    ):
        metrics.setdefault(r.model_id, []).append(
            LoggedModelMetric(
                r.key,
                float("nan") if r.is_nan else r.value,
                r.timestamp,
                r.step,
                r.run_uuid or None,
                r.dataset_name,
                r.dataset_digest,
            )
        )
    return [
        LoggedModel(
            model_id=row.model_id,
            experiment_id=str(row.experiment_id),
            name=row.name,
            artifact_uri=row.artifact_location,
            creation_timestamp=row.creation_timestamp_ms,
            last_updated_timestamp=row.last_updated_timestamp_ms,
            status=LoggedModelStatus(row.status),
            creator_id=row.creator_id,
            model_type=row.model_type,
            source_run_id=row.source_run_id,
            status_message=row.status_message,
            tags=tags.get(row.model_id, {}),
            params=params.get(row.model_id, {}),
            metrics=tuple(metrics.get(row.model_id, ())),
        )
        for model_id in ids
        if (row := rows.get(model_id)) is not None
    ]


def _children(conn: Connection, table: Any, ids: list[str]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = {}
    for model_id, key, value in conn.execute(
        select(table.c.model_id, table.c.key, table.c.value).where(table.c.model_id.in_(ids))
    ):
        grouped.setdefault(model_id, {})[key] = value
    return grouped


def model_outputs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[LoggedModelOutput]]:
    """The models each run produced, for loading runs."""
    grouped: dict[str, list[LoggedModelOutput]] = {}
    for run_id, model_id, step in conn.execute(
        select(run_outputs.c.run_uuid, run_outputs.c.model_id, run_outputs.c.step)
        .where(run_outputs.c.run_uuid.in_(list(run_ids)))
        .order_by(run_outputs.c.run_uuid, run_outputs.c.step, run_outputs.c.model_id)
    ):
        grouped.setdefault(run_id, []).append(LoggedModelOutput(model_id, step))
    return grouped
