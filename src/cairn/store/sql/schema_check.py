"""Compare a database with expected_schema.py, and say (and run) the SQL that repairs it.

Each statement is compiled by SQLAlchemy for the database's own dialect, so what `cairn
doctor` prints is what it would run. What repairing may do: create a missing index (or
rebuild one on other columns) and add a missing unique constraint; both only add, and
adding a unique constraint fails whole when duplicates exist. Foreign keys are reported
with their SQL but never added: that validates, and locks, every row of the table, and the
rows that break it must be looked at first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Dialect, Inspector
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from cairn.store.sql import expected_schema as expected
from cairn.store.sql import schema


@dataclass(frozen=True)
class SchemaProblem:
    """One thing the migrations create that the database lacks, or has otherwise."""

    kind: str  # "table", "index", "unique" or "foreign_key"
    name: str
    message: str
    statements: tuple[str, ...]  # the SQL that repairs it, for this database; may be empty
    repairable: bool  # whether `repair` may run `statements`


def problems(engine: Engine) -> list[SchemaProblem]:
    """Everything expected_schema.py lists that `engine`'s database is missing."""
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    metadata = _copy_of_tables()
    dialect = engine.dialect
    found: list[SchemaProblem] = [
        SchemaProblem(
            "table",
            name,
            f"table {name} is missing (restore the database from a backup)",
            (),
            False,
        )
        for name in sorted(set(schema.metadata.tables) - tables)
    ]
    for index in expected.indexes(dialect.name):
        if index.table in tables:
            found.extend(_index_problem(inspector, metadata, dialect, index))
    for unique in expected.UNIQUE_CONSTRAINTS:
        if unique.table in tables:
            found.extend(_unique_problem(inspector, metadata, dialect, unique))
    for key in expected.FOREIGN_KEYS:
        if key.table in tables:
            found.extend(_foreign_key_problem(inspector, metadata, dialect, key))
    return found


def repair(engine: Engine, problem: SchemaProblem) -> None:
    """Run a repairable problem's statements, in one transaction where the database has
    transactional DDL."""
    if not problem.repairable:
        raise ValueError(f"{problem.kind} {problem.name} is not repaired automatically")
    with engine.connect().execution_options(cairn_write=True) as conn:
        for statement in problem.statements:
            conn.exec_driver_sql(statement)
        conn.commit()


def _copy_of_tables() -> sa.MetaData:
    """schema.py's tables in a MetaData of their own, so the indexes and constraints built
    here to be compiled never attach to the tables the stores query with."""
    metadata = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(metadata)
    return metadata


def _sql(element: Any, dialect: Dialect) -> str:
    return str(element.compile(dialect=dialect)).strip()


def _safe(inspector: Inspector, method: str, table: str) -> list[Any]:
    try:
        found: list[Any] = getattr(inspector, method)(table)
        return found
    except NoSuchTableError:
        return []


def _index_problem(
    inspector: Inspector, metadata: sa.MetaData, dialect: Dialect, want: expected.ExpectedIndex
) -> list[SchemaProblem]:
    table = metadata.tables[want.table]
    have = {
        i["name"]: tuple(i["column_names"]) for i in _safe(inspector, "get_indexes", table.name)
    }
    if have.get(want.name) == want.columns:
        return []
    index = sa.Index(
        want.name, *(table.c[c] for c in want.columns), mysql_length=dict(want.mysql_length)
    )
    create = _sql(CreateIndex(index), dialect)
    if want.name not in have:
        message = f"index {want.name} on {want.table}({', '.join(want.columns)}) is missing"
        return [SchemaProblem("index", want.name, message, (create,), True)]
    message = (
        f"index {want.name} is on {want.table}({', '.join(have[want.name])}), "
        f"not ({', '.join(want.columns)})"
    )
    drop = _sql(DropIndex(index), dialect)
    return [SchemaProblem("index", want.name, message, (drop, create), True)]


