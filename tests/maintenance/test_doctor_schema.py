"""expected_schema.py says what the migrations create, on every database: a freshly
migrated database has exactly what it lists (nothing missing, nothing unlisted), and a
constraint that goes missing is reported with SQL that puts it back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from cairn.store.sql import engine as engines
from cairn.store.sql import expected_schema as expected
from cairn.store.sql import migrate, schema_check

BACKENDS = ["sqlite", "postgresql", "mysql"]


@pytest.fixture
def migrated(
    tmp_path: Path, new_server_database: Callable[[str, str], str]
) -> Iterator[Callable[[str], Engine]]:
    """A factory: a new database on `backend`, migrated to HEAD by the migrations alone."""
    made: list[Engine] = []

    def build(backend: str) -> Engine:
        if backend == "sqlite":
            uri = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
        else:
            uri = new_server_database(backend, f"schema-{uuid.uuid4().hex}")
        made.append(engines.create(uri))
        migrate.upgrade(made[-1])
        return made[-1]

    yield build
    for engine in made:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_migrated_database_has_everything_listed(
    backend: str, migrated: Callable[[str], Engine]
) -> None:
    assert schema_check.problems(migrated(backend)) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_migrated_database_has_nothing_unlisted(
    backend: str, migrated: Callable[[str], Engine]
) -> None:
    """A migration that adds an index or a constraint must add it to expected_schema.py."""
    engine = migrated(backend)
    inspector = sa.inspect(engine)
    indexes = {i.name for i in expected.indexes(engine.dialect.name)}
    uniques = {(u.table, frozenset(u.columns)) for u in expected.UNIQUE_CONSTRAINTS}
    keys = {
        (k.table, k.columns, k.referred_table, k.referred_columns) for k in expected.FOREIGN_KEYS
    }
    unlisted = []
    for table in inspector.get_table_names():
        foreign = inspector.get_foreign_keys(table)
        unique = inspector.get_unique_constraints(table)
        # Indexes a database makes for a unique constraint, or (MySQL) for a foreign key.
        implied = {u["name"] for u in unique} | {k["name"] for k in foreign}
        # An expected unique constraint may be a unique index (as 0009 makes them).
        implied |= {u.name for u in expected.UNIQUE_CONSTRAINTS}
        unlisted += [
            f"index {i['name']}"
            for i in inspector.get_indexes(table)
            if i["name"] not in indexes | implied
        ]
        unlisted += [
            f"unique {u['name']}"
            for u in unique
            if (table, frozenset(u["column_names"])) not in uniques
        ]
        unlisted += [
            f"foreign key {table}{k['constrained_columns']}"
            for k in foreign
            if (
                table,
                tuple(k["constrained_columns"]),
                k["referred_table"],
                tuple(k["referred_columns"]),
            )
            not in keys
        ]
    assert unlisted == []


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_a_missing_unique_constraint_is_added_back_and_a_foreign_key_only_reported(
    backend: str, migrated: Callable[[str], Engine]
) -> None:
    engine = migrated(backend)
    inspector = sa.inspect(engine)
    [tags_key] = [k["name"] for k in inspector.get_foreign_keys("tags")]
    with engine.begin() as conn:
        if backend == "mysql":
            conn.exec_driver_sql("ALTER TABLE experiments DROP INDEX experiments_name_unique")
            conn.exec_driver_sql(f"ALTER TABLE tags DROP FOREIGN KEY {tags_key}")
        else:
            conn.exec_driver_sql("ALTER TABLE experiments DROP CONSTRAINT experiments_name_unique")
            conn.exec_driver_sql(f"ALTER TABLE tags DROP CONSTRAINT {tags_key}")

    found = {p.kind: p for p in schema_check.problems(engine)}
    assert set(found) == {"unique", "foreign_key"}
    assert found["unique"].statements == (
        "ALTER TABLE experiments ADD CONSTRAINT experiments_name_unique UNIQUE (name)",
    )
    assert found["unique"].repairable
    assert found["foreign_key"].statements == (
        "ALTER TABLE tags ADD FOREIGN KEY(run_uuid) REFERENCES runs (run_uuid) ON DELETE CASCADE",
    )
    assert not found["foreign_key"].repairable

    schema_check.repair(engine, found["unique"])
    with engine.begin() as conn:  # the printed statement, run by hand, is the repair
        conn.exec_driver_sql(found["foreign_key"].statements[0])
    assert schema_check.problems(engine) == []


def test_a_foreign_key_that_lost_its_cascade_is_reported_with_drop_and_add(
    migrated: Callable[[str], Engine],
) -> None:
    engine = migrated("postgresql")
    [name] = [k["name"] for k in sa.inspect(engine).get_foreign_keys("params")]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE params DROP CONSTRAINT {name}")
        conn.exec_driver_sql("ALTER TABLE params ADD FOREIGN KEY (run_uuid) REFERENCES runs")
    [problem] = schema_check.problems(engine)
    assert "has other rules: ON DELETE NO ACTION" in problem.message
    [renamed] = [k["name"] for k in sa.inspect(engine).get_foreign_keys("params")]
    assert problem.statements == (
        f"ALTER TABLE params DROP CONSTRAINT {renamed}",
        "ALTER TABLE params ADD FOREIGN KEY(run_uuid) REFERENCES runs (run_uuid) ON DELETE CASCADE",
    )


def test_sqlite_gets_a_missing_unique_constraint_back_as_a_unique_index(
    migrated: Callable[[str], Engine],
) -> None:
    """SQLite cannot add a constraint to a table; a unique index guarantees the same."""
    engine = migrated("sqlite")
    with engine.begin() as conn:  # what a table rebuilt without its constraint looks like
        conn.exec_driver_sql("CREATE TABLE users_copy AS SELECT * FROM users")
        conn.exec_driver_sql("DROP TABLE users")
        conn.exec_driver_sql("ALTER TABLE users_copy RENAME TO users")
    problems = {p.name: p for p in schema_check.problems(engine) if p.kind == "unique"}
    assert problems["users_username_unique"].statements == (
        "CREATE UNIQUE INDEX users_username_unique ON users (username)",
    )
    assert set(problems) == {"users_username_unique", "index_users_subject"}
    for problem in problems.values():
        schema_check.repair(engine, problem)
    assert "unique" not in {p.kind for p in schema_check.problems(engine)}
