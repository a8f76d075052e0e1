"""First pages of metric-ordered searches from the top of the metric's index
(cairn.store.sql.metric_top): whenever it answers, it answers what the whole query does."""

from __future__ import annotations

import math
import random

import pytest

from cairn.entities import Metric, Param, ViewType
from cairn.store import search
from cairn.store.sql import metric_top, query
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


def _seed(store: SqlTrackingStore, runs: int) -> None:
    """Runs with ties, NaN, ±inf and missing values of `m`, in two experiments, some deleted."""
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


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_top_of_the_index_answers_as_the_whole_query(store: SqlTrackingStore) -> None:
    _seed(store, 2400)
    answered = 0
    rng = random.Random(12)
    cases = [
        (flt, order, view, rng.choice([1, 3, 7]), rng.choice([0, 0, 2, 5]), per_row)
        for flt in FILTERS
        for order in ORDERS
        for view in (ViewType.ACTIVE_ONLY, ViewType.ALL)
        for per_row in (1, 2, 4, 16, 60)  # few candidates: the page reaches the threshold
    ]
    with store.engine.connect() as conn:
        for flt, order, view, limit, offset, per_row in cases:
            filters = search.parse_run_filter(flt)
            parsed = search.parse_run_order_by(order)
            stages = ViewType(view).stages
            whole = query.run_search([0], stages, filters, parsed)
            expected = list(conn.execute(whole.limit(limit + 1).offset(offset)).scalars())
            top = metric_top.first_rows(
                conn, [0], stages, filters, parsed, limit + 1, offset, per_row, worth_it=1
            )
            if top is not None:
                answered += 1
                assert top == expected, (flt, order, view, limit, offset, per_row)
    # Most pages are answered from the index; a rare filter's are left to the query.
    assert answered >= len(cases) // 2
    with store.engine.connect() as conn:
        rare = search.parse_run_filter("params.p = 'rare'")
        order = search.parse_run_order_by(["metrics.m DESC"])
        stages = ViewType.ACTIVE_ONLY.stages
        assert metric_top.first_rows(conn, [0], stages, rare, order, 4, 0) is None


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
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
