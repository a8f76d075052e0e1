"""`cairn gc` as users run it: through click's runner on a SQLite store, as a real process
on the README's default store (./cairn-data), and killed with SIGKILL in the middle of a
collection, which a second `cairn gc` then finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from gc_world import disk_usage, make_run, rows_naming

from cairn.artifact_store.local import LocalArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.cli import cli
from cairn.entities.gc import GcRequest
from cairn.maintenance.gc import collect_garbage
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore
from local_processes import CLI


def _gc(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["gc", *args])
    return result.exit_code, result.output


def test_the_command_lists_on_a_dry_run_then_removes(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    uri = sqlite_store.db_uri
    experiment = sqlite_store.create_experiment("cli")
    doomed = [make_run(sqlite_store, experiment, tmp_path) for _ in range(2)]
    for run_id in doomed:
        sqlite_store.delete_run(run_id)
    held = make_run(sqlite_store, experiment, tmp_path)
    registry = SqlRegistryStore(uri)
    registry.create_registered_model("m")
    registry.create_model_version("m", f"runs:/{held}/model")
    registry.close()
    sqlite_store.delete_run(held)

    code, dry = _gc("--tracking-uri", uri, "--dry-run")
    assert code == 0, dry
    assert "Would remove: 2 runs, 0 experiments, 2 logged models, 2 trace(s), 80 metric" in dry
    assert all(f"  run {r}" in dry for r in doomed)
    assert f"  run {held}: registered model version 'm' v1 points to it" in dry
    assert all(rows_naming(sqlite_store, r).get("runs") == 1 for r in doomed)

    code, out = _gc("--tracking-uri", uri, "--yes")
    assert code == 0, out
    assert "Removed for good: 2 runs" in out and "Kept (1):" in out
    figures = next(line for line in dry.splitlines() if line.startswith("Would remove"))
    assert figures.split("metric point(s), ")[1] in out  # the same files and bytes
    assert all(rows_naming(sqlite_store, r) == {} for r in doomed)


def test_the_command_takes_ages_and_experiment_names(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    uri = sqlite_store.db_uri
    experiment = sqlite_store.create_experiment("old-project")
    run_id = make_run(sqlite_store, experiment, tmp_path)
    sqlite_store.delete_experiment(experiment)

    assert _gc("--tracking-uri", uri, "--older-than", "1d12h")[1].startswith(
        "Removed for good: 0 runs"
    )
    code, out = _gc("--tracking-uri", uri, "--older-than", "3 weeks")
    assert code == 2 and "expected a duration" in out
    code, out = _gc("--tracking-uri", uri, "--experiment", "no-such-thing")
    assert code == 1 and "No experiment named 'no-such-thing'" in out
    code, out = _gc("--tracking-uri", uri, "--experiment", "old-project", "--older-than", "0")
    assert code == 0 and "Removed for good: 1 run, 1 experiment," in out, out
    assert rows_naming(sqlite_store, run_id) == {} and rows_naming(sqlite_store, experiment) == {}
    code, out = _gc("--tracking-uri", uri, "--run", run_id)
    assert code == 1 and f"Run '{run_id}' not found." in out


def test_cairn_gc_on_the_default_store(workdir: Path) -> None:
    """The README's way: log with the fluent API into ./cairn-data, delete, `cairn gc`."""
    import cairn

    (workdir / "notes.txt").write_text("x" * 1000)
    ids = []
    for _ in range(2):
        with cairn.start_run() as run:
            cairn.log_metric("loss", 0.5)
            cairn.log_artifact(str(workdir / "notes.txt"))
            ids.append(run.info.run_id)
    client = cairn.Client()
    folders = [Path(client.get_run(r).info.artifact_uri).parent for r in ids]
    client.delete_run(ids[0])

    done = subprocess.run(
        [sys.executable, "-c", CLI, "gc"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    purged = client.purge_run(ids[1])  # the Client's way, for an active run

    assert done.returncode == 0, done.stderr
    assert "Removed for good: 1 run" in done.stdout and "1 file(s) (1000 B" in done.stdout
    assert purged.runs == [ids[1]] and purged.bytes == 1000
    assert not folders[0].exists() and not folders[1].exists()
    assert client.search_runs(["0"], run_view_type=3) == []


def test_a_killed_collection_leaves_no_half_removed_run(tmp_path: Path) -> None:
    """SIGKILL after the first batch: every run is whole (its history complete, only its
    files perhaps gone) or gone entirely; a second `cairn gc` removes the rest."""
    db = tmp_path / "cairn.db"
    uri = f"sqlite:///{db}"
    store = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    points = 1000
    runs = [store.create_run("0", "u", 0, [], None).info.run_id for _ in range(600)]
    store.log_metric_points([(r, "m", 1.0, 0, s) for r in runs for s in range(points)])
    for run_id in runs:
        folder = tmp_path / "artifacts" / "0" / run_id / "artifacts"
        folder.mkdir(parents=True)
        (folder / "f.bin").write_bytes(os.urandom(2000))
    with store.engine.begin() as conn:  # delete_run for all of them at once
        conn.execute(sa.text("UPDATE runs SET lifecycle_stage = 'deleted', deleted_time = 1"))

    with subprocess.Popen(
        [sys.executable, "-c", CLI, "gc", "--tracking-uri", uri, "--yes"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Collected 100 of 600 runs"):
                process.send_signal(signal.SIGKILL)
                break
        process.wait(60)
    assert process.returncode == -signal.SIGKILL, "gc ended before it could be killed"

    with store.engine.connect() as conn:
        left = dict(
            conn.execute(
                sa.text(
                    "SELECT r.run_uuid, (SELECT count(*) FROM metrics m "
                    "WHERE m.run_uuid = r.run_uuid) FROM runs r WHERE r.lifecycle_stage = "
                    "'deleted'"
                )
            ).all()
        )
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM metrics WHERE run_uuid NOT IN (SELECT run_uuid FROM runs)"
            )
        ).scalar()
    assert 0 < len(left) <= 500 and orphans == 0
    assert set(left.values()) == {points}
    report = collect_garbage(store, GcRequest())
    assert sorted(report.runs) == sorted(left) and report.metric_points == len(left) * points
    assert disk_usage(tmp_path / "artifacts") == (0, 0)
    store.close()


def test_hard_linked_files_count_once_and_only_when_freed(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    """Cairn links captures shared by runs: bytes are what the disk gets back."""
    root = tmp_path / "artifacts"
    shared, kept_link = tmp_path / "capture.py", tmp_path / "still-used.py"
    shared.write_bytes(b"a" * 500)
    kept_link.write_bytes(b"b" * 700)
    experiment = sqlite_store.create_experiment("linked")
    doomed = [sqlite_store.create_run(experiment, "u", 0, [], None).info.run_id for _ in range(2)]
    active = sqlite_store.create_run(experiment, "u", 0, [], None).info.run_id
    for run_id in doomed:
        repository = artifact_repository(sqlite_store.get_run(run_id).info.artifact_uri)
        assert isinstance(repository, LocalArtifactRepository)
        repository.link_files([("code/capture.py", str(shared)), ("code/kept.py", str(kept_link))])
        sqlite_store.delete_run(run_id)
    repository = artifact_repository(sqlite_store.get_run(active).info.artifact_uri)
    assert isinstance(repository, LocalArtifactRepository)
    repository.link_files([("code/kept.py", str(kept_link))])
    shared.unlink()  # now only the two doomed runs hold it
    kept_link.unlink()
    files_before, bytes_before = disk_usage(root)

    dry = collect_garbage(sqlite_store, GcRequest(dry_run=True))
    report = collect_garbage(sqlite_store, GcRequest())

    files_after, bytes_after = disk_usage(root)
    assert (dry.files, dry.bytes) == (report.files, report.bytes) == (4, 500)
    assert bytes_before - bytes_after == 500 and files_before - files_after == 4
