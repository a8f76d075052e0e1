"""The TrackingStore contract (cairn.store.base), run against SQLite, PostgreSQL and MariaDB.

Every test takes the `store` fixture, so each one runs once per backend on an empty schema
(only the Default experiment). Semantics follow MLflow (shared/reference/mlflow-compat.md §2).
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from cairn.entities import (
    Dataset,
    DatasetInput,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    InvalidStateError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.store.sql.tracking import SqlTrackingStore

FLOAT_MAX = 1.7976931348623157e308
RUN_NAME_TAG = "mlflow.runName"
CONTEXT_TAG = "mlflow.data.context"
UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"

# -- helpers -------------------------------------------------------------------------------


def new_experiment(store: SqlTrackingStore, name: str = "exp", **kwargs: object) -> str:
    return store.create_experiment(name, **kwargs)  # type: ignore[arg-type]


def new_run(
    store: SqlTrackingStore,
    experiment_id: str = "0",
    *,
    name: str | None = None,
    start_time: int = 1_000,
    tags: Sequence[RunTag] = (),
    user: str = "tester",
) -> Run:
    return store.create_run(experiment_id, user, start_time, list(tags), name)


def history(store: SqlTrackingStore, run_id: str, key: str) -> list[Metric]:
    return list(store.get_metric_history(run_id, key))


def latest(store: SqlTrackingStore, run_id: str, key: str) -> Metric:
    [metric] = [m for m in store.get_run(run_id).data.latest_metrics if m.key == key]
    return metric


def search_ids(
    store: SqlTrackingStore, experiment_ids: Sequence[str], **kwargs: object
) -> list[str]:
    return [r.info.run_id for r in store.search_runs(list(experiment_ids), **kwargs)]  # type: ignore[arg-type]


def all_pages(fetch, page_size: int) -> list[list]:  # type: ignore[no-untyped-def]
    """Call fetch(max_results, page_token) until the token runs out; return the pages."""
    pages, token = [], None
    while True:
        page = fetch(page_size, token)
        pages.append(list(page))
        token = page.token
        if token is None:
            return pages
        assert len(pages) < 1000, "pagination does not terminate"


def snapshot(store: SqlTrackingStore, run_id: str) -> tuple:  # type: ignore[type-arg]
    """Everything observable about a run's logged data, for "nothing changed" checks."""
    run = store.get_run(run_id)
    metrics = sorted((m.key, m.value, m.timestamp, m.step) for m in run.data.latest_metrics)
    histories = {
        k: [(m.value, m.timestamp, m.step) for m in history(store, run_id, k)] for k, *_ in metrics
    }
    return (
        run.info.status,
        run.info.end_time,
        run.info.run_name,
        metrics,
        histories,
        dict(run.data.params),
        dict(run.data.tags),
        len(run.inputs.dataset_inputs),
    )


# -- experiments ---------------------------------------------------------------------------


def test_default_experiment_exists_and_cannot_be_deleted(store: SqlTrackingStore) -> None:
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert default.lifecycle_stage == LifecycleStage.ACTIVE
    # (The SQLite fixture copies a template database, so the root may be the template's.)
    assert default.artifact_location.endswith("/artifacts/0")
    assert store.get_experiment_by_name("Default").experiment_id == "0"  # type: ignore[union-attr]
    with pytest.raises(InvalidParameterValueError):
        store.delete_experiment("0")
    assert store.get_experiment("0").lifecycle_stage == LifecycleStage.ACTIVE


