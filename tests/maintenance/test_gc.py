"""Garbage collection (cairn.maintenance.gc) on SQLite, PostgreSQL and MariaDB with local
artifacts: what goes (every row, every file), what stays (and why), and that a dry run
and the real run agree to the byte."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from gc_world import disk_usage, make_run, model_of, rows_naming, snapshot, trace_count

from cairn.entities import ExperimentTag, LifecycleStage, RunStatus, ViewType
from cairn.entities.gc import GcRequest
from cairn.entities.trace import TraceInfo
from cairn.exceptions import (
    InvalidParameterValueError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.maintenance.gc import GcProgress, collect_garbage, purge_run
from cairn.maintenance.retention import KEEP_LAST_TAG
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore

DAY_MS = 86_400_000


def _kept(report: object) -> dict[tuple[str, str], str]:
    return {(k.kind, k.id): k.reason for k in report.kept}  # type: ignore[attr-defined]


def _set_deleted_time(store: SqlTrackingStore, run_id: str, when: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET deleted_time = :t WHERE run_uuid = :r"),
            {"t": when, "r": run_id},
        )


def _delete_all_but(store: SqlTrackingStore, experiment: str, alive: str) -> None:
    """delete_run for every other run of the experiment, in one statement."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = :now"
                " WHERE experiment_id = :e AND run_uuid != :alive"
            ),
            {"now": int(time.time() * 1000), "e": int(experiment), "alive": alive},
        )


