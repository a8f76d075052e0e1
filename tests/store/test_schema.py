"""`schema.py` declares every table the migrations create, as they create it: the queries
(the stores' and the auth store's) read one description of the database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from cairn.store.sql import schema
from cairn.store.sql.engine import create
from cairn.store.sql.migrate import upgrade


def test_the_migrated_tables_are_the_declared_ones(tmp_path: Path) -> None:
    engine = create(f"sqlite:///{tmp_path / 'cairn.db'}")
    try:
        upgrade(engine)
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) - {"alembic_version"} == set(schema.metadata.tables)
        for name, table in schema.metadata.tables.items():
            migrated = inspector.get_columns(name)
            assert [c["name"] for c in migrated] == [c.name for c in table.columns], name
            primary_key = inspector.get_pk_constraint(name)["constrained_columns"]
            assert set(primary_key) == {c.name for c in table.primary_key}, name
            declared = {c.name: c.nullable for c in table.columns if not c.primary_key}
            assert {c["name"]: c["nullable"] for c in migrated if c["name"] in declared} == (
                declared
            ), name
    finally:
        engine.dispose()
