"""Is a run already in the target, whole? What a re-import compares instead of reading
histories again: the run's record, params, tags, latest metrics and datasets.

The target may hold more than the source (tags a store adds itself); only what the source
has and the target lacks, or holds otherwise, counts as a difference.
"""

from __future__ import annotations

from cairn.entities import Metric, Run
from cairn.store.validation import stored_metric_value
from cairn.tracking.sync_diff import dataset_identity


def differences(source: Run, target: Run | None, experiment_id: str) -> list[str]:
    """What `target` lacks of `source`, in words; [] when it holds all of it."""
    if target is None:
        return ["missing"]
    found: list[str] = []
    a, b = source.info, target.info
    for name in ("run_name", "status", "start_time", "end_time", "lifecycle_stage"):
        if getattr(a, name) != getattr(b, name):
            found.append(f"{name} {getattr(b, name)!r} != {getattr(a, name)!r}")
    if b.experiment_id != experiment_id:
        found.append(f"experiment {b.experiment_id} != {experiment_id}")
    found.extend(_mapping("param", source.data.params, target.data.params))
    found.extend(_mapping("tag", source.data.tags, target.data.tags))
    theirs = {m.key: m for m in target.data.latest_metrics}
    for metric in source.data.latest_metrics:
        if not _same_point(metric, theirs.get(metric.key)):
            found.append(f"metric {metric.key}")
    have = {dataset_identity(d) for d in target.inputs.dataset_inputs}
    if any(dataset_identity(d) not in have for d in source.inputs.dataset_inputs):
        found.append("dataset inputs")
    return found


def _mapping(kind: str, source: dict[str, str], target: dict[str, str]) -> list[str]:
    return [f"{kind} {k}" for k, v in source.items() if target.get(k) != v]


def _same_point(a: Metric, b: Metric | None) -> bool:
    """Same step, time and value as stores keep it (NaN flagged, ±inf as ±the largest
    double: MLflow's SQL store and Cairn's alike; a file store keeps inf)."""
    if b is None or (a.step, a.timestamp) != (b.step, b.timestamp):
        return False
    return stored_metric_value(a.value) == stored_metric_value(b.value)
