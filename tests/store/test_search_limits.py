"""Search filters of many clauses, on SQLite, PostgreSQL and MariaDB (issue 19).

Before: 64 AND-ed metric clauses were 64 joins, past SQLite's limit of 64 tables (MariaDB's
is 61), and about 1,000 overflowed Python's stack or SQLite's expression depth: both
answered 500. Now every key-value clause is an EXISTS, up to MAX_FILTER_CLAUSES clauses
are answered (checked against a Python evaluation of the same filter), and longer filters
are refused with INVALID_PARAMETER_VALUE before any query runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import requests

from cairn.entities import ExperimentTag, Metric, Param, RunTag
from cairn.entities.logged_model import LoggedModelMetric
from cairn.entities.trace import TraceInfo, TraceState
from cairn.exceptions import InvalidParameterValueError
from cairn.store import search
from cairn.store.search import MAX_FILTER_CLAUSES, MAX_FILTER_LENGTH, MAX_ORDER_BY_CLAUSES
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore

RunData = dict[str, dict[str, dict[str, Any]]]


# -- runs: answers compared with Python's -------------------------------------------------------


def _seed_runs(store: SqlTrackingStore, experiment: str, count: int = 30) -> RunData:
    """Runs with metrics m0-m9 (integers 0-9, some missing), params p0-p2, tags t0-t1."""
    rng = random.Random(19)
    data: RunData = {}
    for i in range(count):
        run_id = store.create_run(experiment, "u", i, [], f"r{i}").info.run_id
        metrics = {f"m{k}": float(rng.randrange(10)) for k in range(10) if rng.random() < 0.9}
        params = {f"p{k}": rng.choice("abcde") for k in range(3)}
        tags = {f"t{k}": rng.choice("xyz") for k in range(2) if rng.random() < 0.7}
        store.log_batch(
            run_id,
            metrics=[Metric(k, v, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        data[run_id] = {"metric": metrics, "param": params, "tag": tags}
    return data


def _metric_clause(rng: random.Random, data: RunData, kept: list[str]) -> str:
    """A metric clause true for every run in `kept` (and usually false for some others)."""
    shared = [k for k in (f"m{i}" for i in range(10)) if all(k in data[r]["metric"] for r in kept)]
    key = rng.choice(shared)
    values = [data[r]["metric"][key] for r in kept]
    op = rng.choice(["<", "<=", ">", ">=", "!="])
    unused = [v for v in range(10) if v not in values]
    if op == "!=" and unused:
        return f"metrics.{key} != {rng.choice(unused)}"
    if op in ("<", "<="):
        return f"metrics.{key} {op} {max(values) + (0.5 if op == '<' else 0)}"
    return f"metrics.{key} {op if op != '!=' else '>='} {min(values) - (0.5 if op == '>' else 0)}"


def _clause(rng: random.Random, data: RunData, kept: list[str], j: int) -> str:
    if j % 10 == 8:  # a param: != a value none of the kept runs has
        key = f"p{rng.randrange(3)}"
        unused = [v for v in "abcde" if all(data[r]["param"][key] != v for r in kept)]
        return f"params.{key} != '{rng.choice(unused or ['q'])}'"
    if j % 10 == 9:  # a tag every kept run has, or none has
        for key in ("t0", "t1"):
            present = {key in data[r]["tag"] for r in kept}
            if present == {True}:
                return f"tags.{key} IS NOT NULL"
            if present == {False}:
                return f"tags.{key} IS NULL"
    return _metric_clause(rng, data, kept)


def _holds(run: dict[str, dict[str, Any]], clause: search.Comparison) -> bool:
    """Python's reading of one parsed clause, with MLflow's semantics."""
    value = run[clause.kind].get(clause.key)
    if clause.op == "IS NULL":
        return value is None
    if value is None:
        return False
    if clause.op == "IS NOT NULL":
        return True
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "!=": lambda a, b: a != b,
    }
    return ops[clause.op](value, clause.value)


@pytest.mark.parametrize("clauses", [63, 64, 65, MAX_FILTER_CLAUSES])
def test_many_and_ed_clauses_match_python(store: SqlTrackingStore, clauses: int) -> None:
    experiment = store.create_experiment("many-clauses")
    data = _seed_runs(store, experiment)
    rng = random.Random(clauses)
    kept = rng.sample(sorted(data), 6)
    text = " AND ".join(_clause(rng, data, kept, j) for j in range(clauses))
    parsed = search.parse_run_filter(text)
    assert len(parsed) == clauses
    expected = {r for r, run in data.items() if all(_holds(run, c) for c in parsed)}
    assert set(kept) <= expected < set(data)  # the filter keeps some runs, not all

    found = store.search_runs([experiment], text, max_results=1000)

    assert {r.info.run_id for r in found} == expected


def test_many_clauses_with_metric_order(store: SqlTrackingStore) -> None:
    """Ordering keys are still joins: the most order_by clauses beside the most filter
    clauses stay within every database's join limit."""
    experiment = store.create_experiment("ordered")
    data = _seed_runs(store, experiment, count=12)
    text = " AND ".join(f"metrics.m{j % 10} > -1" for j in range(MAX_FILTER_CLAUSES))
    order = [f"metrics.m{k} DESC" for k in range(MAX_ORDER_BY_CLAUSES)]
    expected = {r for r, run in data.items() if len(run["metric"]) == 10}

    found = store.search_runs([experiment], text, order_by=order, max_results=1000)

    assert {r.info.run_id for r in found} == expected