def _unique_problem(
    inspector: Inspector, metadata: sa.MetaData, dialect: Dialect, want: expected.ExpectedUnique
) -> list[SchemaProblem]:
    """A unique constraint, or a unique index on the same columns (which is how SQLite can
    add one to an existing table), counts as present."""
    columns = set(want.columns)
    constraints = _safe(inspector, "get_unique_constraints", want.table)
    indexes = _safe(inspector, "get_indexes", want.table)
    if any(set(c["column_names"]) == columns for c in constraints) or any(
        i["unique"] and set(i["column_names"]) == columns for i in indexes
    ):
        return []
    table = metadata.tables[want.table]
    if dialect.name == "sqlite":
        element: Any = CreateIndex(
            sa.Index(want.name, *(table.c[c] for c in want.columns), unique=True)
        )
    else:
        constraint = sa.UniqueConstraint(*want.columns, name=want.name)
        table.append_constraint(constraint)
        element = AddConstraint(constraint)
    message = f"unique constraint {want.name} on {want.table}({', '.join(want.columns)}) is missing"
    return [SchemaProblem("unique", want.name, message, (_sql(element, dialect),), True)]


def _foreign_key_problem(
    inspector: Inspector,
    metadata: sa.MetaData,
    dialect: Dialect,
    want: expected.ExpectedForeignKey,
) -> list[SchemaProblem]:
    matching = [
        key
        for key in _safe(inspector, "get_foreign_keys", want.table)
        if tuple(key["constrained_columns"]) == want.columns
        and key["referred_table"] == want.referred_table
        and tuple(key["referred_columns"]) == want.referred_columns
    ]
    if any(_rules(key) == (want.ondelete, want.onupdate) for key in matching):
        return []
    table = metadata.tables[want.table]
    constraint = sa.ForeignKeyConstraint(
        list(want.columns),
        [f"{want.referred_table}.{c}" for c in want.referred_columns],
        name=want.name,
        ondelete=want.ondelete,
        onupdate=want.onupdate,
    )
    table.append_constraint(constraint)
    statements = _foreign_key_statements(table, dialect, constraint, matching)
    if matching:
        message = f"foreign key {want.describe()} has other rules: {_describe_rules(matching[0])}"
    else:
        message = f"foreign key {want.describe()} is missing"
    if dialect.name == "sqlite":
        message += (
            "; SQLite adds foreign keys only by rebuilding the table (restore the database "
            "from a backup, or copy it with `cairn export`/`cairn import` into a new store)"
        )
    return [SchemaProblem("foreign_key", want.describe(), message, statements, False)]


def _foreign_key_statements(
    table: sa.Table,
    dialect: Dialect,
    constraint: sa.ForeignKeyConstraint,
    existing: Sequence[Any],
) -> tuple[str, ...]:
    if dialect.name == "sqlite":
        return ()
    drops = []
    for key in existing:
        old = sa.ForeignKeyConstraint(
            key["constrained_columns"],
            [f"{key['referred_table']}.{c}" for c in key["referred_columns"]],
            name=key["name"],
        )
        table.to_metadata(sa.MetaData()).append_constraint(old)
        drops.append(_sql(DropConstraint(old), dialect))
    return (*drops, _sql(AddConstraint(constraint), dialect))


def _rules(key: Any) -> tuple[str | None, str | None]:
    options = key.get("options") or {}
    return _rule(options.get("ondelete")), _rule(options.get("onupdate"))


def _rule(value: str | None) -> str | None:
    """NO ACTION and RESTRICT are what no rule means."""
    if value is None or value.upper() in ("NO ACTION", "RESTRICT"):
        return None
    return value.upper()


def _describe_rules(key: Any) -> str:
    ondelete, onupdate = _rules(key)
    return f"ON DELETE {ondelete or 'NO ACTION'}, ON UPDATE {onupdate or 'NO ACTION'}"
