"""`cairn gc`: deleted runs and experiments removed for good, rows and files, in batches.

What goes and what stays is decided first, in one read (cairn.maintenance.gc_plan); a dry
run reports that plan, counting what it would free, and deletes nothing. A real run then
works through it in batches of BATCH_RUNS runs, each in this order:

1. the batch's folders (runs' and their logged models'), removed in threads: a folder
   that is not there is fine, so a batch cut off here is simply done again;
2. the batch's rows, in ONE transaction (cairn.store.sql.purge), which re-checks that
   each run is still deleted: a run is never left without its history, nor a history
   without its run, whenever the process is killed.

Logged models collected apart from runs follow, then experiments, each only once all of
its runs and models are gone: its folder, then its remaining rows, which frees its name.
Metric histories go with set-based statements per batch, so a search on SQLite (WAL) or
PostgreSQL keeps answering while a year of deleted runs is collected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.entities import LifecycleStage
from cairn.entities.gc import GcReport, GcRequest, Kept
from cairn.exceptions import CairnError, InvalidParameterValueError
from cairn.maintenance.artifact_sweep import Sweeper, Swept
from cairn.maintenance.gc_plan import (
    ExperimentTarget,
    ModelTarget,
    Plan,
    RunTarget,
    make_plan,
)
from cairn.maintenance.retention import apply_retention
from cairn.store import validation as check
from cairn.store.sql import purge
from cairn.store.sql.schema import logged_models, runs
from cairn.store.sql.tracking import SqlTrackingStore

T = TypeVar("T")

BATCH_RUNS = 100
"""Runs per transaction: ~1M metric points at 10k a run, about a second of writing."""
ROW_WORKERS = 4
"""Batches whose rows are removed at once on PostgreSQL and MariaDB (one on SQLite, whose
writers queue): the engine's pool holds 4 connections."""


@dataclass(frozen=True)
class GcProgress:
    """How far a collection is, after each batch (for a progress bar)."""

    runs_done: int
    runs_total: int
    files: int
    bytes: int


def collect_garbage(
    store: SqlTrackingStore,
    request: GcRequest,
    *,
    artifacts_destination: str | None = None,
    max_runs: int | None = None,
    progress: Callable[[GcProgress], None] | None = None,
) -> GcReport:
    """Remove (or, on a dry run, list) the deleted runs and experiments `request` selects.

    Args:
        store: the SQL store; the registry is read from the same database.
        request: what to collect (see GcRequest).
        artifacts_destination: where `mlflow-artifacts:/…` locations lie (a server's
            artifact destination: a folder or s3://bucket/prefix). Without it, what lies
            there stays, whole, and is named in `kept`.
        max_runs: a bounded pass (a server's endpoint): at most this many runs, logged
            models and experiments are removed; `done` is False when more are left. A
            dry run always plans everything in one pass.
        progress: called after each batch.

    Raises:
        ResourceDoesNotExistError: a named run or experiment does not exist.
        InvalidParameterValueError: a named run is not deleted.
    """
    report = GcReport(dry_run=request.dry_run)
    retired: Sequence[str] = ()
    if request.apply_retention:
        report.retention_deleted = apply_retention(
            store, request.experiment_ids, dry_run=request.dry_run
        )
        retired = report.retention_deleted if request.dry_run else ()
    plan = _plan(store, request, artifacts_destination, retired)
    report.kept = list(plan.kept)
    budget = None if request.dry_run else max_runs
    with Sweeper(request.dry_run) as sweeper:
        _Collection(store, sweeper, report, progress).carry_out(plan, budget)
    return report


def purge_run(
    store: SqlTrackingStore, run_id: str, *, artifacts_destination: str | None = None
) -> GcReport:
    """Remove one run for good, with its rows, files and logged models; an active run is
    deleted first. Refused (InvalidParameterValueError, with the reason, nothing changed)
    when something keeps it: a registered model version, files shared with what stays, or
    files this process cannot reach."""
    check.run_id(run_id)
    stage = store.get_run(run_id).info.lifecycle_stage  # ResourceDoesNotExistError if absent
    request = GcRequest(run_ids=(run_id,))
    active = stage != LifecycleStage.DELETED
    plan = _plan(store, request, artifacts_destination, (run_id,) if active else ())
    _refuse_unless_planned(run_id, [t.run_id for t in plan.runs], plan.kept)
    if active:
        store.delete_run(run_id)
    report = collect_garbage(store, request, artifacts_destination=artifacts_destination)
    _refuse_unless_planned(run_id, report.runs, report.kept)
    return report


def _refuse_unless_planned(run_id: str, collected: Sequence[str], kept: Sequence[Kept]) -> None:
    if run_id in collected:
        return
    reasons = "; ".join(k.reason for k in kept if k.id == run_id) or "it changed meanwhile"
    raise InvalidParameterValueError(f"Run {run_id} cannot be removed for good: {reasons}.")


