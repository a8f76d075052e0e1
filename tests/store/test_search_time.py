"""Every search bounded in time on SQLite, PostgreSQL and MariaDB (issue 19).

Before, a filter PostgreSQL took a minute to plan held a server thread and a database
connection for that minute. Now a search's statements stop after
CAIRN_SEARCH_TIMEOUT_SECONDS and the search is refused with INVALID_PARAMETER_VALUE; the
limit is gone from the connection afterwards (it goes back to a pool that writers share).
No assertion here is about time: the slow statements would run for minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cairn.exceptions import InvalidParameterValueError
from cairn.store.sql import search_time
from cairn.store.sql.schema import latest_metrics, runs
from cairn.store.sql.tracking import SqlTrackingStore

#: Runs for minutes on every database unless it is stopped (a billion rows; MariaDB ends a
#: recursion at 1,000 steps, silently, so the rows come from a cross join).
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)"
    " SELECT count(*) FROM c a, c b, c d"
)
#: Millions of SQLite instructions: a progress handler left behind would stop it.
MEDIUM = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100)"
    " SELECT count(*) FROM c a, c b, c d"
)


def _limit_state(conn: Connection) -> Any:
    """What the search limit leaves visible on a connection, per database."""
    name = conn.dialect.name
    if name == "postgresql":
        return conn.exec_driver_sql("SHOW statement_timeout").scalar(), conn.exec_driver_sql(
            "SHOW jit"
        ).scalar()
    if name == "sqlite":  # no way to read the handler: run something it would stop
        return conn.exec_driver_sql(MEDIUM).scalar()
    return conn.exec_driver_sql("SELECT @@SESSION.max_statement_time").scalar()


@pytest.mark.timeout(300)
def test_a_statement_past_the_limit_is_stopped_and_refused(store: SqlTrackingStore) -> None:
    with store.engine.connect() as conn:
        with conn.begin():
            before = _limit_state(conn)

        with pytest.raises(InvalidParameterValueError, match=r"ran longer than 0\.2 s") as info:
            with conn.begin(), search_time.bounded(conn, 0.2):
                conn.exec_driver_sql(SLOW)

        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
        with conn.begin():
            assert _limit_state(conn) == before


def test_the_limit_holds_inside_a_search_only(store: SqlTrackingStore) -> None:
    expected_inside = {"postgresql": ("1500ms", "off"), "mysql": 1.5}
    with store.engine.connect() as conn:
        with conn.begin():
            before = _limit_state(conn)
        with conn.begin(), search_time.bounded(conn, 1.5):
            inside = _limit_state(conn) if conn.dialect.name != "sqlite" else None
        with conn.begin():
            after = _limit_state(conn)

    assert inside == expected_inside.get(store.engine.dialect.name)
    assert after == before


def test_other_database_errors_pass_through(store: SqlTrackingStore) -> None:
    with store.engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            with conn.begin(), search_time.bounded(conn, 5):
                conn.exec_driver_sql("SELECT * FROM no_such_table")


def _seed(store: SqlTrackingStore, count: int, metrics: int) -> None:
    """Runs with metrics m0..m{metrics-1}, written directly (the store API is slower)."""
    with store.engine.begin() as conn:
        conn.execute(
            runs.insert(),
            [
                dict(
                    run_uuid=f"{i:032x}",
                    name=f"r{i}",
                    experiment_id=0,
                    user_id="u",
                    status="FINISHED",
                    start_time=i,
                    lifecycle_stage="active",
                )
                for i in range(count)
            ],
        )
        rows = [
            dict(run_uuid=f"{i:032x}", key=f"m{k}", value=1.0, timestamp=0, step=0, is_nan=False)
            for i in range(count)
            for k in range(metrics)
        ]
        conn.execute(latest_metrics.insert(), rows)


@pytest.mark.timeout(300)
def test_a_slow_search_is_refused(store: SqlTrackingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 clauses every one of 1,000 runs passes: 200,000 index probes, far past 1 ms."""
    _seed(store, 1_000, 20)
    text = " AND ".join(f"metrics.m{j % 20} > {-j}" for j in range(200))
    assert len(store.search_runs(["0"], "metrics.m0 > 0", max_results=5)) == 5
    monkeypatch.setenv("CAIRN_SEARCH_TIMEOUT_SECONDS", "0.001")

    with pytest.raises(InvalidParameterValueError, match="CAIRN_SEARCH_TIMEOUT_SECONDS"):
        store.search_runs(["0"], text, max_results=1000)

    monkeypatch.delenv("CAIRN_SEARCH_TIMEOUT_SECONDS")
    assert len(store.search_runs(["0"], text, max_results=1000)) == 1_000
