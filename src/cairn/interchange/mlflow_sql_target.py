"""An MLflow tracking database (SQLite, PostgreSQL, MySQL) written as an export's target:
`cairn export mlflow DEST`, the way back out of Cairn.

Rows are written as MLflow 3's own store writes them (NaN as 0 with `is_nan`, ±inf as
±max double, `latest_metrics` kept, datasets linked through `inputs`, logged-model status
as MLflow's numbers, `workspace` "default"), so the mlflow client and `mlflow server` read
the result as their own. The tables are reflected, not declared, as `mlflow_sql` reads
them: a revision this module was not written against works as long as the tables an
entity needs are there, and a column a revision lacks is simply not written.

An empty database gets MLflow's schema from `mlflow db upgrade` (when mlflow is installed:
it is not imported here, only run). Every write is idempotent, as SqlImports' are on
Cairn's schema: runs keep their ids, logged models theirs, versions their numbers.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, create_engine, func, inspect, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    ModelVersion,
    RegisteredModel,
    Run,
    RunStatus,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.interchange.mlflow_sql import MLflowSqlSource
from cairn.store import validation as check
from cairn.store.base import MetricPoint
from cairn.store.sql.engine import normalize_uri
from cairn.store.sql.transactions import SqlTransactions

#: MLflow's LoggedModelStatus numbers.
MODEL_STATUS = {
    LoggedModelStatus.PENDING: 1,
    LoggedModelStatus.READY: 2,
    LoggedModelStatus.UPLOAD_FAILED: 3,
}
DEFAULT_WORKSPACE = "default"
#: Tables only a Cairn database has: exporting into one is a mistake, not an MLflow store.
CAIRN_TABLES = frozenset({"metric_rollups", "run_outputs"})
SCHEMA_SECONDS = 600
#: A history point as MLflow stores it: NaN as 0 with the flag, ±inf as ±max double.
StoredPoint = tuple[str, str, int, int, float, bool]
POINT_COLUMNS = ("run_uuid", "key", "step", "timestamp", "value", "is_nan")


class MLflowSqlTarget(SqlTransactions):
    """Writes into the MLflow database at `uri` (a SQLAlchemy URL, as `mlflow server
    --backend-store-uri` takes it). New experiments get their artifact location under
    `artifact_root` (default: an `mlruns` folder beside a SQLite file, else ./mlruns);
    runs and logged models theirs under the experiment's, as MLflow lays them out."""

    def __init__(self, uri: str, artifact_root: str | None = None) -> None:
        self.uri = uri
        self.description = uri
        self.artifact_root = _root_uri(artifact_root or default_artifact_root(uri))
        url = normalize_uri(uri)  # the driver Cairn ships: postgresql:// needs no psycopg2
        ensure_schema(url)
        # The source's reader, on the same engine: a re-export compares runs exactly as
        # an import from this database would read them.
        self.reader = MLflowSqlSource(url)
        self.engine = self.reader.engine
        self.tables = self.reader.meta.tables
        self.problems: list[str] = []
        #: Logged-model metrics whose run is not in the database yet (a foreign key).
        self._waiting: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def close(self) -> None:
        for run_id in self._waiting:
            self.problems.append(f"logged model metrics of run {run_id}: the run is not here")
        self.reader.close()

    def _table(self, name: str) -> Table:
        table = self.tables.get(name)
        if table is None:
            raise InvalidParameterValueError(
                f"The MLflow database at {self.uri} has no table {name!r}: upgrade it with "
                f"`mlflow db upgrade {self.uri}`."
            )
        return table

    # -- experiments ------------------------------------------------------------------------

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        check.experiment_name(experiment.name)
        wanted = int(check.experiment_id(experiment.experiment_id))
        table = self._table("experiments")
        c = table.c

        def work(conn: Connection) -> tuple[str, bool]:
            found = conn.execute(
                select(c.experiment_id).where(c.name == experiment.name, *_in_workspace(table))
            ).scalar()
            if found is not None:
                return str(found), False
            taken = conn.execute(select(c.experiment_id).where(c.experiment_id == wanted)).first()
            now = _now()
            row = _row(
                table,
                name=experiment.name,
                artifact_location=experiment.artifact_location or None,
                lifecycle_stage=_stage(experiment.lifecycle_stage),
                creation_time=experiment.creation_time or now,
                last_update_time=experiment.last_update_time or experiment.creation_time or now,
            )
            if taken is None:
                row["experiment_id"] = wanted
            with _zero_allowed(conn) if taken is None and wanted == 0 else nullcontext():
                inserted = conn.execute(table.insert().values(**row)).inserted_primary_key
            assert inserted is not None
            number = int(inserted[0])
            if taken is None:
                _advance_sequence(conn, table)
            if not row["artifact_location"]:
                conn.execute(
                    update(table)
                    .where(c.experiment_id == number)
                    .values(artifact_location=f"{self.artifact_root}/{number}")
                )
            tags = self._table("experiment_tags")
            rows = [
                _row(tags, experiment_id=number, key=k, value=v) for k, v in experiment.tags.items()
            ]
            _upsert(conn, tags, rows)
            return str(number), True

        return self._retrying(work)

    # -- runs -------------------------------------------------------------------------------

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        c = self._table("runs").c
        with self._read() as conn:
            held = list(conn.execute(select(c.run_uuid).where(c.run_uuid.in_(run_ids))).scalars())
            loaded = self.reader.load_runs(conn, held) if held else []
        return {item.run_id: item.run for item in loaded}

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        info = run.info
        run_id = check.client_run_id(info.run_id)
        number = int(check.experiment_id(experiment_id))
        runs, params, tags = self._table("runs"), self._table("params"), self._table("tags")

        def work(conn: Connection) -> tuple[str, list[str]]:
            held = conn.execute(
                select(runs.c.artifact_uri, runs.c.experiment_id).where(runs.c.run_uuid == run_id)
            ).first()
            if held is not None and int(held[1]) != number:
                raise InvalidParameterValueError(
                    f"Run {run_id} is already in experiment {held[1]} of the target."
                )
            if held is None:
                location = artifact_uri or f"{self._location(conn, number)}/{run_id}/artifacts"
                conn.execute(runs.insert().values(**_new_run(runs, run, number, location)))
            else:
                location = str(held[0])
            items = run.data.params.items()
            _insert_ignore(
                conn, params, [_row(params, run_uuid=run_id, key=k, value=v) for k, v in items]
            )
            conflicts: list[str] = []
            if held is not None and items:
                stmt = select(params.c.key, params.c.value).where(params.c.run_uuid == run_id)
                stored = {key: value for key, value in conn.execute(stmt)}
                conflicts = [k for k, v in items if stored.get(k) != v]
            _upsert(
                conn,
                tags,
                [_row(tags, run_uuid=run_id, key=k, value=v) for k, v in run.data.tags.items()],
            )
            waiting = self._waiting.get(run_id, [])
            _insert_ignore(conn, self.tables.get("logged_model_metrics"), waiting)
            return location, conflicts

        location, conflicts = self._retrying(work)
        self._waiting.pop(run_id, None)
        return location, conflicts

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        """Stored once per exact point (MLflow's primary key spans every column); each
        metric's newest point (by step, timestamp, stored value) goes to latest_metrics,
        as MLflow's `_update_latest_metrics_if_necessary` picks it."""
        if not points:
            return
        metrics, latest = self._table("metrics"), self._table("latest_metrics")
        rows = list(dict.fromkeys(map(_stored, points)))  # exact repeats once, in order

        def work(conn: Connection) -> None:
            _insert_points(conn, metrics, rows)
            _refresh_latest(conn, latest, rows)

        self._retrying(work)

    def put_datasets(
        self, run_id: str, inputs: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None:
        """Inputs as MLflow links them (dataset → run). MLflow has no dataset outputs;
        they are kept the way Cairn stores them (run → dataset), which MLflow ignores."""
        tables = [self._table(n) for n in ("runs", "datasets", "inputs", "input_tags")]

        def work(conn: Connection) -> None:
            runs = tables[0]
            experiment_id = conn.execute(
                select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)
            ).scalar_one()
            for item in inputs:
                _link_dataset(conn, tables[1:], experiment_id, run_id, item, output=False)
            for item in outputs:
                _link_dataset(conn, tables[1:], experiment_id, run_id, item, output=True)

        self._retrying(work)

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        links = self._table("inputs")
        rows = [
            _row(
                links,
                input_uuid=uuid.uuid4().hex,
                source_type="RUN_OUTPUT",
                source_id=run_id,
                destination_type="MODEL_OUTPUT",
                destination_id=output.model_id,
                step=output.step,
            )
            for output in outputs
        ]
        self._retrying(lambda conn: _insert_ignore(conn, links, rows))

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        info = run.info
        stage = _stage(info.lifecycle_stage)
        runs = self._table("runs")
        values = _row(
            runs,
            status=RunStatus.parse(info.status).value,
            end_time=info.end_time,
            lifecycle_stage=stage,
            deleted_time=deleted_time if stage == LifecycleStage.DELETED else None,
            name=info.run_name,
        )
        self._retrying(
            lambda conn: conn.execute(
                update(runs).where(runs.c.run_uuid == info.run_id).values(**values)
            )
        )

    def _location(self, conn: Connection, experiment_id: int) -> str:
        c = self._table("experiments").c
        stmt = select(c.artifact_location).where(c.experiment_id == experiment_id)
        found = conn.execute(stmt).scalar()
        return str(found or f"{self.artifact_root}/{experiment_id}").rstrip("/")

    # -- logged models ----------------------------------------------------------------------

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        number = int(check.experiment_id(experiment_id))
        models = self._table("logged_models")
        params, tags = self._table("logged_model_params"), self._table("logged_model_tags")
        metrics = self._table("logged_model_metrics")
        owner = {"model_id": model.model_id, "experiment_id": number}

        def work(conn: Connection) -> tuple[str, bool]:
            c = models.c
            stmt = select(c.artifact_location).where(c.model_id == model.model_id)
            held = conn.execute(stmt).scalar()
            created = held is None
            if held is None:
                held = artifact_uri or (
                    f"{self._location(conn, number)}/models/{model.model_id}/artifacts"
                )
                conn.execute(models.insert().values(**_new_model(models, model, number, held)))
            _upsert(
                conn,
                tags,
                [_row(tags, **owner, tag_key=k, tag_value=v) for k, v in model.tags.items()],
            )
            _insert_ignore(
                conn,
                params,
                [
                    _row(params, **owner, param_key=k, param_value=v)
                    for k, v in model.params.items()
                ],
            )
            rows = [_model_metric_row(metrics, owner, m) for m in model.metrics]
            present = _present_runs(conn, self._table("runs"), {r["run_id"] for r in rows})
            _insert_ignore(conn, metrics, [r for r in rows if r["run_id"] in present])
            for row in rows:
                if row["run_id"] not in present:
                    self._waiting[row["run_id"]].append(row)
            return str(held), created

        return self._retrying(work)

    # -- the registry -----------------------------------------------------------------------

    def put_registered_model(self, model: RegisteredModel) -> bool:
        table, tags = self._table("registered_models"), self._table("registered_model_tags")

        def work(conn: Connection) -> bool:
            stmt = select(table.c.name).where(table.c.name == model.name, *_in_workspace(table))
            created = conn.execute(stmt).first() is None
            if created:
                row = _row(
                    table,
                    name=model.name,
                    creation_time=model.creation_timestamp,
                    last_updated_time=model.last_updated_timestamp,
                    description=model.description or None,
                )
                conn.execute(table.insert().values(**row))
            rows = [_row(tags, name=model.name, key=k, value=v) for k, v in model.tags.items()]
            _upsert(conn, tags, rows)
            return created

        return self._retrying(work)

    def put_model_version(self, version: ModelVersion) -> bool:
        """The version under its number; MLflow numbers the next one from the highest
        present, so nothing else keeps count."""
        number, name = int(version.version), version.name
        table = self._table("model_versions")
        tags, aliases = self._table("model_version_tags"), self._table("registered_model_aliases")

        def work(conn: Connection) -> bool:
            c = table.c
            key = [c.name == name, c.version == number, *_in_workspace(table)]
            created = conn.execute(select(c.version).where(*key)).first() is None
            if created:
                row = _new_version(table, version, self._storage_location(conn, version.source))
                conn.execute(table.insert().values(**row))
            _upsert(
                conn,
                tags,
                [
                    _row(tags, name=name, version=number, key=k, value=v)
                    for k, v in version.tags.items()
                ],
            )
            rows = [_row(aliases, name=name, alias=a, version=number) for a in version.aliases]
            _upsert(conn, aliases, rows)
            return created

        return self._retrying(work)

    def _storage_location(self, conn: Connection, source: str) -> str:
        """Where MLflow downloads a version from: a `models:/m-…` source's logged model
        location, a `models:/name/version` source's version's, else the source itself."""
        versions = self._table("model_versions")
        if not source.startswith("models:/") or "storage_location" not in versions.c:
            return source
        reference = source.removeprefix("models:/")
        if reference.startswith("m-"):
            c = self._table("logged_models").c
            stmt = select(c.artifact_location).where(c.model_id == reference.partition("/")[0])
            return str(conn.execute(stmt).scalar() or source)
        name, _, number = reference.partition("/")
        if not number.isdigit():
            return source  # a stage or an alias: MLflow resolves those when reading
        c = versions.c
        stmt = select(c.storage_location, c.source).where(
            c.name == name, c.version == int(number), *_in_workspace(versions)
        )
        row = conn.execute(stmt).first()
        return str(row[0] or row[1]) if row else source

    # -- files ------------------------------------------------------------------------------

    def artifacts(self, root_uri: str) -> ArtifactRepository:
        return artifact_repository(root_uri)