def test_a_dry_run_deletes_nothing_and_lists_what_the_real_run_removes(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    experiment = store.create_experiment("gc")
    doomed = [make_run(store, experiment, tmp_path) for _ in range(2)]
    alive = make_run(store, experiment, tmp_path)
    models = [model_of(store, r) for r in doomed]
    for run_id in doomed:
        store.delete_run(run_id)
    before_files = snapshot(root)
    traces_before = trace_count(store)

    dry = collect_garbage(store, GcRequest(dry_run=True))

    assert snapshot(root) == before_files
    assert all(rows_naming(store, r).get("runs") == 1 for r in doomed)
    files_before, bytes_before = disk_usage(root)
    real = collect_garbage(store, GcRequest())
    files_after, bytes_after = disk_usage(root)

    assert dry.dry_run and not real.dry_run
    assert sorted(dry.runs) == sorted(real.runs) == sorted(doomed)
    assert sorted(dry.logged_models) == sorted(real.logged_models) == sorted(models)
    assert dry.metric_points == real.metric_points == 2 * 2 * 20
    assert dry.traces == real.traces == 2
    assert (dry.files, dry.bytes) == (real.files, real.bytes)
    assert real.files == files_before - files_after == 2 * 3
    assert real.bytes == bytes_before - bytes_after > 0
    assert real.kept == [] and real.done
    assert trace_count(store) == traces_before - 2
    for ident in [*doomed, *models]:
        assert rows_naming(store, ident) == {}, ident
        assert not list(root.rglob(f"*{ident}*")), ident
    assert store.get_run(alive).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert len(store.get_metric_history(alive, "loss")) == 20
    assert (root / experiment / alive / "artifacts").is_dir()


def test_a_trace_another_experiment_links_to_a_purged_run_stays(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("gc-linked")
    other = store.create_experiment("gc-linked-elsewhere")
    doomed = make_run(store, experiment, tmp_path, trace=False)
    theirs = "tr-" + "b" * 32
    store.traces.start_trace(TraceInfo(theirs, other, 1000))
    store.traces.link_traces_to_run([theirs], doomed)
    store.delete_run(doomed)

    report = collect_garbage(store, GcRequest())

    assert report.runs == [doomed] and report.traces == 0
    assert store.traces.get_trace_info(theirs).experiment_id == other


def test_what_a_registered_version_points_to_stays_untouched(
    store: SqlTrackingStore, registry: SqlRegistryStore, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    experiment = store.create_experiment("registered")
    by_run_id, by_runs_uri, by_model, by_source, free = (
        make_run(store, experiment, tmp_path) for _ in range(5)
    )
    registry.create_registered_model("churn")
    uri = store.get_run(by_run_id).info.artifact_uri
    registry.create_model_version("churn", f"{uri}/outputs", run_id=by_run_id)
    registry.create_model_version("churn", f"runs:/{by_runs_uri}/model")
    model = model_of(store, by_model)
    registry.create_model_version("churn", f"models:/{model}", model_id=model)
    # As an import from another registry leaves it: a bare location, no run_id.
    source = store.get_run(by_source).info.artifact_uri + "/outputs"
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO model_versions (name, version, creation_time, last_updated_time,"
                " current_stage, source, status) VALUES ('churn', 9, 1, 1, 'None', :s, 'READY')"
            ),
            {"s": source},
        )
    protected = [by_run_id, by_runs_uri, by_model, by_source]
    for run_id in [*protected, free]:
        store.delete_run(run_id)
    free_model = model_of(store, free)
    untouched = snapshot(root / experiment)

    report = collect_garbage(store, GcRequest())

    assert report.runs == [free]
    kept = _kept(report)
    assert "'churn' v1 points to it" in kept[("run", by_run_id)]
    assert "'churn' v2 points to it" in kept[("run", by_runs_uri)]
    assert "'churn' v3" in kept[("run", by_model)]  # its source run, named or implied
    assert "'churn' v3 points to it" in kept[("logged_model", model)]
    assert "overlaps" in kept[("run", by_source)] and "v9" in kept[("run", by_source)]
    after = snapshot(root / experiment)
    assert {k: v for k, v in untouched.items() if free not in k and free_model not in k} == after
    for run_id in protected:
        assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
        assert len(store.get_metric_history(run_id, "acc")) == 20
    assert store.get_logged_model(model).model_id == model


def test_an_experiment_goes_whole_and_its_name_is_free_again(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    experiment = store.create_experiment("doomed", tags=[ExperimentTag("k", "v")])
    runs = [make_run(store, experiment, tmp_path) for _ in range(2)]
    store.traces.start_trace(TraceInfo("tr-" + "a" * 32, experiment, 1))  # no run
    unrelated = make_run(store, "0", tmp_path)
    store.delete_run(unrelated)
    store.delete_experiment(experiment)

    dry = collect_garbage(store, GcRequest(experiment_ids=(experiment,), dry_run=True))
    report = collect_garbage(store, GcRequest(experiment_ids=(experiment,)))

    assert report.experiments == dry.experiments == [experiment]
    assert sorted(report.runs) == sorted(dry.runs) == sorted(runs)
    assert len(report.logged_models) == 2 and report.traces == dry.traces == 3
    assert sorted(dry.logged_models) == sorted(report.logged_models)
    assert (dry.files, dry.bytes, dry.metric_points) == (
        report.files,
        report.bytes,
        report.metric_points,
    )
    assert report.files == 2 * 3
    assert rows_naming(store, experiment) == {}
    assert not (root / experiment).exists()
    assert store.get_run(unrelated).info.lifecycle_stage == LifecycleStage.DELETED
    again = store.create_experiment("doomed")
    assert store.get_experiment(again).name == "doomed"


def test_an_experiment_with_a_protected_run_stays_and_keeps_its_name(
    store: SqlTrackingStore, registry: SqlRegistryStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("held")
    held, free = make_run(store, experiment, tmp_path), make_run(store, experiment, tmp_path)
    registry.create_registered_model("m")
    registry.create_model_version("m", f"runs:/{held}/model")
    store.delete_experiment(experiment)

    report = collect_garbage(store, GcRequest())

    assert report.runs == [free] and report.experiments == []
    assert f"its run {held} is kept" in _kept(report)[("experiment", experiment)]
    with pytest.raises(ResourceAlreadyExistsError):
        store.create_experiment("held")
    assert (tmp_path / "artifacts" / experiment / held / "artifacts").is_dir()


def test_older_than_leaves_what_was_deleted_recently(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("ages")
    old, recent = make_run(store, experiment, tmp_path), make_run(store, experiment, tmp_path)
    for run_id in (old, recent):
        store.delete_run(run_id)
    _set_deleted_time(store, old, int(time.time() * 1000) - 10 * DAY_MS)
    week = 7 * DAY_MS

    report = collect_garbage(store, GcRequest(older_than_ms=week))
    named = collect_garbage(store, GcRequest(older_than_ms=week, run_ids=(recent,)))

    assert report.runs == [old]
    assert named.runs == [] and "less than 7d ago" in _kept(named)[("run", recent)]
    assert rows_naming(store, recent)["runs"] == 1
    assert collect_garbage(store, GcRequest(older_than_ms=0)).runs == [recent]


def test_experiments_and_runs_narrow_what_is_collected(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    first, second = store.create_experiment("first"), store.create_experiment("second")
    a1, a2 = make_run(store, first, tmp_path), make_run(store, first, tmp_path)
    b1, b2 = make_run(store, second, tmp_path), make_run(store, second, tmp_path)
    active = make_run(store, second, tmp_path)
    for run_id in (a1, a2, b1, b2):
        store.delete_run(run_id)

    by_experiment = collect_garbage(store, GcRequest(experiment_ids=(first,)))
    by_run = collect_garbage(store, GcRequest(run_ids=(b1,)))

    assert sorted(by_experiment.runs) == sorted([a1, a2]) and by_run.runs == [b1]
    assert store.get_run(b2).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidParameterValueError, match="must be deleted first"):
        collect_garbage(store, GcRequest(run_ids=(active,)))
    with pytest.raises(ResourceDoesNotExistError):
        collect_garbage(store, GcRequest(run_ids=("f" * 32,)))
    with pytest.raises(ResourceDoesNotExistError):
        collect_garbage(store, GcRequest(experiment_ids=("98765",)))


def test_a_bounded_pass_says_when_more_is_left(store: SqlTrackingStore, tmp_path: Path) -> None:
    experiment = store.create_experiment("bounded")
    runs = [make_run(store, experiment, tmp_path, model=False, trace=False) for _ in range(5)]
    for run_id in runs:
        store.delete_run(run_id)
    store.delete_experiment(experiment)
    seen: list[GcProgress] = []

    passes = []
    while not passes or not passes[-1].done:
        passes.append(collect_garbage(store, GcRequest(), max_runs=2, progress=seen.append))
        assert len(passes) <= 4

    assert [len(p.runs) for p in passes] == [2, 2, 1]
    assert [p.experiments for p in passes] == [[], [], [experiment]]  # in the last one's room
    assert sorted(r for p in passes for r in p.runs) == sorted(runs)
    assert seen[0] == GcProgress(0, 2, 0, 0) and seen[1].runs_done == 2 and seen[1].bytes > 0


def test_purge_run_removes_an_active_run_and_refuses_a_protected_one(
    store: SqlTrackingStore, registry: SqlRegistryStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("purge")
    active, held = make_run(store, experiment, tmp_path), make_run(store, experiment, tmp_path)
    store.update_run_info(active, RunStatus.FINISHED, 2000)
    registry.create_registered_model("m")
    registry.create_model_version("m", f"runs:/{held}/model")

    report = purge_run(store, active)
    with pytest.raises(InvalidParameterValueError, match="'m' v1 points to it"):
        purge_run(store, held)

    assert report.runs == [active] and report.bytes > 0 and len(report.logged_models) == 1
    assert rows_naming(store, active) == {}
    assert store.get_run(held).info.lifecycle_stage == LifecycleStage.ACTIVE
    with pytest.raises(ResourceDoesNotExistError):
        purge_run(store, active)


def test_a_folder_an_active_run_lies_in_is_kept(store: SqlTrackingStore, tmp_path: Path) -> None:
    experiment = store.create_experiment("shared")
    doomed, active = make_run(store, experiment, tmp_path), make_run(store, experiment, tmp_path)
    inside = store.get_run(doomed).info.artifact_uri + "/nested"
    with store.engine.begin() as conn:  # as an import can leave it
        conn.execute(
            sa.text("UPDATE runs SET artifact_uri = :u WHERE run_uuid = :r"),
            {"u": inside, "r": active},
        )
    store.delete_run(doomed)
    before = snapshot(tmp_path / "artifacts")

    report = collect_garbage(store, GcRequest())

    assert report.runs == []
    assert f"run {active}" in _kept(report)[("run", doomed)]
    assert snapshot(tmp_path / "artifacts") == before


def test_logged_models_go_with_their_run_unless_still_used(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    from cairn.entities import LoggedModelOutput

    experiment = store.create_experiment("models")
    doomed, user = make_run(store, experiment, tmp_path), make_run(store, experiment, tmp_path)
    model = model_of(store, doomed)
    store.log_outputs(user, [LoggedModelOutput(model, 3)])
    lonely = store.create_logged_model(experiment, "deleted-one")
    store.delete_logged_model(lonely.model_id)
    store.delete_run(doomed)

    report = collect_garbage(store, GcRequest())

    assert report.runs == [doomed] and report.logged_models == [lonely.model_id]
    assert f"run {user}, which stays, uses it" in _kept(report)[("logged_model", model)]
    assert store.get_logged_model(model).model_id == model
    assert rows_naming(store, lonely.model_id) == {}


def test_files_behind_a_proxy_stay_without_a_destination(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    destination = tmp_path / "destination"
    experiment = store.create_experiment("proxied", artifact_location="mlflow-artifacts:/team")
    run_id = store.create_run(experiment, "u", 0, [], None).info.run_id
    folder = destination / "team" / run_id / "artifacts"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"x" * 321)
    store.delete_run(run_id)

    without = collect_garbage(store, GcRequest())
    with_destination = collect_garbage(store, GcRequest(), artifacts_destination=str(destination))

    assert without.runs == [] and "--artifacts-destination" in _kept(without)[("artifacts", run_id)]
    assert with_destination.runs == [run_id]
    assert (with_destination.files, with_destination.bytes) == (1, 321)
    assert not (destination / "team" / run_id).exists()


def test_a_second_pass_finishes_what_an_interrupted_one_left(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    """Files first, rows after: a pass killed between the two leaves runs whose folders are
    gone but whose rows are whole; the next pass removes the rows."""
    import shutil

    experiment = store.create_experiment("resume")
    runs = [make_run(store, experiment, tmp_path) for _ in range(3)]
    for run_id in runs:
        store.delete_run(run_id)
        shutil.rmtree(tmp_path / "artifacts" / experiment / run_id)

    report = collect_garbage(store, GcRequest())

    assert sorted(report.runs) == sorted(runs) and report.files == 3  # the models' files
    assert all(rows_naming(store, r) == {} for r in runs)


def test_retention_deletes_first_and_gc_then_collects(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    experiment = store.create_experiment("kept-short")
    runs = [make_run(store, experiment, tmp_path, model=False) for _ in range(3)]
    for run_id in runs:
        store.update_run_info(run_id, RunStatus.FINISHED, 5000)
    store.set_experiment_tag(experiment, ExperimentTag(KEEP_LAST_TAG, "1"))
    newest = max(runs, key=lambda r: (store.get_run(r).info.start_time, r))
    retired = sorted(r for r in runs if r != newest)

    dry = collect_garbage(store, GcRequest(apply_retention=True, dry_run=True))
    assert dry.retention_deleted == retired and sorted(dry.runs) == retired
    assert all(store.get_run(r).info.lifecycle_stage == "active" for r in runs)
    graced = collect_garbage(store, GcRequest(apply_retention=True, older_than_ms=DAY_MS))
    assert graced.retention_deleted == retired and graced.runs == []
    report = collect_garbage(store, GcRequest())

    assert sorted(report.runs) == retired and report.metric_points == dry.metric_points
    assert store.get_run(newest).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_searches_answer_while_batches_are_removed(store: SqlTrackingStore, tmp_path: Path) -> None:
    """Each batch's rows go in a worker while the next batch's files go here: the progress
    callback runs meanwhile, and a search from it is answered (SQLite's WAL, PostgreSQL's
    and MariaDB's MVCC), never blocked behind the removal."""
    experiment = store.create_experiment("busy")
    alive = store.create_run(experiment, "u", 0, [], None).info.run_id
    doomed = [store.create_run(experiment, "u", 0, [], None).info.run_id for _ in range(250)]
    store.log_metric_points([(r, "m", 1.0, 0, s) for r in doomed for s in range(10)])
    _delete_all_but(store, experiment, alive)
    answers: list[list[str]] = []

    def search(progress: GcProgress) -> None:
        if progress.runs_done:
            found = store.search_runs([experiment], run_view_type=ViewType.ALL)
            answers.append([r.info.run_id for r in found])

    report = collect_garbage(store, GcRequest(), progress=search)

    assert len(report.runs) == 250 and report.metric_points == 2500
    assert len(answers) == 3 and all(alive in a for a in answers)
    # Whole batches only (runs deleted at the same time go in id order, 100 a batch),
    # committed in any order where several are removed at once.
    ordered = sorted(doomed)
    batches = [frozenset(ordered[i : i + 100]) for i in range(0, 250, 100)]
    for answer in answers:
        left = set(answer) - {alive}
        assert left == set().union(*(b for b in batches if b <= left)), len(left)


def test_rows_the_database_will_not_let_go_are_reported_not_raised(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    """A table added by someone else that refers to runs without ON DELETE CASCADE: the
    batch's transaction is refused whole, the runs stay (deleted) and are named."""
    experiment = sqlite_store.create_experiment("held-by-fk")
    held, other = (make_run(sqlite_store, experiment, tmp_path) for _ in range(2))
    with sqlite_store.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (run_uuid VARCHAR(32) REFERENCES runs)"))
        conn.execute(sa.text("INSERT INTO notes VALUES (:r)"), {"r": held})
    for run_id in (held, other):
        sqlite_store.delete_run(run_id)
    sqlite_store.delete_experiment(experiment)

    report = collect_garbage(sqlite_store, GcRequest())

    assert report.runs == [] and report.experiments == []
    kept = _kept(report)
    assert "refused to remove its rows" in kept[("run", held)] and ("run", other) in kept
    assert "could not be removed" in kept[("experiment", experiment)]
    assert rows_naming(sqlite_store, held)["metrics"] == 40


def test_a_location_chosen_by_hand_loses_only_the_runs_folders(
    store: SqlTrackingStore, tmp_path: Path
) -> None:
    chosen = tmp_path / "team-share" / "churn"
    experiment = store.create_experiment("by-hand", artifact_location=str(chosen))
    run_id = make_run(store, experiment, tmp_path)
    chosen.joinpath("README.txt").write_text("not Cairn's")
    store.delete_experiment(experiment)

    report = collect_garbage(store, GcRequest())

    assert report.runs == [run_id] and report.experiments == [experiment]
    assert "chosen by hand" in _kept(report)[("artifacts", experiment)]
    assert chosen.joinpath("README.txt").read_text() == "not Cairn's"
    assert not (chosen / run_id).exists() and rows_naming(store, experiment) == {}
