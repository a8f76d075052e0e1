"""What of a source run the destination has not been sent yet: pure functions over a run,
its metric histories and the sync state (no I/O here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cairn.entities import DatasetInput, Metric, Param, Run, RunStatus, RunTag
from cairn.store import validation as check
from cairn.tracking.sync_state import MetricProgress

TERMINAL_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})


def is_terminal(status: str) -> bool:
    return status in {s.value for s in TERMINAL_STATUSES}


def new_points(
    history: Sequence[Metric], sent: MetricProgress
) -> tuple[list[Metric], MetricProgress]:
    """The points of `history` not sent yet, and the progress once they are.

    Points newer than the newest sent (or at its millisecond but not among those sent then)
    are new. If the history then holds more points than sent + new, a point was logged with
    an older timestamp: the whole history goes again (the destination stores an exact
    repeat once), which is rare and always correct."""
    newest = sent.max_timestamp
    frontier = {(str(v), int(s)) for v, s in sent.frontier}
    fresh = [
        m
        for m in history
        if newest is None
        or m.timestamp > newest
        or (m.timestamp == newest and (repr(m.value), m.step) not in frontier)
    ]
    if len(history) != sent.count + len(fresh):
        fresh = list(history)
    if not fresh:
        return [], sent
    top = max(m.timestamp for m in history)
    at_top = [[repr(m.value), m.step] for m in history if m.timestamp == top]
    return fresh, MetricProgress(count=len(history), max_timestamp=top, frontier=at_top)


def dataset_identity(item: DatasetInput) -> str:
    """One string per (dataset, how the run used it): what a second sync compares."""
    dataset = item.dataset
    tags = sorted((t.key, t.value) for t in item.tags)
    return json.dumps([dataset.name, dataset.digest, dataset.source_type, dataset.source, tags])


def fingerprint(run: Run) -> str:
    """A digest of everything a run's record shows; unchanged on a finished run means there
    is nothing new to read (follow mode skips it)."""
    data = run.data
    parts = [
        run.info.status,
        run.info.end_time,
        run.info.run_name,
        sorted(data.params.items()),
        sorted(data.tags.items()),
        sorted((m.key, repr(m.value), m.timestamp, m.step) for m in data.latest_metrics),
        sorted(dataset_identity(d) for d in run.inputs.dataset_inputs),
        sorted(dataset_identity(d) for d in run.outputs.dataset_outputs),
        sorted((o.model_id, o.step) for o in run.outputs.model_outputs),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Batch:
    """One log-batch request's worth, within MLflow's limits."""

    metrics: Sequence[Metric] = ()
    params: Sequence[Param] = ()
    tags: Sequence[RunTag] = ()


def batches(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> Iterator[Batch]:
    """Params, tags and metrics packed into as few requests as MLflow's limits allow
    (100 params, 100 tags, 1,000 entities in all per request)."""
    p = t = m = 0
    while p < len(params) or t < len(tags) or m < len(metrics):
        some_params = params[p : p + check.MAX_BATCH_PARAMS]
        some_tags = tags[t : t + check.MAX_BATCH_TAGS]
        room = min(
            check.MAX_BATCH_METRICS, check.MAX_BATCH_ENTITIES - len(some_params) - len(some_tags)
        )
        some_metrics = metrics[m : m + room]
        yield Batch(some_metrics, some_params, some_tags)
        p, t, m = p + len(some_params), t + len(some_tags), m + len(some_metrics)
