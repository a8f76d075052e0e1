"""Metric points on the wire: a run's (`Metric`) and a logged model's (`LoggedModelMetric`).

A point is `{key, value, timestamp, step}`, the value a double that may be "NaN" or
"±Infinity". MLflow 3 links a point to a model by adding `model_id` (and the dataset it was
measured on) to a log-batch metric; the model's own metrics come back in the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.entities import LoggedModelMetric, Metric
from cairn.wire.fields import as_list, as_object, field, optional_text, present, text
from cairn.wire.scalars import encode_double, parse_double, parse_int


def metric_point(key: str, value: float, timestamp: int, step: int) -> dict[str, Any]:
    """One point, from its parts: the REST store's hot path has tuples, not Metrics."""
    return {"key": key, "value": encode_double(value), "timestamp": timestamp, "step": step}


def metric(m: Metric) -> dict[str, Any]:
    return metric_point(m.key, m.value, m.timestamp, m.step)


def parse_metric(item: Mapping[str, Any], path: str = "metric") -> Metric:
    """Key, value and timestamp are required (as MLflow), step is 0 when absent; the value
    may be "NaN"/"Infinity", the int64s strings."""
    step = item.get("step")
    return Metric(
        text(path, item, "key", True),
        parse_double(f"{path}.value", field(path, item, "value", True)),
        parse_int(f"{path}.timestamp", field(path, item, "timestamp", True)),
        0 if step is None else parse_int(f"{path}.step", step),
    )


def parse_metrics(items: Any, name: str = "metrics") -> list[Metric]:
    """A repeated metric field (log-batch's `metrics`, a history, a run's latest values)."""
    return [
        parse_metric(as_object(name, i, raw), f"{name}[{i}]")
        for i, raw in enumerate(as_list(name, items))
    ]


def model_metric(x: LoggedModelMetric, model_id: str) -> dict[str, Any]:
    """A model's point: in a model's `data.metrics`, and in a log-batch that links it."""
    return present(
        {
            **metric_point(x.key, x.value, x.timestamp, x.step),
            "model_id": model_id,
            "run_id": x.run_id,
            "dataset_name": x.dataset_name,
            "dataset_digest": x.dataset_digest,
        }
    )


def parse_model_metric(
    item: Mapping[str, Any], path: str = "metric", run_id: str | None = None
) -> LoggedModelMetric:
    """A model's point; `run_id` given by the call (log-batch names its run once), else the
    point's own."""
    point = parse_metric(item, path)
    return LoggedModelMetric(
        point.key,
        point.value,
        point.timestamp,
        point.step,
        run_id if run_id is not None else optional_text(item.get("run_id")),
        text(path, item, "dataset_name") or None,
        text(path, item, "dataset_digest") or None,
    )


def parse_model_metrics(
    items: Any, run_id: str, name: str = "metrics"
) -> dict[str, list[LoggedModelMetric]]:
    """The metrics of a log-batch that name a `model_id` (MLflow 3 links a run's metrics to
    the models it logged this way), grouped by model."""
    linked: dict[str, list[LoggedModelMetric]] = {}
    for i, raw in enumerate(as_list(name, items)):
        if not isinstance(raw, dict) or not raw.get("model_id"):
            continue  # the common case: a plain run metric, parsed once by parse_metrics
        path = f"{name}[{i}]"
        model_id = text(path, raw, "model_id", True)
        linked.setdefault(model_id, []).append(parse_model_metric(raw, path, run_id))
    return linked