# -- the schema -----------------------------------------------------------------------------


def default_artifact_root(uri: str) -> str:
    """An `mlruns` folder beside a SQLite database file, else ./mlruns (as MLflow's own
    default for a local store)."""
    url = make_url(uri)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve().parent / "mlruns")
    return str(Path("mlruns").resolve())


def _root_uri(root: str) -> str:
    """A local folder as a file:// URI, anything with a scheme as it is."""
    if "://" in root:
        return root.rstrip("/")
    return Path(root).resolve().as_uri()


def ensure_schema(uri: str) -> None:
    """Give an empty database MLflow's schema with `mlflow db upgrade` (in a subprocess:
    mlflow is a large import, and not a dependency of Cairn)."""
    try:
        engine = create_engine(uri)
        try:
            names = set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except SQLAlchemyError as error:
        raise InvalidParameterValueError(f"Cannot open a database at {uri}: {error}") from None
    if names & CAIRN_TABLES:
        raise InvalidParameterValueError(
            f"{uri} is a Cairn database: export into an MLflow database instead."
        )
    if any(not name.startswith("alembic_") for name in names):
        return
    if importlib.util.find_spec("mlflow") is None:
        raise InvalidParameterValueError(
            f"{uri} has no MLflow tables. Create them with `mlflow db upgrade {uri}` (or by "
            "starting `mlflow server --backend-store-uri` on it once), then export again."
        )
    command = [sys.executable, "-m", "mlflow", "db", "upgrade", uri]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SCHEMA_SECONDS)
    except subprocess.TimeoutExpired:
        raise InvalidParameterValueError(
            f"`mlflow db upgrade` did not finish in {SCHEMA_SECONDS} s on {uri}."
        ) from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no message"]
        raise InvalidParameterValueError(
            f"`mlflow db upgrade` could not create MLflow's tables in {uri}: {lines[-1]}"
        )


