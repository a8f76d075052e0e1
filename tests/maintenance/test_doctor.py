"""`cairn doctor` on SQLite, PostgreSQL and MariaDB: each check finds what a test broke,
prints the repair, and `--fix` repairs what is safe so that the next doctor is clean.

Every test works on a database of its own (a dropped index or a stamped revision must not
leak into other tests), through the real command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from cairn.cli.doctor import doctor
from cairn.entities import Metric, RunStatus
from cairn.store.sql import migrate
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking import journal
from cairn.tracking import journal_format as fmt
from local_processes import CLI

BACKENDS = ["sqlite", "postgresql", "mysql"]
DAY_MS = 86_400_000
# What the doctor must print to recreate params' (key, value) index, per dialect (the
# migration makes it on the key alone on PostgreSQL, on prefixes on MySQL).
CREATE_PARAMS_INDEX = {
    "sqlite": 'CREATE INDEX index_params_key_value ON params ("key", value);',
    "postgresql": "CREATE INDEX index_params_key_value ON params (key);",
    "mysql": "CREATE INDEX index_params_key_value ON params (`key`(250), value(200));",
}


@pytest.fixture
def open_store(
    workdir: Path, new_server_database: Callable[[str, str], str]
) -> Iterator[Callable[[str], SqlTrackingStore]]:
    """A factory: a migrated store on a database of its own, artifacts under ./artifacts."""
    made: list[SqlTrackingStore] = []

    def build(backend: str) -> SqlTrackingStore:
        if backend == "sqlite":
            uri = f"sqlite:///{workdir / 'cairn.db'}"
        else:
            uri = new_server_database(backend, f"doctor-{uuid.uuid4().hex}")
        made.append(SqlTrackingStore(uri, str(workdir / "artifacts")))
        return made[-1]

    yield build
    for store in made:
        store.close()


def run_doctor(*args: str) -> Result:
    return CliRunner().invoke(doctor, list(args))


def findings(*args: str) -> tuple[int, list[dict[str, Any]]]:
    """The exit code and the findings of `cairn doctor --json ARGS`."""
    result = run_doctor(*args, "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)["findings"]


def of(check: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in found if f["check"] == check]


def clean(found: list[dict[str, Any]]) -> bool:
    return all(f["level"] == "ok" for f in found)


def drop_params_index(store: SqlTrackingStore) -> None:
    on = " ON params" if store.engine.dialect.name == "mysql" else ""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX index_params_key_value{on}")


def params_index_columns(store: SqlTrackingStore) -> list[str] | None:
    for index in sa.inspect(store.engine).get_indexes("params"):
        if index["name"] == "index_params_key_value":
            return list(index["column_names"])
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fresh_store_is_healthy(
    backend: str, open_store: Callable[[str], SqlTrackingStore]
) -> None:
    store = open_store(backend)
    code, found = findings(store.db_uri)
    assert code == 0
    assert clean(found), found
    checks = {f["check"] for f in found}
    assert {"schema revision", "schema", "stuck runs", "orphaned artifacts", "journal"} <= checks
    assert ({"sqlite journal", "sqlite foreign keys"} <= checks) == (backend == "sqlite")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dropped_index_is_reported_with_its_sql_and_fix_restores_it(
    backend: str, open_store: Callable[[str], SqlTrackingStore]
) -> None:
    store = open_store(backend)
    expected_columns = params_index_columns(store)
    drop_params_index(store)

    result = run_doctor(store.db_uri)
    assert result.exit_code == 1
    assert "✗ schema: index index_params_key_value" in result.output
    assert f"fix: {CREATE_PARAMS_INDEX[backend]}" in result.output

    fixed = run_doctor(store.db_uri, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "[fixed]" in fixed.output
    assert params_index_columns(store) == expected_columns
    code, found = findings(store.db_uri)
    assert code == 0 and clean(found), found


def test_wal_turned_off_is_found_and_fixed(open_store: Callable[[str], SqlTrackingStore]) -> None:
    store = open_store("sqlite")
    store.close()
    path = store.db_uri.partition(":///")[2]
    with open_sqlite(path) as connection:
        assert connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"

    code, found = findings(store.db_uri)
    assert code == 1
    [wal] = of("sqlite journal", found)
    assert wal["level"] == "error" and "delete" in wal["message"]
    assert "--fix" in wal["fix"]
    with open_sqlite(path) as connection:  # looking changed nothing
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    code, found = findings(store.db_uri, "--fix")
    assert code == 0 and of("sqlite journal", found)[0]["fixed"]
    with open_sqlite(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert clean(findings(store.db_uri)[1])


def open_sqlite(path: str) -> Any:
    import contextlib
    import sqlite3

    return contextlib.closing(sqlite3.connect(path))


@pytest.mark.parametrize("backend", BACKENDS)
def test_orphaned_artifact_folders_are_found_and_removed_only_when_asked(
    backend: str, open_store: Callable[[str], SqlTrackingStore], workdir: Path
) -> None:
    store = open_store(backend)
    experiment = store.create_experiment("kept")
    run = store.create_run(experiment, "u", int(time.time() * 1000), [], None)
    kept = workdir / "artifacts" / experiment / run.info.run_id / "artifacts"
    kept.mkdir(parents=True)
    (kept / "model.bin").write_bytes(b"k" * 10)
    orphan_run = workdir / "artifacts" / experiment / uuid.uuid4().hex / "artifacts"
    orphan_run.mkdir(parents=True)
    (orphan_run / "weights.bin").write_bytes(b"w" * 3000)
    orphan_experiment = workdir / "artifacts" / "4242" / uuid.uuid4().hex
    orphan_experiment.mkdir(parents=True)
    (orphan_experiment / "notes.txt").write_bytes(b"n" * 100)
    (workdir / "artifacts" / "not-an-id").mkdir()  # not ours to judge

    code, found = findings(store.db_uri)
    assert code == 0  # a warning: nothing is broken, space is wasted
    [orphans] = of("orphaned artifacts", found)
    assert orphans["level"] == "warning"
    assert "2 folder(s)" in orphans["message"] and "3100 bytes" in orphans["message"]
    assert "1 experiment, 1 run" in orphans["message"]
    assert "--remove-orphans" in orphans["fix"]

    run_doctor(store.db_uri, "--fix")  # --fix leaves them alone
    assert orphan_run.exists() and orphan_experiment.exists()

    code, found = findings(store.db_uri, "--remove-orphans")
    assert of("orphaned artifacts", found)[0]["fixed"]
    assert not orphan_run.parent.exists() and not orphan_experiment.parent.exists()
    assert (kept / "model.bin").read_bytes() == b"k" * 10
    assert (workdir / "artifacts" / "not-an-id").is_dir()
    assert of("orphaned artifacts", findings(store.db_uri)[1])[0]["level"] == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stuck_running_run_is_found_and_fix_marks_it_killed_at_its_last_activity(
    backend: str, open_store: Callable[[str], SqlTrackingStore]
) -> None:
    store = open_store(backend)
    now = int(time.time() * 1000)
    stuck = store.create_run("0", "u", now - 3 * DAY_MS, [], "stuck").info.run_id
    last_point = now - 2 * DAY_MS
    store.log_metric(stuck, Metric("loss", 0.5, last_point, 1))
    busy = store.create_run("0", "u", now - 3 * DAY_MS, [], "busy").info.run_id
    store.log_metric(busy, Metric("loss", 0.4, now, 1))  # started long ago, logging now
    silent = store.create_run("0", "u", now - 30 * DAY_MS, [], "silent").info.run_id
    finished = store.create_run("0", "u", now - 9 * DAY_MS, [], "done").info.run_id
    store.update_run_info(finished, RunStatus.FINISHED, now - 8 * DAY_MS)

    code, found = findings(store.db_uri, "--stuck-after", "24h")
    [report] = of("stuck runs", found)
    assert code == 0 and report["level"] == "warning"
    assert "2 run(s)" in report["message"]
    assert silent in report["message"] and stuck in report["message"]
    assert busy not in report["message"]
    assert "--fix" in report["fix"] and "KILLED" in report["fix"]
    assert store.get_run(stuck).info.status == RunStatus.RUNNING.value  # looking changed nothing

    findings(store.db_uri, "--stuck-after", "24h", "--fix")
    assert store.get_run(stuck).info.status == RunStatus.KILLED.value
    assert store.get_run(stuck).info.end_time == last_point
    assert store.get_run(silent).info.end_time == now - 30 * DAY_MS  # its start
    assert store.get_run(busy).info.status == RunStatus.RUNNING.value
    assert store.get_run(finished).info.status == RunStatus.FINISHED.value
    assert store.get_run(finished).info.end_time == now - 8 * DAY_MS
    assert of("stuck runs", findings(store.db_uri)[1])[0]["level"] == "ok"
    # An hour's threshold still spares the run that logged a moment ago.
    assert of("stuck runs", findings(store.db_uri, "--stuck-after", "1h")[1])[0]["level"] == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_stamped_newer_than_the_code_is_an_error(
    backend: str, open_store: Callable[[str], SqlTrackingStore]
) -> None:
    store = open_store(backend)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    result = run_doctor(store.db_uri)
    assert result.exit_code == 1
    assert "✗ schema revision: 9999 is newer than this Cairn's " + migrate.HEAD in result.output
    assert "upgrade Cairn" in result.output


def test_a_database_behind_the_code_is_sent_to_db_upgrade(workdir: Path) -> None:
    uri = f"sqlite:///{workdir / 'old.db'}"
    engine = sa.create_engine(uri)
    migrate.upgrade(engine, "0007")
    engine.dispose()
    code, found = findings(uri)
    [revision] = of("schema revision", found)
    assert code == 1 and "0007, behind" in revision["message"]
    assert revision["fix"] == f"cairn db upgrade {uri}"
    assert not of("schema", found)  # the other checks wait for the upgrade


def test_a_missing_sqlite_file_is_reported_and_not_created(workdir: Path) -> None:
    result = run_doctor(f"sqlite:///{workdir / 'absent.db'}")
    assert result.exit_code == 1 and "no database at" in result.output
    assert not (workdir / "absent.db").exists()


def test_a_journal_left_by_a_stopped_process_is_counted_and_delivered_by_fix(
    open_store: Callable[[str], SqlTrackingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAIRN_JOURNAL_DIR", raising=False)
    store = open_store("sqlite")
    run_id = store.create_run("0", "u", int(time.time() * 1000), [], None).info.run_id
    folder = Path(journal.directory_for(store.db_uri))
    folder.mkdir(parents=True)
    now = int(time.time() * 1000)
    points = [(run_id, "loss", float(step), now, step) for step in range(5)]
    # A segment as a process killed before delivering writes it: batch 1 acknowledged,
    # batch 2 (5 points) not. No process holds its lock.
    records = [
        fmt.encode({"op": "segment", "uri": store.db_uri, "pid": 1}),
        *fmt.encode_points(1, "dead.1", points[:1]),
        fmt.encode({"op": "ack", "seq": 1}),
        *fmt.encode_points(2, "dead.2", points),
    ]
    (folder / f"{time.time_ns()}-999999999{fmt.SUFFIX}").write_bytes(b"".join(records))

    code, found = findings(store.db_uri)
    [backlog] = of("journal", found)
    assert backlog["level"] == "warning"
    assert "1 record(s) with 5 metric point(s)" in backlog["message"]
    assert "left by stopped processes" in backlog["message"]
    assert store.get_metric_history(run_id, "loss") == []  # looking delivered nothing

    code, found = findings(store.db_uri, "--fix")
    assert of("journal", found)[0]["fixed"], found
    assert [m.value for m in store.get_metric_history(run_id, "loss")] == [0, 1, 2, 3, 4]
    assert of("journal", findings(store.db_uri)[1])[0]["message"].startswith("nothing waits")


def test_cairn_doctor_on_the_readme_default_store(workdir: Path) -> None:
    """`cairn doctor` with no URI, as a user types it, on what the fluent API made."""
    import cairn

    with cairn.start_run():
        cairn.log_param("lr", "0.1")
        cairn.log_metric("loss", 0.25)
        (workdir / "notes.txt").write_text("hello")
        cairn.log_artifact(str(workdir / "notes.txt"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    done = subprocess.run(
        [sys.executable, "-c", CLI, "doctor"],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    database = workdir / "cairn-data" / "cairn.db"
    assert f"cairn doctor sqlite:///{database}" in done.stdout
    assert "✓ schema revision: " + migrate.HEAD in done.stdout
    assert f"✓ orphaned artifacts: none under {workdir / 'cairn-data' / 'artifacts'}" in done.stdout
    assert "✗" not in done.stdout and "!" not in done.stdout


def test_stuck_after_takes_a_unit() -> None:
    result = run_doctor("sqlite:///nowhere.db", "--stuck-after", "24")
    assert result.exit_code == 2 and "expected a number and a unit" in result.output


def test_orphaned_folders_in_an_s3_artifact_root_are_found_and_removed(
    workdir: Path, moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    bucket = f"cairn-doctor-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    store = SqlTrackingStore(f"sqlite:///{workdir / 'cairn.db'}", f"s3://{bucket}/root")
    try:
        run_id = store.create_run("0", "u", int(time.time() * 1000), [], None).info.run_id
        orphan = uuid.uuid4().hex
        for key, size in (
            (f"root/0/{run_id}/artifacts/kept.txt", 10),
            (f"root/0/{orphan}/artifacts/weights.bin", 2000),
            (f"root/55/{uuid.uuid4().hex}/artifacts/old.txt", 30),
        ):
            s3_client.put_object(Bucket=bucket, Key=key, Body=b"x" * size)

        code, found = findings(store.db_uri)  # the root: where the Default experiment lives
        [orphans] = of("orphaned artifacts", found)
        assert f"2 folder(s) under s3://{bucket}/root" in orphans["message"]
        assert "2030 bytes" in orphans["message"]

        findings(store.db_uri, "--remove-orphans")
        listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="root/")
        keys = {item["Key"] for item in listed.get("Contents", [])}
        assert f"root/0/{run_id}/artifacts/kept.txt" in keys
        assert not any(key.startswith((f"root/0/{orphan}/", "root/55/")) for key in keys)
    finally:
        store.close()


HOLD_A_SEGMENT = """
import fcntl, os, sys
from cairn.tracking import journal_format as fmt
path = os.path.join(sys.argv[1], f"1-{os.getpid()}{fmt.SUFFIX}")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
points = [(sys.argv[3], "loss", 1.0, 1, 1), (sys.argv[3], "loss", 2.0, 2, 2)]
os.write(fd, fmt.encode({"op": "segment", "uri": sys.argv[2], "pid": os.getpid()}))
os.write(fd, b"".join(fmt.encode_points(1, "live.1", points)))
print("ready", flush=True)
sys.stdin.read()
"""


def test_a_journal_a_running_process_holds_is_reported_and_left_to_it(
    open_store: Callable[[str], SqlTrackingStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAIRN_JOURNAL_DIR", raising=False)
    store = open_store("sqlite")
    run_id = store.create_run("0", "u", int(time.time() * 1000), [], None).info.run_id
    folder = Path(journal.directory_for(store.db_uri))
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SEGMENT, str(folder), store.db_uri, run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        code, found = findings(store.db_uri, "--fix")
        [backlog] = of("journal", found)
        assert backlog["level"] == "warning" and not backlog["fixed"]
        assert "1 record(s) with 2 metric point(s)" in backlog["message"]
        assert f"held by running process(es) {holder.pid}" in backlog["message"]
        assert store.get_metric_history(run_id, "loss") == []  # its process delivers it
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(60)
        assert holder.stdout is not None
        holder.stdout.close()