def test_create_get_and_get_by_name(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("vision", tags=[ExperimentTag("team", "cv")])
    assert exp_id != "0"
    exp = store.get_experiment(exp_id)
    assert exp.experiment_id == exp_id
    assert exp.name == "vision"
    assert exp.lifecycle_stage == LifecycleStage.ACTIVE
    assert exp.tags == {"team": "cv"}
    assert exp.artifact_location == f"{store.artifact_root}/{exp_id}"
    assert isinstance(exp.creation_time, int) and exp.creation_time > 0
    assert exp.last_update_time is not None and exp.last_update_time >= exp.creation_time
    by_name = store.get_experiment_by_name("vision")
    assert by_name is not None and by_name.experiment_id == exp_id
    assert store.get_experiment_by_name("no such experiment") is None
    assert store.get_experiment_by_name("VISION") is None


def test_explicit_artifact_location_is_kept(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("placed", artifact_location="s3://bucket/somewhere")
    assert store.get_experiment(exp_id).artifact_location == "s3://bucket/somewhere"
    run = new_run(store, exp_id)
    assert run.info.artifact_uri == f"s3://bucket/somewhere/{run.info.run_id}/artifacts"


def test_duplicate_experiment_name_is_refused(store: SqlTrackingStore) -> None:
    store.create_experiment("dup")
    with pytest.raises(ResourceAlreadyExistsError) as info:
        store.create_experiment("dup")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(ResourceAlreadyExistsError):
        store.create_experiment("Default")
    assert len(store.search_experiments(filter_string="name = 'dup'")) == 1


def test_duplicate_of_deleted_experiment_name_is_refused(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("gone")
    store.delete_experiment(exp_id)
    with pytest.raises(ResourceAlreadyExistsError) as info:
        store.create_experiment("gone")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert len(store.search_experiments(ViewType.ALL, filter_string="name = 'gone'")) == 1


def test_unknown_experiment_id_raises_does_not_exist(store: SqlTrackingStore) -> None:
    for call in (
        lambda: store.get_experiment("987654"),
        lambda: store.rename_experiment("987654", "x"),
        lambda: store.delete_experiment("987654"),
        lambda: store.restore_experiment("987654"),
        lambda: store.set_experiment_tag("987654", ExperimentTag("k", "v")),
        lambda: store.delete_experiment_tag("987654", "k"),
        lambda: new_run(store, "987654"),
    ):
        with pytest.raises(ResourceDoesNotExistError) as info:
            call()
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_malformed_experiment_id_is_invalid_parameter(store: SqlTrackingStore) -> None:
    with pytest.raises(InvalidParameterValueError):
        store.get_experiment("abc")
    with pytest.raises(InvalidParameterValueError):
        store.search_runs(["abc"])


@pytest.mark.parametrize("name", ["", "   ", "x" * 501])
def test_invalid_experiment_name_is_refused(store: SqlTrackingStore, name: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        store.create_experiment(name)
    assert [e.experiment_id for e in store.search_experiments(ViewType.ALL)] == ["0"]


def test_rename_experiment(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("before")
    other = store.create_experiment("other")
    store.rename_experiment(exp_id, "after")
    assert store.get_experiment(exp_id).name == "after"
    assert store.get_experiment_by_name("before") is None
    assert store.get_experiment_by_name("after").experiment_id == exp_id  # type: ignore[union-attr]
    with pytest.raises(ResourceAlreadyExistsError):
        store.rename_experiment(exp_id, "other")
    assert store.get_experiment(exp_id).name == "after"
    assert store.get_experiment(other).name == "other"


def test_rename_deleted_experiment_is_invalid_state(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("to-delete")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidStateError) as info:
        store.rename_experiment(exp_id, "renamed")
    assert info.value.error_code == "INVALID_STATE"
    assert store.get_experiment(exp_id).name == "to-delete"


def test_delete_and_restore_experiment_with_its_runs(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("lifecycle")
    run_id = new_run(store, exp_id).info.run_id
    store.delete_experiment(exp_id)
    exp = store.get_experiment(exp_id)  # deleted experiments stay readable by id
    assert exp.lifecycle_stage == LifecycleStage.DELETED
    assert store.get_experiment_by_name("lifecycle").lifecycle_stage == "deleted"  # type: ignore[union-attr]
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert search_ids(store, [exp_id]) == []
    store.restore_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert search_ids(store, [exp_id]) == [run_id]


def test_experiment_tags_set_overwrite_delete(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("tagged", tags=[ExperimentTag("a", "1")])
    store.set_experiment_tag(exp_id, ExperimentTag("b", "2"))
    store.set_experiment_tag(exp_id, ExperimentTag("a", "overwritten"))
    assert store.get_experiment(exp_id).tags == {"a": "overwritten", "b": "2"}
    store.delete_experiment_tag(exp_id, "a")
    assert store.get_experiment(exp_id).tags == {"b": "2"}
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_experiment_tag(exp_id, "a")
    assert store.get_experiment(exp_id).tags == {"b": "2"}


def test_experiment_tag_value_at_the_limit_round_trips(store: SqlTrackingStore) -> None:
    """Experiment tag values may hold 20,000 characters (validation.py), multi-byte ones too."""
    exp_id = store.create_experiment("big-tag")
    value = "🚀" * 20_000  # 80,000 bytes in UTF-8
    store.set_experiment_tag(exp_id, ExperimentTag("big", value))
    assert store.get_experiment(exp_id).tags["big"] == value
    with pytest.raises(InvalidParameterValueError):
        store.set_experiment_tag(exp_id, ExperimentTag("big", "x" * 20_001))
    assert store.get_experiment(exp_id).tags["big"] == value


def _seed_experiments(store: SqlTrackingStore) -> dict[str, str]:
    ids = {}
    for name, tags in [
        ("alpha-one", {"team": "vision", "tier": "gold"}),
        ("alpha-two", {"team": "nlp"}),
        ("beta", {"team": "Vision"}),
        ("gamma", {}),
    ]:
        ids[name] = store.create_experiment(
            name, tags=[ExperimentTag(k, v) for k, v in tags.items()]
        )
    return ids


def _exp_names(store: SqlTrackingStore, **kwargs: object) -> list[str]:
    return [e.name for e in store.search_experiments(**kwargs)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'beta'", {"beta"}),
        ("name != 'beta'", {"alpha-one", "alpha-two", "gamma", "Default"}),
        ("name LIKE 'alpha%'", {"alpha-one", "alpha-two"}),
        ("name LIKE 'ALPHA%'", set()),
        ("name ILIKE 'ALPHA%'", {"alpha-one", "alpha-two"}),
        ("attributes.name LIKE '%a'", {"beta", "gamma"}),
        ("tags.team = 'vision'", {"alpha-one"}),
        ("tags.team ILIKE 'vision'", {"alpha-one", "beta"}),
        ("tags.team != 'vision'", {"alpha-two", "beta"}),
        ("tags.team LIKE '%i%'", {"alpha-one", "beta"}),
        ("tags.team IS NULL", {"gamma", "Default"}),
        ("tags.tier IS NOT NULL", {"alpha-one"}),
        ("tags.team = 'vision' AND tags.tier = 'gold'", {"alpha-one"}),
        ("name LIKE 'alpha%' AND tags.team = 'nlp'", {"alpha-two"}),
    ],
)
def test_search_experiments_filters(
    store: SqlTrackingStore, filter_string: str, expected: set[str]
) -> None:
    _seed_experiments(store)
    assert set(_exp_names(store, filter_string=filter_string)) == expected


def test_search_experiments_by_id_and_creation_time(store: SqlTrackingStore) -> None:
    ids = _seed_experiments(store)
    found = store.search_experiments(
        filter_string=f"experiment_id IN ('{ids['beta']}', '{ids['gamma']}')"
    )
    assert {e.name for e in found} == {"beta", "gamma"}
    times = [store.get_experiment(i).creation_time for i in ids.values()]
    first, last = min(times), max(times)  # type: ignore[type-var]
    assert set(
        _exp_names(store, filter_string=f"creation_time >= {first} AND name != 'Default'")
    ) == set(ids)
    assert _exp_names(store, filter_string=f"creation_time > {last}") == []
    newest = {n for n, i in ids.items() if store.get_experiment(i).creation_time == last}
    assert set(_exp_names(store, filter_string=f"creation_time = {last}")) >= newest
    assert "Default" in _exp_names(store, filter_string=f"creation_time <= {last}")


def test_search_experiments_order_by(store: SqlTrackingStore) -> None:
    _seed_experiments(store)
    ours = "name != 'Default'"
    assert _exp_names(store, filter_string=ours, order_by=["name ASC"]) == [
        "alpha-one",
        "alpha-two",
        "beta",
        "gamma",
    ]
    assert _exp_names(store, filter_string=ours, order_by=["name DESC"]) == [
        "gamma",
        "beta",
        "alpha-two",
        "alpha-one",
    ]
    assert _exp_names(store, filter_string=ours, order_by=["name"]) == [
        "alpha-one",
        "alpha-two",
        "beta",
        "gamma",
    ]
    # Default order: newest first, ties broken by experiment id ascending.
    found = store.search_experiments(ViewType.ALL)
    keys = [(-(e.creation_time or 0), int(e.experiment_id)) for e in found]
    assert keys == sorted(keys)
    assert len(found) == 5
    with pytest.raises(InvalidParameterValueError):
        store.search_experiments(order_by=["tags.team ASC"])
    with pytest.raises(InvalidParameterValueError):
        store.search_experiments(order_by=["name SIDEWAYS"])


def test_search_experiments_view_types(store: SqlTrackingStore) -> None:
    ids = _seed_experiments(store)
    store.delete_experiment(ids["beta"])
    assert "beta" not in _exp_names(store)
    assert set(_exp_names(store, view_type=ViewType.ACTIVE_ONLY)) == {
        "Default",
        "alpha-one",
        "alpha-two",
        "gamma",
    }
    assert _exp_names(store, view_type=ViewType.DELETED_ONLY) == ["beta"]
    assert set(_exp_names(store, view_type=ViewType.ALL)) == {
        "Default",
        "alpha-one",
        "alpha-two",
        "beta",
        "gamma",
    }


def test_search_experiments_pagination(store: SqlTrackingStore) -> None:
    created = {store.create_experiment(f"page-{i:02d}") for i in range(12)}
    pages = all_pages(lambda n, token: store.search_experiments(max_results=n, page_token=token), 5)
    assert [len(p) for p in pages] == [5, 5, 3]
    ids = [e.experiment_id for page in pages for e in page]
    assert len(ids) == len(set(ids)) == 13
    assert set(ids) == created | {"0"}
    one_shot = [e.experiment_id for e in store.search_experiments(max_results=1000)]
    assert ids == one_shot
    # A page size equal to the number of results: no token, nothing lost.
    exact = store.search_experiments(max_results=13)
    assert len(exact) == 13 and exact.token is None


@pytest.mark.parametrize("max_results", [0, -1, 50_001])
def test_search_experiments_bad_max_results(store: SqlTrackingStore, max_results: int) -> None:
    with pytest.raises(InvalidParameterValueError):
        store.search_experiments(max_results=max_results)


def test_search_experiments_bad_filter_and_token(store: SqlTrackingStore) -> None:
    for bad in ("name = ", "name = 'a' OR name = 'b'", "metrics.x > 1", "creation_time > 'x'"):
        with pytest.raises(InvalidParameterValueError):
            store.search_experiments(filter_string=bad)
    with pytest.raises(InvalidParameterValueError):
        store.search_experiments(page_token="garbage!")


# -- runs ----------------------------------------------------------------------------------


def test_create_run(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("runs")
    run = store.create_run(exp_id, "alice", 1_234, [RunTag("k", "v")], None)
    info = run.info
    assert len(info.run_id) == 32 and info.run_uuid == info.run_id
    assert info.experiment_id == exp_id
    assert info.user_id == "alice"
    assert info.status == RunStatus.RUNNING.value
    assert info.start_time == 1_234
    assert info.end_time is None
    assert info.lifecycle_stage == LifecycleStage.ACTIVE
    assert info.run_name  # generated
    assert run.data.tags == {"k": "v", RUN_NAME_TAG: info.run_name}
    exp = store.get_experiment(exp_id)
    assert info.artifact_uri == f"{exp.artifact_location}/{info.run_id}/artifacts"
    assert info.artifact_uri == f"{store.artifact_root}/{exp_id}/{info.run_id}/artifacts"
    fetched = store.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.data.tags == run.data.tags
    assert fetched.data.metrics == {} and fetched.data.params == {}


def test_generated_run_names_are_stored(store: SqlTrackingStore) -> None:
    runs = [new_run(store) for _ in range(3)]
    for run in runs:
        stored = store.get_run(run.info.run_id)
        assert stored.info.run_name == stored.data.tags[RUN_NAME_TAG] == run.info.run_name
        assert stored.info.run_name.strip()


def test_run_name_and_run_name_tag(store: SqlTrackingStore) -> None:
    named = new_run(store, name="explicit")
    assert named.info.run_name == "explicit"
    assert named.data.tags[RUN_NAME_TAG] == "explicit"
    tagged = new_run(store, tags=[RunTag(RUN_NAME_TAG, "from-tag")])
    assert tagged.info.run_name == "from-tag"
    both = new_run(store, name="same", tags=[RunTag(RUN_NAME_TAG, "same")])
    assert both.info.run_name == "same"
    assert len(store.search_runs(["0"])) == 3


def test_conflicting_run_name_and_tag_is_refused(store: SqlTrackingStore) -> None:
    with pytest.raises(InvalidParameterValueError):
        new_run(store, name="one", tags=[RunTag(RUN_NAME_TAG, "two")])
    assert store.search_runs(["0"], run_view_type=ViewType.ALL) == []


def test_create_run_in_deleted_experiment_is_refused(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("deleted-exp")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidParameterValueError):
        new_run(store, exp_id)
    assert store.search_runs([exp_id], run_view_type=ViewType.ALL) == []


def test_get_unknown_run(store: SqlTrackingStore) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        store.get_run(UNKNOWN_RUN)
    with pytest.raises(ResourceDoesNotExistError):
        store.log_batch(UNKNOWN_RUN, metrics=[Metric("m", 1.0, 1, 0)])
    with pytest.raises(ResourceDoesNotExistError):
        store.get_metric_history(UNKNOWN_RUN, "m")
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_run(UNKNOWN_RUN)


def test_update_run_info(store: SqlTrackingStore) -> None:
    run_id = new_run(store, name="first").info.run_id
    info = store.update_run_info(run_id, RunStatus.FINISHED, 5_000)
    assert info.status == "FINISHED" and info.end_time == 5_000
    assert info.run_name == "first"
    stored = store.get_run(run_id).info
    assert stored.status == "FINISHED" and stored.end_time == 5_000
    info = store.update_run_info(run_id, run_name="second")
    assert info.run_name == "second"
    assert info.status == "FINISHED" and info.end_time == 5_000  # untouched
    run = store.get_run(run_id)
    assert run.info.run_name == "second"
    assert run.data.tags[RUN_NAME_TAG] == "second"
    store.update_run_info(run_id, "killed")  # type: ignore[arg-type]
    assert store.get_run(run_id).info.status == "KILLED"
    with pytest.raises(InvalidParameterValueError):
        store.update_run_info(run_id, "EXPLODED")  # type: ignore[arg-type]
    assert store.get_run(run_id).info.status == "KILLED"


def test_delete_and_restore_run(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert search_ids(store, ["0"]) == []
    assert search_ids(store, ["0"], run_view_type=ViewType.DELETED_ONLY) == [run_id]
    store.restore_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert search_ids(store, ["0"]) == [run_id]


def test_logging_to_deleted_run_is_refused_and_changes_nothing(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 10, 0)], [Param("p", "1")], [RunTag("t", "1")])
    store.delete_run(run_id)
    before = snapshot(store, run_id)
    attempts = [
        lambda: store.log_batch(run_id, metrics=[Metric("m", 2.0, 20, 1)]),
        lambda: store.log_batch(run_id, params=[Param("q", "2")]),
        lambda: store.log_batch(run_id, tags=[RunTag("t", "2")]),
        lambda: store.log_metric(run_id, Metric("n", 2.0, 20, 1)),
        lambda: store.log_param(run_id, Param("q", "2")),
        lambda: store.set_tag(run_id, RunTag("u", "2")),
        lambda: store.delete_tag(run_id, "t"),
        lambda: store.log_metric_points([(run_id, "m", 3.0, 30, 2)]),
        lambda: store.update_run_info(run_id, RunStatus.FINISHED, 99),
        lambda: store.log_inputs(run_id, [DatasetInput(Dataset("d", "1", "local", "/d"))]),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidParameterValueError) as info:
            attempt()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert snapshot(store, run_id) == before
    store.restore_run(run_id)
    assert snapshot(store, run_id) == before


def test_logging_to_a_finished_run_is_allowed(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.update_run_info(run_id, RunStatus.FINISHED, 2_000)
    store.log_batch(run_id, [Metric("m", 1.0, 1, 0)], [Param("p", "1")], [RunTag("t", "1")])
    run = store.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"m": 1.0} and run.data.params == {"p": "1"}
    assert run.data.tags["t"] == "1"


def test_run_tags_set_overwrite_delete(store: SqlTrackingStore) -> None:
    run_id = new_run(store, name="tags").info.run_id
    store.set_tag(run_id, RunTag("a", "1"))
    store.set_tag(run_id, RunTag("a", "2"))
    store.log_batch(run_id, tags=[RunTag("b", "x"), RunTag("c", "y")])
    assert store.get_run(run_id).data.tags == {"a": "2", "b": "x", "c": "y", RUN_NAME_TAG: "tags"}
    store.delete_tag(run_id, "b")
    assert "b" not in store.get_run(run_id).data.tags
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_tag(run_id, "b")
    with pytest.raises(ResourceDoesNotExistError):
        store.delete_tag(run_id, "never-set")
    assert store.get_run(run_id).data.tags == {"a": "2", "c": "y", RUN_NAME_TAG: "tags"}


def test_setting_run_name_tag_renames_the_run(store: SqlTrackingStore) -> None:
    run_id = new_run(store, name="old").info.run_id
    store.set_tag(run_id, RunTag(RUN_NAME_TAG, "new"))
    assert store.get_run(run_id).info.run_name == "new"
    assert search_ids(store, ["0"], filter_string="attributes.run_name = 'new'") == [run_id]


def test_tag_value_truncated_at_8000(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    long = "".join(random.Random(1).choice("abcdefgh") for _ in range(9_000))
    store.set_tag(run_id, RunTag("long", long))
    store.set_tag(run_id, RunTag("exact", "é" * 8_000))
    tags = store.get_run(run_id).data.tags
    assert tags["long"] == long[:8_000]
    assert tags["exact"] == "é" * 8_000


# -- metrics -------------------------------------------------------------------------------

LATEST_CASES = [
    Metric("m", 5.0, 100, 1),
    Metric("m", 1.0, 50, 3),
    Metric("m", 7.0, 60, 3),  # the latest: highest step, then timestamp, then value
    Metric("m", 2.0, 60, 3),
    Metric("m", 100.0, 1_000, 2),
    Metric("m", -3.0, 59, 3),
]


@pytest.mark.parametrize("order", ["given", "reversed", "shuffled", "one-batch"])
def test_latest_metric_is_max_by_step_timestamp_value(store: SqlTrackingStore, order: str) -> None:
    run_id = new_run(store).info.run_id
    points = list(LATEST_CASES)
    if order == "reversed":
        points.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(points)
    if order == "one-batch":
        store.log_batch(run_id, metrics=points)
    else:
        for point in points:
            store.log_metric(run_id, point)
    assert latest(store, run_id, "m") == Metric("m", 7.0, 60, 3)
    assert store.get_run(run_id).data.metrics == {"m": 7.0}
    assert search_ids(store, ["0"], filter_string="metrics.m = 7") == [run_id]


def test_latest_metric_via_metric_points_in_any_order(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    points = [(run_id, m.key, m.value, m.timestamp, m.step) for m in LATEST_CASES]
    for point in reversed(points):
        store.log_metric_points([point])
    assert latest(store, run_id, "m") == Metric("m", 7.0, 60, 3)


def test_nan_metric(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_batch(run_id, metrics=[Metric("x", 0.5, 10, 0), Metric("x", math.nan, 20, 1)])
    store.log_metric(run_id, Metric("y", float("nan"), 10, 0))
    values = [m.value for m in history(store, run_id, "x")]
    assert values[0] == 0.5 and math.isnan(values[1])
    assert math.isnan(latest(store, run_id, "x").value)
    assert math.isnan(store.get_run(run_id).data.metrics["y"])
    assert search_ids(store, ["0"], filter_string="metrics.x = 0") == []
    assert search_ids(store, ["0"], filter_string="metrics.y = 0") == []
    assert search_ids(store, ["0"], filter_string="metrics.x = 0.5") == []  # latest is NaN
    # A NaN point is an exact repeat of another NaN at the same step and time.
    store.log_metric(run_id, Metric("y", float("nan"), 10, 0))
    assert len(history(store, run_id, "y")) == 1
    # A later real value replaces a NaN as the latest.
    store.log_metric(run_id, Metric("y", 0.0, 30, 2))
    assert latest(store, run_id, "y") == Metric("y", 0.0, 30, 2)
    assert search_ids(store, ["0"], filter_string="metrics.y = 0") == [run_id]


def test_infinite_metrics_are_clamped(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_batch(run_id, metrics=[Metric("pos", math.inf, 1, 0), Metric("neg", -math.inf, 1, 0)])
    store.log_metric_points([(run_id, "pos2", math.inf, 1, 0), (run_id, "neg2", -math.inf, 1, 0)])
    for key, sign in (("pos", 1), ("neg", -1), ("pos2", 1), ("neg2", -1)):
        [point] = history(store, run_id, key)
        assert point.value == sign * FLOAT_MAX
        assert not math.isinf(point.value)
        assert latest(store, run_id, key).value == sign * FLOAT_MAX
    assert search_ids(store, ["0"], filter_string="metrics.pos > 1e300") == [run_id]
    assert search_ids(store, ["0"], filter_string="metrics.neg < -1e300") == [run_id]


def test_exact_duplicate_points_stored_once(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    a, b = Metric("m", 1.0, 10, 0), Metric("m", 1.0, 10, 1)
    store.log_batch(run_id, metrics=[a, a, b])
    store.log_batch(run_id, metrics=[a, b])
    store.log_metric(run_id, a)
    store.log_metric_points([(run_id, "m", 1.0, 10, 0), (run_id, "m", 1.0, 10, 0)])
    assert history(store, run_id, "m") == [a, b]
    # Points differing in any one of value, timestamp or step are distinct.
    store.log_batch(run_id, metrics=[Metric("m", 2.0, 10, 0), Metric("m", 1.0, 11, 0)])
    assert len(history(store, run_id, "m")) == 4
    # Re-sending a whole 1000-point batch is idempotent.
    batch = [Metric("big", float(i), 5, i) for i in range(1000)]
    store.log_batch(run_id, metrics=batch)
    store.log_batch(run_id, metrics=batch)
    assert len(history(store, run_id, "big")) == 1000


def test_metric_history_order_and_pagination(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    points = [Metric("h", float(i * 10 + j), 1_000 - j, i) for i in range(9) for j in range(3)]
    shuffled = list(points)
    random.Random(3).shuffle(shuffled)
    store.log_batch(run_id, metrics=shuffled[:10])
    store.log_batch(run_id, metrics=shuffled[10:])
    store.log_metric(run_id, Metric("other", 1.0, 1, 0))
    expected = sorted(points, key=lambda m: (m.step, m.timestamp, m.value))
    full = store.get_metric_history(run_id, "h")
    assert list(full) == expected
    assert full.token is None
    pages = all_pages(
        lambda n, token: store.get_metric_history(run_id, "h", max_results=n, page_token=token),
        10,
    )
    assert [len(p) for p in pages] == [10, 10, 7]
    assert [m for page in pages for m in page] == expected
    assert history(store, run_id, "missing") == []
    with pytest.raises(InvalidParameterValueError):
        store.get_metric_history(run_id, "h", max_results=10, page_token="%%%")


@pytest.mark.parametrize("value", [True, False, "1.0", None, [1.0]])
def test_non_numeric_metric_value_is_refused(store: SqlTrackingStore, value: object) -> None:
    run_id = new_run(store).info.run_id
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(run_id, metrics=[Metric("ok", 1.0, 1, 0), Metric("m", value, 1, 0)])  # type: ignore[arg-type]
    assert store.get_run(run_id).data.metrics == {}


def test_bad_timestamp_or_step_is_refused(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    for metric in (Metric("m", 1.0, -1, 0), Metric("m", 1.0, 1, 1.5), Metric("m", 1.0, True, 0)):  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterValueError):
            store.log_batch(run_id, metrics=[metric])
    assert store.get_run(run_id).data.metrics == {}


BAD_KEYS = [
    "a/../b",
    "..",
    "../a",
    "a/..",
    "/leading",
    "bad!char",
    "semi;colon",
    "x" * 251,
    "a//b",
    "./a",
    ".",
    "",
]


@pytest.mark.parametrize("kind", ["metric", "param", "tag"])
def test_invalid_keys_refused_and_batch_not_stored(store: SqlTrackingStore, kind: str) -> None:
    run_id = new_run(store).info.run_id
    before = snapshot(store, run_id)
    accepted = []
    for bad in BAD_KEYS:
        metrics = [Metric("good", 1.0, 1, 0)]
        params = [Param("good", "1")]
        tags = [RunTag("good", "1")]
        if kind == "metric":
            metrics.append(Metric(bad, 1.0, 1, 0))
        elif kind == "param":
            params.append(Param(bad, "1"))
        else:
            tags.append(RunTag(bad, "1"))
        try:
            store.log_batch(run_id, metrics, params, tags)
        except InvalidParameterValueError:
            continue
        accepted.append(bad)
    assert accepted == [], f"invalid {kind} keys accepted"
    assert snapshot(store, run_id) == before


def test_key_of_250_chars_and_every_allowed_character_is_accepted(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    long_key = "k" * 250
    odd_key = "a/b.c-d e:f_g9"
    store.log_batch(
        run_id,
        metrics=[Metric(long_key, 1.0, 1, 0), Metric(odd_key, 2.0, 1, 0)],
        params=[Param(long_key, "p"), Param(odd_key, "q")],
        tags=[RunTag(long_key, "t"), RunTag(odd_key, "u")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {long_key: 1.0, odd_key: 2.0}
    assert data.params == {long_key: "p", odd_key: "q"}
    assert data.tags[long_key] == "t" and data.tags[odd_key] == "u"


def test_log_metric_points_across_two_runs(store: SqlTrackingStore) -> None:
    one, two = new_run(store).info.run_id, new_run(store).info.run_id
    store.log_metric_points(
        [
            (one, "m", 1.0, 10, 0),
            (two, "m", 5.0, 10, 0),
            (one, "m", 2.0, 11, 1),
            (two, "n", 3.0, 12, 0),
        ]
    )
    assert [m.value for m in history(store, one, "m")] == [1.0, 2.0]
    assert [m.value for m in history(store, two, "m")] == [5.0]
    assert store.get_run(one).data.metrics == {"m": 2.0}
    assert store.get_run(two).data.metrics == {"m": 5.0, "n": 3.0}
    store.log_metric_points([])  # nothing to do, no error


def test_log_metric_points_with_a_deleted_run(store: SqlTrackingStore) -> None:
    good, bad = new_run(store).info.run_id, new_run(store).info.run_id
    store.delete_run(bad)
    with pytest.raises(InvalidParameterValueError) as info:
        store.log_metric_points(
            [
                (good, "m", 1.0, 10, 0),
                (bad, "m", 2.0, 10, 0),
                (good, "m", 3.0, 11, 1),
            ]
        )
    assert bad in info.value.message
    assert good not in info.value.message
    assert [m.value for m in history(store, good, "m")] == [1.0, 3.0]
    assert store.get_run(good).data.metrics == {"m": 3.0}
    store.restore_run(bad)
    assert history(store, bad, "m") == []
    assert store.get_run(bad).data.metrics == {}


def test_log_metric_points_with_an_unknown_run(store: SqlTrackingStore) -> None:
    good = new_run(store).info.run_id
    with pytest.raises(InvalidParameterValueError) as info:
        store.log_metric_points([(good, "m", 1.0, 10, 0), (UNKNOWN_RUN, "m", 2.0, 10, 0)])
    assert UNKNOWN_RUN in info.value.message
    assert [m.value for m in history(store, good, "m")] == [1.0]


# -- params --------------------------------------------------------------------------------


def test_params_are_immutable(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_param(run_id, Param("p", "1"))
    store.log_param(run_id, Param("p", "1"))  # same value again is fine
    store.log_batch(run_id, params=[Param("p", "1"), Param("q", "a")])
    with pytest.raises(InvalidParameterValueError) as info:
        store.log_param(run_id, Param("p", "2"))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "'p'" in info.value.message
    assert store.get_run(run_id).data.params == {"p": "1", "q": "a"}


def test_conflicting_param_in_batch_stores_nothing(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_param(run_id, Param("p", "1"))
    before = snapshot(store, run_id)
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(
            run_id,
            metrics=[Metric("m", 1.0, 1, 0)],
            params=[Param("fresh", "x"), Param("p", "2")],
            tags=[RunTag("t", "1")],
        )
    assert snapshot(store, run_id) == before
    assert store.get_run(run_id).data.params == {"p": "1"}


def test_param_value_truncated_at_6000(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    long = "0123456789" * 700
    store.log_param(run_id, Param("long", long))
    store.log_param(run_id, Param("long", long))  # truncates to the same value: no conflict
    store.log_param(run_id, Param("exact", "ü" * 6_000))
    params = store.get_run(run_id).data.params
    assert params["long"] == long[:6_000]
    assert len(params["long"]) == 6_000
    assert params["exact"] == "ü" * 6_000


@pytest.mark.parametrize("case", ["metrics", "params", "tags", "total", "duplicate-param"])
def test_batch_limits(store: SqlTrackingStore, case: str) -> None:
    run_id = new_run(store).info.run_id
    before = snapshot(store, run_id)
    metrics: list[Metric] = []
    params: list[Param] = []
    tags: list[RunTag] = []
    if case == "metrics":
        metrics = [Metric("m", float(i), 1, i) for i in range(1001)]
    elif case == "params":
        params = [Param(f"p{i}", "v") for i in range(101)]
    elif case == "tags":
        tags = [RunTag(f"t{i}", "v") for i in range(101)]
    elif case == "total":
        metrics = [Metric("m", float(i), 1, i) for i in range(1000)]
        params = [Param("p", "v")]
    else:
        params = [Param("p", "a"), Param("q", "x"), Param("p", "b")]
    with pytest.raises(InvalidParameterValueError):
        store.log_batch(run_id, metrics, params, tags)
    assert snapshot(store, run_id) == before


def test_batch_at_the_limits_is_accepted(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(1000)])
    store.log_batch(
        run_id,
        params=[Param(f"p{i}", str(i)) for i in range(100)],
        tags=[RunTag(f"t{i}", str(i)) for i in range(100)],
    )
    data = store.get_run(run_id).data
    assert len(history(store, run_id, "m")) == 1000
    assert len(data.params) == 100 and data.params["p99"] == "99"
    assert sum(1 for k in data.tags if k.startswith("t")) == 100
    # A param repeated with the same value inside one batch is fine, and stored once.
    other = new_run(store).info.run_id
    store.log_batch(other, params=[Param("x", "1"), Param("y", "2"), Param("x", "1")])
    assert store.get_run(other).data.params == {"x": "1", "y": "2"}


# -- search_runs ---------------------------------------------------------------------------


def _dataset(name: str, digest: str, context: str, **extra: str) -> DatasetInput:
    return DatasetInput(
        Dataset(name, digest, "local", f"/data/{name}", extra.get("schema"), extra.get("profile")),
        (InputTag(CONTEXT_TAG, context),),
    )


def seed_runs(store: SqlTrackingStore) -> tuple[str, dict[str, str]]:
    """Five runs with distinct start times; returns (experiment id, {name: run id})."""
    exp_id = store.create_experiment("search")
    spec = [
        # name, start, status, metrics, params, tags, dataset
        (
            "alpha",
            1000,
            "FINISHED",
            {"acc": 0.9, "loss": 0.5},
            {"lr": "0.1", "model": "CNN"},
            {"team": "Vision", "env": "prod"},
            _dataset("mnist", "d1", "training"),
        ),
        (
            "beta",
            2000,
            "RUNNING",
            {"acc": 0.7, "loss": 0.25},
            {"lr": "0.01", "model": "cnn"},
            {"team": "vision"},
            _dataset("mnist", "d1", "eval"),
        ),
        (
            "gamma",
            3000,
            "FAILED",
            {"acc": 0.8},
            {"model": "rnn"},
            {"env": "dev"},
            _dataset("cifar", "d2", "training"),
        ),
        ("delta", 4000, "RUNNING", {"acc": math.nan}, {}, {}, None),
        ("epsilon", 5000, "KILLED", {}, {}, {}, None),
    ]
    ids = {}
    for name, start, status, metrics, params, tags, dataset in spec:
        run_id = new_run(store, exp_id, name=name, start_time=start).info.run_id
        store.log_batch(
            run_id,
            metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if dataset is not None:
            store.log_inputs(run_id, [dataset])
        if status != "RUNNING":
            store.update_run_info(run_id, RunStatus(status), start + 500)
        ids[name] = run_id
    return exp_id, ids


FILTER_CASES = [
    ("metrics.acc > 0.75", {"alpha", "gamma"}),
    ("metrics.acc >= 0.8", {"alpha", "gamma"}),
    ("metrics.acc < 0.8", {"beta"}),
    ("metrics.acc <= 0.8", {"beta", "gamma"}),
    ("metrics.acc = 0.7", {"beta"}),
    ("metrics.acc != 0.7", {"alpha", "gamma"}),
    ("metrics.acc = 0", set()),  # delta's NaN does not equal 0
    ("metric.loss < 1", {"alpha", "beta"}),
    ("metrics.`acc` > 0.85", {"alpha"}),
    ('metrics."loss" >= 0.5', {"alpha"}),
    ("params.model = 'CNN'", {"alpha"}),
    ("params.model != 'CNN'", {"beta", "gamma"}),
    ("params.model LIKE 'c%'", {"beta"}),
    ("params.model LIKE '%N%'", {"alpha"}),
    ("params.model ILIKE 'c%'", {"alpha", "beta"}),
    ("parameters.model ILIKE '%NN'", {"alpha", "beta", "gamma"}),
    ("params.lr = '0.1'", {"alpha"}),
    ("params.lr IS NULL", {"gamma", "delta", "epsilon"}),
    ("params.lr IS NOT NULL", {"alpha", "beta"}),
    ("tags.team = 'vision'", {"beta"}),
    ("tags.team LIKE 'V%'", {"alpha"}),
    ("tags.team ILIKE 'VISION'", {"alpha", "beta"}),
    ("tags.env != 'prod'", {"gamma"}),
    ("tags.env IS NULL", {"beta", "delta", "epsilon"}),
    ("tags.env IS NOT NULL", {"alpha", "gamma"}),
    ("attributes.status = 'RUNNING'", {"beta", "delta"}),
    ("status != 'RUNNING'", {"alpha", "gamma", "epsilon"}),
    ("attributes.run_name = 'gamma'", {"gamma"}),
    ("run_name LIKE 'g%'", {"gamma"}),
    ("attributes.run_name ILIKE 'ALPHA'", {"alpha"}),
    ("tags.`mlflow.runName` = 'delta'", {"delta"}),
    ("attributes.start_time >= 3000", {"gamma", "delta", "epsilon"}),
    ("start_time < 2000", {"alpha"}),
    ("attributes.end_time > 3000", {"gamma", "epsilon"}),
    ("datasets.name = 'mnist'", {"alpha", "beta"}),
    ("datasets.name IN ('cifar')", {"gamma"}),
    ("datasets.name LIKE 'mn%'", {"alpha", "beta"}),
    ("datasets.digest = 'd2'", {"gamma"}),
    ("datasets.context = 'training'", {"alpha", "gamma"}),
    ("datasets.context != 'training'", {"beta"}),
    ("dataset.context ILIKE 'EVAL'", {"beta"}),
    ("metrics.acc > 0.6 AND params.model ILIKE 'cnn' AND tags.team = 'Vision'", {"alpha"}),
    ("datasets.name = 'mnist' AND datasets.context = 'eval'", {"beta"}),
    ("metrics.acc > 0 and status = 'FAILED'", {"gamma"}),
    ("params.model = '; DROP TABLE runs; --'", set()),
    ("tags.`x; DROP TABLE runs; --` = 'a'", set()),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES]
)
def test_search_runs_filter(
    store: SqlTrackingStore, filter_string: str, expected: set[str]
) -> None:
    exp_id, ids = seed_runs(store)
    names = {v: k for k, v in ids.items()}
    found = search_ids(store, [exp_id], filter_string=filter_string)
    assert len(found) == len(set(found))
    assert {names[r] for r in found} == expected


def test_search_runs_by_run_id_in(store: SqlTrackingStore) -> None:
    exp_id, ids = seed_runs(store)
    chosen = f"('{ids['alpha']}', '{ids['gamma']}')"
    assert set(search_ids(store, [exp_id], filter_string=f"attributes.run_id IN {chosen}")) == {
        ids["alpha"],
        ids["gamma"],
    }
    assert set(search_ids(store, [exp_id], filter_string=f"run_id NOT IN {chosen}")) == {
        ids["beta"],
        ids["delta"],
        ids["epsilon"],
    }
    assert search_ids(store, [exp_id], filter_string=f"run_id = '{ids['beta']}'") == [ids["beta"]]


def test_search_runs_across_experiments(store: SqlTrackingStore) -> None:
    exp_id, ids = seed_runs(store)
    other = store.create_experiment("other")
    extra = new_run(store, other, name="other-run").info.run_id
    assert set(search_ids(store, [exp_id, other])) == set(ids.values()) | {extra}
    assert search_ids(store, [other]) == [extra]
    assert search_ids(store, []) == []


ORDER_CASES = [
    # order_by, expected order; names in braces may come in any order at the end
    (["metrics.acc DESC"], ["alpha", "gamma", "beta"], {"delta", "epsilon"}),
    (["metrics.acc ASC"], ["beta", "gamma", "alpha"], {"delta", "epsilon"}),
    (["metrics.acc"], ["beta", "gamma", "alpha"], {"delta", "epsilon"}),
    (["metrics.`acc` DESC"], ["alpha", "gamma", "beta"], {"delta", "epsilon"}),
    (["metrics.loss ASC"], ["beta", "alpha"], {"gamma", "delta", "epsilon"}),
    (["metrics.loss DESC"], ["alpha", "beta"], {"gamma", "delta", "epsilon"}),
    (["params.lr ASC"], ["beta", "alpha"], {"gamma", "delta", "epsilon"}),
    (["params.lr DESC"], ["alpha", "beta"], {"gamma", "delta", "epsilon"}),
    (["tags.env ASC", "start_time ASC"], ["gamma", "alpha", "beta", "delta", "epsilon"], set()),
    (
        ["tags.env DESC", "attributes.start_time DESC"],
        ["alpha", "gamma", "epsilon", "delta", "beta"],
        set(),
    ),
    (["attributes.start_time ASC"], ["alpha", "beta", "gamma", "delta", "epsilon"], set()),
    (["start_time DESC"], ["epsilon", "delta", "gamma", "beta", "alpha"], set()),
    (["attributes.run_name ASC"], ["alpha", "beta", "delta", "epsilon", "gamma"], set()),
    (["attributes.run_name DESC"], ["gamma", "epsilon", "delta", "beta", "alpha"], set()),
    (["attributes.end_time DESC"], ["epsilon", "gamma", "beta", "alpha"], set()),
    ([], ["epsilon", "delta", "gamma", "beta", "alpha"], set()),  # default: start_time DESC
    (None, ["epsilon", "delta", "gamma", "beta", "alpha"], set()),
]


@pytest.mark.parametrize(
    ("order_by", "head", "tail"), ORDER_CASES, ids=[str(c[0]) for c in ORDER_CASES]
)
def test_search_runs_order_by(
    store: SqlTrackingStore, order_by: list[str] | None, head: list[str], tail: set[str]
) -> None:
    exp_id, ids = seed_runs(store)
    if order_by == ["attributes.end_time DESC"]:
        tail = {"delta"}  # the running runs without an end time come last
        store.update_run_info(ids["beta"], RunStatus.FINISHED, 2_100)
    names = {v: k for k, v in ids.items()}
    found = [names[r] for r in search_ids(store, [exp_id], order_by=order_by)]
    assert len(found) == 5
    assert found[: len(head)] == head
    assert set(found[len(head) :]) == tail


def test_search_runs_nan_and_missing_metrics_sort_last(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("nan-order")
    values = {"a": 3.0, "b": math.nan, "c": None, "d": -1.0, "e": 1e300, "f": math.nan}
    ids = {}
    for i, (name, value) in enumerate(values.items()):
        run_id = new_run(store, exp_id, name=name, start_time=i).info.run_id
        if value is not None:
            store.log_metric(run_id, Metric("m", value, 1, 0))
        ids[run_id] = name
    for direction, expected in (("ASC", ["d", "a", "e"]), ("DESC", ["e", "a", "d"])):
        found = [ids[r] for r in search_ids(store, [exp_id], order_by=[f"metrics.m {direction}"])]
        assert found[:3] == expected, direction
        assert set(found[3:]) == {"b", "c", "f"}, direction


def test_search_runs_pagination(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("pages")
    created = []
    for i in range(25):
        run_id = new_run(store, exp_id, start_time=1_000 + i // 3).info.run_id  # ties on time
        if i % 4:
            store.log_metric(run_id, Metric("m", float(i % 5), 1, 0))
        created.append(run_id)
    for order_by in (None, ["metrics.m ASC"], ["metrics.m DESC", "start_time ASC"]):
        pages = all_pages(
            lambda n, token, o=order_by: store.search_runs(
                [exp_id], max_results=n, order_by=o, page_token=token
            ),
            10,
        )
        assert [len(p) for p in pages] == [10, 10, 5], order_by
        paged = [r.info.run_id for page in pages for r in page]
        assert len(paged) == len(set(paged)) == 25, order_by
        assert set(paged) == set(created)
        assert paged == search_ids(store, [exp_id], order_by=order_by), order_by
    exact = store.search_runs([exp_id], max_results=25)
    assert len(exact) == 25 and exact.token is None
    full = store.search_runs([exp_id], max_results=50_000)
    assert len(full) == 25


@pytest.mark.parametrize("max_results", [0, -5, 50_001, 10**9])
def test_search_runs_bad_max_results(store: SqlTrackingStore, max_results: int) -> None:
    new_run(store)
    with pytest.raises(InvalidParameterValueError):
        store.search_runs(["0"], max_results=max_results)


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "bm90IGpzb24=",  # base64 of "not json"
        base64.b64encode(json.dumps({"offset": -1}).encode()).decode(),
        base64.b64encode(json.dumps({"offset": "3"}).encode()).decode(),
        base64.b64encode(json.dumps({"other": 3}).encode()).decode(),
        base64.b64encode(json.dumps([3]).encode()).decode(),
    ],
)
def test_search_runs_bad_page_token(store: SqlTrackingStore, token: str) -> None:
    new_run(store)
    with pytest.raises(InvalidParameterValueError):
        store.search_runs(["0"], page_token=token)


def test_search_runs_view_types(store: SqlTrackingStore) -> None:
    exp_id, ids = seed_runs(store)
    store.delete_run(ids["beta"])
    store.delete_run(ids["delta"])
    active = {ids["alpha"], ids["gamma"], ids["epsilon"]}
    deleted = {ids["beta"], ids["delta"]}
    assert set(search_ids(store, [exp_id])) == active
    assert set(search_ids(store, [exp_id], run_view_type=ViewType.ACTIVE_ONLY)) == active
    assert set(search_ids(store, [exp_id], run_view_type=ViewType.DELETED_ONLY)) == deleted
    assert set(search_ids(store, [exp_id], run_view_type=ViewType.ALL)) == active | deleted


MALFORMED_FILTERS = [
    "metrics.acc >",
    "metrics.acc > 'high'",
    "params.model = 5",
    "params.model = 'a' OR params.model = 'b'",
    "(params.model = 'a')",
    "foo.bar = 'x'",
    "attributes.colour = 'red'",
    "status IN ('RUNNING')",
    "run_id IN 'abc'",
    "params.model LIKE",
    "params.model = 'unterminated",
    "params.model == 'x'",
    "metrics.acc > 0.5 AND",
    "params.model = 'x' ; DROP TABLE runs; --",
    "params.model = ''; DROP TABLE runs; --'",
    "tags.env IS 'prod'",
    "metrics.acc IS NULL",
    "datasets.size = 'big'",
    "1 = 1",
]


def test_malformed_filters_are_invalid_parameter_and_harmless(store: SqlTrackingStore) -> None:
    exp_id, ids = seed_runs(store)
    for bad in MALFORMED_FILTERS:
        with pytest.raises(InvalidParameterValueError) as info:
            store.search_runs([exp_id], filter_string=bad)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE", bad
    for bad_order in (
        ["metrics.acc SIDEWAYS"],
        ["datasets.name ASC"],
        ["params.x ASC DESC"],
        ["metrics.acc", "metrics.acc DESC"],
        ["run name ASC"],
    ):
        with pytest.raises(InvalidParameterValueError):
            store.search_runs([exp_id], order_by=bad_order)
    # Injection attempts inside quoted keys and values are plain text, not SQL.
    assert search_ids(store, [exp_id], order_by=["params.`x; DROP TABLE runs; --` DESC"])
    assert set(search_ids(store, [exp_id])) == set(ids.values())
    for run_id in ids.values():
        assert store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    assert store.get_run(ids["alpha"]).data.params == {"lr": "0.1", "model": "CNN"}


def test_search_returns_full_runs(store: SqlTrackingStore) -> None:
    exp_id, ids = seed_runs(store)
    [run] = store.search_runs([exp_id], filter_string="attributes.run_name = 'alpha'")
    assert run.info.status == "FINISHED" and run.info.end_time == 1_500
    assert run.data.metrics == {"acc": 0.9, "loss": 0.5}
    assert run.data.params == {"lr": "0.1", "model": "CNN"}
    assert run.data.tags["team"] == "Vision"
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "mnist"
    assert dataset_input.tags == (InputTag(CONTEXT_TAG, "training"),)
    assert run == store.get_run(ids["alpha"])


# -- log_inputs ----------------------------------------------------------------------------


def test_log_inputs_same_dataset_stored_once(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("inputs")
    run_id = new_run(store, exp_id).info.run_id
    other = new_run(store, exp_id).info.run_id
    train = _dataset("mnist", "abc123", "training", schema='{"cols": ["x"]}', profile="{}")
    store.log_inputs(run_id, [train])
    store.log_inputs(run_id, [train])
    store.log_inputs(run_id, [train, train])
    store.log_inputs(other, [train])
    [stored] = store.get_run(run_id).inputs.dataset_inputs
    assert stored.dataset == train.dataset
    assert stored.tags == (InputTag(CONTEXT_TAG, "training"),)
    assert len(store.get_run(other).inputs.dataset_inputs) == 1
    with store.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM datasets")).scalar()
    assert count == 1  # one dataset per (experiment, name, digest), shared by both runs


def test_log_inputs_tags_and_several_datasets(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_inputs(
        run_id,
        [
            DatasetInput(
                Dataset("b-set", "d2", "s3", "s3://b"),
                (InputTag(CONTEXT_TAG, "eval"), InputTag("extra", "1")),
            ),
            _dataset("a-set", "d1", "training"),
            _dataset("a-set", "d9", "training"),  # same name, other digest: another dataset
        ],
    )
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert [
        (i.dataset.name, i.dataset.digest)
        for i in sorted(inputs, key=lambda i: (i.dataset.name, i.dataset.digest))
    ] == [("a-set", "d1"), ("a-set", "d9"), ("b-set", "d2")]
    by_name = {i.dataset.name: i for i in inputs}
    assert dict((t.key, t.value) for t in by_name["b-set"].tags) == {
        CONTEXT_TAG: "eval",
        "extra": "1",
    }
    assert by_name["b-set"].dataset.source == "s3://b"


def test_log_inputs_large_schema_round_trips(store: SqlTrackingStore) -> None:
    """Dataset schemas may hold up to 1,048,575 characters (MLflow's limit)."""
    run_id = new_run(store).info.run_id
    schema = json.dumps({"columns": [f"feature_{i}" for i in range(8_000)]})
    assert 65_535 < len(schema) < 1_048_575
    store.log_inputs(run_id, [_dataset("wide", "d1", "training", schema=schema)])
    [stored] = store.get_run(run_id).inputs.dataset_inputs
    assert stored.dataset.schema == schema


def test_log_inputs_validation(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    for bad in (
        DatasetInput(Dataset("", "d", "local", "/x")),
        DatasetInput(Dataset("n", "d" * 37, "local", "/x")),
        DatasetInput(Dataset("n", "d", "local", "/x"), (InputTag("k", "v" * 501),)),
    ):
        with pytest.raises(InvalidParameterValueError):
            store.log_inputs(run_id, [bad])
    assert store.get_run(run_id).inputs.dataset_inputs == ()


# -- unicode and case ----------------------------------------------------------------------


def test_unicode_round_trip(store: SqlTrackingStore) -> None:
    exp_id = store.create_experiment("实验 🚀 ü", tags=[ExperimentTag("ключ", "значение 🚀")])
    assert store.get_experiment_by_name("实验 🚀 ü").experiment_id == exp_id  # type: ignore[union-attr]
    assert store.get_experiment(exp_id).tags == {"ключ": "значение 🚀"}
    run = new_run(store, exp_id, name="ラン 🏃")
    run_id = run.info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("损失", 0.25, 1, 0)],
        params=[Param("学习率", "значение ✓")],
        tags=[RunTag("étiquette", "😀 emoji")],
    )
    got = store.get_run(run_id)
    assert got.info.run_name == "ラン 🏃"
    assert got.data.metrics == {"损失": 0.25}
    assert got.data.params == {"学习率": "значение ✓"}
    assert got.data.tags["étiquette"] == "😀 emoji"
    assert [m.value for m in history(store, run_id, "损失")] == [0.25]
    assert search_ids(store, [exp_id], filter_string="params.学习率 = 'значение ✓'") == [run_id]
    assert search_ids(store, [exp_id], filter_string="tags.`étiquette` LIKE '😀%'") == [run_id]
    assert search_ids(store, [exp_id], filter_string="metrics.损失 < 1") == [run_id]
    assert search_ids(store, [exp_id], filter_string="run_name = 'ラン 🏃'") == [run_id]


def test_keys_differing_only_in_case_are_distinct(store: SqlTrackingStore) -> None:
    run_id = new_run(store).info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("Loss", 1.0, 1, 0), Metric("loss", 2.0, 1, 0)],
        params=[Param("P", "upper"), Param("p", "lower")],
        tags=[RunTag("T", "upper"), RunTag("t", "lower")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {"Loss": 1.0, "loss": 2.0}
    assert data.params == {"P": "upper", "p": "lower"}
    assert data.tags["T"] == "upper" and data.tags["t"] == "lower"
    assert [m.value for m in history(store, run_id, "Loss")] == [1.0]
    assert [m.value for m in history(store, run_id, "loss")] == [2.0]
    assert search_ids(store, ["0"], filter_string="params.P = 'upper'") == [run_id]
    assert search_ids(store, ["0"], filter_string="params.p = 'upper'") == []
    assert search_ids(store, ["0"], filter_string="metrics.Loss = 2") == []
    store.delete_tag(run_id, "T")
    assert store.get_run(run_id).data.tags["t"] == "lower"
    # Experiment names too.
    store.create_experiment("Case")
    store.create_experiment("case")
    assert store.get_experiment_by_name("CASE") is None


def test_keys_differing_only_in_trailing_space_are_distinct(store: SqlTrackingStore) -> None:
    """A trailing space is a valid key character; such keys must not collide."""
    run_id = new_run(store).info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0, 1, 0), Metric("loss ", 2.0, 1, 0)],
        params=[Param("p", "a"), Param("p ", "b")],
        tags=[RunTag("t", "a"), RunTag("t ", "b")],
    )
    data = store.get_run(run_id).data
    assert data.metrics == {"loss": 1.0, "loss ": 2.0}
    assert data.params == {"p": "a", "p ": "b"}
    assert data.tags["t"] == "a" and data.tags["t "] == "b"


def test_values_differing_only_in_trailing_space_are_distinct_in_search(
    store: SqlTrackingStore,
) -> None:
    plain = new_run(store, name="plain").info.run_id
    padded = new_run(store, name="padded").info.run_id
    store.log_param(plain, Param("v", "a"))
    store.log_param(padded, Param("v", "a  "))
    assert store.get_run(padded).data.params == {"v": "a  "}
    assert search_ids(store, ["0"], filter_string="params.v = 'a'") == [plain]
    assert search_ids(store, ["0"], filter_string="params.v != 'a'") == [padded]


def test_errors_are_cairn_errors_with_codes(store: SqlTrackingStore) -> None:
    """Whatever goes wrong in a call, the caller sees a CairnError, never a driver error."""
    run_id = new_run(store).info.run_id
    calls = [
        lambda: store.get_run("not a run id!"),
        lambda: store.log_batch(run_id, params=[Param("p", "nul\x00char")]),
        lambda: store.set_tag(run_id, RunTag("t", "nul\x00char")),
        lambda: store.create_experiment("nul\x00name"),
        lambda: store.log_batch(run_id, metrics=[Metric("m", 1.0, 2**63, 0)]),
        lambda: new_run(store, name="x" * 251),
    ]
    for call in calls:
        with pytest.raises(CairnError) as info:
            call()
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert store.get_run(run_id).data.params == {}