# -- rows -----------------------------------------------------------------------------------


def _row(table: Table, **values: Any) -> dict[str, Any]:
    """The values this revision of the table has columns for, in the default workspace."""
    row = {name: value for name, value in values.items() if name in table.c}
    if "workspace" in table.c:
        row["workspace"] = DEFAULT_WORKSPACE
    return row


def _in_workspace(table: Table) -> list[Any]:
    return [table.c.workspace == DEFAULT_WORKSPACE] if "workspace" in table.c else []


def _new_run(table: Table, run: Run, experiment_id: int, location: str) -> dict[str, Any]:
    """As MLflow's create_run makes it: RUNNING until `finish_run`, an unknown source."""
    info = run.info
    return _row(
        table,
        run_uuid=info.run_id,
        name=info.run_name,
        source_type="UNKNOWN",
        source_name="",
        entry_point_name="",
        source_version="",
        user_id=info.user_id,
        status=RunStatus.RUNNING.value,
        start_time=info.start_time,
        end_time=None,
        deleted_time=None,
        lifecycle_stage=LifecycleStage.ACTIVE,
        artifact_uri=location,
        experiment_id=experiment_id,
    )


def _new_model(
    table: Table, model: LoggedModel, experiment_id: int, location: str
) -> dict[str, Any]:
    return _row(
        table,
        model_id=model.model_id,
        experiment_id=experiment_id,
        name=model.name,
        artifact_location=location,
        creation_timestamp_ms=model.creation_timestamp,
        last_updated_timestamp_ms=model.last_updated_timestamp,
        status=MODEL_STATUS[LoggedModelStatus.parse(model.status)],
        lifecycle_stage=LifecycleStage.ACTIVE,
        model_type=model.model_type,
        source_run_id=model.source_run_id,
        status_message=model.status_message,
    )


