"""Retention policies: experiments that keep runs for N days, or only their newest N runs.

An experiment opts in with tags: `cairn.retention.days` (runs that *started* more than N
days ago go; start time is the age the run list shows and sorts by, and a killed run often
has no end time) and `cairn.retention.keep_last` (only the newest N runs by start time
stay). With both set, a run goes when either says so. Retiring a run soft-deletes it
(lifecycle_stage 'deleted', deleted_time now), exactly as `delete_run` would: it stays
restorable until `cairn gc` purges it, and gc's `--older-than` is the grace period.

Never retired, whatever the policy says:
- a run a registered model version points to (its `run_id`, the source run of its
  logged model, or a `runs:/<run_id>/…` or `models:/<model_id>` source);
- a run still RUNNING or SCHEDULED: a live run is never retired;
- a parent run (tag `mlflow.parentRunId` on its children) while any of its children stays,
  so a kept run never loses its parent in the run tree. Otherwise each run is judged alone.
Runs that stay for these reasons still count among the newest N of `keep_last`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.engine import Connection

from cairn.entities import LifecycleStage, RunStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.store import model_source
from cairn.store import validation as check
from cairn.store.sql.engine import WRITE
from cairn.store.sql.schema import (
    experiment_tags,
    experiments,
    logged_models,
    model_versions,
    runs,
    tags,
)
from cairn.store.sql.tracking import SqlTrackingStore

DAYS_TAG = "cairn.retention.days"
KEEP_LAST_TAG = "cairn.retention.keep_last"
PARENT_RUN_TAG = "mlflow.parentRunId"
_DAY_MS = 86_400_000
_LIVE = (RunStatus.RUNNING.value, RunStatus.SCHEDULED.value)
# Runs soft-deleted per transaction: short write transactions, and an IN list under every
# driver's limit on bound parameters.
_BATCH = 500

_r = runs.c


def apply_retention(
    store: SqlTrackingStore, experiment_ids: Sequence[str] = (), dry_run: bool = False
) -> list[str]:
    """Soft-delete the runs that their experiments' retention tags no longer keep.

    Args:
        store: the tracking store; the registry is read from the same database.
        experiment_ids: only these experiments (empty: every active experiment with a policy).
        dry_run: change nothing; return what a real pass would delete now.

    Returns:
        The ids of the runs deleted (or that would be), sorted.

    Raises:
        InvalidParameterValueError: a policy tag's value is not a positive integer (nothing
            is deleted then, in any experiment: a typo must not silently keep or drop data).
    """
    now = int(time.time() * 1000)
    with store.engine.connect() as conn, conn.begin():
        policies = _policies(conn, experiment_ids)
        if not policies:
            return []
        doomed = _candidates(conn, policies, now)
        doomed -= _protected(conn)
        doomed -= _parents_of_kept(conn, doomed)
    if dry_run:
        return sorted(doomed)
    return _soft_delete(store, sorted(doomed), now)


def _policies(conn: Connection, experiment_ids: Sequence[str]) -> dict[int, dict[str, int]]:
    """{experiment number: {tag: N}} for the active experiments with a policy; every value
    is checked before anything is deleted."""
    e, t = experiments.c, experiment_tags.c
    query = (
        select(t.experiment_id, t.key, t.value)
        .join(experiments, e.experiment_id == t.experiment_id)
        .where(t.key.in_((DAYS_TAG, KEEP_LAST_TAG)), e.lifecycle_stage == LifecycleStage.ACTIVE)
    )
    if experiment_ids:
        numbers = [int(check.experiment_id(i)) for i in dict.fromkeys(experiment_ids)]
        query = query.where(t.experiment_id.in_(numbers))
    policies: dict[int, dict[str, int]] = {}
    for number, key, value in conn.execute(query):
        policies.setdefault(int(number), {})[key] = _positive(int(number), key, value)
    return policies


def _positive(experiment: int, key: str, value: object) -> int:
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InvalidParameterValueError(
            f"Experiment {experiment} has tag {key}={value!r}: a retention policy must be a "
            "positive whole number. Fix or delete the tag; no run was deleted."
        )
    return int(text)


def _candidates(conn: Connection, policies: dict[int, dict[str, int]], now: int) -> set[str]:
    """The finished active runs that some policy of their experiment retires."""
    found: set[str] = set()
    for number, policy in policies.items():
        found.update(conn.execute(_retired(number, policy, now)).scalars())
    return found


def _retired(number: int, policy: dict[str, int], now: int) -> Select[str]:
    """One experiment's retired runs in one statement: the runs are ranked newest first
    (ROW_NUMBER, on SQLite ≥ 3.25, PostgreSQL and MariaDB ≥ 10.2); ties in start time are
    broken by id, so a dry run and the real pass that follows agree."""
    rank = func.row_number().over(order_by=(_r.start_time.desc(), _r.run_uuid.desc()))
    ranked = (
        select(_r.run_uuid, _r.start_time, _r.status, rank.label("rank"))
        .where(_r.experiment_id == number, _r.lifecycle_stage == LifecycleStage.ACTIVE)
        .subquery()
    )
    reasons = []
    if KEEP_LAST_TAG in policy:
        reasons.append(ranked.c.rank > policy[KEEP_LAST_TAG])
    if DAYS_TAG in policy:
        reasons.append(ranked.c.start_time < now - policy[DAYS_TAG] * _DAY_MS)
    return select(ranked.c.run_uuid).where(or_(*reasons), ranked.c.status.not_in(_LIVE))


def _protected(conn: Connection) -> set[str]:
    """Every run a registered model version points to, whichever way it points."""
    mv, lm = model_versions.c, logged_models.c
    found = set(conn.execute(select(mv.run_id).where(mv.run_id.is_not(None))).scalars())
    model_ids = set(conn.execute(select(mv.model_id).where(mv.model_id.is_not(None))).scalars())
    sources = conn.execute(
        select(mv.source).where(or_(mv.source.like("runs:/%"), mv.source.like("models:/%")))
    ).scalars()
    for source in sources:
        try:
            ref = model_source.reference(source)
        except InvalidParameterValueError:
            continue  # a malformed source names no run
        if ref is not None and ref.kind == "run":
            found.add(ref.ids[0])
        elif ref is not None and ref.kind == "model":
            model_ids.add(ref.ids[0])
    for chunk in _chunks(sorted(model_ids)):
        found.update(
            conn.execute(
                select(lm.source_run_id).where(
                    lm.model_id.in_(chunk), lm.source_run_id.is_not(None)
                )
            ).scalars()
        )
    return found


def _parents_of_kept(conn: Connection, doomed: set[str]) -> set[str]:
    """The doomed runs that are ancestors of a run that stays: kept, with their ancestors."""
    if not doomed:
        return set()
    t = tags.c
    edges = conn.execute(
        select(t.run_uuid, t.value)
        .join(runs, _r.run_uuid == t.run_uuid)
        .where(t.key == PARENT_RUN_TAG, _r.lifecycle_stage == LifecycleStage.ACTIVE)
    )
    parent_of = {str(child): str(parent) for child, parent in edges if parent}
    spared: set[str] = set()
    for child in parent_of:
        if child in doomed:
            continue  # walks start from the runs that stay; a spared run is on such a walk
        seen = {child}
        parent = parent_of.get(child)
        while parent is not None and parent not in seen and parent not in spared:
            seen.add(parent)  # tags can form a cycle: walk each run once
            if parent in doomed:
                spared.add(parent)
            parent = parent_of.get(parent)
    return spared


def _soft_delete(store: SqlTrackingStore, run_ids: list[str], now: int) -> list[str]:
    """Delete in short transactions; each one re-checks, under the write lock, that a run is
    still active and not live (a run restarted or deleted meanwhile is left alone)."""
    deleted: list[str] = []
    still = and_(_r.lifecycle_stage == LifecycleStage.ACTIVE, _r.status.not_in(_LIVE))
    for chunk in _chunks(run_ids):
        with store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            batch = list(
                conn.execute(select(_r.run_uuid).where(_r.run_uuid.in_(chunk), still)).scalars()
            )
            if batch:
                conn.execute(
                    update(runs)
                    .where(_r.run_uuid.in_(batch), still)
                    .values(lifecycle_stage=LifecycleStage.DELETED, deleted_time=now)
                )
            deleted += batch
    return sorted(deleted)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _BATCH):
        yield list(items[start : start + _BATCH])
