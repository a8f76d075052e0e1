"""Storage accounting on SQL: `run_storage` and `logged_model_storage` kept as things are
written, summed per experiment when asked.

Metric points are counted in the transaction that writes them, by one upsert per run and
batch that adds the batch's size (`add_points`): the rows it touches are the writing runs'
own, so writers of different runs never wait on each other, and a batch rolled back or
replayed (its idempotency key already claimed) counts nothing. An exact repeat of a stored
point is counted as logged; imports, which may write a run's points again, end each run
with its exact count (`exact_points`), and `cairn storage --recount` does the same for all.

Artifact bytes are added by whoever writes the files (cairn.store.base.StorageAccounting).
Experiment totals are one GROUP BY over the experiment's runs joined to their rows, and one
over its logged models: about 10 ms for 10,000 runs on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from cairn.entities import LifecycleStage
from cairn.entities.storage import ExperimentStorage, RunStorage
from cairn.store import validation as check
from cairn.store.base import StorageAccounting
from cairn.store.sql import dialects
from cairn.store.sql.prepared import Prepared
from cairn.store.sql.schema import (
    logged_model_storage,
    logged_models,
    metrics,
    run_storage,
    runs,
)
from cairn.store.sql.transactions import SqlTransactions

_s = run_storage.c
_ms = logged_model_storage.c
_r = runs.c
_lm = logged_models.c
# Chunks keep the IN list under every driver's limit on bound parameters.
_CHUNK = 500


def _upserts(columns: Sequence[str], adding: bool) -> dict[str, Prepared]:
    """Per dialect: insert a run's row (zeros but for `columns`), or on conflict add the
    given values to `columns` (`adding`) or set them."""
    values: dict[str, Any] = {c.name: bindparam(c.name) for c in run_storage.columns}
    built: dict[str, Prepared] = {}
    for name, insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert)):
        stmt: Any = insert(run_storage).values(values)
        new = {c: _s[c] + stmt.excluded[c] if adding else stmt.excluded[c] for c in columns}
        built[name] = Prepared(stmt.on_conflict_do_update(index_elements=["run_uuid"], set_=new))
    upsert = mysql.insert(run_storage).values(values)
    new = {c: _s[c] + upsert.inserted[c] if adding else upsert.inserted[c] for c in columns}
    built["mysql"] = Prepared(upsert.on_duplicate_key_update(new))
    return built


_ADD_POINTS = _upserts(["metric_points"], adding=True)
_SET_POINTS = _upserts(["metric_points"], adding=False)
_SET_FILES = _upserts(["artifact_bytes", "artifact_files"], adding=False)


def _row(run_id: str, points: int = 0, size_bytes: int = 0, files: int = 0) -> dict[str, Any]:
    return {
        "run_uuid": run_id,
        "metric_points": points,
        "artifact_bytes": size_bytes,
        "artifact_files": files,
    }


def add_points(conn: Connection, counts: Mapping[str, int]) -> None:
    """Add each run's newly written points (run id → count) to its row: one statement,
    inside the caller's transaction, after the points themselves."""
    rows = [_row(run_id, points) for run_id, points in counts.items() if points]
    _ADD_POINTS[conn.dialect.name].executemany(conn, rows)


def exact_points(conn: Connection, run_ids: Sequence[str]) -> None:
    """Set the runs' point counts to what `metrics` holds, counted in this transaction
    after locking their rows, so a writer of the same runs either is counted or adds after."""
    for start in range(0, len(run_ids), _CHUNK):
        chunk = list(run_ids[start : start + _CHUNK])
        conn.execute(select(_s.run_uuid).where(_s.run_uuid.in_(chunk)).with_for_update()).all()
        counted: dict[str, int] = dict(
            conn.execute(
                select(metrics.c.run_uuid, func.count())
                .where(metrics.c.run_uuid.in_(chunk))
                .group_by(metrics.c.run_uuid)
            ).all()
        )
        rows = [_row(run_id, int(counted.get(run_id, 0))) for run_id in chunk]
        _SET_POINTS[conn.dialect.name].executemany(conn, rows)


