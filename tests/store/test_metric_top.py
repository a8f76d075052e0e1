"""First pages of metric-ordered searches from the top of the metric's index
(cairn.store.sql.metric_top): whenever it answers, on SQLite and PostgreSQL, it answers
what the whole query does; MariaDB always runs the whole query."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from cairn.entities import Metric, Param, ViewType
from cairn.store import search
from cairn.store.sql import engine, metric_top, query
from cairn.store.sql.tracking import SqlTrackingStore

T0 = 1_700_000_000_000
FILTERS = [None, "params.p = 'a'", "metrics.other > 0.3", "params.p = 'rare'"]
ORDERS = [
    ["metrics.m DESC"],
    ["metrics.m ASC"],
    ["metrics.m"],
    ["metrics.m DESC", "params.p ASC"],
    ["metrics.m ASC", "attributes.start_time ASC"],
]
WALKING = ["sqlite", "postgresql"]


def _seed(store: SqlTrackingStore, runs: int) -> str:
    """Runs with ties, NaN, ±inf and missing values of `m`, in two experiments, some
    deleted; returns the second experiment's id."""
    rng = random.Random(11)
    second = store.create_experiment("elsewhere", None, [])
    for i in range(runs):
        experiment = "0" if i % 7 else second
        run_id = store.create_run(experiment, "u", T0 + i, [], None).info.run_id
        roll = rng.random()
        metrics = [Metric("other", rng.random(), T0, 0)]
        if roll > 0.05:  # few values, so thresholds fall on ties; NaN is stored as 0
            value = rng.choice([-1.0, 0.0, 0.0, 0.5, 1.0, 2.0, math.nan, math.nan])
            if roll < 0.07:
                value = rng.choice([math.inf, -math.inf])
            metrics.append(Metric("m", value, T0, 0))
        params = [Param("p", "rare" if i % 97 == 0 else rng.choice("ab"))]
        store.log_batch(run_id, metrics=metrics, params=params)
        if i % 13 == 0:
            store.delete_run(run_id)
    engine.refresh_statistics(store.engine)  # as a search through the store would
    return second


def _whole(
    conn: Connection,
    experiments: Sequence[int],
    view: ViewType,
    flt: str | None,
    order: list[str],
    limit: int,
    offset: int,
) -> list[str]:
    stmt = query.run_search(
        experiments,
        ViewType(view).stages,
        search.parse_run_filter(flt),
        search.parse_run_order_by(order),
    )
    return list(conn.execute(stmt.limit(limit).offset(offset)).scalars())


def _top(
    conn: Connection,
    experiments: Sequence[int],
    view: ViewType,
    flt: str | None,
    order: list[str],
    limit: int,
    offset: int,
    per_row: int | None = None,
    worth_it: int = metric_top.WORTH_IT,
) -> list[str] | None:
    filters = search.parse_run_filter(flt)
    parsed = search.parse_run_order_by(order)
    stages = ViewType(view).stages
    return metric_top.first_rows(
        conn, experiments, stages, filters, parsed, limit, offset, per_row, worth_it
    )


@pytest.mark.parametrize("store", WALKING, indirect=True)
def test_the_top_of_the_index_answers_as_the_whole_query(store: SqlTrackingStore) -> None:
    second = int(_seed(store, 2400))
    answered = 0
    rng = random.Random(12)
    cases = [
        (experiments, flt, order, view, rng.choice([1, 3, 7]), rng.choice([0, 0, 2, 5]), per_row)
        for experiments in ([0], [0, second])
        for flt in FILTERS
        for order in ORDERS
        for view in (ViewType.ACTIVE_ONLY, ViewType.ALL)
        for per_row in (1, 2, 4, 32)  # few entries: the walk ends among ties, or goes deeper
    ]
    with store.engine.connect() as conn:
        for experiments, flt, order, view, limit, offset, per_row in cases:
            expected = _whole(conn, experiments, view, flt, order, limit + 1, offset)
            top = _top(conn, experiments, view, flt, order, limit + 1, offset, per_row, 1)
            if top is not None:
                answered += 1
                assert top == expected, (experiments, flt, order, view, limit, offset, per_row)
    # Most pages are answered from the index; a rare filter's are left to the query.
    assert answered >= len(cases) // 2
    with store.engine.connect() as conn:
        view = ViewType.ACTIVE_ONLY
        assert _top(conn, [0], view, "params.p = 'rare'", ["metrics.m DESC"], 4, 0) is None