def _model_metric_row(
    table: Table, owner: dict[str, Any], metric: LoggedModelMetric
) -> dict[str, Any]:
    """MLflow keeps no NaN flag for a model's metrics: NaN is stored as 0, as it does."""
    value, _ = check.stored_metric_value(metric.value)
    return _row(
        table,
        **owner,
        metric_name=metric.key,
        metric_timestamp_ms=metric.timestamp,
        metric_step=metric.step,
        metric_value=value,
        run_id=metric.run_id or "",
        dataset_uuid=None,
        dataset_name=metric.dataset_name,
        dataset_digest=metric.dataset_digest,
    )


def _new_version(table: Table, version: ModelVersion, storage_location: str) -> dict[str, Any]:
    return _row(
        table,
        name=version.name,
        version=int(version.version),
        creation_time=version.creation_timestamp,
        last_updated_time=version.last_updated_timestamp,
        description=version.description or None,
        user_id=version.user_id,
        current_stage=version.current_stage,
        source=version.source,
        storage_location=storage_location,
        run_id=version.run_id,
        run_link=version.run_link,
        status=version.status,
        status_message=version.status_message,
    )


def _stored(point: MetricPoint) -> StoredPoint:
    run_id, key, value, timestamp, step = point
    stored, is_nan = check.stored_metric_value(value)
    return run_id, key, step, timestamp, stored, is_nan


