"""Retention policies (cairn.maintenance.retention) on SQLite, PostgreSQL and MariaDB: which
runs an experiment's `cairn.retention.*` tags retire, and which they never touch."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from cairn.entities import ExperimentTag, LifecycleStage, RunStatus, RunTag, ViewType
from cairn.exceptions import InvalidParameterValueError
from cairn.maintenance.retention import (
    DAYS_TAG,
    KEEP_LAST_TAG,
    PARENT_RUN_TAG,
    apply_retention,
)
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)


def _experiment(store: SqlTrackingStore, name: str, **policy: int | str) -> str:
    experiment_id = store.create_experiment(name)
    for key, value in policy.items():
        tag = DAYS_TAG if key == "days" else KEEP_LAST_TAG
        store.set_experiment_tag(experiment_id, ExperimentTag(tag, str(value)))
    return experiment_id


def _run(
    store: SqlTrackingStore,
    experiment_id: str,
    days_ago: float,
    finished: bool = True,
    parent: str | None = None,
) -> str:
    start = int(NOW_MS - days_ago * DAY_MS)
    tags = [RunTag(PARENT_RUN_TAG, parent)] if parent else []
    run_id = store.create_run(experiment_id, "tester", start, tags, None).info.run_id
    if finished:
        store.update_run_info(run_id, RunStatus.FINISHED, start + 1000)
    return run_id


def _stages(store: SqlTrackingStore, run_ids: list[str]) -> dict[str, str]:
    return {r: store.get_run(r).info.lifecycle_stage for r in run_ids}


def _deleted_time(store: SqlTrackingStore, run_id: str) -> int | None:
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT deleted_time FROM runs WHERE run_uuid = :run"), {"run": run_id}
        ).scalar()
    return None if found is None else int(found)


def _active(store: SqlTrackingStore, experiment_id: str) -> set[str]:
    found = store.search_runs([experiment_id], "", ViewType.ACTIVE_ONLY, max_results=1000)
    return {run.info.run_id for run in found}


def test_days_policy_retires_runs_started_before_the_cutoff(store: SqlTrackingStore) -> None:
    experiment = _experiment(store, "days", days=30)
    old = [_run(store, experiment, 31), _run(store, experiment, 400)]
    young = [_run(store, experiment, 29), _run(store, experiment, 0.5)]

    assert apply_retention(store) == sorted(old)

    assert _stages(store, old) == {r: LifecycleStage.DELETED for r in old}
    assert _active(store, experiment) == set(young)
    assert all(_deleted_time(store, r) is not None for r in old)  # as delete_run leaves it
    assert all(_deleted_time(store, r) is None for r in young)
    assert apply_retention(store) == []
    store.restore_run(old[0])  # restorable until gc purges it
    assert store.get_run(old[0]).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_keep_last_keeps_the_newest_runs_by_start_time(store: SqlTrackingStore) -> None:
    experiment = _experiment(store, "keep-last", keep_last=3)
    # Created in an order unlike their start times: the policy reads start_time.
    by_age = {days: _run(store, experiment, days) for days in (5, 1, 9, 3, 7, 2)}

    deleted = apply_retention(store)

    assert deleted == sorted([by_age[5], by_age[9], by_age[7]])
    assert _active(store, experiment) == {by_age[1], by_age[3], by_age[2]}


def test_both_policies_retire_what_either_retires(store: SqlTrackingStore) -> None:
    experiment = _experiment(store, "both", days=10, keep_last=3)
    by_age = {days: _run(store, experiment, days) for days in (1, 2, 3, 4, 20)}
    only_days = _experiment(store, "days-only", days=10)
    spared = _run(store, only_days, 5)

    deleted = apply_retention(store)

    # keep_last retires 4 and 20; days retires 20 (and nothing else is older than 10 days).
    assert deleted == sorted([by_age[4], by_age[20]])
    assert _active(store, experiment) == {by_age[1], by_age[2], by_age[3]}
    assert _active(store, only_days) == {spared}


def test_runs_behind_registered_versions_are_kept_whatever_the_policy(
    store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    experiment = _experiment(store, "protected", keep_last=1)
    newest = _run(store, experiment, 0)
    by_run_id, by_source, by_model_source, by_model_id, plain = (
        _run(store, experiment, d) for d in (40, 41, 42, 43, 44)
    )
    registry.create_registered_model("m")
    inside_run = f"{store.get_run(by_run_id).info.artifact_uri}/model"
    registry.create_model_version("m", inside_run, run_id=by_run_id)
    registry.create_model_version("m", f"runs:/{by_source}/model", run_id=by_source)
    first = store.create_logged_model(experiment, "lm", source_run_id=by_model_source)
    registry.create_model_version("m", first.model_uri, model_id=first.model_id)
    second = store.create_logged_model(experiment, "lm", source_run_id=by_model_id)
    registry.create_model_version("m", second.artifact_uri, model_id=second.model_id)
    # Versions imported from elsewhere may name their run only in the source, or only
    # through a logged model: the protection must not rest on the run_id column alone.
    with store.engine.begin() as conn:
        versions = sa.table(
            "model_versions", sa.column("run_id"), sa.column("model_id"), sa.column("source")
        )
        conn.execute(sa.update(versions).where(versions.c.source != inside_run).values(run_id=None))
        conn.execute(
            sa.update(versions).where(versions.c.source == first.model_uri).values(model_id=None)
        )

    assert apply_retention(store) == [plain]

    kept = {newest, by_run_id, by_source, by_model_source, by_model_id}
    assert _active(store, experiment) == kept


def test_a_running_run_is_never_retired(store: SqlTrackingStore) -> None:
    experiment = _experiment(store, "live", days=1, keep_last=1)
    newest = _run(store, experiment, 0)
    live = _run(store, experiment, 3, finished=False)
    finished = _run(store, experiment, 4)

    assert apply_retention(store) == [finished]

    assert store.get_run(live).info.status == RunStatus.RUNNING.value
    assert _active(store, experiment) == {newest, live}


def test_a_parent_stays_while_one_of_its_children_stays(store: SqlTrackingStore) -> None:
    experiment = _experiment(store, "nested", keep_last=2)
    grandparent = _run(store, experiment, 10)
    parent = _run(store, experiment, 9, parent=grandparent)
    old_child = _run(store, experiment, 8, parent=parent)
    young_child = _run(store, experiment, 1, parent=parent)
    lonely = _run(store, experiment, 2)
    orphaned_parent = _run(store, experiment, 7)
    side_child = _run(store, experiment, 6, parent=orphaned_parent)

    deleted = apply_retention(store)

    # Ranked: young_child, lonely | old_child, side_child, orphaned_parent, parent, grandparent.
    # young_child stays, so parent and grandparent stay; the rest have no kept descendant.
    assert deleted == sorted([old_child, side_child, orphaned_parent])
    assert _active(store, experiment) == {young_child, lonely, parent, grandparent}


def test_dry_run_changes_nothing_and_predicts_the_real_pass(
    store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    first = _experiment(store, "first", days=7, keep_last=20)
    second = _experiment(store, "second", keep_last=5)
    # Equal start times, so ties must be broken the same way in both passes.
    runs = [_run(store, first, d) for d in range(0, 30, 2)]
    runs += [_run(store, first, 1) for _ in range(3)]
    runs += [_run(store, second, 3) for _ in range(9)]
    _run(store, second, 50, finished=False)
    registry.create_registered_model("kept")
    registry.create_model_version("kept", f"runs:/{runs[14]}/model", run_id=runs[14])
    before = _stages(store, runs)

    predicted = apply_retention(store, dry_run=True)

    assert _stages(store, runs) == before
    # first: 11 runs older than 7 days, one of them registered; second: 9 + 1 live, keeps 5.
    assert len(predicted) == 10 + 4 and runs[14] not in predicted
    assert apply_retention(store) == predicted
    assert {r for r, stage in _stages(store, runs).items() if stage == "deleted"} == set(predicted)


def test_experiments_without_a_policy_and_deleted_ones_are_untouched(
    store: SqlTrackingStore,
) -> None:
    plain = _experiment(store, "plain")
    plain_runs = {_run(store, plain, d) for d in (1, 100, 1000)}
    default_runs = {_run(store, "0", 500)}
    gone = _experiment(store, "gone", keep_last=1)
    gone_runs = [_run(store, gone, d) for d in (1, 2)]
    store.delete_experiment(gone)
    with_policy = _experiment(store, "with-policy", keep_last=1)
    retired = [_run(store, with_policy, d) for d in (1, 2)][1]

    assert apply_retention(store, experiment_ids=[plain, "0", gone]) == []
    assert apply_retention(store) == [retired]

    assert _active(store, plain) == plain_runs
    assert _active(store, "0") == default_runs
    assert set(_stages(store, gone_runs).values()) == {LifecycleStage.DELETED}
    store.restore_experiment(gone)
    assert _active(store, gone) == set(gone_runs)  # deleted with the experiment, not retired


def test_experiment_ids_narrow_the_pass(store: SqlTrackingStore) -> None:
    one = _experiment(store, "one", keep_last=1)
    two = _experiment(store, "two", keep_last=1)
    one_old = [_run(store, one, d) for d in (1, 2)][1]
    two_old = [_run(store, two, d) for d in (1, 2)][1]

    assert apply_retention(store, experiment_ids=[two]) == [two_old]
    assert store.get_run(one_old).info.lifecycle_stage == LifecycleStage.ACTIVE


@pytest.mark.parametrize("value", ["0", "-3", "30d", "1.5", "", "٣"])
def test_an_invalid_policy_is_refused_before_anything_is_deleted(
    store: SqlTrackingStore, value: str
) -> None:
    valid = _experiment(store, "valid", keep_last=1)
    doomed = [_run(store, valid, d) for d in (1, 2)][1]
    broken = _experiment(store, "broken", days=value)

    with pytest.raises(InvalidParameterValueError) as raised:
        apply_retention(store)

    assert broken in str(raised.value) and DAYS_TAG in str(raised.value)
    assert store.get_run(doomed).info.lifecycle_stage == LifecycleStage.ACTIVE
