"""Planner statistics are refreshed when missing or stale, so searches get the good plans."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

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
    for i in range(200):
        store.create_run("0", "u", now + i, [], None)
    engine.refresh_statistics(store.engine)
    assert _analysed(store) >= 340  # more than doubled: analysed again