def _link_dataset(
    conn: Connection,
    tables: Sequence[Table],
    experiment_id: int,
    run_id: str,
    item: DatasetInput,
    output: bool,
) -> None:
    """The dataset once per experiment (by name and digest), linked once to the run, with
    the link's tags."""
    datasets, links, link_tags = tables
    d = item.dataset
    row = _row(
        datasets,
        dataset_uuid=uuid.uuid4().hex,
        experiment_id=experiment_id,
        name=d.name,
        digest=d.digest,
        dataset_source_type=d.source_type,
        dataset_source=d.source,
        dataset_schema=d.schema,
        dataset_profile=d.profile,
    )
    _insert_ignore(conn, datasets, [row])
    dc = datasets.c
    dataset_uuid = conn.execute(
        select(dc.dataset_uuid).where(
            dc.experiment_id == experiment_id, dc.name == d.name, dc.digest == d.digest
        )
    ).scalar_one()
    if output:  # Cairn's form for what a run wrote: run → dataset
        link = {
            "source_type": "RUN",
            "source_id": run_id,
            "destination_type": "DATASET",
            "destination_id": dataset_uuid,
        }
    else:
        link = {
            "source_type": "DATASET",
            "source_id": dataset_uuid,
            "destination_type": "RUN",
            "destination_id": run_id,
        }
    _insert_ignore(conn, links, [_row(links, input_uuid=uuid.uuid4().hex, **link)])
    input_uuid = conn.execute(
        select(links.c.input_uuid).where(*(links.c[k] == v for k, v in link.items()))
    ).scalar_one()
    rows = [_row(link_tags, input_uuid=input_uuid, name=t.key, value=t.value) for t in item.tags]
    _upsert(conn, link_tags, rows)


def _refresh_latest(conn: Connection, table: Table, rows: Sequence[StoredPoint]) -> None:
    """Move each metric's latest_metrics row forward to the newest of `rows` (never back)."""
    newest: dict[tuple[str, str], StoredPoint] = {}
    for row in rows:
        held = newest.get(row[:2])
        if held is None or row[2:5] > held[2:5]:
            newest[row[:2]] = row
    c = table.c
    for run_id in {run_id for run_id, _ in newest}:
        keys = [key for r, key in newest if r == run_id]
        stmt = select(c.key, c.step, c.timestamp, c.value).where(
            c.run_uuid == run_id, c.key.in_(keys)
        )
        for key, *order in conn.execute(stmt):
            if tuple(order) >= newest[(run_id, key)][2:5]:
                del newest[(run_id, key)]
    _upsert(
        conn,
        table,
        [_row(table, **dict(zip(POINT_COLUMNS, p, strict=True))) for p in newest.values()],
    )


