"""An MLflow tracking database (SQLite, PostgreSQL, MySQL) read as an import source.

The tables are reflected, not declared: MLflow's schema changed over its revisions (2.x
added datasets, inputs, aliases and run deletion times; 3.x logged models, input steps
and workspaces), and a column or table a revision lacks is simply not read. Rows are read
in bulk per batch of runs and histories stream from the database in chunks, so neither a
store of 100,000 runs nor a history of 10 million points is ever in memory at once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Float, MetaData, Table, case, create_engine, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.interchange.source import CHUNK_POINTS, SourceRun
from cairn.store.base import MetricPoint

#: Runs whose params, tags, metrics and inputs are read per query.
RUNS_PER_QUERY = 500
#: MLflow's LoggedModelStatus numbers (0 is "unspecified": read as pending).
_MODEL_STATUS = {
    0: LoggedModelStatus.PENDING,
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}
_DEFAULT_WORKSPACE = "default"


class MLflowSqlSource:
    """Reads the MLflow database at `uri` (a SQLAlchemy URL, as `mlflow server
    --backend-store-uri` takes it)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.description = uri
        self.problems: list[str] = []
        self.engine: Engine = create_engine(uri)
        self.meta = MetaData()
        try:
            self.meta.reflect(self.engine)
        except SQLAlchemyError as error:
            raise InvalidParameterValueError(
                f"Cannot read an MLflow database at {uri}: {error}"
            ) from None
        _floats_as_floats(self.meta)
        missing = {"experiments", "runs", "metrics", "params", "tags"} - set(self.meta.tables)
        if missing:
            raise InvalidParameterValueError(
                f"{uri} is not an MLflow tracking database (no table {', '.join(sorted(missing))})."
            )
        self.revision = self._revision()

    def close(self) -> None:
        self.engine.dispose()

    def _table(self, name: str) -> Table | None:
        return self.meta.tables.get(name)

    def _revision(self) -> str | None:
        version = self._table("alembic_version")
        if version is None:
            return None
        with self.engine.connect() as conn:
            return conn.execute(select(version.c.version_num)).scalar()

    # -- experiments ------------------------------------------------------------------------

    def experiments(self) -> Iterator[Experiment]:
        table = self.meta.tables["experiments"]
        c = table.c
        stmt = select(table).order_by(c.experiment_id)
        if "workspace" in c:
            stmt = stmt.where(c.workspace == _DEFAULT_WORKSPACE)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
            tags = self._experiment_tags(conn)
        for row in rows:
            experiment_id = str(row["experiment_id"])
            yield Experiment(
                experiment_id=experiment_id,
                name=row["name"],
                artifact_location=row["artifact_location"] or "",
                lifecycle_stage=row["lifecycle_stage"] or LifecycleStage.ACTIVE,
                tags=tags.get(experiment_id, {}),
                creation_time=row.get("creation_time"),
                last_update_time=row.get("last_update_time"),
            )

    def _experiment_tags(self, conn: Connection) -> dict[str, dict[str, str]]:
        table = self._table("experiment_tags")
        found: dict[str, dict[str, str]] = defaultdict(dict)
        if table is not None:
            for experiment_id, key, value in conn.execute(
                select(table.c.experiment_id, table.c.key, table.c.value)
            ):
                found[str(experiment_id)][key] = value if value is not None else ""
        return found

    # -- runs -------------------------------------------------------------------------------

    def run_count(self) -> int | None:
        table = self.meta.tables["runs"]
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        table = self.meta.tables["runs"]
        stmt = (
            select(table.c.run_uuid)
            .where(table.c.experiment_id == int(experiment_id))
            .order_by(table.c.start_time, table.c.run_uuid)
        )
        with self.engine.connect() as conn:
            run_ids = list(conn.execute(stmt).scalars())
        for start in range(0, len(run_ids), RUNS_PER_QUERY):
            with self.engine.connect() as conn:
                yield from self.load_runs(conn, run_ids[start : start + RUNS_PER_QUERY])

    def load_runs(self, conn: Connection, run_ids: Sequence[str]) -> list[SourceRun]:
        """These runs, whole but for their histories (also what an export compares)."""
        table = self.meta.tables["runs"]
        rows = conn.execute(select(table).where(table.c.run_uuid.in_(run_ids))).mappings().all()
        by_id = {row["run_uuid"]: row for row in rows}
        params = self._key_values(conn, "params", run_ids)
        tags = self._key_values(conn, "tags", run_ids)
        latest = self._latest_metrics(conn, run_ids)
        counts = self._point_counts(conn, run_ids)
        inputs = self._dataset_inputs(conn, run_ids)
        outputs = self._model_outputs(conn, run_ids)
        loaded = []
        for run_id in run_ids:
            row = by_id[run_id]
            problems = []
            status = row["status"] or "FINISHED"
            end_time = row["end_time"]
            if end_time is None and status in ("FINISHED", "FAILED", "KILLED"):
                problems.append(f"{status} but no end time; imported without one")
            info = RunInfo(
                run_id=run_id,
                experiment_id=str(row["experiment_id"]),
                run_name=row.get("name") or tags[run_id].get("mlflow.runName", ""),
                user_id=row["user_id"] or "",
                status=status,
                start_time=row["start_time"] or 0,
                end_time=end_time,
                artifact_uri=row["artifact_uri"] or "",
                lifecycle_stage=row["lifecycle_stage"] or LifecycleStage.ACTIVE,
            )
            keys = counts.get(run_id, {})
            run = Run(
                info,
                RunData(
                    latest_metrics=tuple(latest.get(run_id, ())),
                    params=params[run_id],
                    tags=tags[run_id],
                ),
                RunInputs(tuple(inputs.get(run_id, ()))),
                RunOutputs(model_outputs=tuple(outputs.get(run_id, ()))),
            )
            loaded.append(
                SourceRun(
                    run,
                    deleted_time=row.get("deleted_time"),
                    metric_keys=tuple(sorted(keys)),
                    point_count=sum(keys.values()),
                    problems=problems,
                )
            )
        return loaded

    def _key_values(
        self, conn: Connection, name: str, run_ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        table = self.meta.tables[name]
        found: dict[str, dict[str, str]] = defaultdict(dict)
        stmt = select(table.c.run_uuid, table.c.key, table.c.value).where(
            table.c.run_uuid.in_(run_ids)
        )
        for run_id, key, value in conn.execute(stmt):
            found[run_id][key] = value if value is not None else ""
        return found

    def _latest_metrics(self, conn: Connection, run_ids: Sequence[str]) -> dict[str, list[Metric]]:
        table = self._table("latest_metrics")
        found: dict[str, list[Metric]] = defaultdict(list)
        if table is None:
            return found  # before MLflow 1.9: nothing to compare, histories are read
        c = table.c
        stmt = select(c.run_uuid, c.key, c.value, c.timestamp, c.step, c.is_nan).where(
            c.run_uuid.in_(run_ids)
        )
        for run_id, key, value, timestamp, step, is_nan in conn.execute(stmt):
            found[run_id].append(Metric(key, _value(value, is_nan), timestamp or 0, step or 0))
        return found

    def _point_counts(self, conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        c = self.meta.tables["metrics"].c
        stmt = (
            select(c.run_uuid, c.key, func.count())
            .where(c.run_uuid.in_(run_ids))
            .group_by(c.run_uuid, c.key)
        )
        found: dict[str, dict[str, int]] = defaultdict(dict)
        for run_id, key, count in conn.execute(stmt):
            found[run_id][key] = int(count)
        return found

    def _dataset_inputs(
        self, conn: Connection, run_ids: Sequence[str]
    ) -> dict[str, list[DatasetInput]]:
        links, datasets, input_tags = (
            self._table("inputs"),
            self._table("datasets"),
            self._table("input_tags"),
        )
        found: dict[str, list[DatasetInput]] = defaultdict(list)
        if links is None or datasets is None:
            return found
        stmt = (
            select(links.c.input_uuid, links.c.destination_id, datasets)
            .join(datasets, datasets.c.dataset_uuid == links.c.source_id)
            .where(
                links.c.source_type == "DATASET",
                links.c.destination_type == "RUN",
                links.c.destination_id.in_(run_ids),
            )
        )
        rows = conn.execute(stmt).mappings().all()
        tags: dict[str, list[InputTag]] = defaultdict(list)
        if input_tags is not None and rows:
            for input_id, name, value in conn.execute(
                select(input_tags.c.input_uuid, input_tags.c.name, input_tags.c.value).where(
                    input_tags.c.input_uuid.in_([r["input_uuid"] for r in rows])
                )
            ):
                tags[input_id].append(InputTag(name, value))
        for row in rows:
            dataset = Dataset(
                name=row["name"],
                digest=row["digest"],
                source_type=row["dataset_source_type"],
                source=row["dataset_source"],
                schema=row["dataset_schema"],
                profile=row["dataset_profile"],
            )
            found[row["destination_id"]].append(
                DatasetInput(dataset, tuple(tags.get(row["input_uuid"], ())))
            )
        return found

    def _model_outputs(
        self, conn: Connection, run_ids: Sequence[str]
    ) -> dict[str, list[LoggedModelOutput]]:
        links = self._table("inputs")
        found: dict[str, list[LoggedModelOutput]] = defaultdict(list)
        if links is None:
            return found
        c = links.c
        step = c.step if "step" in c else None
        columns = [c.source_id, c.destination_id] + ([step] if step is not None else [])
        stmt = select(*columns).where(
            c.source_type == "RUN_OUTPUT",
            c.destination_type == "MODEL_OUTPUT",
            c.source_id.in_(run_ids),
        )
        for row in conn.execute(stmt):
            found[row[0]].append(LoggedModelOutput(row[1], int(row[2]) if len(row) > 2 else 0))
        return found

    def metric_history(self, run_id: str, key: str) -> Iterator[Sequence[MetricPoint]]:
        """Straight from the driver's cursor (a server-side one on PostgreSQL and MySQL,
        so a long history streams): the rows are already the points, with NULL for NaN,
        and no Python runs per point but that one check (SQLAlchemy's rows cost 5× more).
        Ordered by step only: that makes SQLite read MLflow's (run, key, step) index rather
        than crawl the primary key, and adding the timestamp would make it sort each history
        (29.7 → 15.0 s for 10M points); the order of points does not matter to a target."""
        c = self.meta.tables["metrics"].c
        stmt = (
            select(c.run_uuid, c.key, case((c.is_nan, None), else_=c.value), c.timestamp, c.step)
            .where(c.run_uuid == run_id, c.key == key)
            .order_by(c.step)
        )
        compiled = stmt.compile(dialect=self.engine.dialect)
        values = compiled.construct_params()
        positions = compiled.positiontup or ()
        args = tuple(values[n] for n in positions) if compiled.positional else values
        connection = self.engine.raw_connection()
        try:
            cursor = _streaming_cursor(connection.driver_connection, self.engine.dialect.name)
            cursor.execute(str(compiled), args)
            while rows := cursor.fetchmany(CHUNK_POINTS):
                yield [p if p[2] is not None else (*p[:2], math.nan, *p[3:]) for p in rows]
            cursor.close()
        finally:
            connection.rollback()
            connection.close()

    # -- logged models ----------------------------------------------------------------------

    def logged_models(self, experiment_id: str) -> Iterator[LoggedModel]:
        table = self._table("logged_models")
        if table is None:
            return
        c = table.c
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(table)
                    .where(c.experiment_id == int(experiment_id))
                    .order_by(c.creation_timestamp_ms, c.model_id)
                )
                .mappings()
                .all()
            )
            ids = [row["model_id"] for row in rows]
            params = self._model_key_values(conn, "logged_model_params", "param", ids)
            tags = self._model_key_values(conn, "logged_model_tags", "tag", ids)
            metrics = self._model_metrics(conn, ids)
        for row in rows:
            model_id = row["model_id"]
            if row.get("lifecycle_stage") == LifecycleStage.DELETED:
                self.problems.append(f"logged model {model_id} is deleted: not imported")
                continue
            yield LoggedModel(
                model_id=model_id,
                experiment_id=experiment_id,
                name=row["name"],
                artifact_uri=row["artifact_location"],
                creation_timestamp=row["creation_timestamp_ms"],
                last_updated_timestamp=row["last_updated_timestamp_ms"],
                status=_MODEL_STATUS.get(row["status"], LoggedModelStatus.PENDING),
                model_type=row.get("model_type"),
                source_run_id=row.get("source_run_id"),
                status_message=row.get("status_message"),
                tags=tags.get(model_id, {}),
                params=params.get(model_id, {}),
                metrics=tuple(metrics.get(model_id, ())),
            )

    def _model_key_values(
        self, conn: Connection, name: str, prefix: str, ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        table = self._table(name)
        found: dict[str, dict[str, str]] = defaultdict(dict)
        if table is None or not ids:
            return found
        c = table.c
        stmt = select(c.model_id, c[f"{prefix}_key"], c[f"{prefix}_value"]).where(
            c.model_id.in_(ids)
        )
        for model_id, key, value in conn.execute(stmt):
            found[model_id][key] = value
        return found

    def _model_metrics(
        self, conn: Connection, ids: Sequence[str]
    ) -> dict[str, list[LoggedModelMetric]]:
        table = self._table("logged_model_metrics")
        found: dict[str, list[LoggedModelMetric]] = defaultdict(list)
        if table is None or not ids:
            return found
        for row in conn.execute(select(table).where(table.c.model_id.in_(ids))).mappings():
            value = row["metric_value"]
            found[row["model_id"]].append(
                LoggedModelMetric(
                    key=row["metric_name"],
                    value=math.nan if value is None else float(value),
                    timestamp=row["metric_timestamp_ms"],
                    step=row["metric_step"],
                    run_id=row.get("run_id"),
                    dataset_name=row.get("dataset_name"),
                    dataset_digest=row.get("dataset_digest"),
                )
            )
        return found

    # -- the registry -----------------------------------------------------------------------

    def registered_models(self) -> Iterator[RegisteredModel]:
        table = self._table("registered_models")
        if table is None:
            return
        with self.engine.connect() as conn:
            rows = conn.execute(self._in_workspace(select(table), table)).mappings().all()
            tags = self._registry_tags(conn, "registered_model_tags", ("name",))
        for row in rows:
            yield RegisteredModel(
                name=row["name"],
                creation_timestamp=row["creation_time"] or 0,
                last_updated_timestamp=row["last_updated_time"] or row["creation_time"] or 0,
                description=row["description"] or "",
                tags=tags.get((row["name"],), {}),
            )

    def model_versions(self, name: str) -> Iterator[ModelVersion]:
        table = self._table("model_versions")
        if table is None:
            return
        c = table.c
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    self._in_workspace(select(table), table)
                    .where(c.name == name)
                    .order_by(c.version)
                )
                .mappings()
                .all()
            )
            tags = self._registry_tags(conn, "model_version_tags", ("name", "version"), name)
            aliases = self._aliases(conn, name)
        for row in rows:
            version = int(row["version"])
            if row.get("current_stage") == "Deleted_Internal":
                continue  # MLflow's soft-deleted version: gone for its users
            yield ModelVersion(
                name=name,
                version=str(version),
                creation_timestamp=row["creation_time"] or 0,
                last_updated_timestamp=row["last_updated_time"] or row["creation_time"] or 0,
                current_stage=row["current_stage"] or "None",
                description=row["description"] or "",
                source=row["source"] or "",
                run_id=row["run_id"] or None,
                status=row["status"] or "READY",
                status_message=row["status_message"],
                user_id=row["user_id"],
                run_link=row["run_link"] or None,
                model_id=_model_id_of(row),
                tags=tags.get((name, version), {}),
                aliases=tuple(sorted(aliases.get(version, ()))),
            )

    def _in_workspace(self, stmt: Any, table: Table) -> Any:
        if "workspace" in table.c:
            return stmt.where(table.c.workspace == _DEFAULT_WORKSPACE)
        return stmt

    def _registry_tags(
        self, conn: Connection, name: str, keys: tuple[str, ...], model: str | None = None
    ) -> dict[tuple[Any, ...], dict[str, str]]:
        table = self._table(name)
        found: dict[tuple[Any, ...], dict[str, str]] = defaultdict(dict)
        if table is None:
            return found
        stmt = self._in_workspace(select(table), table)
        if model is not None:
            stmt = stmt.where(table.c.name == model)
        for row in conn.execute(stmt).mappings():
            owner = tuple(int(row[k]) if k == "version" else row[k] for k in keys)
            found[owner][row["key"]] = row["value"] if row["value"] is not None else ""
        return found

    def _aliases(self, conn: Connection, name: str) -> dict[int, list[str]]:
        table = self._table("registered_model_aliases")
        found: dict[int, list[str]] = defaultdict(list)
        if table is None:
            return found
        stmt = self._in_workspace(select(table), table).where(table.c.name == name)
        for row in conn.execute(stmt).mappings():
            found[int(row["version"])].append(row["alias"])
        return found

    def artifacts(self, root_uri: str) -> ArtifactRepository | None:
        """The files of a run or model. The database holds only their location: a local
        folder (file:// or a path) or an object store this machine can reach. A proxied
        location (mlflow-artifacts:/) needs the server: import from its URL instead."""
        if root_uri.startswith("mlflow-artifacts:"):
            return None
        try:
            return artifact_repository(root_uri)
        except Exception as error:  # an unknown scheme, or a client library not installed
            self.problems.append(f"cannot read {root_uri}: {error}")
            return None


def _streaming_cursor(connection: Any, dialect: str) -> Any:
    """A cursor that fetches as it is read: server-side on PostgreSQL (a named cursor)
    and MySQL (pymysql's unbuffered cursor); SQLite's cursors always step."""
    if dialect == "postgresql":
        return connection.cursor(name=f"cairn_import_{id(connection):x}")
    if dialect == "mysql":
        from pymysql.cursors import SSCursor

        return connection.cursor(SSCursor)
    return connection.cursor()


def _floats_as_floats(meta: MetaData) -> None:
    """Reflected MySQL DOUBLE columns come back as Decimals rounded to 10 places; metric
    values must come back as the doubles they are."""
    for table in meta.tables.values():
        for column in table.c:
            if isinstance(column.type, Float):
                column.type.asdecimal = False


def _value(value: float | None, is_nan: bool | None) -> float:
    if is_nan or value is None:
        return math.nan
    return float(value)


def _model_id_of(row: Any) -> str | None:
    """MLflow 3 records a version's logged model in its source (`models:/m-…`)."""
    source = row["source"] or ""
    if source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/", 1)[0]
    return None
