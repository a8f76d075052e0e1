"""Is a run already in the target, whole? What a re-import compares instead of reading
histories again: the run's record, params, tags, latest metrics and datasets.

The target may hold more than the source (tags a store adds itself); only what the source
has and the target lacks, or holds otherwise, counts as a difference.
"""

from __future__ import annotations

import math
import sys

from cairn.entities import DatasetInput, Metric, Run


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
    if b is None or (a.step, a.timestamp) != (b.step, b.timestamp):
        return False
    x, y = _stored(a.value), _stored(b.value)
    return x == y or (math.isnan(x) and math.isnan(y))


def _stored(value: float) -> float:
    """±inf as stores keep it (±the largest double, in MLflow's SQL store and Cairn's)."""
    return math.copysign(sys.float_info.max, value) if math.isinf(value) else value


def dataset_identity(item: DatasetInput) -> tuple[object, ...]:
    dataset = item.dataset
    tags = tuple(sorted((t.key, t.value) for t in item.tags))
    return (dataset.name, dataset.digest, dataset.source_type, dataset.source, tags)