def _seed_spread(store: SqlTrackingStore, runs: int) -> dict[str, tuple[float, str]]:
    """Runs with distinct values of `m` (a few NaN or missing) and `p` one of a/b/c/d;
    returns each run's value and `p`."""
    rng = random.Random(21)
    seeded = {}
    for i in range(runs):
        run_id = store.create_run("0", "u", T0 + i, [], None).info.run_id
        value, p = rng.random(), rng.choice("abcd")
        roll = rng.random()
        metrics = [] if roll < 0.05 else [Metric("m", math.nan if roll < 0.1 else value, T0, 0)]
        store.log_batch(run_id, metrics=metrics, params=[Param("p", p)])
        if roll >= 0.1:
            seeded[run_id] = (value, p)
    engine.refresh_statistics(store.engine)
    return seeded


@pytest.mark.parametrize("store", WALKING, indirect=True)
def test_deeper_walks_fill_the_pages_a_first_one_cannot(store: SqlTrackingStore) -> None:
    seeded = _seed_spread(store, 600)
    view = ViewType.ACTIVE_ONLY
    top_ten = sorted(seeded.values(), reverse=True)[:10]
    assert sum(p == "a" for _, p in top_ten) < 10  # the first walk (10 entries) falls short
    with store.engine.connect() as conn:
        order = ["metrics.m DESC"]
        expected = _whole(conn, [0], view, "params.p = 'a'", order, 10, 0)
        assert _top(conn, [0], view, "params.p = 'a'", order, 10, 0, 1, 1) == expected
        answered = 0
        for flt in ("params.p = 'a'", "params.p != 'd'", None):
            for order in (["metrics.m DESC"], ["metrics.m ASC", "params.p DESC"]):
                for limit, offset in ((10, 0), (5, 20), (40, 3)):
                    expected = _whole(conn, [0], view, flt, order, limit, offset)
                    top = _top(conn, [0], view, flt, order, limit, offset, 1, 1)
                    if top is not None:
                        answered += 1
                        assert top == expected, (flt, order, limit, offset)
        assert answered >= 12
        # No match near the top: the whole query is left to run, without deeper walks.
        sent: list[str] = []
        event.listen(conn, "before_cursor_execute", lambda *a: sent.append(a[2]))
        assert _top(conn, [0], view, "params.p = 'none'", ["metrics.m"], 10, 0, 1, 1) is None
        assert len(sent) == 2, sent  # how deep the metric goes, one walk


@pytest.mark.parametrize("store", WALKING, indirect=True)
def test_pages_through_the_store_match_a_sort_in_python(store: SqlTrackingStore) -> None:
    _seed(store, 700)
    runs = store.search_runs(["0"], None, ViewType.ACTIVE_ONLY, 1000)
    assert len(runs) > 500

    def key(run: object) -> tuple[int, float, int, str]:
        value = run.data.metrics.get("m")  # type: ignore[attr-defined]
        missing = value is None or math.isnan(value)
        info = run.info  # type: ignore[attr-defined]
        return (1 if missing else 0, 0.0 if missing else -value, -info.start_time, info.run_id)

    expected = [r.info.run_id for r in sorted(runs, key=key)]
    got: list[str] = []
    token = None
    while True:
        page = store.search_runs(["0"], None, ViewType.ACTIVE_ONLY, 3, ["metrics.m DESC"], token)
        got += [r.info.run_id for r in page]
        token = page.token
        if token is None or len(got) >= 60:
            break
    assert got == expected[: len(got)]


@pytest.mark.parametrize("store", ["mysql"], indirect=True)
def test_mariadb_runs_the_whole_query(store: SqlTrackingStore) -> None:
    _seed_spread(store, 40)
    with store.engine.connect() as conn:
        view = ViewType.ACTIVE_ONLY
        assert _top(conn, [0], view, None, ["metrics.m DESC"], 3, 0, 1, 1) is None
