"""Planner statistics are refreshed when missing or stale, so searches get the good plans."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from cairn.entities import Param, RunTag
from cairn.store.sql import engine
from cairn.store.sql.tracking import SqlTrackingStore


def _analysed(store: SqlTrackingStore) -> int:
    with store.engine.connect() as conn:
        return engine._analysed_run_count(conn, store.engine.dialect.name)


# MySQL is not here: InnoDB keeps its statistics current by itself.
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_statistics_follow_the_runs_table(
    backend: str, store_on: Callable[[str], SqlTrackingStore]
) -> None:
    store = store_on(backend)
    now = int(time.time() * 1000)
    for i in range(150):
        run = store.create_run("0", "u", now + i, [RunTag("t", "x")], None)
        store.log_batch(run.info.run_id, params=[Param("p", "ab"[i % 2])])
    engine.refresh_statistics(store.engine)
    first = _analysed(store)
    assert 150 <= first <= 160  # the runs table as analysed (PostgreSQL's count is estimated)
    engine.refresh_statistics(store.engine)
    assert _analysed(store) == first  # fresh statistics are left alone
    added = [store.create_run("0", "u", now + i, [], None).info.run_id for i in range(200)]
    engine.refresh_statistics(store.engine)
    assert _analysed(store) >= 340  # more than doubled: analysed again
    with store.engine.begin() as conn:  # what a gc of those runs leaves
        for table in ("tags", "runs"):
            delete = sa.text(f"DELETE FROM {table} WHERE run_uuid IN :ids")
            conn.execute(delete.bindparams(sa.bindparam("ids", expanding=True)), {"ids": added})
    engine.refresh_statistics(store.engine)
    assert 150 <= _analysed(store) <= 160  # shrunk to less than half: analysed again