def _present_runs(conn: Connection, runs: Table, run_ids: Iterable[str]) -> set[str]:
    wanted = list(run_ids)
    if not wanted:
        return set()
    stmt = select(runs.c.run_uuid).where(runs.c.run_uuid.in_(wanted))
    return set(conn.execute(stmt).scalars())


# -- statements -----------------------------------------------------------------------------


def _insert_for(conn: Connection, table: Table) -> Any:
    dialect = {"sqlite": sqlite, "postgresql": postgresql, "mysql": mysql}.get(conn.dialect.name)
    if dialect is None:
        raise InvalidParameterValueError(f"Cannot export into a {conn.dialect.name} database.")
    return dialect.insert(table)


def _insert_ignore(conn: Connection, table: Table | None, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, leaving any whose primary key is present alone."""
    if not rows or table is None:
        return
    conn.execute(_ignoring(conn, table, _insert_for(conn, table)), list(rows))


def _ignoring(conn: Connection, table: Table, stmt: Any) -> Any:
    if conn.dialect.name == "mysql":
        # A no-op update, not INSERT IGNORE, which would also hide a truncated value.
        first = table.primary_key.columns.values()[0].name
        return stmt.on_duplicate_key_update({first: table.c[first]})
    return stmt.on_conflict_do_nothing()


def _insert_points(conn: Connection, table: Table, rows: Sequence[StoredPoint]) -> None:
    """`_insert_ignore` for history points, through the driver: SQLAlchemy's handling of
    each row's parameters would cost as much as the database's insert."""
    if not rows:
        return
    values: dict[str, Any] = {name: bindparam(name) for name in POINT_COLUMNS}
    stmt = _ignoring(conn, table, _insert_for(conn, table).values(values))
    compiled = stmt.compile(dialect=conn.dialect)
    if not compiled.positional:  # psycopg: named parameters
        params: list[Any] = [dict(zip(POINT_COLUMNS, row, strict=True)) for row in rows]
    elif tuple(compiled.positiontup or ()) == POINT_COLUMNS:  # sqlite, pymysql: as they are
        params = list(rows)
    else:
        order = [POINT_COLUMNS.index(name) for name in compiled.positiontup or ()]
        params = [tuple(row[i] for i in order) for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def _upsert(conn: Connection, table: Table | None, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, overwriting the other columns of those whose primary key is present."""
    if not rows or table is None:
        return
    keys = [c.name for c in table.primary_key.columns]
    stmt = _insert_for(conn, table)
    others = [name for name in rows[0] if name not in keys]
    if not others:
        _insert_ignore(conn, table, rows)
        return
    if conn.dialect.name == "mysql":
        stmt = stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in others})
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={name: stmt.excluded[name] for name in others}
        )
    conn.execute(stmt, list(rows))


@contextmanager
def _zero_allowed(conn: Connection) -> Iterator[None]:
    """MySQL takes an explicit 0 in an auto-increment column as "the next id" unless the
    session's sql_mode says NO_AUTO_VALUE_ON_ZERO (MLflow sets it for experiment 0 too)."""
    if conn.dialect.name != "mysql":
        yield
        return
    mode = str(conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() or "")
    modes = ",".join(m for m in (mode, "NO_AUTO_VALUE_ON_ZERO") if m)
    conn.exec_driver_sql("SET SESSION sql_mode = %s", (modes,))
    try:
        yield
    finally:
        conn.exec_driver_sql("SET SESSION sql_mode = %s", (mode,))


def _advance_sequence(conn: Connection, table: Table) -> None:
    """After an insert with an explicit id, PostgreSQL's sequence still points below it:
    move it to the highest id, so the next experiment MLflow creates does not collide
    (SQLite and MySQL continue from the highest id themselves)."""
    if conn.dialect.name != "postgresql":
        return
    highest = int(conn.execute(select(func.max(table.c.experiment_id))).scalar_one())
    conn.exec_driver_sql(
        "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), %s, %s)",
        (max(highest, 1), highest >= 1),
    )


def _stage(value: str) -> str:
    if value not in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        raise InvalidParameterValueError(f"Invalid lifecycle stage {value!r}.")
    return value


def _now() -> int:
    return int(time.time() * 1000)