def set_files(conn: Connection, figures: Mapping[str, tuple[int, int]]) -> None:
    """Set runs' artifact figures (run id → (bytes, files)), as a recount found them."""
    rows = [_row(run_id, 0, size, files) for run_id, (size, files) in figures.items()]
    _SET_FILES[conn.dialect.name].executemany(conn, rows)


def set_model_files(conn: Connection, figures: Mapping[str, tuple[int, int]]) -> None:
    """Set logged models' artifact figures (model id → (bytes, files))."""
    rows = [
        {"model_id": model_id, "artifact_bytes": size, "artifact_files": files}
        for model_id, (size, files) in figures.items()
    ]
    dialects.upsert(conn, logged_model_storage, rows, ("model_id",))


def _add_files(
    conn: Connection, table: Table, owner: Table, key: str, owner_id: str, size: int, files: int
) -> bool:
    """Add to the artifact figures of one run or logged model; figures stop at 0."""
    if conn.execute(select(owner.c[key]).where(owner.c[key] == owner_id)).first() is None:
        return False
    zero = {c.name: 0 for c in table.columns}
    dialects.insert_ignore(conn, table, [{**zero, key: owner_id}])
    c = table.c
    conn.execute(
        update(table)
        .where(c[key] == owner_id)
        .values(
            artifact_bytes=_not_below_zero(c.artifact_bytes + size),
            artifact_files=_not_below_zero(c.artifact_files + files),
        )
    )
    return True


def _not_below_zero(value: Any) -> Any:
    return case((value < 0, 0), else_=value)


def experiment_totals(conn: Connection, numbers: Sequence[int]) -> dict[str, ExperimentStorage]:
    """Totals of the experiments (zeros for one without runs or models)."""
    found = {str(n): ExperimentStorage() for n in numbers}
    deleted = case((_r.lifecycle_stage == LifecycleStage.DELETED, 1), else_=0)
    run_sums = (
        select(
            _r.experiment_id,
            func.count(),
            func.sum(deleted),
            func.sum(_s.metric_points),
            func.sum(_s.artifact_bytes),
            func.sum(_s.artifact_files),
        )
        .select_from(runs.outerjoin(run_storage, _s.run_uuid == _r.run_uuid))
        .group_by(_r.experiment_id)
    )
    model_sums = (
        select(
            _lm.experiment_id,
            func.count(),
            func.sum(_ms.artifact_bytes),
            func.sum(_ms.artifact_files),
        )
        .select_from(logged_models.outerjoin(logged_model_storage, _ms.model_id == _lm.model_id))
        .group_by(_lm.experiment_id)
    )
    for start in range(0, len(numbers), _CHUNK):
        chunk = list(numbers[start : start + _CHUNK])
        for experiment, count, gone, points, size, files in conn.execute(
            run_sums.where(_r.experiment_id.in_(chunk))
        ):
            found[str(experiment)] = ExperimentStorage(
                runs=int(count),
                deleted_runs=_int(gone),
                metric_points=_int(points),
                artifact_bytes=_int(size),
                artifact_files=_int(files),
            )
        for experiment, count, size, files in conn.execute(
            model_sums.where(_lm.experiment_id.in_(chunk))
        ):
            held = found[str(experiment)]
            found[str(experiment)] = ExperimentStorage(
                runs=held.runs,
                deleted_runs=held.deleted_runs,
                logged_models=int(count),
                metric_points=held.metric_points,
                artifact_bytes=held.artifact_bytes + _int(size),
                artifact_files=held.artifact_files + _int(files),
                model_artifact_bytes=_int(size),
            )
    return found


def _int(value: Any) -> int:
    """A SUM's value: None over no rows; a Decimal on PostgreSQL and MySQL."""
    return 0 if value is None else int(value)


