"""`cairn db upgrade` and opening a store: a database a newer Cairn migrated is refused with
both revisions named (not an Alembic traceback), and a SQLite file is copied beside itself
before any migration touches it."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cairn.cli import cli
from cairn.exceptions import InvalidStateError
from cairn.store.sql import engine as engines
from cairn.store.sql import migrate
from cairn.store.sql.tracking import SqlTrackingStore

BACKENDS = ["sqlite", "postgresql", "mysql"]


@pytest.fixture
def database(
    tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> Callable[[str], str]:
    """A factory: the URI of a new, empty database on `backend`."""

    def create(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / 'cairn.db'}"
        return new_server_database(backend, f"upgrade-{uuid.uuid4().hex}")

    return create


def stamped_newer(uri: str, tmp_path: Path) -> None:
    """A migrated database, then stamped as a future Cairn would leave it."""
    store = SqlTrackingStore(uri, str(tmp_path / "artifacts"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    store.close()


def upgrade(uri: str, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["db", "upgrade", uri, *options])
    return result.exit_code, result.output


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("cairn.db.backup-*"))


def old_database(path: Path) -> None:
    """A SQLite file at revision 0007 holding one experiment."""
    engine = sa.create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage) "
            "VALUES (7, 'kept through the upgrade', '/a/7', 'active')"
        )
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_upgrade_refuses_a_database_newer_than_the_code(
    backend: str, database: Callable[[str], str], tmp_path: Path
) -> None:
    uri = database(backend)
    stamped_newer(uri, tmp_path)
    code, output = upgrade(uri)
    assert code != 0
    assert "schema revision 9999" in output
    assert f"schema revision {migrate.HEAD}" in output
    assert "Upgrade Cairn" in output
    assert "Traceback" not in output and "Can't locate revision" not in output
    engine = engines.create(uri)
    assert migrate.current_revision(engine) == "9999"  # untouched
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_opening_a_store_on_a_newer_database_says_so(
    backend: str, database: Callable[[str], str], tmp_path: Path
) -> None:
    """What every store runs first when it opens (SqlTrackingStore, SqlRegistryStore, the
    trace store), on an engine this test can dispose of: a store whose constructor raises
    leaves its pool to the garbage collector."""
    uri = database(backend)
    stamped_newer(uri, tmp_path)
    engine = engines.create(uri)
    try:
        with pytest.raises(InvalidStateError) as raised:
            migrate.ensure_schema(engine)
    finally:
        engine.dispose()
    assert "schema revision 9999" in raised.value.message
    assert f"schema revision {migrate.HEAD}" in raised.value.message
    assert raised.value.error_code == "INVALID_STATE"


def test_an_upgrade_of_sqlite_leaves_a_backup_that_holds_the_old_data(tmp_path: Path) -> None:
    path = tmp_path / "cairn.db"
    old_database(path)
    code, output = upgrade(f"sqlite:///{path}")
    assert code == 0, output
    [backup] = backups(tmp_path)
    assert backup.name.startswith("cairn.db.backup-0007-")
    assert f"Backed up the database at revision 0007 to {backup}." in output
    assert f"migrated from revision 0007 to {migrate.HEAD}" in output
    assert not list(tmp_path.glob("*.partial"))
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [("0007",)]
        assert copy.execute("SELECT name FROM experiments WHERE experiment_id = 7").fetchall() == [
            ("kept through the upgrade",)
        ]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
    with contextlib.closing(sqlite3.connect(path)) as upgraded:
        assert upgraded.execute("SELECT version_num FROM alembic_version").fetchone() == (
            migrate.HEAD,
        )
        assert upgraded.execute("SELECT count(*) FROM experiments").fetchone() == (1,)


def test_opening_a_store_on_an_old_sqlite_file_backs_it_up_too(tmp_path: Path) -> None:
    path = tmp_path / "cairn.db"
    old_database(path)
    store = SqlTrackingStore(f"sqlite:///{path}", str(tmp_path / "artifacts"))
    store.close()
    [backup] = backups(tmp_path)
    with contextlib.closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchall() == [("0007",)]


def test_no_backup_when_already_at_head_or_new_or_told_not_to(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'cairn.db'}"
    code, output = upgrade(uri)  # a new file: nothing to keep
    assert code == 0 and "migrated from revision none" in output
    code, output = upgrade(uri)
    assert code == 0 and f"already at revision {migrate.HEAD}" in output
    assert backups(tmp_path) == []

    old_database(tmp_path / "other.db")
    code, output = upgrade(f"sqlite:///{tmp_path / 'other.db'}", "--no-backup")
    assert code == 0 and "Backed up" not in output
    assert list(tmp_path.glob("other.db.backup-*")) == []