# -- every search: the most clauses answered ---------------------------------------------------


def _many(template: str, count: int = MAX_FILTER_CLAUSES) -> str:
    return " AND ".join(template.format(k=j % 10) for j in range(count))


def test_experiments_answer_the_most_clauses(store: SqlTrackingStore) -> None:
    tagged = store.create_experiment(
        "tagged", tags=[ExperimentTag(f"t{k}", "v") for k in range(10)]
    )
    store.create_experiment("other", tags=[ExperimentTag("t0", "v")])

    found = store.search_experiments(filter_string=_many("tags.t{k} = 'v'"))

    assert [e.experiment_id for e in found] == [tagged]


def test_logged_models_answer_the_most_clauses(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("models")
    tags = {f"t{k}": "v" for k in range(10)}
    wanted = store.create_logged_model(experiment, "wanted", tags=tags, params={"p": "a"})
    store.log_model_metrics(
        wanted.model_id, [LoggedModelMetric(f"m{k}", 1.0, 0) for k in range(10)]
    )
    store.create_logged_model(experiment, "other", tags={"t0": "v"}, params={"p": "a"})
    text = " AND ".join(
        ("metrics.m{k} > 0", "params.p = 'a'", "tags.t{k} = 'v'")[j % 3].format(k=j % 10)
        for j in range(MAX_FILTER_CLAUSES)
    )

    found = store.search_logged_models([experiment], text)

    assert [m.model_id for m in found] == [wanted.model_id]


def test_registered_models_answer_the_most_clauses(registry: SqlRegistryStore) -> None:
    registry.create_registered_model("wanted", tags={f"t{k}": "v" for k in range(10)})
    registry.create_registered_model("other", tags={"t0": "v"})

    found = registry.search_registered_models(_many("tags.t{k} = 'v'"))

    assert [m.name for m in found] == ["wanted"]


def test_model_versions_answer_the_most_clauses(
    store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    source = f"runs:/{store.create_run('0', 'u', 0, [], 'r').info.run_id}/model"
    registry.create_registered_model("model")
    registry.create_model_version("model", source, tags={f"t{k}": "v" for k in range(10)})
    registry.create_model_version("model", source, tags={"t0": "v"})
    text = _many("tags.t{k} = 'v'", MAX_FILTER_CLAUSES - 1) + " AND name = 'model'"

    found = registry.search_model_versions(text)

    assert [v.version for v in found] == ["1"]


def test_traces_answer_the_most_clauses(store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("traces")
    tags = {f"t{k}": "v" for k in range(10)}
    store.traces.start_trace(TraceInfo("tr-wanted", experiment, 1, 1, TraceState.OK, tags=tags))
    store.traces.start_trace(
        TraceInfo("tr-other", experiment, 2, 1, TraceState.OK, tags={"t0": "v"})
    )

    found = store.traces.search_traces([experiment], _many("tags.t{k} = 'v'"))

    assert [t.trace_id for t in found] == ["tr-wanted"]


# -- every search: past the caps, refused before any query --------------------------------------

Search = Callable[[SqlTrackingStore, SqlRegistryStore, str], object]
SEARCHES: dict[str, tuple[str, Search]] = {
    "runs": ("metrics.m{j} > 0", lambda s, r, f: s.search_runs(["0"], f)),
    "experiments": ("tags.t{j} = 'v'", lambda s, r, f: s.search_experiments(filter_string=f)),
    "logged models": ("metrics.m{j} > 0", lambda s, r, f: s.search_logged_models(["0"], f)),
    "registered models": ("tags.t{j} = 'v'", lambda s, r, f: r.search_registered_models(f)),
    "model versions": ("tags.t{j} = 'v'", lambda s, r, f: r.search_model_versions(f)),
    "traces": ("tags.t{j} = 'v'", lambda s, r, f: s.traces.search_traces(["0"], f)),
}


@pytest.fixture
def sqlite_registry(sqlite_store: SqlTrackingStore) -> Any:
    registry = SqlRegistryStore(sqlite_store.db_uri)
    yield registry
    registry.close()


def _refusal(store: SqlTrackingStore, registry: SqlRegistryStore, name: str, text: str) -> str:
    with pytest.raises(InvalidParameterValueError) as info:
        SEARCHES[name][1](store, registry, text)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    return info.value.message


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("clauses", [MAX_FILTER_CLAUSES + 1, 1_000])
def test_too_many_clauses_are_refused_at_the_cap(
    sqlite_store: SqlTrackingStore, sqlite_registry: SqlRegistryStore, name: str, clauses: int
) -> None:
    text = " AND ".join(SEARCHES[name][0].format(j=j) for j in range(clauses))
    assert len(text) <= MAX_FILTER_LENGTH

    message = _refusal(sqlite_store, sqlite_registry, name, text)

    # Parsing stopped at the clause past the cap: the position named is that clause's.
    position = len(" AND ".join(SEARCHES[name][0].format(j=j) for j in range(MAX_FILTER_CLAUSES)))
    assert f"more than {MAX_FILTER_CLAUSES} clauses" in message
    assert f"at position {position + 1}" in message


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("clauses", [10_000, 20_000])  # 190 KB and 360 KB
def test_overlong_filters_are_refused_by_their_length(
    sqlite_store: SqlTrackingStore, sqlite_registry: SqlRegistryStore, name: str, clauses: int
) -> None:
    """Refused unread: the text ends in a syntax error, which parsing would report."""
    text = " AND ".join(SEARCHES[name][0].format(j=j) for j in range(clauses)) + " AND ("
    assert len(text) > MAX_FILTER_LENGTH

    message = _refusal(sqlite_store, sqlite_registry, name, text)

    assert message == (
        f"Invalid filter: {len(text):,} characters, more than the {MAX_FILTER_LENGTH:,} allowed."
    )


def test_a_filter_at_the_length_cap_is_read() -> None:
    """The cap counts characters: a filter of exactly MAX_FILTER_LENGTH parses."""
    value = "a" * (MAX_FILTER_LENGTH - len("run_id IN ('')"))
    text = f"run_id IN ('{value}')"
    assert len(text) == MAX_FILTER_LENGTH
    assert search.parse_run_filter(text)[0].value == (value,)


def test_order_by_past_its_caps_is_refused() -> None:
    with pytest.raises(InvalidParameterValueError, match="11 clauses, more than the 10"):
        search.parse_run_order_by([f"metrics.m{k}" for k in range(MAX_ORDER_BY_CLAUSES + 1)])
    with pytest.raises(InvalidParameterValueError, match="more than the 65,536 allowed"):
        search.parse_run_order_by(["metrics.`" + "m" * MAX_FILTER_LENGTH + "`"])


# -- over HTTP: 400, never 500 -----------------------------------------------------------------


def test_server_answers_many_clauses_and_refuses_too_many(rest_server: Any) -> None:
    rest_server.wipe()
    url = f"{rest_server.url}/api/2.0/mlflow"
    sixty_four = " AND ".join(f"metrics.m{j} > 0" for j in range(64))
    thousand = " AND ".join(f"metrics.m{j} > 0" for j in range(1_000))
    runs = {"experiment_ids": ["0"]}
    answered = requests.post(f"{url}/runs/search", json={**runs, "filter": sixty_four}, timeout=60)
    refused = requests.post(f"{url}/runs/search", json={**runs, "filter": thousand}, timeout=60)
    overlong = requests.post(
        f"{url}/experiments/search", json={"filter": "x" * 360_000}, timeout=60
    )

    assert answered.status_code == 200, answered.text
    for response in (refused, overlong):
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