def _plan(
    store: SqlTrackingStore,
    request: GcRequest,
    destination: str | None,
    also_deleted: Sequence[str],
) -> Plan:
    now = int(time.time() * 1000)
    with store.engine.connect() as conn, conn.begin():
        return make_plan(conn, request, now, destination, also_deleted)


class _Collection:
    """Carries out a plan, batch by batch, adding to `report` as it goes."""

    def __init__(
        self,
        store: SqlTrackingStore,
        sweeper: Sweeper,
        report: GcReport,
        progress: Callable[[GcProgress], None] | None,
    ) -> None:
        self.store = store
        self.sweeper = sweeper
        self.report = report
        self.progress = progress
        self.dry_run = report.dry_run
        self.traces: set[str] = set()  # a dry run's: counted once, by run or by experiment
        self.failed_experiments: set[int] = set()
        self.runs_done = 0
        self.runs_total = 0

    def carry_out(self, plan: Plan, limit: int | None) -> None:
        """Runs in batches, then models apart, then experiments; with a `limit`, stop
        once that many are removed and say (`done` False) when more are left."""
        budget = _Budget(limit)
        self.runs_total = len(plan.runs) if limit is None else min(limit, len(plan.runs))
        self._tell()
        if not self._collect_runs(plan.runs, budget):
            self.report.done = False
            return
        for start in range(0, len(plan.models), BATCH_RUNS):
            batch_models = plan.models[start : start + BATCH_RUNS]
            taken_models = budget.take(batch_models)
            if taken_models:
                self._models(taken_models)
            if len(taken_models) < len(batch_models):
                self.report.done = False
                return
        for experiment in plan.experiments:
            if not budget.take([experiment]):
                self.report.done = False
                return
            self._experiment(experiment)

    def _tell(self) -> None:
        if self.progress is not None:
            done = GcProgress(self.runs_done, self.runs_total, self.report.files, self.report.bytes)
            self.progress(done)

    # -- files -------------------------------------------------------------------------------

    def _sweep(self, owners: Sequence[tuple[str, Sequence[str | None]]]) -> list[str]:
        """Remove each owner's folders; returns the owners whose folders are all gone (the
        others are kept, with the error, for the next gc to try again)."""
        folders = [f for _, owned in owners for f in owned if f is not None]
        results = self.sweeper.sweep_all(folders)
        cleared: list[str] = []
        for owner, owned in owners:
            errors = [r for f in owned if f is not None for r in [results[f]] if _failed(r)]
            if errors:
                self.report.kept.append(
                    Kept(
                        "artifacts",
                        owner,
                        f"removing its files failed ({_one_line(errors[0])}); it stays "
                        "deleted and the next gc tries again",
                    )
                )
            else:
                cleared.append(owner)
        for result in results.values():
            if isinstance(result, Swept):
                self.report.files += result.files
                self.report.bytes += result.bytes
        return cleared

    # -- runs, models, experiments ---------------------------------------------------------

    def _collect_runs(self, targets: Sequence[RunTarget], budget: _Budget) -> bool:
        """Batch after batch: files here, then rows in a worker, so that the next batch's
        files go while this one's rows do (several batches' rows at once where the
        database writes in parallel: not SQLite). False when the budget ran out first."""
        workers = 1 if self.store.engine.dialect.name == "sqlite" else ROW_WORKERS
        complete = True
        with ThreadPoolExecutor(workers, thread_name_prefix="cairn-gc-rows") as pool:
            pending: deque[Future[_BatchRemoved]] = deque()
            for start in range(0, len(targets), BATCH_RUNS):
                batch = targets[start : start + BATCH_RUNS]
                taken = budget.take(batch)
                if taken:
                    cleared = self._swept_runs(taken)
                    pending.append(pool.submit(self._run_rows, cleared, len(taken)))
                    while len(pending) > workers:
                        self._record(pending.popleft().result())
                if len(taken) < len(batch):
                    complete = False
                    break
            while pending:
                self._record(pending.popleft().result())
        return complete

    def _swept_runs(self, batch: Sequence[RunTarget]) -> list[RunTarget]:
        """The runs of `batch` whose folders (and their models') are gone."""
        owners = [(t.run_id, [t.folder, *(m.folder for m in t.models)]) for t in batch]
        cleared = set(self._sweep(owners))
        for target in batch:
            if target.run_id not in cleared:
                self.failed_experiments.add(target.experiment_id)
                self.failed_experiments |= {m.experiment_id for m in target.models}
        return [t for t in batch if t.run_id in cleared]

    def _run_rows(self, targets: Sequence[RunTarget], planned: int) -> _BatchRemoved:
        """Remove (or, on a dry run, count) the rows of a batch of runs; in a worker."""
        run_ids = [t.run_id for t in targets]
        if not run_ids:
            return _BatchRemoved(planned)
        if self.dry_run:
            with self.store.engine.connect() as conn, conn.begin():
                points, trace_ids = purge.count_run_rows(conn, run_ids)
            models = [m.model_id for t in targets for m in t.models]
            return _BatchRemoved(planned, run_ids, models, points, trace_ids=trace_ids)

        def work(conn: Connection) -> _BatchRemoved:
            removed = purge.delete_runs(conn, run_ids)
            gone = set(removed.ids)
            owned = [m.model_id for t in targets if t.run_id in gone for m in t.models]
            models = purge.delete_logged_models(conn, owned).ids
            return _BatchRemoved(
                planned, removed.ids, models, removed.metric_points, removed.traces
            )

        try:
            return self.store._retrying(work)
        except IntegrityError as error:  # a table that refers to runs without cascading
            why = _refused(error)
            kept = [Kept("run", r, why) for r in run_ids]
            return _BatchRemoved(planned, kept=kept, failed={t.experiment_id for t in targets})

    def _record(self, batch: _BatchRemoved) -> None:
        self.report.kept += batch.kept
        self.failed_experiments |= batch.failed
        self.report.runs += batch.runs
        self.report.logged_models += batch.models
        self.report.metric_points += batch.points
        if self.dry_run:
            self.traces |= batch.trace_ids
            self.report.traces = len(self.traces)
        else:
            self.report.traces += batch.traces
        self.runs_done += batch.planned
        self._tell()

    def _models(self, batch: Sequence[ModelTarget]) -> None:
        cleared = set(self._sweep([(m.model_id, [m.folder]) for m in batch]))
        self.failed_experiments |= {m.experiment_id for m in batch if m.model_id not in cleared}
        model_ids = [m.model_id for m in batch if m.model_id in cleared]
        if not model_ids:
            return
        if self.dry_run:
            self.report.logged_models += model_ids
            return
        try:
            removed = self.store._retrying(lambda c: purge.delete_logged_models(c, model_ids))
        except IntegrityError as error:
            self.report.kept += [Kept("logged_model", m, _refused(error)) for m in model_ids]
            self.failed_experiments |= {m.experiment_id for m in batch}
            return
        self.report.logged_models += removed.ids

    def _experiment(self, target: ExperimentTarget) -> None:
        number = target.experiment_id
        if number in self.failed_experiments:
            reason = "some of its runs or logged models could not be removed yet"
            self.report.kept.append(Kept("experiment", str(number), reason))
            return
        if not self.dry_run and not self._emptied(number):
            reason = "runs or logged models of it remain (restored or added meanwhile)"
            self.report.kept.append(Kept("experiment", str(number), reason))
            return
        if str(number) not in self._sweep([(str(number), [target.folder])]):
            return
        if self.dry_run:
            with self.store.engine.connect() as conn, conn.begin():
                self.traces |= purge.experiment_traces(conn, number)
            self.report.traces = len(self.traces)
            self.report.experiments.append(str(number))
            return
        try:
            removed = self.store._retrying(lambda conn: purge.delete_experiment(conn, number))
        except IntegrityError as error:
            self.report.kept.append(Kept("experiment", str(number), _refused(error)))
            return
        self.report.traces += removed.traces
        self.report.experiments += removed.ids

    def _emptied(self, number: int) -> bool:
        """Whether the experiment is still deleted and nothing of it is left but its own
        rows: checked before its folder is removed."""
        with self.store.engine.connect() as conn, conn.begin():
            for table in (runs, logged_models):
                left = select(table.c.experiment_id).where(table.c.experiment_id == number)
                if conn.execute(left.limit(1)).first():
                    return False
        return True


@dataclass
class _BatchRemoved:
    """What the rows of one batch of runs took (on a dry run: would take)."""

    planned: int
    runs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    points: int = 0
    traces: int = 0
    trace_ids: set[str] = field(default_factory=set)
    kept: list[Kept] = field(default_factory=list)
    """Runs whose rows the database refused to remove (the files are gone already)."""
    failed: set[int] = field(default_factory=set)


class _Budget:
    """How many more things a bounded pass may remove (None: no bound)."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, items: Sequence[T]) -> Sequence[T]:
        if self.left is None:
            return items
        taken = items[: max(self.left, 0)]
        self.left -= len(taken)
        return taken


def _refused(error: IntegrityError) -> str:
    detail = " ".join(str(error.orig or error).split())[:300]
    return f"the database refused to remove its rows ({detail}); it stays deleted"


def _failed(result: Swept | Exception) -> bool:
    return isinstance(result, Exception)


def _one_line(error: Swept | Exception) -> str:
    text = error.message if isinstance(error, CairnError) else str(error) or type(error).__name__
    return " ".join(text.split())
