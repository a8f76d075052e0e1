"""`Sync` between two SQLite stores: everything is copied, a second sync sends nothing, a
running run gets only what is new, and a lost state file costs re-sending only."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from sync_snapshots import files_of, fill_run, snapshot

import cairn
from cairn.entities import Metric, Param
from cairn.tracking.sync import Sync
from cairn.tracking.sync_diff import new_points
from cairn.tracking.sync_state import MetricProgress, default_state_path
from cairn.tracking.sync_summary import SyncSummary


def _populate(source: cairn.Client, scratch: Path) -> list[str]:
    """A finished run in a tagged experiment, a failed one in Default, a running one."""
    experiment = source.create_experiment("churn", tags={"owner": "ana"})
    first = source.create_run(experiment, start_time=1_700_000_000_000, run_name="first")
    fill_run(source, first.info.run_id, scratch / "a")
    source.set_terminated(first.info.run_id, "FINISHED", end_time=1_700_000_100_000)
    second = source.create_run("0", tags={"mlflow.user": "bob"}, run_name="second")
    fill_run(source, second.info.run_id, scratch / "b", points=3)
    source.set_terminated(second.info.run_id, "FAILED", end_time=1_700_000_200_000)
    third = source.create_run(experiment, run_name="third")
    source.log_metric(third.info.run_id, "loss", 0.3, timestamp=1_700_000_000_500, step=0)
    return [first.info.run_id, second.info.run_id, third.info.run_id]


def _sync(source: cairn.Client, destination: cairn.Client, **options: object) -> SyncSummary:
    syncer = Sync(destination.tracking_uri, source.tracking_uri, **options)  # type: ignore[arg-type]
    try:
        return syncer.sync_once()
    finally:
        syncer.close()


def test_sync_copies_every_run_whole(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    run_ids = _populate(source, workdir / "scratch")
    summary = _sync(source, destination)
    assert summary.runs_created == 3 and summary.runs_failed == 0, summary.failures
    assert summary.points == 24 + 7 + 1
    assert summary.artifact_files == 6
    for run_id in run_ids:
        assert snapshot(destination, run_id) == snapshot(source, run_id)
    copied = destination.get_experiment_by_name("churn")
    assert copied is not None and copied.tags == {"owner": "ana"}
    assert destination.get_run(run_ids[1]).info.experiment_id == "0"
    assert destination.get_run(run_ids[1]).info.user_id == "bob"


def test_a_second_sync_sends_nothing(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    run_ids = _populate(source, workdir / "scratch")
    first = _sync(source, destination)
    assert first.requests > 0
    again = _sync(source, destination)  # a new Sync: the state comes from its file
    assert again == SyncSummary(runs_unchanged=3), again
    for run_id in run_ids:
        assert snapshot(destination, run_id) == snapshot(source, run_id)


def test_a_running_run_gets_only_what_is_new_then_its_end(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    run_id = source.create_run("0", run_name="live").info.run_id
    source.log_batch(run_id, [Metric("loss", float(i), 1_000 + i, i) for i in range(10)])
    source.log_param(run_id, "lr", "0.1")
    source.log_text(run_id, "v1", "log.txt")
    assert _sync(source, destination).points == 10
    assert destination.get_run(run_id).info.status == "RUNNING"

    # Five more points, one of them in the millisecond of the last one sent; a param;
    # a file grown; a new file; then the run ends.
    more = [Metric("loss", 99.0, 1_009, 9)] + [
        Metric("loss", float(i), 1_000 + i, i) for i in range(10, 14)
    ]
    source.log_batch(run_id, more, [Param("epochs", "5")])
    source.log_text(run_id, "v1 and v2", "log.txt")
    source.log_text(run_id, "new", "extra/new.txt")
    source.set_terminated(run_id, "FINISHED", end_time=5_000)
    summary = _sync(source, destination)
    assert (summary.points, summary.params, summary.artifact_files) == (5, 1, 2)
    assert summary.runs_updated == 1
    assert summary.requests == 4  # one batch, two files, the end
    assert snapshot(destination, run_id) == snapshot(source, run_id)
    ended = destination.get_run(run_id).info
    assert (ended.status, ended.end_time) == ("FINISHED", 5_000)
    assert len(destination.get_metric_history(run_id, "loss")) == 15


def test_a_lost_state_file_costs_only_resending(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    run_ids = _populate(source, workdir / "scratch")
    _sync(source, destination)
    state = Path(default_state_path(source.tracking_uri, destination.tracking_uri))
    assert state.parent == workdir / "source" / "sync" and state.is_file()
    state.unlink()
    again = _sync(source, destination)
    assert again.requests > 0 and again.runs_failed == 0, again.failures
    for run_id in run_ids:  # nothing doubled
        assert snapshot(destination, run_id) == snapshot(source, run_id)
    assert _sync(source, destination).requests == 0


def test_filters_by_experiment_name_and_run_id(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    first, second, third = _populate(source, workdir / "scratch")
    assert _sync(source, destination, experiments=["churn"]).runs_created == 2
    assert destination.search_all_runs(["0"]) == []
    assert _sync(source, destination, run_ids=[second]).runs_created == 1
    assert destination.get_run(second).info.run_name == "second"


def test_logged_models_are_copied_with_their_files(
    source: cairn.Client, destination: cairn.Client, workdir: Path
) -> None:
    from cairn.entities import LoggedModelOutput

    run_id = source.create_run("0").info.run_id
    model = source.create_logged_model("0", name="net", source_run_id=run_id, params={"k": 1})
    folder = workdir / "net"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    source.log_model_artifacts(model.model_id, str(folder))
    source.finalize_logged_model(model.model_id, "READY")
    source.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])
    summary = _sync(source, destination)
    assert summary.models == 1
    outputs = destination.get_run(run_id).outputs.model_outputs
    assert [o.step for o in outputs] == [3]
    copy = destination.get_logged_model(outputs[0].model_id)
    assert (copy.name, copy.params, copy.source_run_id, copy.status.name) == (
        "net",
        {"k": "1"},
        run_id,
        "READY",
    )
    files = [f.path for f in destination.list_logged_model_artifacts(copy.model_id)]
    assert files == ["MLmodel"]
    assert _sync(source, destination).requests == 0


def test_follow_sends_what_is_new_until_stopped(
    source: cairn.Client, destination: cairn.Client
) -> None:
    run_id = source.create_run("0").info.run_id
    passes: queue.Queue[SyncSummary] = queue.Queue()
    stop = threading.Event()
    syncer = Sync(destination.tracking_uri, source.tracking_uri)
    thread = threading.Thread(target=syncer.follow, args=(stop, 0.05, passes.put))
    thread.start()
    try:
        assert passes.get(timeout=30).runs_created == 1
        source.log_metric(run_id, "loss", 0.5, timestamp=10, step=1)
        source.set_terminated(run_id, end_time=20)
        sent = SyncSummary()
        while sent.points == 0 or destination.get_run(run_id).info.status != "FINISHED":
            sent.add(passes.get(timeout=30))
        assert sent.points == 1
        assert [m.value for m in destination.get_metric_history(run_id, "loss")] == [0.5]
    finally:
        stop.set()
        thread.join(30)
        syncer.close()
    assert not thread.is_alive()


def test_new_points_tells_apart_points_of_the_same_millisecond() -> None:
    sent_points = [Metric("m", 1.0, 5, 0), Metric("m", 2.0, 7, 1)]
    fresh, progress = new_points(sent_points, MetricProgress())
    assert fresh == sent_points and progress.count == 2 and progress.max_timestamp == 7
    later = [*sent_points, Metric("m", 3.0, 7, 2), Metric("m", 4.0, 9, 3)]
    fresh, progress = new_points(later, progress)
    assert [m.value for m in fresh] == [3.0, 4.0] and progress.count == 4
    # A point logged with an old timestamp: everything goes again (stored once there).
    older = [Metric("m", 0.0, 1, 0), *later]
    fresh, progress = new_points(older, progress)
    assert len(fresh) == 5 and progress.count == 5
    assert new_points(older, progress) == ([], progress)


def test_source_files_are_compared_by_size(source: cairn.Client, destination: cairn.Client) -> None:
    run_id = source.create_run("0").info.run_id
    source.log_text(run_id, "abc", "a.txt")
    _sync(source, destination)
    source.log_text(run_id, "abcdef", "a.txt")
    assert _sync(source, destination).artifact_bytes == 6
    assert files_of(destination, run_id) == {"a.txt": b"abcdef"}
