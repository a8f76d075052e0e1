"""Writes that keep identity, for `cairn import`: experiments with their ids where free,
runs with their ids and times, histories in bulk, logged models with their ids, model
versions with their numbers.

Every write is idempotent (present and identical: left alone) and none checks a lifecycle
stage: a deleted run's history is imported like any other. Each checks what it is given
first (cairn.store.sql.import_checks) and the run, experiment or registered model it names
inside its transaction, so a broken source gets InvalidParameterValueError or
ResourceDoesNotExistError and nothing half-written. `cairn server` exposes the same writes
to admins (cairn.server.imports), so an import into a server keeps identity too.
"""

from __future__ import annotations

import operator
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from cairn.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.base import MetricPoint
from cairn.store.sql import dialects, import_checks, inputs, loading, rollups, storage
from cairn.store.sql.registry_rows import model_missing
from cairn.store.sql.schema import (
    experiment_tags,
    experiments,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    model_version_tags,
    model_versions,
    params,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    run_outputs,
    runs,
    tags,
)
from cairn.store.sql.transactions import SqlTransactions

#: Runs loaded (or looked for) per query.
RUNS_PER_QUERY = 500

T = TypeVar("T")


class SqlImports(SqlTransactions):
    """The import writes on one SQL store (its engine and artifact root)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine
        self.artifact_root: str = store.artifact_root

    def _import(self, work: Callable[[Connection], T]) -> T:
        """`work` in a write transaction, a value the database refuses reported as one."""
        with import_checks.database_refusals():
            return self._retrying(work)

    # -- experiments ------------------------------------------------------------------------

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        wanted = import_checks.experiment(experiment)

        def work(conn: Connection) -> tuple[str, bool]:
            found = conn.execute(
                select(experiments.c.experiment_id).where(experiments.c.name == experiment.name)
            ).scalar()
            if found is not None:
                return str(found), False
            free = wanted is not None and _id_is_free(conn, wanted)
            row = {
                "name": experiment.name,
                "artifact_location": experiment.artifact_location or None,
                "lifecycle_stage": experiment.lifecycle_stage,
                "creation_time": experiment.creation_time,
                "last_update_time": experiment.last_update_time,
            }
            if free:
                row["experiment_id"] = wanted
            inserted = conn.execute(experiments.insert().values(**row)).inserted_primary_key
            assert inserted is not None
            number = int(inserted[0])
            if free:
                _advance_sequence(conn)
            if not row["artifact_location"]:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.experiment_id == number)
                    .values(artifact_location=f"{self.artifact_root}/{number}")
                )
            dialects.upsert(
                conn,
                experiment_tags,
                [
                    {"experiment_id": number, "key": k, "value": v}
                    for k, v in experiment.tags.items()
                ],
                ("experiment_id", "key"),
            )
            return str(number), True

        return self._import(work)

    # -- runs -------------------------------------------------------------------------------

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        """Those of the runs the store holds. An id no run can have (a broken source's, with
        a NUL that PostgreSQL would refuse to compare) is simply not held."""
        wanted = [r for r in run_ids if _can_name_a_run(r)]
        found: dict[str, Run] = {}
        for start in range(0, len(wanted), RUNS_PER_QUERY):
            with self._read() as conn:
                for run in loading.load_runs(conn, wanted[start : start + RUNS_PER_QUERY]):
                    found[run.info.run_id] = run
        return found

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        """Returns (artifact URI, keys of params the target holds with other values)."""
        info = run.info
        run_id = check.client_run_id(info.run_id)
        number = int(check.experiment_id(experiment_id))
        import_checks.run(run)
        import_checks.fits("artifact_uri", artifact_uri, runs.c.artifact_uri)

        def work(conn: Connection) -> tuple[str, list[str]]:
            experiment_location = _experiment_location(conn, number)
            held = conn.execute(
                select(runs.c.artifact_uri, runs.c.experiment_id).where(runs.c.run_uuid == run_id)
            ).first()
            if held is not None and int(held[1]) != number:
                raise InvalidParameterValueError(
                    f"Run {run_id} is already in experiment {held[1]} of the target."
                )
            if held is None:
                location = artifact_uri or f"{experiment_location}/{run_id}/artifacts"
                conn.execute(
                    runs.insert().values(
                        run_uuid=run_id,
                        name=info.run_name,
                        experiment_id=number,
                        user_id=info.user_id,
                        status=RunStatus.RUNNING.value,
                        start_time=info.start_time,
                        end_time=None,
                        deleted_time=None,
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        artifact_uri=location,
                    )
                )
            else:
                location = str(held[0])
            param_rows = [
                {"run_uuid": run_id, "key": k, "value": v} for k, v in run.data.params.items()
            ]
            conflicts: list[str] = []
            if dialects.insert_ignore(conn, params, param_rows) != len(param_rows) or (
                conn.dialect.name == "mysql" and param_rows
            ):
                found = conn.execute(
                    select(params.c.key, params.c.value).where(params.c.run_uuid == run_id)
                )
                stored = {key: value for key, value in found}
                conflicts = [k for k, v in run.data.params.items() if stored.get(k) != v]
            dialects.upsert(
                conn,
                tags,
                [{"run_uuid": run_id, "key": k, "value": v} for k, v in run.data.tags.items()],
                ("run_uuid", "key"),
            )
            return location, conflicts

        return self._import(work)

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        """Points of runs the target holds (in any lifecycle stage), exact repeats once."""
        if not points:
            return
        points, run_ids = import_checks.metric_points(points)

        def work(conn: Connection) -> None:
            _existing_runs(conn, run_ids)
            dialects.insert_metric_points(conn, points, bulk=True)
            dialects.refresh_latest_metrics(conn, points)
            rollups.mark_stale(conn, points)
            storage.add_points(conn, Counter(map(operator.itemgetter(0), points)))

        self._import(work)

    def put_datasets(
        self, run_id: str, items: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None:
        check.run_id(run_id)

        def work(conn: Connection) -> None:
            _existing_runs(conn, [run_id])
            if items:
                inputs.log(conn, self.store, run_id, items, any_stage=True)
            if outputs:
                inputs.log(conn, self.store, run_id, outputs, True, any_stage=True)

        self._import(work)

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        check.run_id(run_id)
        import_checks.model_outputs(outputs)
        rows = [{"run_uuid": run_id, "model_id": o.model_id, "step": o.step} for o in outputs]

        def work(conn: Connection) -> None:
            _existing_runs(conn, [run_id])
            dialects.insert_ignore(conn, run_outputs, rows)

        self._import(work)

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        info = run.info
        run_id = check.run_id(info.run_id)
        import_checks.run(run)
        import_checks.times(("deleted_time", deleted_time))
        stage = info.lifecycle_stage
        values = {
            "status": RunStatus.parse(info.status).value,
            "end_time": info.end_time,
            "lifecycle_stage": stage,
            # Where the source does not say when (a store read through its API), now.
            "deleted_time": (deleted_time or _now_ms())
            if stage == LifecycleStage.DELETED
            else None,
            "name": info.run_name,
        }

        def work(conn: Connection) -> None:
            _existing_runs(conn, [run_id])
            conn.execute(update(runs).where(runs.c.run_uuid == run_id).values(**values))
            # Points written again (an import resumed) were added twice: count them once.
            storage.exact_points(conn, [run_id])

        self._import(work)

    # -- logged models ----------------------------------------------------------------------

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        number = int(check.experiment_id(experiment_id))
        import_checks.logged_model(model)
        import_checks.fits("artifact_uri", artifact_uri, logged_models.c.artifact_location)
        model_id = model.model_id

        def work(conn: Connection) -> tuple[str, bool]:
            experiment_location = _experiment_location(conn, number)
            held = conn.execute(
                select(logged_models.c.artifact_location).where(
                    logged_models.c.model_id == model_id
                )
            ).scalar()
            created = held is None
            if held is None:
                held = artifact_uri or f"{experiment_location}/models/{model_id}/artifacts"
                conn.execute(
                    logged_models.insert().values(
                        model_id=model_id,
                        experiment_id=number,
                        name=model.name,
                        artifact_location=held,
                        creation_timestamp_ms=model.creation_timestamp,
                        last_updated_timestamp_ms=model.last_updated_timestamp,
                        status=model.status.value,
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        model_type=model.model_type,
                        source_run_id=model.source_run_id,
                        status_message=model.status_message,
                        creator_id=model.creator_id,
                    )
                )
            dialects.upsert(
                conn,
                logged_model_tags,
                [{"model_id": model_id, "key": k, "value": v} for k, v in model.tags.items()],
                ("model_id", "key"),
            )
            dialects.insert_ignore(
                conn,
                logged_model_params,
                [{"model_id": model_id, "key": k, "value": v} for k, v in model.params.items()],
            )
            dialects.insert_ignore(
                conn,
                logged_model_metrics,
                [_model_metric_row(model_id, m) for m in model.metrics],
            )
            return str(held), created

        return self._import(work)

    # -- the registry -----------------------------------------------------------------------

    def put_registered_model(self, model: RegisteredModel) -> bool:
        import_checks.registered_model(model)

        def work(conn: Connection) -> bool:
            held = _registered_model(conn, model.name)
            if held is None:
                conn.execute(
                    registered_models.insert().values(
                        name=model.name,
                        creation_time=model.creation_timestamp,
                        last_updated_time=model.last_updated_timestamp,
                        description=model.description or None,
                        user_id=model.user_id,
                        last_version=0,
                    )
                )
            dialects.upsert(
                conn,
                registered_model_tags,
                [{"name": model.name, "key": k, "value": v} for k, v in model.tags.items()],
                ("name", "key"),
            )
            return held is None

        return self._import(work)

    def put_model_version(self, version: ModelVersion) -> bool:
        """A version of a registered model the target holds, with its number; the model's
        numbering goes on above the highest one imported."""
        version = import_checks.model_version(version)
        number = int(version.version)
        name = version.name

        def work(conn: Connection) -> bool:
            if _registered_model(conn, name) is None:
                raise model_missing(name)
            key = (model_versions.c.name == name) & (model_versions.c.version == number)
            created = conn.execute(select(model_versions.c.version).where(key)).first() is None
            if created:
                conn.execute(
                    model_versions.insert().values(
                        name=name,
                        version=number,
                        creation_time=version.creation_timestamp,
                        last_updated_time=version.last_updated_timestamp,
                        description=version.description or None,
                        user_id=version.user_id,
                        current_stage=version.current_stage,
                        source=version.source,
                        run_id=version.run_id,
                        run_link=version.run_link,
                        status=version.status,
                        status_message=version.status_message,
                        model_id=version.model_id,
                    )
                )
                conn.execute(
                    update(registered_models)
                    .where(
                        registered_models.c.name == name,
                        registered_models.c.last_version < number,
                    )
                    .values(last_version=number)
                )
            dialects.upsert(
                conn,
                model_version_tags,
                [
                    {"name": name, "version": number, "key": k, "value": v}
                    for k, v in version.tags.items()
                ],
                ("name", "version", "key"),
            )
            dialects.upsert(
                conn,
                registered_model_aliases,
                [{"name": name, "alias": a, "version": number} for a in version.aliases],
                ("name", "alias"),
            )
            return created

        return self._import(work)


def _model_metric_row(model_id: str, metric: LoggedModelMetric) -> dict[str, Any]:
    value, is_nan = check.stored_metric_value(metric.value)
    return {
        "model_id": model_id,
        "key": metric.key,
        "timestamp": metric.timestamp,
        "step": metric.step,
        "run_uuid": metric.run_id or "",
        "value": value,
        "is_nan": is_nan,
        "dataset_name": metric.dataset_name,
        "dataset_digest": metric.dataset_digest,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)


def _id_is_free(conn: Connection, experiment_id: int) -> bool:
    return (
        conn.execute(
            select(experiments.c.experiment_id).where(experiments.c.experiment_id == experiment_id)
        ).first()
        is None
    )


def _experiment_location(conn: Connection, number: int) -> str:
    """The artifact location of an experiment the write names, which must exist."""
    found = conn.execute(
        select(experiments.c.artifact_location).where(experiments.c.experiment_id == number)
    ).first()
    if found is None:
        raise ResourceDoesNotExistError(f"No experiment with id={number}.")
    return str(found[0])


def _can_name_a_run(run_id: str) -> bool:
    try:
        check.run_id(run_id)
    except InvalidParameterValueError:
        return False
    return True


def _existing_runs(conn: Connection, run_ids: Sequence[str]) -> None:
    """Every run a write names is held (in any lifecycle stage): one query per
    RUNS_PER_QUERY runs, however many points name them."""
    for start in range(0, len(run_ids), RUNS_PER_QUERY):
        wanted = run_ids[start : start + RUNS_PER_QUERY]
        held = set(
            conn.execute(select(runs.c.run_uuid).where(runs.c.run_uuid.in_(wanted))).scalars()
        )
        missing = [r for r in wanted if r not in held]
        if missing:
            raise ResourceDoesNotExistError(f"Run '{missing[0]}' not found.")


def _registered_model(conn: Connection, name: str) -> str | None:
    return conn.execute(
        select(registered_models.c.name).where(registered_models.c.name == name)
    ).scalar()


def _advance_sequence(conn: Connection) -> None:
    """After an insert with an explicit id, PostgreSQL's sequence still points below it;
    move it past the highest id so the next created experiment does not collide.
    (SQLite and MySQL take the next id from the highest one themselves.)"""
    if conn.dialect.name == "postgresql":
        highest = conn.execute(select(func.max(experiments.c.experiment_id))).scalar_one()
        # With only the Default experiment (0), the next id must be 1: not yet "called".
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), %s, %s)",
            (max(int(highest), 1), int(highest) >= 1),
        )
