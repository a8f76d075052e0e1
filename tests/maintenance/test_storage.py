"""Storage figures kept by the SQL store (cairn.store.sql.storage) on SQLite, PostgreSQL and
MariaDB: points counted by every write path as they are stored, artifact usage added and
floored, experiment totals summed over runs and logged models, figures dropped with their
run, an upgraded database's points counted by migration 0008, and `--recount` (cairn.
maintenance.storage) agreeing with what was kept and correcting what was not."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from cairn.entities import Metric, Run, RunData, RunInfo, RunStatus
from cairn.entities.storage import ExperimentStorage, RunStorage
from cairn.exceptions import InvalidParameterValueError
from cairn.maintenance.storage import recount
from cairn.store.sql import engine, migrate
from cairn.store.sql.imports import SqlImports
from cairn.store.sql.tracking import SqlTrackingStore

START = 1_700_000_000_000


def _run(store: SqlTrackingStore, experiment_id: str) -> str:
    return store.create_run(experiment_id, "tester", START, [], None).info.run_id


def _history(key: str, steps: range, offset: float = 0.0) -> list[Metric]:
    return [Metric(key, step + offset, START + step, step) for step in steps]


def test_points_are_counted_by_every_write_path(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("points")
    first, second = _run(store, experiment), _run(store, experiment)
    store.log_batch(first, _history("loss", range(100)))
    store.log_batch(first, _history("acc", range(50)))
    store.log_metric(first, Metric("lr", 0.1, START, 0))
    store.log_metric_points(
        [(first, "loss", 0.5, START, 100), (second, "loss", 0.1, START, 0)]
        + [(second, "acc", 0.2, START, s) for s in range(1, 10)]
    )
    store.end_run(second, RunStatus.FINISHED, START + 1, [(second, "final", 1.0, START, 0)])

    figures = store.run_storage([first, second])
    assert figures[first] == RunStorage(experiment, metric_points=152)
    assert figures[second] == RunStorage(experiment, metric_points=11)
    assert store.experiment_storage([experiment])[experiment] == ExperimentStorage(
        runs=2, metric_points=163
    )
    assert _stored_points(store, [first, second]) == 163


def test_a_replayed_or_refused_batch_counts_nothing(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("replays")
    live, gone = _run(store, experiment), _run(store, experiment)
    key = uuid.uuid4().hex
    for _ in range(2):  # the journal replaying a batch the store already holds
        store.log_batch(live, _history("loss", range(10)), idempotency_key=key)
        store.log_metric_points([(live, "x", 1.0, START, 0)], idempotency_key=key + "p")
    store.delete_run(gone)
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(gone, _history("loss", range(10)))
    with pytest.raises(InvalidParameterValueError, match=gone):
        store.log_metric_points([(live, "y", 1.0, START, 0), (gone, "y", 1.0, START, 0)])
    figures = store.run_storage([live, gone])
    assert figures[live].metric_points == 12
    assert figures[gone].metric_points == 0


def test_artifact_usage_adds_up_and_never_goes_below_zero(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("files")
    run_id = _run(store, experiment)
    assert store.add_artifact_usage(run_id, 1000, 2)
    assert store.add_artifact_usage(run_id, -300, 0)  # a file replaced by a smaller one
    assert store.run_storage([run_id])[run_id] == RunStorage(experiment, 0, 700, 2)
    assert store.add_artifact_usage(run_id, -5000, -7)  # drift: floored, not negative
    assert store.run_storage([run_id])[run_id] == RunStorage(experiment, 0, 0, 0)
    assert not store.add_artifact_usage("f" * 32, 10, 1)  # no such run: nothing recorded
    assert store.run_storage(["f" * 32]) == {}

    model = store.create_logged_model(experiment, name="net", source_run_id=run_id)
    assert store.add_model_artifact_usage(model.model_id, 4096, 3)
    assert not store.add_model_artifact_usage("m-" + "0" * 32, 1, 1)
    store.add_artifact_usage(run_id, 100, 1)
    store.log_batch(run_id, _history("loss", range(5)))
    assert store.experiment_storage([experiment, "0"]) == {
        experiment: ExperimentStorage(
            runs=1,
            logged_models=1,
            metric_points=5,
            artifact_bytes=4196,
            artifact_files=4,
            model_artifact_bytes=4096,
        ),
        "0": ExperimentStorage(),
    }


def test_deleted_runs_count_until_they_are_purged(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("deleted")
    kept, deleted = _run(store, experiment), _run(store, experiment)
    for run_id in (kept, deleted):
        store.log_batch(run_id, _history("loss", range(20)))
        store.add_artifact_usage(run_id, 50, 1)
    store.delete_run(deleted)
    assert store.experiment_storage([experiment])[experiment] == ExperimentStorage(
        runs=2, deleted_runs=1, metric_points=40, artifact_bytes=100, artifact_files=2
    )
    with store.engine.begin() as conn:  # what `cairn gc` does to the run's rows
        conn.execute(sa.text("DELETE FROM runs WHERE run_uuid = :r"), {"r": deleted})
        left = conn.execute(sa.text("SELECT run_uuid FROM run_storage")).scalars().all()
    assert left == [kept]
    assert store.experiment_storage([experiment])[experiment] == ExperimentStorage(
        runs=1, metric_points=20, artifact_bytes=50, artifact_files=1
    )


def test_an_import_counts_each_point_once_however_often_it_is_written(
    store: SqlTrackingStore,
) -> None:
    writes = SqlImports(store)
    experiment = store.create_experiment("imported")
    run = Run(
        RunInfo(
            uuid.uuid4().hex,
            experiment,
            "imported",
            "alice",
            "FINISHED",
            START,
            START + 1,
            "",
            "active",
        ),
        RunData(),
    )
    writes.put_run(run, experiment, None)
    points = [(run.info.run_id, "loss", float(s), START + s, s) for s in range(300)]
    writes.put_metric_points(points)
    assert store.run_storage([run.info.run_id])[run.info.run_id].metric_points == 300
    writes.put_metric_points(points[:100])  # an import resumed: the first points again
    writes.finish_run(run, None)
    assert store.run_storage([run.info.run_id])[run.info.run_id].metric_points == 300


def test_recount_agrees_with_the_kept_figures_and_corrects_drift(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("recount", artifact_location=str(tmp_path / "exp"))
    runs = [_run(store, experiment) for _ in range(3)]
    folders = []
    for i, run_id in enumerate(runs):
        store.log_batch(run_id, _history("loss", range(10 * (i + 1))))
        folder = Path(store.get_run(run_id).info.artifact_uri)
        (folder / "plots").mkdir(parents=True)
        (folder / "plots" / "a.bin").write_bytes(b"x" * (100 * (i + 1)))
        store.add_artifact_usage(run_id, 100 * (i + 1), 1)
        folders.append(folder)
    model = store.create_logged_model(experiment, name="net")
    model_folder = Path(model.artifact_uri)
    model_folder.mkdir(parents=True)
    (model_folder / "MLmodel").write_bytes(b"m" * 64)
    store.add_model_artifact_usage(model.model_id, 64, 1)
    kept = store.experiment_storage([experiment])

    report = recount(store, [experiment])
    assert (report.runs, report.logged_models, report.unreachable) == (3, 1, [])
    assert store.experiment_storage([experiment]) == kept
    assert kept[experiment].artifact_bytes == 600 + 64

    (folders[0] / "plots" / "a.bin").unlink()  # removed by hand
    (folders[1] / "extra.txt").write_bytes(b"y" * 7)  # written around Cairn
    store.log_batch(runs[2], _history("loss", range(30)))  # exact repeats, counted again
    assert store.run_storage([runs[2]])[runs[2]].metric_points == 60
    recount(store, [experiment])
    assert store.run_storage(runs) == {
        runs[0]: RunStorage(experiment, 10, 0, 0),
        runs[1]: RunStorage(experiment, 20, 207, 2),
        runs[2]: RunStorage(experiment, 30, 300, 1),
    }


def test_recount_leaves_the_files_of_unreachable_roots_alone(store: SqlTrackingStore) -> None:
    """A server's run (an mlflow-artifacts:/ root) without its destination: points are
    counted, file figures stay, and the report says which run was not walked."""
    experiment = store.create_experiment("served", artifact_location="mlflow-artifacts:/7")
    run_id = _run(store, experiment)
    store.add_artifact_usage(run_id, 123, 4)
    store.log_batch(run_id, _history("loss", range(5)))
    report = recount(store, [experiment])
    assert len(report.unreachable) == 1 and run_id in report.unreachable[0]
    assert store.run_storage([run_id])[run_id] == RunStorage(experiment, 5, 123, 4)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_an_upgraded_database_has_its_points_counted(
    backend: str, tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        uri = new_server_database(backend, f"{backend}-0007-storage-{uuid.uuid4().hex[:6]}")
    db = engine.create(uri)
    try:
        migrate.upgrade(db, "0007")
        with db.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO experiments (experiment_id, name, lifecycle_stage) "
                    "VALUES (1, 'old', 'active')"
                )
            )
            for run_id in ("a" * 32, "b" * 32):
                conn.execute(
                    sa.text(
                        "INSERT INTO runs (run_uuid, experiment_id, status, start_time, "
                        "lifecycle_stage) VALUES (:r, 1, 'FINISHED', 0, 'active')"
                    ),
                    {"r": run_id},
                )
            rows = [("a" * 32, s) for s in range(250)] + [("b" * 32, s) for s in range(7)]
            rows += [("c" * 32, s) for s in range(3)]  # points of a run long gone
            conn.execute(
                sa.text(
                    "INSERT INTO metrics (run_uuid, {k}, step, {t}, value, is_nan) "
                    "VALUES (:r, 'loss', :s, 0, 0.5, :f)".format(
                        k=db.dialect.identifier_preparer.quote("key"),
                        t=db.dialect.identifier_preparer.quote("timestamp"),
                    )
                ),
                [{"r": r, "s": s, "f": False} for r, s in rows],
            )
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.HEAD
        with db.connect() as conn:
            found = dict(
                conn.execute(sa.text("SELECT run_uuid, metric_points FROM run_storage")).all()
            )
        assert found == {"a" * 32: 250, "b" * 32: 7}
    finally:
        db.dispose()


def test_experiment_totals_over_ten_thousand_runs(sqlite_store: SqlTrackingStore) -> None:
    """One GROUP BY: the experiments page asks for this on every visit."""
    experiment = int(sqlite_store.create_experiment("big"))
    ids = [uuid.uuid4().hex for _ in range(10_000)]
    with sqlite_store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (run_uuid, experiment_id, status, start_time, lifecycle_stage)"
                " VALUES (:r, :e, 'FINISHED', 0, :stage)"
            ),
            [
                {"r": r, "e": experiment, "stage": "deleted" if i % 10 == 0 else "active"}
                for i, r in enumerate(ids)
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO run_storage (run_uuid, metric_points, artifact_bytes, "
                "artifact_files) VALUES (:r, :p, :b, 1)"
            ),
            [{"r": r, "p": i, "b": 2**31 + i} for i, r in enumerate(ids)],
        )
    totals = sqlite_store.experiment_storage([str(experiment)])[str(experiment)]
    assert totals == ExperimentStorage(
        runs=10_000,
        deleted_runs=1000,
        metric_points=sum(range(10_000)),
        artifact_bytes=10_000 * 2**31 + sum(range(10_000)),
        artifact_files=10_000,
    )


def _stored_points(store: SqlTrackingStore, run_ids: list[str]) -> int:
    with store.engine.connect() as conn:
        query = sa.text("SELECT COUNT(*) FROM metrics WHERE run_uuid IN :runs").bindparams(
            sa.bindparam("runs", expanding=True)
        )
        return int(conn.execute(query, {"runs": run_ids}).scalar_one())
