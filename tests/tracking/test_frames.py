"""Search results as tables: the columnar path gives exactly what the entity path gives."""

from __future__ import annotations

import math
import time

from cairn.entities import Metric, Param, RunTag
from cairn.entities.run_columns import RunColumns
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.tracking.frames import to_frame


def _seed(store: SqlTrackingStore) -> str:
    experiment_id = store.create_experiment("frames")
    now = int(time.time() * 1000)
    for i in range(7):
        run = store.create_run(experiment_id, "u", now + i, [RunTag("team", f"t{i % 2}")], None)
        metrics = [Metric("acc", i / 10, now, 0)]
        if i == 3:
            metrics.append(Metric("loss", float("nan"), now, 0))
        params = [Param("depth", str(i))] if i % 3 else []
        store.log_batch(run.info.run_id, metrics=metrics, params=params)
    return experiment_id


def test_columnar_search_matches_the_entity_path(sqlite_store: SqlTrackingStore) -> None:
    experiment_id = _seed(sqlite_store)
    order = ["metrics.acc DESC"]
    columns, token = sqlite_store.search_runs_columns([experiment_id], order_by=order)
    runs = sqlite_store.search_runs([experiment_id], order_by=order)
    assert token is None
    direct, via_entities = to_frame(columns), to_frame(RunColumns.from_runs(runs))
    assert list(direct.columns) == list(via_entities.columns)
    assert direct.equals(via_entities)
    assert list(direct["metrics.acc"]) == [0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    loss = direct["metrics.loss"]
    assert math.isnan(loss[3]) and loss.isna().all()  # NaN where logged NaN, NaN where absent
    assert direct["params.depth"].isna().sum() == 3


def test_columnar_search_pages_with_tokens(sqlite_store: SqlTrackingStore) -> None:
    experiment_id = _seed(sqlite_store)
    first, token = sqlite_store.search_runs_columns([experiment_id], max_results=4)
    second, last = sqlite_store.search_runs_columns(
        [experiment_id], max_results=4, page_token=token
    )
    assert (len(first), len(second), last) == (4, 3, None)
    assert not set(first.run_ids) & set(second.run_ids)


def test_concat_aligns_columns_that_only_some_pages_have() -> None:
    a = RunColumns(
        run_ids=["a1", "a2"],
        experiment_ids=["1", "1"],
        statuses=["FINISHED"] * 2,
        artifact_uris=["x", "y"],
        start_times=[1, 2],
        end_times=[None, 3],
        metrics={"m": [1.0, 2.0]},
        params={"p": ["u", None]},
    )
    b = RunColumns(
        run_ids=["b1"],
        experiment_ids=["2"],
        statuses=["RUNNING"],
        artifact_uris=["z"],
        start_times=[4],
        end_times=[None],
        metrics={"n": [5.0]},
        tags={"t": ["v"]},
    )
    both = RunColumns.concat([a, b])
    assert both.run_ids == ["a1", "a2", "b1"]
    assert both.metrics["m"][:2] == [1.0, 2.0] and math.isnan(both.metrics["m"][2])
    assert math.isnan(both.metrics["n"][0]) and both.metrics["n"][2] == 5.0
    assert both.params["p"] == ["u", None, None]
    assert both.tags["t"] == [None, None, "v"]
    frame = to_frame(both)
    assert frame.shape == (3, 6 + 4)
    assert str(frame["start_time"].dt.tz) == "UTC"
