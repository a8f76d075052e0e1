"""The SQL side of idempotency keys: the `idempotency_keys` table, its migration (0006) on a
database made before it, concurrent sends of one key, and the purge of old keys.

Each test runs on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from cairn.entities import Metric
from cairn.store.sql import engine, idempotency, migrate, schema
from cairn.store.sql.tracking import SqlTrackingStore
from local_processes import CLI

BACKENDS = ["sqlite", "postgresql", "mysql"]
DAY_MS = 24 * 3600 * 1000


def _key_rows(store: SqlTrackingStore) -> dict[str, int]:
    table = schema.idempotency_keys
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.key, table.c.created_time)).all()
    return {key: created for key, created in rows}


def test_the_stored_key_is_a_digest_scoped_by_run(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 1, [], None).info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key="k1")
    store.log_metric_points([(run_id, "m", 2.0, 5, 0)], idempotency_key="k1")
    stored = _key_rows(store)  # the wipe between tests leaves keys: look at these two
    ours = {idempotency.stored_key(run_id, "k1"), idempotency.stored_key("", "k1")}
    assert len(ours) == 2 and ours <= set(stored)
    assert all(len(key) == 64 for key in ours)
    assert all(abs(stored[key] - time.time() * 1000) < 600_000 for key in ours)


def test_keys_older_than_seven_days_are_purged_by_a_keyed_write(store: SqlTrackingStore) -> None:
    now = int(time.time() * 1000)
    old, recent = "a" * 64, "b" * 64
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(schema.idempotency_keys),
            [
                {"key": old, "created_time": now - 8 * DAY_MS},
                {"key": recent, "created_time": now - 6 * DAY_MS},
            ],
        )
    run_id = store.create_run("0", "u", 1, [], None).info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)])  # unkeyed: no purge
    assert old in _key_rows(store)
    store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key="first-keyed-write")
    stored = _key_rows(store)
    assert old not in stored
    assert recent in stored and idempotency.stored_key(run_id, "first-keyed-write") in stored


def test_concurrent_sends_of_one_key_are_applied_once(store: SqlTrackingStore) -> None:
    run_id = store.create_run("0", "u", 1, [], None).info.run_id
    senders = 4
    start = threading.Barrier(senders)
    failures: list[BaseException] = []

    def send(n: int) -> None:
        try:
            start.wait(timeout=30)
            points = [Metric("m", float(n), 1_000 + n, s) for s in range(200)]
            store.log_batch(run_id, points, idempotency_key="the-same-key")
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    history = store.get_metric_history(run_id, "m")
    assert len(history) == 200
    assert len({m.value for m in history}) == 1  # every point from the one send applied


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_upgrade_adds_the_table_to_a_database_made_before_it(
    backend: str, tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        uri = new_server_database(backend, f"{backend}-before-0006-{uuid.uuid4().hex[:6]}")
    old = engine.create(uri)
    migrate.upgrade(old, "0005")
    run_id = uuid.uuid4().hex
    with old.begin() as conn:
        assert "idempotency_keys" not in sa.inspect(conn).get_table_names()
        conn.execute(
            sa.insert(schema.experiments).values(
                experiment_id=1, name="before", lifecycle_stage="active"
            )
        )
        conn.execute(
            sa.insert(schema.runs).values(
                run_uuid=run_id,
                experiment_id=1,
                status="RUNNING",
                start_time=1,
                lifecycle_stage="active",
            )
        )
    old.dispose()

    # A subprocess, as a user runs it (in-process, the command leaves its engine undisposed).
    result = subprocess.run(
        [sys.executable, "-c", CLI, "db", "upgrade", uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"from revision 0005 to {migrate.HEAD}" in result.stdout
    upgraded = engine.create(uri)
    try:
        assert migrate.current_revision(upgraded) == migrate.HEAD
        inspector = sa.inspect(upgraded)
        assert inspector.get_pk_constraint("idempotency_keys")["constrained_columns"] == ["key"]
        indexed = [i["column_names"] for i in inspector.get_indexes("idempotency_keys")]
        assert ["created_time"] in indexed
    finally:
        upgraded.dispose()

    store = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    try:
        for _ in range(2):
            store.log_batch(run_id, [Metric("m", 1.0, 5, 0)], idempotency_key="after-upgrade")
        store.log_batch(run_id, [Metric("m", 2.0, 5, 0)], idempotency_key="after-upgrade")
        assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0]
        assert store.get_experiment("1").name == "before"
    finally:
        store.close()
