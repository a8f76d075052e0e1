"""MLflow's proto JSON: the one place that turns entities into JSON and JSON into entities.

The server answers with these encoders and reads requests with these decoders; the REST
stores send requests with the same encoders and read the server's answers with the same
decoders. So an entity has one to-JSON (`wire.run`) and one from-JSON (`wire.parse_run`).

Output follows MLflow's proto JSON: snake_case names, int64 as numbers, NaN as "NaN", unset
fields left out. Input is read liberally, as MLflow's server reads it: int64 as numbers or
strings, "NaN"/"Infinity" for doubles, `run_uuid` for `run_id`; what cannot be read raises
InvalidParameterValueError with MLflow's message.

    scalars        doubles, int64s, ids, enums
    fields         an object's fields, `[{key, value}]` pairs, pages
    metrics        a run's and a logged model's metric points
    tracking       experiments, runs, datasets, artifact listings
    logged_models  MLflow 3's logged models, run outputs, their search order
    registry       registered models, versions, a version's history

This package sits just above `cairn.entities`: it knows no store, no server, no HTTP. The
registry's codecs load on first use, as the registry's entities do.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cairn.wire.fields import (
    page,
    pairs,
    parse_items,
    parse_page,
    parse_pairs,
    parse_tag_map,
)
from cairn.wire.logged_models import (
    logged_model,
    model_output,
    order_object,
    parse_logged_model,
    parse_logged_model_status,
    parse_model_outputs,
    parse_order_clause,
)
from cairn.wire.metrics import (
    metric,
    metric_point,
    model_metric,
    parse_metric,
    parse_metrics,
    parse_model_metric,
    parse_model_metrics,
)
from cairn.wire.scalars import (
    encode_double,
    parse_double,
    parse_id,
    parse_ids,
    parse_int,
    parse_run_status,
    parse_strings,
    parse_version,
    parse_view_type,
)
from cairn.wire.tracking import (
    dataset,
    dataset_input,
    experiment,
    file_info,
    parse_dataset_input,
    parse_dataset_inputs,
    parse_experiment,
    parse_experiment_tags,
    parse_params,
    parse_run,
    parse_run_info,
    parse_run_tags,
    run,
    run_info,
)

if TYPE_CHECKING:
    from cairn.wire.registry import (
        HISTORY_FIELD,
        model_version,
        model_version_event,
        parse_model_version,
        parse_model_version_event,
        parse_registered_model,
        registered_model,
    )

_REGISTRY_NAMES = frozenset(
    {
        "HISTORY_FIELD",
        "model_version",
        "model_version_event",
        "parse_model_version",
        "parse_model_version_event",
        "parse_registered_model",
        "registered_model",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        return getattr(importlib.import_module("cairn.wire.registry"), name)
    raise AttributeError(f"module 'cairn.wire' has no attribute {name!r}")


__all__ = [
    "HISTORY_FIELD",
    "dataset",
    "dataset_input",
    "encode_double",
    "experiment",
    "file_info",
    "logged_model",
    "metric",
    "metric_point",
    "model_metric",
    "model_output",
    "model_version",
    "model_version_event",
    "order_object",
    "page",
    "pairs",
    "parse_dataset_input",
    "parse_dataset_inputs",
    "parse_double",
    "parse_experiment",
    "parse_experiment_tags",
    "parse_id",
    "parse_ids",
    "parse_int",
    "parse_items",
    "parse_logged_model",
    "parse_logged_model_status",
    "parse_metric",
    "parse_metrics",
    "parse_model_metric",
    "parse_model_metrics",
    "parse_model_outputs",
    "parse_model_version",
    "parse_model_version_event",
    "parse_order_clause",
    "parse_page",
    "parse_pairs",
    "parse_params",
    "parse_registered_model",
    "parse_run",
    "parse_run_info",
    "parse_run_status",
    "parse_run_tags",
    "parse_strings",
    "parse_tag_map",
    "parse_version",
    "parse_view_type",
    "registered_model",
    "run",
    "run_info",
]
