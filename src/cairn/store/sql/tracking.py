"""SqlTrackingStore: the TrackingStore on SQLite, PostgreSQL or MySQL/MariaDB."""

from __future__ import annotations

import functools
import operator
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Engine, String, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.entities.run_columns import RunColumns
from cairn.exceptions import (
    InvalidParameterValueError,
    InvalidStateError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.store import page_token as tokens
from cairn.store import run_names, search
from cairn.store import validation as check
from cairn.store.base import (
    SEARCH_MAX_RESULTS_DEFAULT,
    ColumnarRunSearch,
    MetricPoint,
    TrackingStore,
)
from cairn.store.ids import new_run_id
from cairn.store.sql import (
    dialects,
    engine,
    idempotency,
    loading,
    metric_top,
    migrate,
    query,
    rollups,
    storage,
)
from cairn.store.sql.downsample import SqlDownsampledHistory
from cairn.store.sql.grouped import SqlGroupedHistory
from cairn.store.sql.logged_models import SqlLoggedModels
from cairn.store.sql.prepared import Prepared
from cairn.store.sql.run_counts import SqlRunCounts
from cairn.store.sql.schema import experiment_tags, experiments, runs
from cairn.store.sql.schema import metrics as metrics_table
from cairn.store.sql.schema import params as params_table
from cairn.store.sql.schema import tags as tags_table
from cairn.store.sql.storage import SqlStorageAccounting
from cairn.store.sql.traces import SqlTraceStore

# The run path's statements, compiled once per dialect (see prepared.py).
_EXPERIMENT_LOCATION = Prepared(
    select(experiments.c.artifact_location, experiments.c.lifecycle_stage).where(
        experiments.c.experiment_id == bindparam("id")
    )
)
_INSERT_RUN = Prepared(insert(runs))
_INSERT_TAG = Prepared(insert(tags_table))
_RUN_STAGE = Prepared(select(runs.c.lifecycle_stage).where(runs.c.run_uuid == bindparam("run")))
_UPDATE_RUN = Prepared(
    update(runs)
    .where(runs.c.run_uuid == bindparam("run"))
    .values(
        status=func.coalesce(bindparam("status", type_=String), runs.c.status),
        end_time=func.coalesce(bindparam("end_time", type_=BigInteger), runs.c.end_time),
        name=func.coalesce(bindparam("name", type_=String), runs.c.name),
    )
)
_RUN_INFO = Prepared(select(*loading.RUN_COLUMNS).where(runs.c.run_uuid == bindparam("run")))
_PARAMS_OF_RUN = Prepared(
    select(params_table.c.key, params_table.c.value).where(
        params_table.c.run_uuid == bindparam("run")
    )
)

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refuse_taken_name(conn: Connection, name: str, other_than: int | None, then: str) -> None:
    """Raise when another experiment holds `name`. A deleted one keeps its name until it is
    restored or collected, so the message says which one it is and how to do either."""
    held = conn.execute(
        select(experiments.c.experiment_id, experiments.c.lifecycle_stage).where(
            experiments.c.name == name
        )
    ).first()
    if held is None or held[0] == other_than:
        return
    if held[1] != LifecycleStage.DELETED:
        raise ResourceAlreadyExistsError(f"Experiment '{name}' already exists.")
    raise ResourceAlreadyExistsError(
        f"Experiment '{name}' already exists in the deleted state (id {held[0]}). Restore it "
        f"(cairn.Client().restore_experiment('{held[0]}')) or remove it for good with "
        f"`cairn gc --experiment {held[0]}`, then {then}."
    )


class SqlTrackingStore(
    SqlLoggedModels,
    SqlDownsampledHistory,
    SqlGroupedHistory,
    SqlRunCounts,
    SqlStorageAccounting,
    TrackingStore,
    ColumnarRunSearch,
):
    """Tracking data in one SQL database; artifact locations derive from `artifact_root`."""

    def __init__(self, db_uri: str, artifact_root: str) -> None:
        self.db_uri = db_uri
        self.engine: Engine = migrate.migrated_engine(db_uri)
        engine.refresh_statistics(self.engine)
        self._runs_created = 0
        self._statistics_check_at = 1000
        self._key_purge_due = 0.0  # monotonic time of the next purge of old idempotency keys
        self.artifact_root = artifact_root.rstrip("/")
        self._ensure_default_experiment()

    def close(self) -> None:
        self.engine.dispose()

    @functools.cached_property
    def traces(self) -> SqlTraceStore:
        """The trace store on this store's database and engine (no second pool)."""
        return SqlTraceStore.from_engine(self.engine)

    # -- experiments ------------------------------------------------------------------------

    def _ensure_default_experiment(self) -> None:
        with self._read() as conn:
            if conn.execute(
                select(experiments.c.experiment_id).where(experiments.c.experiment_id == 0)
            ).first():
                return
        try:
            with self._write() as conn:
                if self.engine.dialect.name == "mysql":
                    # MySQL turns an explicit 0 into the next auto-increment value unless told.
                    conn.exec_driver_sql(
                        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO')"
                    )
                now = _now_ms()
                conn.execute(
                    insert(experiments).values(
                        experiment_id=0,
                        name=DEFAULT_EXPERIMENT_NAME,
                        artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        creation_time=now,
                        last_update_time=now,
                    )
                )
        except IntegrityError:
            pass  # another process created it first

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
    ) -> str:
        check.experiment_name(name)
        tag_rows = [_experiment_tag_row(0, t) for t in tags]

        def work(conn: Connection) -> int:
            _refuse_taken_name(conn, name, None, "create it again")
            now = _now_ms()
            inserted = conn.execute(
                insert(experiments).values(
                    name=name,
                    artifact_location=artifact_location,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            new_id = inserted[0]
            if not artifact_location:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.experiment_id == new_id)
                    .values(artifact_location=f"{self.artifact_root}/{new_id}")
                )
            for row in tag_rows:
                row["experiment_id"] = new_id
            dialects.upsert(conn, experiment_tags, tag_rows, ("experiment_id", "key"))
            return int(new_id)

        try:
            return str(self._retrying(work))
        except IntegrityError:
            raise ResourceAlreadyExistsError(f"Experiment '{name}' already exists.") from None

    def get_experiment(self, experiment_id: str) -> Experiment:
        number = int(check.experiment_id(experiment_id))
        with self._read() as conn:
            found = loading.load_experiments(conn, [number])
        if not found:
            raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        check.experiment_name(name)
        with self._read() as conn:
            number = conn.execute(
                select(experiments.c.experiment_id).where(experiments.c.name == name)
            ).scalar()
            if number is None:
                return None
            return loading.load_experiments(conn, [number])[0]

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Experiment]:
        limit = _page_size(max_results)
        offset = _offset(page_token)
        stmt = query.experiment_search(
            ViewType(view_type).stages,
            search.parse_experiment_filter(filter_string),
            search.parse_experiment_order_by(order_by),
        )
        with self._search_read() as conn:
            ids = list(conn.execute(stmt.limit(limit + 1).offset(offset)).scalars())
            found = loading.load_experiments(conn, ids[:limit])
        return PagedList(found, tokens.next_token(offset, limit, len(ids)))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        check.experiment_name(new_name)

        def work(conn: Connection) -> None:
            stage = self._experiment_stage(conn, experiment_id)
            if stage != LifecycleStage.ACTIVE:
                raise InvalidStateError(
                    f"Cannot rename experiment {experiment_id}: it is not active."
                )
            _refuse_taken_name(conn, new_name, int(experiment_id), "rename again")
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == int(experiment_id))
                .values(name=new_name, last_update_time=_now_ms())
            )

        self._retrying(work)

    def delete_experiment(self, experiment_id: str) -> None:
        if check.experiment_id(experiment_id) == DEFAULT_EXPERIMENT_ID:
            raise InvalidParameterValueError("The default experiment (id 0) cannot be deleted.")
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        def work(conn: Connection) -> None:
            current = self._experiment_stage(conn, experiment_id)
            if current == stage:
                verb = "delete" if stage == LifecycleStage.DELETED else "restore"
                raise InvalidParameterValueError(
                    f"Cannot {verb} experiment {experiment_id}: it is already {stage}."
                )
            now = _now_ms()
            number = int(experiment_id)
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == number)
                .values(lifecycle_stage=stage, last_update_time=now)
            )
            conn.execute(
                update(runs)
                .where(runs.c.experiment_id == number, runs.c.lifecycle_stage == current)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now if stage == LifecycleStage.DELETED else None,
                )
            )

        self._retrying(work)

    def _experiment_stage(self, conn: Connection, experiment_id: str) -> str:
        number = int(check.experiment_id(experiment_id))
        stage = conn.execute(
            select(experiments.c.lifecycle_stage).where(experiments.c.experiment_id == number)
        ).scalar()
        if stage is None:
            raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
        return str(stage)

    def set_experiment_tag(self, experiment_id: str, tag: ExperimentTag) -> None:
        row = _experiment_tag_row(int(check.experiment_id(experiment_id)), tag)

        def work(conn: Connection) -> None:
            if self._experiment_stage(conn, experiment_id) != LifecycleStage.ACTIVE:
                raise InvalidParameterValueError(
                    f"Experiment {experiment_id} must be in the 'active' state to set tags."
                )
            dialects.upsert(conn, experiment_tags, [row], ("experiment_id", "key"))

        self._retrying(work)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        check.no_nul("Tag key", key)

        def work(conn: Connection) -> None:
            self._experiment_stage(conn, experiment_id)
            deleted = conn.execute(
                delete(experiment_tags).where(
                    experiment_tags.c.experiment_id == int(experiment_id),
                    experiment_tags.c.key == key,
                )
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExistError(f"No tag {key!r} on experiment {experiment_id}.")

        self._retrying(work)

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        tags: Sequence[RunTag],
        run_name: str | None,
        run_id: str | None = None,
    ) -> Run:
        chosen_id = None if run_id is None else check.client_run_id(run_id)
        tag_rows = {t.key: _tag_value(t) for t in tags}
        named = tag_rows.get(run_names.RUN_NAME_TAG)
        if run_name and named is not None and named != run_name:
            raise InvalidParameterValueError(
                f"Both run_name ({run_name!r}) and the {run_names.RUN_NAME_TAG} tag "
                f"({named!r}) were given, with different values."
            )
        name = check.run_name(run_name or named or run_names.generate())
        tag_rows[run_names.RUN_NAME_TAG] = name
        start = check.integer("start_time", start_time, minimum=0)
        user = check.user_id(user_id or "")
        run_id = chosen_id or new_run_id()

        experiment_number = int(check.experiment_id(experiment_id))

        def work(conn: Connection) -> str | None:
            if chosen_id is not None and self._existing_run(conn, run_id, experiment_number):
                return None
            found = _EXPERIMENT_LOCATION.first(conn, {"id": experiment_number})
            if found is None:
                raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
            if found[1] != LifecycleStage.ACTIVE:
                raise InvalidParameterValueError(
                    f"Experiment {experiment_id} must be in the 'active' state to create runs."
                )
            artifact_uri = f"{found[0]}/{run_id}/artifacts"
            _INSERT_RUN.execute(
                conn,
                {
                    "run_uuid": run_id,
                    "name": name,
                    "experiment_id": experiment_number,
                    "user_id": user,
                    "status": RunStatus.RUNNING.value,
                    "start_time": start,
                    "end_time": None,
                    "deleted_time": None,
                    "lifecycle_stage": LifecycleStage.ACTIVE,
                    "artifact_uri": artifact_uri,
                },
            )
            _INSERT_TAG.executemany(
                conn, [{"run_uuid": run_id, "key": k, "value": v} for k, v in tag_rows.items()]
            )
            return artifact_uri

        try:
            artifact_uri = self._retrying(work)
        except IntegrityError:
            if chosen_id is None:
                raise
            artifact_uri = None  # the same id created concurrently: the check now finds it
            with self._read() as conn:
                if not self._existing_run(conn, run_id, experiment_number):
                    raise
        if artifact_uri is None:
            return self.get_run(run_id)
        self._runs_created += 1
        info = RunInfo(
            run_id,
            str(experiment_number),
            name,
            user,
            RunStatus.RUNNING.value,
            start,
            None,
            artifact_uri,
            LifecycleStage.ACTIVE,
        )
        return Run(info, RunData(params={}, tags=tag_rows))

    def get_run(self, run_id: str) -> Run:
        check.run_id(run_id)
        with self._read() as conn:
            found = loading.load_runs(conn, [run_id])
        if not found:
            raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
        return found[0]

    def update_run_info(
        self,
        run_id: str,
        run_status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if run_status is not None:
            values["status"] = RunStatus.parse(run_status).value
        if end_time is not None:
            values["end_time"] = check.integer("end_time", end_time, minimum=0)
        if run_name:
            values["name"] = check.run_name(run_name)

        def work(conn: Connection) -> RunInfo:
            self._check_active_run(conn, run_id)
            if values:
                _UPDATE_RUN.execute(
                    conn, {"status": None, "end_time": None, "name": None, **values, "run": run_id}
                )
            if run_name:
                dialects.upsert(
                    conn,
                    tags_table,
                    [{"run_uuid": run_id, "key": run_names.RUN_NAME_TAG, "value": values["name"]}],
                    ("run_uuid", "key"),
                )
            return loading.run_info(_RUN_INFO.first(conn, {"run": run_id}))

        info: RunInfo = self._retrying(work)
        return info

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        check.run_id(run_id)

        def work(conn: Connection) -> None:
            if self._run_stage(conn, run_id) is None:
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            conn.execute(
                update(runs)
                .where(runs.c.run_uuid == run_id)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=_now_ms() if stage == LifecycleStage.DELETED else None,
                )
            )

        self._retrying(work)

    @staticmethod
    def _existing_run(conn: Connection, run_id: str, experiment_number: int) -> bool:
        """Whether a run with this client-chosen id exists in the experiment (a replayed
        create); one in another experiment raises ResourceAlreadyExistsError."""
        held = conn.execute(select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)).first()
        if held is None:
            return False
        if int(held[0]) != experiment_number:
            raise ResourceAlreadyExistsError(
                f"Run '{run_id}' already exists in experiment {held[0]}, not in experiment "
                f"{experiment_number}."
            )
        return True

    @staticmethod
    def _run_stage(conn: Connection, run_id: str) -> str | None:
        row = _RUN_STAGE.first(conn, {"run": run_id})
        return None if row is None else str(row[0])

    def _check_active_run(self, conn: Connection, run_id: str) -> None:
        check.run_id(run_id)
        stage = self._run_stage(conn, run_id)
        if stage is None:
            raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
        if stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValueError(
                f"The run {run_id} must be in the 'active' state. Current state is {stage}."
            )

    # -- logging ----------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        idempotency_key: str | None = None,
    ) -> None:
        check.run_id(run_id)
        key = self._stored_key(run_id, idempotency_key)
        check.batch(metrics, params, tags)
        points = check.metric_points(run_id, metrics)
        param_rows = {_param_key(p): _param_value(p) for p in params}
        tag_rows = [
            {"run_uuid": run_id, "key": check.validate_key("Tag", t.key), "value": _tag_value(t)}
            for t in tags
        ]

        def work(conn: Connection) -> None:
            if key is not None and not idempotency.claim(conn, key, _now_ms()):
                return  # applied already: a replay
            self._check_active_run(conn, run_id)
            if param_rows:
                self._insert_params(conn, run_id, param_rows)
            if points:
                dialects.insert_metric_points(conn, points)
                dialects.refresh_latest_metrics(conn, points)
                rollups.mark_stale(conn, points)
                storage.add_points(conn, {run_id: len(points)})
            if tag_rows:
                dialects.upsert(conn, tags_table, tag_rows, ("run_uuid", "key"))
                for row in tag_rows:
                    if row["key"] == run_names.RUN_NAME_TAG:
                        _UPDATE_RUN.execute(
                            conn,
                            {"status": None, "end_time": None, "name": row["value"], "run": run_id},
                        )

        self._retrying(work)
        if key is not None:
            self._purge_old_keys()

    def _stored_key(self, scope: str, idempotency_key: str | None) -> str | None:
        if idempotency_key is None:
            return None
        return idempotency.stored_key(scope, check.idempotency_key(idempotency_key))

    def _purge_old_keys(self) -> None:
        """Opportunistic: on this store's first keyed write, then at most once an hour."""
        now = time.monotonic()
        if now < self._key_purge_due:
            return
        self._key_purge_due = now + idempotency.PURGE_INTERVAL_SECONDS
        self._retrying(lambda conn: idempotency.purge(conn, _now_ms()))

    @staticmethod
    def _insert_params(conn: Connection, run_id: str, new: dict[str, str]) -> None:
        rows = [{"run_uuid": run_id, "key": k, "value": v} for k, v in new.items()]
        inserted = dialects.insert_ignore(conn, params_table, rows)
        # SQLAlchemy connects MySQL with FOUND_ROWS, which counts a skipped duplicate as a
        # row too; there the count proves nothing and the values are always compared.
        if inserted == len(rows) and conn.dialect.name != "mysql":
            return  # all new: the common case costs one statement
        existing = dict(_PARAMS_OF_RUN.all(conn, {"run": run_id}))
        changed = {k: (existing[k], v) for k, v in new.items() if existing[k] != v}
        if changed:
            detail = "; ".join(
                f"key={k!r}: logged value={old!r}, new value={v!r}"
                for k, (old, v) in changed.items()
            )
            raise InvalidParameterValueError(
                f"Changing param values is not allowed. Params already logged to run "
                f"'{run_id}' with other values: {detail}."
            )

    def log_metric_points(
        self, points: Sequence[MetricPoint], idempotency_key: str | None = None
    ) -> None:
        key = self._stored_key("", idempotency_key)
        if points:
            self._store_points(points, key=key)

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int,
        points: Sequence[MetricPoint] = (),
        idempotency_key: str | None = None,
    ) -> None:
        key = self._stored_key("", idempotency_key)
        values = {
            "status": RunStatus.parse(status).value,
            "end_time": check.integer("end_time", end_time, minimum=0),
            "name": None,
            "run": check.run_id(run_id),
        }

        def finish(conn: Connection) -> None:
            self._check_active_run(conn, run_id)
            _UPDATE_RUN.execute(conn, values)

        self._store_points(points, finish, key)

    def _store_points(
        self,
        points: Sequence[MetricPoint],
        then: Callable[[Connection], None] | None = None,
        key: str | None = None,
    ) -> None:
        """Store points of active runs (and run `then`) in one transaction; points of runs
        that are gone or deleted are skipped and named in the error raised afterwards.
        A `key` already claimed skips the points (a replay), never `then`."""
        run_ids = set(map(operator.itemgetter(0), points))
        bad: dict[str, str] = {}

        def work(conn: Connection) -> None:
            bad.clear()
            if points and key is not None and not idempotency.claim(conn, key, _now_ms()):
                if then is not None:
                    then(conn)
                return
            for run_id in run_ids:
                stage = self._run_stage(conn, run_id)
                if stage != LifecycleStage.ACTIVE:
                    bad[run_id] = "not found" if stage is None else f"in state '{stage}'"
            good = [p for p in points if p[0] not in bad] if bad else points
            if good:
                dialects.insert_metric_points(conn, good)
                dialects.refresh_latest_metrics(conn, good)
                rollups.mark_stale(conn, good)
                storage.add_points(conn, Counter(map(operator.itemgetter(0), good)))
            if then is not None:
                then(conn)

        self._retrying(work)
        if key is not None:
            self._purge_old_keys()
        if bad:
            detail = ", ".join(f"{run_id} ({why})" for run_id, why in sorted(bad.items()))
            raise InvalidParameterValueError(
                f"Metrics for runs that are not active were not stored: {detail}."
            )

    def delete_tag(self, run_id: str, key: str) -> None:
        check.no_nul("Tag key", key)

        def work(conn: Connection) -> None:
            self._check_active_run(conn, run_id)
            deleted = conn.execute(
                delete(tags_table).where(tags_table.c.run_uuid == run_id, tags_table.c.key == key)
            ).rowcount
            if not deleted:
                raise ResourceDoesNotExistError(f"No tag with key {key!r} in run '{run_id}'.")

        self._retrying(work)

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Metric]:
        check.run_id(run_id)
        check.no_nul("Metric key", key)
        offset = _offset(page_token)
        m = metrics_table.c
        stmt = (
            select(m.key, m.value, m.timestamp, m.step, m.is_nan)
            .where(m.run_uuid == run_id, m.key == key)
            .order_by(m.step, m.timestamp, m.value)
        )
        limit = None
        if max_results is not None:
            limit = _page_size(max_results, limit=2**31)
            stmt = stmt.limit(limit + 1).offset(offset)
        elif offset:
            stmt = stmt.offset(offset)
        with self._read() as conn:
            if self._run_stage(conn, run_id) is None:
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            rows = conn.execute(stmt).all()
        nan = float("nan")
        history = [Metric(k, nan if is_nan else v, t, s) for k, v, t, s, is_nan in rows]
        if limit is None:
            return PagedList(history, None)
        return PagedList(history[:limit], tokens.next_token(offset, limit, len(history)))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        ids = self.search_run_ids(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )
        with self._read() as conn:
            found = loading.load_runs(conn, ids)
        return PagedList(found, ids.token)

    def search_runs_columns(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> tuple[RunColumns, str | None]:
        ids = self.search_run_ids(
            experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
        )
        with self._read() as conn:
            return loading.load_columns(conn, ids), ids.token

    def search_run_ids(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        run_view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[str]:
        """The ids of one page of search_runs, without loading the runs."""
        limit = _page_size(max_results)
        offset = _offset(page_token)
        if self._runs_created >= self._statistics_check_at:
            # This process has grown the runs table: the planner's statistics may be stale.
            self._statistics_check_at = 2 * self._runs_created
            engine.refresh_statistics(self.engine)
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        numbers = [int(check.experiment_id(e)) for e in experiment_ids]
        stages = ViewType(run_view_type).stages
        filters = search.parse_run_filter(filter_string)
        order = search.parse_run_order_by(order_by)
        if not numbers:
            return PagedList([], None)
        with self._search_read() as conn:
            ids = metric_top.first_rows(conn, numbers, stages, filters, order, limit + 1, offset)
            if ids is None:
                stmt = query.run_search(numbers, stages, filters, order)
                ids = list(conn.execute(stmt.limit(limit + 1).offset(offset)).scalars())
        return PagedList(ids[:limit], tokens.next_token(offset, limit, len(ids)))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        from cairn.store.sql import inputs as dataset_inputs

        self._retrying(lambda conn: dataset_inputs.log(conn, self, run_id, datasets))

    def log_dataset_outputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        from cairn.store.sql import inputs as dataset_inputs

        self._retrying(lambda conn: dataset_inputs.log(conn, self, run_id, datasets, True))


def _page_size(max_results: object, limit: int = tokens.SEARCH_MAX_RESULTS_LIMIT) -> int:
    return tokens.max_results(max_results, limit)


def _offset(token: str | None) -> int:
    return tokens.decode(token)


def _param_key(param: Param) -> str:
    return check.validate_key("Param", param.key)


def _param_value(param: Param) -> str:
    return check.text_value("Param", param.key, param.value, check.MAX_PARAM_VALUE_LENGTH, True)


def _tag_value(tag: RunTag) -> str:
    check.validate_key("Tag", tag.key)
    return check.text_value("Tag", tag.key, tag.value, check.MAX_TAG_VALUE_LENGTH, True)


def _experiment_tag_row(experiment_id: int, tag: ExperimentTag) -> dict[str, Any]:
    key = check.validate_key("Experiment tag", tag.key)
    value = check.text_value(
        "Experiment tag", key, tag.value, check.MAX_EXPERIMENT_TAG_VALUE_LENGTH, False
    )
    return {"experiment_id": experiment_id, "key": key, "value": value}