def run_figures(conn: Connection, run_ids: Sequence[str]) -> dict[str, RunStorage]:
    found: dict[str, RunStorage] = {}
    query = select(
        _r.run_uuid, _r.experiment_id, _s.metric_points, _s.artifact_bytes, _s.artifact_files
    ).select_from(runs.outerjoin(run_storage, _s.run_uuid == _r.run_uuid))
    for start in range(0, len(run_ids), _CHUNK):
        chunk = list(run_ids[start : start + _CHUNK])
        for run_id, experiment, points, size, files in conn.execute(
            query.where(_r.run_uuid.in_(chunk))
        ):
            found[run_id] = RunStorage(str(experiment), _int(points), _int(size), _int(files))
    return found


def owners(
    conn: Connection, numbers: Sequence[int] | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(run id, artifact URI) of every run and (model id, artifact location) of every logged
    model, of the experiments given (None: of all), for a recount."""
    run_query = select(_r.run_uuid, _r.artifact_uri).order_by(_r.run_uuid)
    model_query = select(_lm.model_id, _lm.artifact_location).order_by(_lm.model_id)
    if numbers is None:
        return _pairs(conn, run_query), _pairs(conn, model_query)
    found_runs: list[tuple[str, str]] = []
    found_models: list[tuple[str, str]] = []
    for start in range(0, len(numbers), _CHUNK):
        chunk = list(numbers[start : start + _CHUNK])
        found_runs += _pairs(conn, run_query.where(_r.experiment_id.in_(chunk)))
        found_models += _pairs(conn, model_query.where(_lm.experiment_id.in_(chunk)))
    return found_runs, found_models


def _existing(conn: Connection, column: Any, ids: Sequence[str]) -> set[str]:
    held: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        held.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return held


def _pairs(conn: Connection, query: Any) -> list[tuple[str, str]]:
    return [(str(a), str(b or "")) for a, b in conn.execute(query)]


class SqlStorageAccounting(SqlTransactions, StorageAccounting):
    """Inherited by SqlTrackingStore; the recount's writes are here too (SQL stores only)."""

    def add_artifact_usage(self, run_id: str, size_bytes: int, files: int) -> bool:
        check.run_id(run_id)
        return self._retrying(
            lambda conn: _add_files(conn, run_storage, runs, "run_uuid", run_id, size_bytes, files)
        )

    def add_model_artifact_usage(self, model_id: str, size_bytes: int, files: int) -> bool:
        check.no_nul("Model id", model_id)
        return self._retrying(
            lambda conn: _add_files(
                conn, logged_model_storage, logged_models, "model_id", model_id, size_bytes, files
            )
        )

    def experiment_storage(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentStorage]:
        numbers = [int(check.experiment_id(e)) for e in dict.fromkeys(experiment_ids)]
        with self._read() as conn:
            return experiment_totals(conn, numbers)

    def run_storage(self, run_ids: Sequence[str]) -> dict[str, RunStorage]:
        wanted = [check.run_id(r) for r in dict.fromkeys(run_ids)]
        with self._read() as conn:
            return run_figures(conn, wanted)

    def storage_owners(
        self, experiment_ids: Sequence[str] | None = None
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """What a recount walks: see `owners`."""
        numbers = None
        if experiment_ids is not None:
            numbers = [int(check.experiment_id(e)) for e in dict.fromkeys(experiment_ids)]
        with self._read() as conn:
            return owners(conn, numbers)

    def rewrite_storage(
        self,
        run_files: Mapping[str, tuple[int, int] | None],
        model_files: Mapping[str, tuple[int, int]],
    ) -> None:
        """A recount's figures: each run's points counted afresh, its artifact figures set
        where the walk reached its files (None: left as they are), the models' set."""

        def work(conn: Connection) -> None:
            # Owners removed since the walk (a purge running beside) are skipped.
            held = _existing(conn, _r.run_uuid, list(run_files))
            exact_points(conn, [r for r in run_files if r in held])
            set_files(conn, {r: f for r, f in run_files.items() if f is not None and r in held})
            models = _existing(conn, _lm.model_id, list(model_files))
            set_model_files(conn, {m: f for m, f in model_files.items() if m in models})

        self._retrying(work)
